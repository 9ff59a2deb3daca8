package k6http

import (
	"bytes"
	"io"

	"github.com/klauspost/compress/zstd"
)

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

// zlibOrRaw returns the raw DEFLATE stream of a "deflate" body: HTTP's
// deflate is zlib-wrapped (RFC 9110), but servers also send it raw. A zlib
// header is two bytes whose big-endian value is a multiple of 31 with
// method 8.
func zlibOrRaw(b []byte) io.Reader {
	if len(b) >= 2 && b[0]&0x0f == 8 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0 {
		return bytes.NewReader(b[2:]) // the trailing Adler-32 is left unread
	}
	return bytes.NewReader(b)
}

// zstdMaxWindow is the largest window a zstd body may ask for: HTTP's zstd
// content coding limits it to 8 MiB (RFC 9659), and the decoder allocates
// the window a frame claims before it decodes anything.
const zstdMaxWindow = 8 << 20

// unzstd decodes a zstd body with the client's decoder, made on first use.
// It streams rather than calling DecodeAll, which allocates whatever
// content size a frame header claims: 18 bytes from the target could ask
// for gigabytes. The decoder runs on the caller's goroutine (concurrency
// 1), so it starts no goroutines; Close releases it.
func (c *Client) unzstd(body []byte) ([]byte, error) {
	if c.zstd == nil {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(zstdMaxWindow))
		if err != nil {
			return nil, decompressionError(err)
		}
		c.zstd = d
	}
	if err := c.zstd.Reset(bytes.NewReader(body)); err != nil {
		return nil, decompressionError(err)
	}
	out, err := io.ReadAll(c.zstd)
	if err != nil {
		return nil, decompressionError(err)
	}
	return out, nil
}
