package js

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"slices"

	"github.com/grafana/sobek"
	//lint:ignore SA1019 k6/crypto offers md4, for compatibility
	"golang.org/x/crypto/md4"
	//lint:ignore SA1019 k6/crypto offers ripemd160, for compatibility
	"golang.org/x/crypto/ripemd160"
)

// hashNames are k6/crypto's hash algorithms.
var hashNames = []string{"md4", "md5", "ripemd160", "sha1", "sha256", "sha384", "sha512", "sha512_224", "sha512_256"}

// hashFunc returns k6/crypto's hash algorithm called name, or nil.
func hashFunc(name string) func() hash.Hash {
	switch name {
	case "md4":
		return md4.New
	case "md5":
		return md5.New
	case "sha1":
		return sha1.New
	case "sha256":
		return sha256.New
	case "sha384":
		return sha512.New384
	case "sha512":
		return sha512.New
	case "sha512_224":
		return sha512.New512_224
	case "sha512_256":
		return sha512.New512_256
	case "ripemd160":
		return ripemd160.New
	}
	return nil
}

func cryptoExportNames() []string {
	names := append([]string{"createHMAC", "createHash", "hexEncode", "hmac", "randomBytes"}, hashNames...)
	slices.Sort(names)
	return names
}

// cryptoModule is k6/crypto: hash functions, hmac, createHash, createHMAC,
// randomBytes and hexEncode.
func cryptoModule(vu *VU) (Exports, error) {
	named := map[string]any{
		"createHash": func(call sobek.FunctionCall) sobek.Value {
			return vu.hasher(vu.newHash(call.Argument(0).String(), nil))
		},
		"createHMAC": func(call sobek.FunctionCall) sobek.Value {
			key, _ := vu.stringOrBytes(call.Argument(1))
			return vu.hasher(vu.newHash(call.Argument(0).String(), key))
		},
		"hmac": func(call sobek.FunctionCall) sobek.Value {
			key, _ := vu.stringOrBytes(call.Argument(1))
			h := vu.newHash(call.Argument(0).String(), key)
			data, _ := vu.stringOrBytes(call.Argument(2))
			h.Write(data)
			return vu.encodeDigest(h.Sum(nil), call.Argument(3))
		},
		"randomBytes": func(call sobek.FunctionCall) sobek.Value {
			n := call.Argument(0).ToInteger()
			if n < 1 || n > 1<<20 {
				vu.throwf("randomBytes(%d): want 1 to 1048576 bytes", n)
			}
			b := make([]byte, n)
			_, _ = rand.Read(b)
			return vu.arrayBuffer(b)
		},
		"hexEncode": func(call sobek.FunctionCall) sobek.Value {
			b, _ := vu.stringOrBytes(call.Argument(0))
			return vu.rt.ToValue(hex.EncodeToString(b))
		},
	}
	for _, name := range hashNames {
		named[name] = func(call sobek.FunctionCall) sobek.Value {
			h := vu.newHash(name, nil)
			data, _ := vu.stringOrBytes(call.Argument(0))
			h.Write(data)
			return vu.encodeDigest(h.Sum(nil), call.Argument(1))
		}
	}
	return Exports{Named: named}, nil
}

// newHash returns the named hash, keyed as an HMAC when key is not nil.
func (vu *VU) newHash(algo string, key []byte) hash.Hash {
	mk := hashFunc(algo)
	if mk == nil {
		vu.throwf("k6/crypto: unknown hash algorithm %q", algo)
	}
	if key != nil {
		return hmac.New(mk, key)
	}
	return mk()
}

// hasher is the object createHash and createHMAC return: update(data)
// and digest(encoding).
func (vu *VU) hasher(h hash.Hash) sobek.Value {
	o := vu.rt.NewObject()
	_ = o.Set("update", func(call sobek.FunctionCall) sobek.Value {
		data, _ := vu.stringOrBytes(call.Argument(0))
		h.Write(data)
		return o
	})
	_ = o.Set("digest", func(call sobek.FunctionCall) sobek.Value {
		return vu.encodeDigest(h.Sum(nil), call.Argument(0))
	})
	return o
}

// encodeDigest encodes a digest as k6 does: hex, base64, base64url,
// base64rawurl, or binary (an ArrayBuffer).
func (vu *VU) encodeDigest(sum []byte, enc sobek.Value) sobek.Value {
	e := "hex"
	if !isNullish(enc) {
		e = enc.String()
	}
	switch e {
	case "hex":
		return vu.rt.ToValue(hex.EncodeToString(sum))
	case "base64":
		return vu.rt.ToValue(base64.StdEncoding.EncodeToString(sum))
	case "base64url":
		return vu.rt.ToValue(base64.URLEncoding.EncodeToString(sum))
	case "base64rawurl":
		return vu.rt.ToValue(base64.RawURLEncoding.EncodeToString(sum))
	case "binary":
		return vu.arrayBuffer(sum)
	}
	vu.throwf("k6/crypto: unknown output encoding %q (want hex, base64, base64url, base64rawurl or binary)", e)
	return nil
}

// encodingModule is k6/encoding: b64encode and b64decode.
func encodingModule(vu *VU) (Exports, error) {
	return Exports{Named: map[string]any{
		"b64encode": func(call sobek.FunctionCall) sobek.Value {
			data, _ := vu.stringOrBytes(call.Argument(0))
			return vu.rt.ToValue(vu.b64(call.Argument(1)).EncodeToString(data))
		},
		"b64decode": func(call sobek.FunctionCall) sobek.Value {
			enc := vu.b64(call.Argument(1))
			b, err := enc.DecodeString(call.Argument(0).String())
			if err != nil {
				vu.throwf("b64decode: %v", err)
			}
			if f := call.Argument(2); !isNullish(f) && f.String() == "s" {
				return vu.rt.ToValue(string(b))
			}
			return vu.arrayBuffer(b)
		},
	}}, nil
}

// b64 returns k6's base64 variant: std (default), rawstd, url, rawurl.
func (vu *VU) b64(v sobek.Value) *base64.Encoding {
	name := "std"
	if !isNullish(v) && v.String() != "" {
		name = v.String()
	}
	switch name {
	case "std":
		return base64.StdEncoding
	case "rawstd":
		return base64.RawStdEncoding
	case "url":
		return base64.URLEncoding
	case "rawurl":
		return base64.RawURLEncoding
	}
	vu.throwf("k6/encoding: unknown base64 variant %q (want std, rawstd, url or rawurl)", name)
	return nil
}
