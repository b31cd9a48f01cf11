package backends

import (
	"testing"

	"github.com/hairpin-nat/hairpin/internal/config"
)

func TestSame(t *testing.T) {
	ros := func(url string) *config.RouterOS { return &config.RouterOS{URL: url, Username: "u"} }
	linux := &config.Config{Backend: config.BackendLinux}
	for _, tc := range []struct {
		name string
		a, b *config.Config
		want bool
	}{
		{"linux both", linux, &config.Config{Backend: config.BackendLinux}, true},
		{"linux to routeros", linux, &config.Config{Backend: config.BackendRouterOS, RouterOS: ros("https://192.0.2.1")}, false},
		{"same router", &config.Config{Backend: config.BackendRouterOS, RouterOS: ros("https://192.0.2.1")},
			&config.Config{Backend: config.BackendRouterOS, RouterOS: ros("https://192.0.2.1")}, true},
		{"other router", &config.Config{Backend: config.BackendRouterOS, RouterOS: ros("https://192.0.2.1")},
			&config.Config{Backend: config.BackendRouterOS, RouterOS: ros("https://192.0.2.2")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Same(tc.a, tc.b); got != tc.want {
				t.Errorf("Same = %v, want %v", got, tc.want)
			}
		})
	}
}
