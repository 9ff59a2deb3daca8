package k6http

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"errors"
	"fmt"
	"io"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// ErrUnsupportedEncoding is the error of [Compress] for a content encoding
// it cannot make.
var ErrUnsupportedEncoding = errors.New("unsupported compression")

// Compress encodes a request body as k6's compression param does: with
// each of encodings in turn, one of "gzip", "deflate", "br" (brotli) and
// "zstd". The caller sends the result with Content-Encoding set to the
// encodings joined by ", " (Content-Length follows the encoded body). An
// unknown encoding fails with an error that wraps
// [ErrUnsupportedEncoding]. Compress is safe for concurrent use.
func Compress(body []byte, encodings ...string) ([]byte, error) {
	for _, enc := range encodings {
		switch enc {
		case "gzip", "deflate", "br", "zstd":
		default:
			return nil, fmt.Errorf("%w %q (want gzip, deflate, br or zstd)", ErrUnsupportedEncoding, enc)
		}
	}
	for _, enc := range encodings {
		if enc == "zstd" {
			e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
			if err != nil {
				return nil, fmt.Errorf("zstd: %w", err)
			}
			body = e.EncodeAll(body, nil)
			_ = e.Close()
			continue
		}
		var buf bytes.Buffer
		var w io.WriteCloser
		switch enc {
		case "gzip":
			w = gzip.NewWriter(&buf)
		case "deflate":
			w, _ = flate.NewWriter(&buf, flate.DefaultCompression) // fails only for a bad level
		case "br":
			w = brotli.NewWriter(&buf)
		}
		if _, err := w.Write(body); err != nil {
			return nil, fmt.Errorf("%s: %w", enc, err)
		}
		if err := w.Close(); err != nil {
			return nil, fmt.Errorf("%s: %w", enc, err)
		}
		body = buf.Bytes()
	}
	return body, nil
}
