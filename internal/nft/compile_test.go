package nft

import (
	"regexp"
	"strconv"
	"testing"
)

// The table's and a counter's options are read with string code; these are the regular expressions they
// replace, the test's oracle: every input reads as they read it, or is refused as they refused it.
var (
	tableOptionsRe   = regexp.MustCompile(`^\{ comment ("(?:[^"\\]|\\.)*") ; \}$`)
	counterOptionsRe = regexp.MustCompile(`^\{(?: packets (\d+) bytes (\d+) ;)?(?: comment ("(?:[^"\\]|\\.)*") ;)? \}$`)
)

func TestTableOptions(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{ comment "managed by hairpin" ; }`,
		`{ comment "" ; }`,
		`{ comment "with \"quotes\" ; and } braces" ; }`,
		`{ comment "tab\tand \\ backslash" ; }`,
		`{ comment "\q" ; }`,
		`{ comment "open ; }`,
		`{ comment "a" "b" ; }`,
		"{ comment `raw` ; }",
		`{ comment 'x' ; }`,
		`{ comment "x" ;}`,
		`{comment "x" ; }`,
		`{ comment "x" ; } `,
		`{ flags dormant ; }`,
		`{ }`,
		``,
	} {
		t.Run(in, func(t *testing.T) {
			got, ok := tableOptions(in)
			want, wantOK := "", false
			if m := tableOptionsRe.FindStringSubmatch(in); m != nil {
				var err error
				want, err = strconv.Unquote(m[1])
				wantOK = err == nil
			}
			if got != want || ok != wantOK {
				t.Errorf("tableOptions = %q, %v; want %q, %v", got, ok, want, wantOK)
			}
		})
	}
}

func TestCounterOptions(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		`{ }`,
		`{ packets 0 bytes 0 ; }`,
		`{ packets 12 bytes 3400 ; }`,
		`{ packets 18446744073709551615 bytes 1 ; }`,
		`{ packets 18446744073709551616 bytes 1 ; }`,
		`{ packets 12 bytes 3400 ; comment "allow list x: packets = digest" ; }`,
		`{ comment "only a comment ; with } inside" ; }`,
		`{ comment "x" ; packets 1 bytes 2 ; }`,
		`{ packets -1 bytes 2 ; }`,
		`{ packets +1 bytes 2 ; }`,
		`{ packets 1_0 bytes 2 ; }`,
		`{ packets  bytes 2 ; }`,
		`{ packets 1 bytes 2 }`,
		`{ packets 1 ; }`,
		`{ packets 1 bytes 2 ; comment "x" }`,
		`{ comment "\q" ; }`,
		"{ comment `raw` ; }",
		`{ comment "x" ; comment "y" ; }`,
		`{ packets 1 bytes 2 ; } `,
		`{}`,
		`{ packets 1 bytes 2 ; extra }`,
	} {
		t.Run(in, func(t *testing.T) {
			packets, bytes, comment, ok := counterOptions(in)
			var wantP, wantB uint64
			var wantC string
			wantOK := false
			if m := counterOptionsRe.FindStringSubmatch(in); m != nil {
				wantOK = true
				var err error
				if m[1] != "" {
					if wantP, err = strconv.ParseUint(m[1], 10, 64); err != nil {
						wantOK = false
					}
					if wantB, err = strconv.ParseUint(m[2], 10, 64); err != nil {
						wantOK = false
					}
				}
				if m[3] != "" {
					if wantC, err = strconv.Unquote(m[3]); err != nil {
						wantOK = false
					}
				}
			}
			if !wantOK {
				wantP, wantB, wantC = 0, 0, ""
			}
			if ok != wantOK || packets != wantP || bytes != wantB || comment != wantC {
				t.Errorf("counterOptions = %d %d %q %v; want %d %d %q %v", packets, bytes, comment, ok, wantP, wantB, wantC, wantOK)
			}
		})
	}
}
