package web

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"strings"
)

// writeChunk frames p as one chunk of a chunked body (RFC 9112 7.1); lastChunk ends the body, no trailer.
// bufio.Writer's error is sticky, so the last write's error is every write's.
func writeChunk(bw *bufio.Writer, p []byte) error {
	bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
	bw.WriteString("\r\n")
	bw.Write(p)
	_, err := bw.WriteString("\r\n")
	return err
}

const lastChunk = "0\r\n\r\n"

// errChunk is every malformed chunked body: the connection cannot be reused after it.
var errChunk = errors.New("web: malformed chunked body")

// maxChunkLine bounds a chunk-size line with its extensions, which nothing hairpin talks to sends.
const maxChunkLine = 4096

// chunkedReader decodes a chunked body (RFC 9112 7.1) from r, ignoring chunk extensions and reading and
// discarding the trailer fields (bounded, as the header block was).
type chunkedReader struct {
	r    *bufio.Reader
	left uint64 // bytes left in the current chunk
	done bool
	err  error
}

func newChunkedReader(r *bufio.Reader) *chunkedReader { return &chunkedReader{r: r} }

func (c *chunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		n, err := c.chunkSize()
		if err != nil {
			c.err = err
			return 0, err
		}
		if n == 0 {
			if err := c.trailer(); err != nil {
				c.err = err
				return 0, err
			}
			c.done = true
			return 0, io.EOF
		}
		c.left = n
	}
	if uint64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= uint64(n)
	if c.left == 0 && err == nil {
		err = c.crlf()
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		c.err = err
	}
	return n, err
}

// chunkSize reads a chunk-size line: hex digits, optional extensions after ';', CRLF.
func (c *chunkedReader) chunkSize() (uint64, error) {
	line, err := readLine(c.r, maxChunkLine)
	if err != nil {
		return 0, err
	}
	var n uint64
	digits := 0
	for _, b := range line {
		var d byte
		switch {
		case b >= '0' && b <= '9':
			d = b - '0'
		case b >= 'a' && b <= 'f':
			d = b - 'a' + 10
		case b >= 'A' && b <= 'F':
			d = b - 'A' + 10
		case b == ';' || b == ' ' || b == '\t':
			if digits == 0 {
				return 0, errChunk
			}
			return n, nil
		default:
			return 0, errChunk
		}
		if digits == 16 {
			return 0, errChunk // more than 64 bits
		}
		n = n<<4 | uint64(d)
		digits++
	}
	if digits == 0 {
		return 0, errChunk
	}
	return n, nil
}

func (c *chunkedReader) crlf() error {
	b1, err := c.r.ReadByte()
	if err != nil {
		return unexpected(err)
	}
	b2, err := c.r.ReadByte()
	if err != nil {
		return unexpected(err)
	}
	if b1 != '\r' || b2 != '\n' {
		return errChunk
	}
	return nil
}

// trailer skips trailer fields up to the empty line, at most maxHeaderBytes in all; each must be a field
// line, as net/http requires.
func (c *chunkedReader) trailer() error {
	total := 0
	for {
		line, err := readLine(c.r, maxChunkLine)
		if err != nil {
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if name, value, ok := strings.Cut(string(line), ":"); !ok || !validFieldName(name) || !validFieldValue(value) {
			return errChunk
		}
		total += len(line)
		if total > maxHeaderBytes {
			return errChunk
		}
	}
}

// readLine reads one CRLF-terminated line of at most max bytes and returns it without the CRLF. A bare LF or
// CR is an error, as net/http's is: two parsers of one stream that disagree on line ends are how request
// smuggling starts.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		frag, err := r.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > max+2 {
			return nil, errLineTooLong
		}
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			return nil, unexpected(err)
		}
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, errChunk
	}
	line = line[:len(line)-2]
	for _, b := range line {
		if b == '\r' || b == 0 {
			return nil, errChunk
		}
	}
	return line, nil
}

var errLineTooLong = errors.New("web: line too long")

// maxHeaderBytes bounds a header block (or a trailer) in bytes, for both the client and the server.
const maxHeaderBytes = 16 << 10

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
