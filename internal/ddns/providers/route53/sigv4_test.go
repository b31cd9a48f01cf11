package route53

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hairpin-nat/hairpin/internal/web"
)

// AWS's published Signature Version 4 test suite (aws-sig-v4-test-suite: get-vanilla,
// get-vanilla-query-order-key-case, post-vanilla, post-vanilla-query): credentials AKIDEXAMPLE, region
// us-east-1, service "service", 2015-08-30T12:36:00Z, host example.amazonaws.com. The control: one changed
// byte of the secret, the date or the query gives another signature.
func TestSigV4Vectors(t *testing.T) {
	t.Parallel()
	at := time.Date(2015, 8, 30, 12, 36, 0, 0, time.UTC)
	creds := Credentials{KeyID: "AKIDEXAMPLE", Secret: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", Region: "us-east-1", Service: "service"}
	const prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature="
	sign := func(c Credentials, method, target string, at time.Time) string {
		req, err := web.NewRequest(context.Background(), method, "https://example.amazonaws.com"+target, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Sign(req, nil, at)
		return req.Header.Get("Authorization")
	}
	for _, v := range []struct{ name, method, target, sig string }{
		{"get-vanilla", "GET", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
		{"get-vanilla-query-order-key-case", "GET", "/?Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
		{"post-vanilla", "POST", "/", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"},
		{"post-vanilla-query", "POST", "/?Param1=value1", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"},
	} {
		t.Run(v.name, func(t *testing.T) {
			if got := sign(creds, v.method, v.target, at); got != prefix+v.sig {
				t.Errorf("Authorization\n%s\nwant\n%s", got, prefix+v.sig)
			}
		})
	}
	other := creds
	other.Secret = strings.Replace(other.Secret, "K", "k", 1)
	for name, got := range map[string]string{
		"another secret": sign(other, "GET", "/", at),
		"another second": sign(creds, "GET", "/", at.Add(time.Second)),
		"another query":  sign(creds, "GET", "/?Param1=value2", at),
	} {
		if strings.HasSuffix(got, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31") {
			t.Errorf("%s: the same signature", name)
		}
	}
}
