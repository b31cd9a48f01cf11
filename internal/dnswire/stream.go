package dnswire

import (
	"encoding/binary"
	"io"

	"github.com/hairpin-nat/hairpin/internal/errfmt"
)

// WriteStream writes msg as DNS over TCP frames it (RFC 1035 section 4.2.2): its length in two octets, then
// the message, in one write.
func WriteStream(w io.Writer, msg []byte) error {
	if len(msg) > 65535 {
		return ErrLongMsg
	}
	_, err := w.Write(append(binary.BigEndian.AppendUint16(make([]byte, 0, 2+len(msg)), uint16(len(msg))), msg...))
	return err
}

// ReadStream reads one message framed so.
func ReadStream(r io.Reader) ([]byte, error) {
	var l [2]byte
	if _, err := io.ReadFull(r, l[:]); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(l[:]))
	if n < headerLen {
		return nil, errfmt.Errorf("%w: a message of %d bytes", ErrShort, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}
