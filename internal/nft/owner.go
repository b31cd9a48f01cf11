package nft

import (
	"errors"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// Constants from the kernel's nf_tables.h and libnftnl's udata.h that golang.org/x/sys does not carry.
const (
	nfnlSubsysNFTables = 10 // NFNL_SUBSYS_NFTABLES
	nftaTableName      = 1  // NFTA_TABLE_NAME
	nftaTableUserdata  = 6  // NFTA_TABLE_USERDATA
	udataTableComment  = 0  // NFTNL_UDATA_TABLE_COMMENT
)

// tableStateNetlink asks the kernel for fam's table hairpin and reads its comment, the ownership marker. One
// netlink round trip instead of an nft process: this runs before every apply and every WAN update.
func tableStateNetlink(conn *netlink.Conn, fam family) (exists, owned bool, err error) {
	ae := netlink.NewAttributeEncoder()
	ae.String(nftaTableName, Table)
	attrs, err := ae.Encode()
	if err != nil {
		return false, false, err
	}
	msgs, err := conn.Execute(netlink.Message{
		// No Acknowledge flag: the answer (or an error) is the reply, and an extra ACK would be left in the
		// socket, where the next question on this lasting socket would read it as a mismatched reply.
		Header: netlink.Header{Type: netlink.HeaderType(nfnlSubsysNFTables<<8 | unix.NFT_MSG_GETTABLE), Flags: netlink.Request},
		// struct nfgenmsg: family, version, resource id.
		Data: append([]byte{fam.af, unix.NFNETLINK_V0, 0, 0}, attrs...),
	})
	if errors.Is(err, unix.ENOENT) {
		return false, false, nil
	}
	if err != nil {
		return false, false, errfmt.Errorf("reading table %s %s: %w", fam.name, Table, err)
	}
	for _, m := range msgs {
		if len(m.Data) > 4 {
			return true, tableComment(m.Data[4:]) == OwnerComment, nil
		}
	}
	return false, false, errfmt.Errorf("reading table %s %s: empty answer from the kernel", fam.name, Table)
}

// tableComment finds the comment in a table's netlink attributes. The comment lives in NFTA_TABLE_USERDATA as
// libnftnl's type-length-value records, the value NUL-terminated.
func tableComment(attrs []byte) string {
	ad, err := netlink.NewAttributeDecoder(attrs)
	if err != nil {
		return ""
	}
	for ad.Next() {
		if ad.Type() != nftaTableUserdata {
			continue
		}
		ud := ad.Bytes()
		for len(ud) >= 2 {
			typ, n := ud[0], int(ud[1])
			if len(ud) < 2+n {
				return ""
			}
			if typ == udataTableComment {
				v := ud[2 : 2+n]
				for len(v) > 0 && v[len(v)-1] == 0 {
					v = v[:len(v)-1]
				}
				return string(v)
			}
			ud = ud[2+n:]
		}
	}
	return ""
}
