package route53

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/hairpin-nat/hairpin/internal/web"
)

// Credentials sign requests with AWS Signature Version 4, written from AWS's specification ("Create a signed
// AWS API request", the four steps: canonical request, string to sign, signing key, signature) and held to
// AWS's published test vectors (sigv4_test.go).
type Credentials struct {
	KeyID, Secret string
	// SessionToken, for temporary credentials, travels in X-Amz-Security-Token.
	SessionToken string
	Region       string
	Service      string
}

// Sign adds X-Amz-Date (and the session token) to req and then its Authorization header, signing the method,
// path, query, the headers host, x-amz-date, content-type and x-amz-security-token when present, and the
// SHA-256 of body.
func (c Credentials) Sign(req *web.Request, body []byte, now time.Time) {
	amzDate := now.UTC().Format("20060102T150405Z")
	req.Header.Set("X-Amz-Date", amzDate)
	if c.SessionToken != "" {
		req.Header.Set("X-Amz-Security-Token", c.SessionToken)
	}
	signed, canonical := canonicalRequest(req, body)
	scope := amzDate[:8] + "/" + c.Region + "/" + c.Service + "/aws4_request"
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hexSHA256([]byte(canonical))
	key := hmacSHA256([]byte("AWS4"+c.Secret), amzDate[:8])
	for _, part := range []string{c.Region, c.Service, "aws4_request"} {
		key = hmacSHA256(key, part)
	}
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+c.KeyID+"/"+scope+", SignedHeaders="+signed+
		", Signature="+hex.EncodeToString(hmacSHA256(key, toSign)))
}

// canonicalRequest is step 1: the method, the URI-encoded path, the sorted query, the signed headers in lower
// case with their trimmed values, their names, and the payload's hash.
func canonicalRequest(req *web.Request, body []byte) (signed, canonical string) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	headers := map[string]string{"host": host}
	for _, h := range []string{"X-Amz-Date", "Content-Type", "X-Amz-Security-Token"} {
		if v := req.Header.Get(h); v != "" {
			headers[strings.ToLower(h)] = strings.Join(strings.Fields(v), " ")
		}
	}
	names := make([]string, 0, len(headers))
	for n := range headers {
		names = append(names, n)
	}
	sort.Strings(names)
	var ch strings.Builder
	for _, n := range names {
		ch.WriteString(n + ":" + headers[n] + "\n")
	}
	signed = strings.Join(names, ";")
	path := req.URL.EscapedPath()
	if path == "" {
		path = "/"
	}
	segs := strings.Split(path, "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err == nil {
			segs[i] = uriEncode(u)
		}
	}
	canonical = req.Method + "\n" + strings.Join(segs, "/") + "\n" + canonicalQuery(req.URL.Query()) + "\n" + ch.String() + "\n" + signed + "\n" + hexSHA256(body)
	return signed, canonical
}

func canonicalQuery(q url.Values) string {
	var pairs []string
	for k, vs := range q {
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k)+"="+uriEncode(v))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// uriEncode encodes everything but the unreserved characters of RFC 3986, as SigV4 requires (a space is %20,
// never +).
func uriEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(hex.EncodeToString([]byte{c})))
		}
	}
	return b.String()
}

func hexSHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}
