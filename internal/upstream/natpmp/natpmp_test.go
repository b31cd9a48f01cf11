package natpmp

import (
	"errors"
	"testing"
)

func TestParseResponse(t *testing.T) {
	ext := []byte{0, 128, 0, 0, 0, 0, 1, 0, 11, 12, 13, 2}
	r, err := ParseResponse(ext, OpExternal)
	if err != nil || r.External.String() != "11.12.13.2" || r.Epoch != 256 {
		t.Fatalf("%+v %v", r, err)
	}
	mp := []byte{0, 130, 0, 0, 0, 0, 0, 9, 0x1f, 0x9a, 0x1f, 0x9a, 0, 0, 0x0e, 0x10}
	r, err = ParseResponse(mp, OpTCP)
	if err != nil || r.Internal != 8090 || r.Mapped != 8090 || r.Lifetime != 3600 || r.Epoch != 9 {
		t.Fatalf("%+v %v", r, err)
	}
	tests := []struct {
		name string
		b    []byte
		op   uint8
		code int
	}{
		{"short", mp[:3], OpTCP, -1},
		{"pcp answer", append([]byte{2}, mp[1:]...), OpTCP, -1},
		{"wrong opcode", mp, OpUDP, -1},
		{"request echoed", MarshalMap(OpTCP, 8090, 8090, 60), OpTCP, -1},
		{"too long", append(mp, 0), OpTCP, -1},
		{"too short mapping", mp[:12], OpTCP, -1},
		{"too long external", append(ext, 0, 0, 0, 0), OpExternal, -1},
		{"out of resources", []byte{0, 130, 0, 4}, OpTCP, OutOfResources},
		{"refused", []byte{0, 130, 0, 2, 0, 0, 0, 0}, OpTCP, NotAuthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseResponse(tt.b, tt.op)
			if err == nil {
				t.Fatal("accepted")
			}
			var re *ResultError
			if tt.code < 0 {
				if errors.As(err, &re) {
					t.Fatalf("malformed answer read as result code %d", re.Code)
				}
				return
			}
			if !errors.As(err, &re) || int(re.Code) != tt.code || re.CGNAT() != (tt.code == OutOfResources) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte{0, 128, 0, 0, 0, 0, 1, 0, 11, 12, 13, 2}, uint8(0))
	f.Add([]byte{0, 130, 0, 0, 0, 0, 0, 9, 0x1f, 0x9a, 0x1f, 0x9a, 0, 0, 0x0e, 0x10}, uint8(2))
	f.Add([]byte{0, 129, 0, 4}, uint8(1))
	f.Fuzz(func(t *testing.T, b []byte, op uint8) {
		op %= 3
		r, err := ParseResponse(b, op)
		if err != nil {
			return
		}
		want := 16
		if op == OpExternal {
			want = 12
		}
		if len(b) != want || b[0] != 0 || b[1] != 0x80|op || r.Result != Success {
			t.Fatalf("accepted a malformed answer: % x", b)
		}
	})
}
