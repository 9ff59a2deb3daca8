package k6http

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
)

// Limits of the response parser, as Go's net/http has them.
const (
	maxHeaderBytes = 1 << 20 // status lines and headers of one response, 1xx heads included
	maxChunkLine   = 4 << 10 // one chunk-size line
	max1xx         = 5       // informational heads before the final one
)

// limits bound what the parser reads for one response.
type limits struct {
	header    int
	chunkLine int
}

var (
	errHeaderTooLarge = errors.New("net/http: server response headers exceeded the limit")
	errLineTooLong    = errors.New("header line too long")
	errMalformedChunk = errors.New("malformed chunked encoding")
	errChunkTooLarge  = errors.New("http chunk length too large")
)

// framing is how a response body is delimited.
type framing uint8

const (
	bodyNone    framing = iota // HEAD, 1xx, 204, 304
	bodyLength                 // Content-Length
	bodyChunked                // Transfer-Encoding: chunked
	bodyEOF                    // until the server closes
)

// encoding is a Content-Encoding the client decodes.
type encoding uint8

const (
	encIdentity encoding = iota
	encGzip
	encDeflate
	encBrotli
	encZstd
	encOther // left as is
)

// head is a parsed response head. Its slices belong to the parser and
// are valid until the next readHead.
type head struct {
	status        int
	text          []byte // "200 OK"
	proto         string
	major, minor  int
	contentLength int64 // -1 when absent
	framing       framing
	close         bool // the connection cannot carry another request
	encoding      encoding
	setCookie     bool
	location      bool
}

// parser reads HTTP/1.x responses from a bufio.Reader. Its buffers are
// reused from one response to the next. It is not safe for concurrent use.
type parser struct {
	lim  limits
	hdr  []byte // header lines of the last head: "Name: value\n"
	text []byte // status text of the last head
	line []byte // scratch for lines longer than the reader's buffer
}

func newParser(lim limits) *parser {
	return &parser{lim: lim, hdr: make([]byte, 0, 512), text: make([]byte, 0, 32)}
}

// readLine returns the next line without its line ending. The line may
// point into br's buffer (valid until the next read) or into p.line. It
// charges the bytes read to *budget and fails with errTooLong once it is
// spent; it never reads more than one buffer past the budget.
func (p *parser) readLine(br *bufio.Reader, budget *int, errTooLong error) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	*budget -= len(line)
	if *budget < 0 {
		return nil, errTooLong
	}
	if err == nil {
		return trimEOL(line), nil
	}
	if err != bufio.ErrBufferFull {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	s := append(p.line[:0], line...)
	for {
		line, err = br.ReadSlice('\n')
		*budget -= len(line)
		if *budget < 0 {
			p.line = s[:0]
			return nil, errTooLong
		}
		s = append(s, line...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			p.line = s[:0]
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	p.line = s
	return trimEOL(s), nil
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// readHead reads the status line and headers of the response to a
// request with method, skipping informational (1xx) heads. io.EOF means
// the connection closed before the first byte.
func (p *parser) readHead(br *bufio.Reader, method string, h *head) error {
	budget := p.lim.header
	for n1xx := 0; ; n1xx++ {
		*h = head{contentLength: -1}
		p.hdr = p.hdr[:0]
		line, err := p.readLine(br, &budget, errHeaderTooLarge)
		if err != nil {
			return err
		}
		if err := p.statusLine(line, h); err != nil {
			return err
		}
		if err := p.headerLines(br, &budget); err != nil {
			return err
		}
		if h.status >= 100 && h.status < 200 && h.status != 101 {
			if n1xx >= max1xx {
				return errors.New("net/http: too many 1xx informational responses")
			}
			continue
		}
		return p.interpret(method, h)
	}
}

func (p *parser) statusLine(line []byte, h *head) error {
	proto, rest, ok := bytes.Cut(line, []byte{' '})
	if !ok {
		return fmt.Errorf("malformed HTTP response %q", line)
	}
	for len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	code, _, _ := bytes.Cut(rest, []byte{' '})
	if len(code) != 3 || !isDigit(code[0]) || !isDigit(code[1]) || !isDigit(code[2]) {
		return fmt.Errorf("malformed HTTP status code %q", code)
	}
	h.status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	switch string(proto) {
	case "HTTP/1.1":
		h.proto, h.major, h.minor = "HTTP/1.1", 1, 1
	case "HTTP/1.0":
		h.proto, h.major, h.minor = "HTTP/1.0", 1, 0
	default:
		if len(proto) != len("HTTP/X.Y") || string(proto[:5]) != "HTTP/" || !isDigit(proto[5]) || proto[6] != '.' || !isDigit(proto[7]) {
			return fmt.Errorf("malformed HTTP version %q", proto)
		}
		h.proto, h.major, h.minor = string(proto), int(proto[5]-'0'), int(proto[7]-'0')
	}
	p.text = append(p.text[:0], rest...)
	h.text = p.text
	return nil
}

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

// headerLines reads header lines up to the empty line into p.hdr,
// normalised to "Name: value\n", with obsolete line folding joined.
func (p *parser) headerLines(br *bufio.Reader, budget *int) error {
	first := true
	for {
		line, err := p.readLine(br, budget, errHeaderTooLarge)
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if len(line) == 0 {
			return nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			if first {
				return fmt.Errorf("malformed MIME header initial line: %s", line)
			}
			v := trimOWS(line)
			if !validValue(v) {
				return fmt.Errorf("malformed MIME header line: %s", line)
			}
			p.hdr = p.hdr[:len(p.hdr)-1] // the previous line's "\n"
			if len(v) > 0 {
				p.hdr = append(p.hdr, ' ')
				p.hdr = append(p.hdr, v...)
			}
			p.hdr = append(p.hdr, '\n')
			continue
		}
		first = false
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok {
			return fmt.Errorf("malformed MIME header line: %s", line)
		}
		if len(k) == 0 || !validName(k) { // net/http rejects empty names too

			return fmt.Errorf("malformed MIME header line: %s", line)
		}
		v = trimOWS(v)
		if !validValue(v) {
			return fmt.Errorf("malformed MIME header line: %s", line)
		}
		p.hdr = append(p.hdr, k...)
		p.hdr = append(p.hdr, ':', ' ')
		p.hdr = append(p.hdr, v...)
		p.hdr = append(p.hdr, '\n')
	}
}

// interpret reads the headers that frame the body and the connection.
func (p *parser) interpret(method string, h *head) error {
	var cl []byte
	var te []byte
	haveCL, haveConn := false, false
	nTE := 0
	keepAlive := false
	for raw := p.hdr; len(raw) > 0; {
		i := bytes.IndexByte(raw, '\n')
		line := raw[:i]
		raw = raw[i+1:]
		k, v, _ := bytes.Cut(line, []byte{':'})
		if len(v) > 0 && v[0] == ' ' {
			v = v[1:]
		}
		switch len(k) {
		case len("Content-Length"):
			if asciiEqualFold(k, "Content-Length") {
				if haveCL && !bytes.Equal(cl, v) {
					return fmt.Errorf("http: message cannot contain multiple Content-Length headers; got %q",
						rawValues(p.hdr, "Content-Length"))
				}
				cl, haveCL = v, true
			}
		case len("Transfer-Encoding"):
			if asciiEqualFold(k, "Transfer-Encoding") {
				te = v
				nTE++
			}
		case len("Connection"):
			if asciiEqualFold(k, "Connection") {
				haveConn = true
				if hasToken(v, "close") {
					h.close = true
				}
				if hasToken(v, "keep-alive") {
					keepAlive = true
				}
			} else if asciiEqualFold(k, "Set-Cookie") {
				h.setCookie = true
			}
		case len("Content-Encoding"):
			if asciiEqualFold(k, "Content-Encoding") {
				switch {
				case asciiEqualFold(v, "gzip"), asciiEqualFold(v, "x-gzip"):
					h.encoding = encGzip
				case asciiEqualFold(v, "deflate"):
					h.encoding = encDeflate
				case asciiEqualFold(v, "br"):
					h.encoding = encBrotli
				case asciiEqualFold(v, "zstd"):
					h.encoding = encZstd
				case len(v) == 0, asciiEqualFold(v, "identity"):
				default:
					h.encoding = encOther
				}
			}
		case len("Location"):
			if asciiEqualFold(k, "Location") {
				h.location = true
			}
		}
	}
	if h.major < 1 || (h.major == 1 && h.minor == 0 && (!haveConn || !keepAlive)) {
		h.close = true
	}
	chunked := false
	atLeast11 := h.major > 1 || h.major == 1 && h.minor >= 1 || h.major == 0 && h.minor == 0 // net/http reads 0.0 as 1.1 here
	if nTE > 0 && atLeast11 {
		if nTE > 1 {
			return errors.New("too many transfer encodings")
		}
		if !asciiEqualFold(te, "chunked") {
			return fmt.Errorf("unsupported transfer encoding: %q", te)
		}
		chunked = true
	}
	if chunked {
		// net/http hides the framing of a chunked body from Header.
		p.hdr = dropHeaders(p.hdr, "Transfer-Encoding", "Content-Length")
	}
	if haveCL { // validated even when chunked, as net/http does
		n, err := parseContentLength(cl)
		if err != nil {
			return err
		}
		if !chunked {
			h.contentLength = n
		}
	}
	switch {
	case method == "HEAD" || h.status/100 == 1 || h.status == 204 || h.status == 304:
		h.framing = bodyNone
	case chunked:
		h.framing = bodyChunked
	case h.contentLength >= 0:
		h.framing = bodyLength
		if h.contentLength == 0 {
			h.framing = bodyNone
		}
	default:
		h.framing = bodyEOF
		h.close = true
	}
	if h.status == 101 {
		h.close = true
	}
	return nil
}

func parseContentLength(v []byte) (int64, error) {
	if len(v) == 0 {
		return 0, fmt.Errorf("invalid empty Content-Length %q", v)
	}
	n, err := strconv.ParseUint(string(v), 10, 63)
	if err != nil {
		return 0, fmt.Errorf("bad Content-Length %q", v)
	}
	return int64(n), nil
}

// hasToken reports whether the comma-separated list v holds token.
func hasToken(v []byte, token string) bool {
	for len(v) > 0 {
		var t []byte
		t, v, _ = bytes.Cut(v, []byte{','})
		if asciiEqualFold(trimOWS(t), token) {
			return true
		}
	}
	return false
}

// validName reports whether b is an RFC 7230 token.
func validName(b []byte) bool {
	for _, c := range b {
		if !isTokenByte(c) {
			return false
		}
	}
	return true
}

func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// validValue reports whether b holds no control bytes other than tab.
func validValue(b []byte) bool {
	for _, c := range b {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}

// readBody reads the body framed by h. With keep it appends the body to
// dst and returns it; otherwise it discards it and returns dst.
func (p *parser) readBody(br *bufio.Reader, h *head, dst []byte, keep bool) ([]byte, error) {
	switch h.framing {
	case bodyLength:
		return readN(br, dst, h.contentLength, keep)
	case bodyChunked:
		return p.readChunked(br, dst, keep)
	case bodyEOF:
		if !keep {
			_, err := io.Copy(io.Discard, br)
			return dst, err
		}
		for {
			if cap(dst)-len(dst) < 512 {
				dst = slices.Grow(dst, 4096)
			}
			n, err := br.Read(dst[len(dst):cap(dst)])
			dst = dst[:len(dst)+n]
			if err == io.EOF {
				return dst, nil
			}
			if err != nil {
				return dst, err
			}
		}
	}
	return dst, nil
}

// readN reads exactly n bytes, growing dst as they arrive (never ahead of
// them by more than a step, whatever n claims).
func readN(br *bufio.Reader, dst []byte, n int64, keep bool) ([]byte, error) {
	const step = 1 << 20
	for n > 0 {
		k := int(min(n, step))
		if !keep {
			d, err := br.Discard(k)
			n -= int64(d)
			if err != nil {
				return dst, unexpected(err)
			}
			continue
		}
		dst = slices.Grow(dst, k)
		r, err := io.ReadFull(br, dst[len(dst):len(dst)+k])
		dst = dst[:len(dst)+r]
		n -= int64(r)
		if err != nil {
			return dst, unexpected(err)
		}
	}
	return dst, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readChunked reads a chunked body with net/http's rules: chunk lines end
// in CRLF, extensions are dropped, overhead beyond 16 bytes per chunk
// plus twice its data may not pass 16 KB, and a trailer section must end
// within one buffer.
func (p *parser) readChunked(br *bufio.Reader, dst []byte, keep bool) ([]byte, error) {
	var excess int64
	for {
		line, err := readChunkLine(br, p.lim.chunkLine)
		if err != nil {
			return dst, err
		}
		excess += int64(len(line)) + 2
		n, err := parseChunkSize(line)
		if err != nil {
			return dst, err
		}
		excess = max(excess-16-2*n, 0)
		if excess > 16<<10 {
			return dst, errors.New("chunked encoding contains too much non-data")
		}
		if n == 0 {
			break
		}
		if dst, err = readN(br, dst, n, keep); err != nil {
			return dst, err
		}
		var crlf [2]byte
		if _, err := io.ReadFull(br, crlf[:]); err != nil {
			return dst, unexpected(err)
		}
		if crlf != [2]byte{'\r', '\n'} {
			return dst, errMalformedChunk
		}
	}
	return dst, p.readTrailer(br)
}

// readChunkLine returns a chunk-size line without its CRLF.
func readChunkLine(br *bufio.Reader, limit int) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		if err == bufio.ErrBufferFull {
			return nil, errLineTooLong
		}
		return nil, unexpected(err)
	}
	i := bytes.IndexByte(line, '\r')
	if i < 0 {
		return nil, errors.New("chunked line ends with bare LF")
	}
	if i != len(line)-2 {
		return nil, errors.New("invalid CR in chunked line")
	}
	line = line[:len(line)-2]
	if len(line) >= limit {
		return nil, errLineTooLong
	}
	return line, nil
}

// readTrailer reads (and drops) the trailer section after the last chunk.
func (p *parser) readTrailer(br *bufio.Reader) error {
	b, err := br.Peek(2)
	if len(b) == 2 && b[0] == '\r' && b[1] == '\n' {
		_, _ = br.Discard(2)
		return nil
	}
	if len(b) < 2 {
		return io.ErrUnexpectedEOF
	}
	if err != nil {
		return err
	}
	if !upcomingDoubleCRLF(br) {
		return errors.New("http: suspiciously long trailer after chunked body")
	}
	budget := br.Size()
	for {
		line, err := p.readLine(br, &budget, errHeaderTooLarge)
		if err != nil {
			return unexpected(err)
		}
		if len(line) == 0 {
			return nil
		}
		k, v, ok := bytes.Cut(line, []byte{':'})
		if line[0] == ' ' || line[0] == '\t' || !ok || len(k) == 0 || !validName(k) || !validValue(trimOWS(v)) {
			return fmt.Errorf("malformed MIME header line: %s", line)
		}
	}
}

// upcomingDoubleCRLF reports whether "\r\n\r\n" comes within the
// reader's buffer.
func upcomingDoubleCRLF(br *bufio.Reader) bool {
	for peek := 4; ; peek++ {
		b, err := br.Peek(peek)
		if bytes.HasSuffix(b, []byte("\r\n\r\n")) {
			return true
		}
		if err != nil {
			return false
		}
	}
}

// parseChunkSize parses a chunk-size line as net/http does: trailing
// whitespace trimmed, the extension cut off, up to 16 hex digits.
func parseChunkSize(line []byte) (int64, error) {
	for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t') {
		line = line[:len(line)-1]
	}
	line, _, _ = bytes.Cut(line, []byte{';'})
	if len(line) == 0 {
		return 0, errors.New("empty hex number for chunk length")
	}
	var n uint64
	for i, c := range line {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, errors.New("invalid byte in chunk length")
		}
		if i == 16 {
			return 0, errChunkTooLarge
		}
		n = n<<4 | uint64(c)
	}
	if n > 1<<62 { // more than anyone sends; net/http fails at EOF instead
		return 0, errChunkTooLarge
	}
	return int64(n), nil
}

// dropHeaders removes the lines of the named headers from hdr, in place.
func dropHeaders(hdr []byte, names ...string) []byte {
	out := hdr[:0]
	for raw := hdr; len(raw) > 0; {
		i := bytes.IndexByte(raw, '\n')
		line := raw[:i+1]
		raw = raw[i+1:]
		k, _, _ := bytes.Cut(line, []byte{':'})
		drop := false
		for _, n := range names {
			if asciiEqualFold(k, n) {
				drop = true
			}
		}
		if !drop {
			out = append(out, line...)
		}
	}
	return out
}
