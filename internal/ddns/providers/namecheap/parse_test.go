package namecheap

import "testing"

func TestParse(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, body string
		errCount   int
		first      string
		bad        bool
	}{
		{"success, utf-16 declared over ASCII", `<?xml version="1.0" encoding="utf-16"?><interface-response><IP>192.0.2.1</IP><ErrCount>0</ErrCount><errors /></interface-response>`, 0, "", false},
		{"success without a declaration", `<interface-response><ErrCount>0</ErrCount></interface-response>`, 0, "", false},
		{"a refusal", `<?xml version="1.0"?><interface-response><ErrCount>1</ErrCount><errors><Err1>Passwords do not match</Err1></errors></interface-response>`, 1, "Passwords do not match", false},
		{"another root", `<html><body>Bad Request</body></html>`, 0, "", true},
		{"an unknown charset", `<?xml version="1.0" encoding="koi8-r"?><interface-response><ErrCount>0</ErrCount></interface-response>`, 0, "", true},
		{"a UTF-16 byte order mark", "\xff\xfe<\x00", 0, "", true},
		{"not a number", `<interface-response><ErrCount>many</ErrCount></interface-response>`, 0, "", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := parse([]byte(c.body))
			if (err != nil) != c.bad {
				t.Fatalf("err = %v", err)
			}
			if c.bad {
				return
			}
			first := ""
			if len(r.Errors) > 0 {
				first = r.Errors[0]
			}
			if r.ErrCount != c.errCount || first != c.first {
				t.Errorf("ErrCount %d, first error %q", r.ErrCount, first)
			}
		})
	}
}

// The answer comes from the network: whatever it is, parse returns (no panic, no unbounded work).
func FuzzParse(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0" encoding="utf-16"?><interface-response><IP>192.0.2.1</IP><ErrCount>0</ErrCount><errors /></interface-response>`))
	f.Add([]byte(`<interface-response><ErrCount>1</ErrCount><errors><Err1>Passwords do not match</Err1></errors></interface-response>`))
	f.Add([]byte("\xfe\xff\x00<"))
	f.Fuzz(func(t *testing.T, body []byte) { _, _ = parse(body) })
}
