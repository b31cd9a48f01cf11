package nft

import (
	"testing"

	"github.com/mdlayher/netlink"
)

func TestTableComment(t *testing.T) {
	udata := func(records ...[]byte) []byte {
		var out []byte
		for _, r := range records {
			out = append(out, r...)
		}
		return out
	}
	record := func(typ byte, v string) []byte { return append([]byte{typ, byte(len(v))}, v...) }
	encode := func(ud []byte) []byte {
		ae := netlink.NewAttributeEncoder()
		ae.String(nftaTableName, Table)
		if ud != nil {
			ae.Bytes(nftaTableUserdata, ud)
		}
		b, err := ae.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name  string
		attrs []byte
		want  string
	}{
		{"ours, NUL-terminated as nft writes it", encode(udata(record(udataTableComment, OwnerComment+"\x00"))), OwnerComment},
		{"another record first", encode(udata(record(7, "x"), record(udataTableComment, "mine\x00"))), "mine"},
		{"no userdata", encode(nil), ""},
		{"truncated record", encode([]byte{udataTableComment, 50, 'a'}), ""},
		{"garbage", []byte{1, 2, 3}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tableComment(tc.attrs); got != tc.want {
				t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}

func FuzzTableComment(f *testing.F) {
	f.Add([]byte{8, 0, 6, 0, 0, 2, 'a', 0})
	f.Fuzz(func(t *testing.T, b []byte) { _ = tableComment(b) })
}
