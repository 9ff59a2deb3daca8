package js

import (
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"slices"
	"strings"

	"github.com/grafana/sobek"
)

// WebCrypto's crypto.subtle on the Go standard library: digest, importKey
// and exportKey (raw, jwk, pkcs8, spki), generateKey, sign and verify
// (HMAC, ECDSA, RSASSA-PKCS1-v1_5, RSA-PSS), encrypt and decrypt (AES-GCM,
// AES-CBC, AES-CTR) and deriveBits (ECDH). Every method returns a promise;
// failures reject it with a DOMException-like error.

// cryptoKey is a CryptoKey's Go side.
type cryptoKey struct {
	typ         string // "secret", "private", "public"
	alg         string // the algorithm's name, upper case as WebCrypto's
	hash        string // HMAC, ECDSA's default and RSA's: "SHA-256"...
	curve       string // EC: "P-256"...
	extractable bool
	usages      []string
	secret      []byte
	priv        crypto.PrivateKey
	pub         crypto.PublicKey
}

// subtle returns crypto.subtle for the VU.
func (vu *VU) subtle() *sobek.Object {
	rt := vu.rt
	o := rt.NewObject()
	wrap := func(fn func(call sobek.FunctionCall) (any, error)) func(sobek.FunctionCall) sobek.Value {
		return func(call sobek.FunctionCall) sobek.Value {
			v, err := fn(call)
			if err != nil {
				return rt.ToValue(vu.settled(nil, vu.cryptoError(err)))
			}
			return rt.ToValue(vu.settled(v, nil))
		}
	}
	_ = o.Set("digest", wrap(vu.cryptoDigest))
	_ = o.Set("importKey", wrap(vu.cryptoImportKey))
	_ = o.Set("exportKey", wrap(vu.cryptoExportKey))
	_ = o.Set("generateKey", wrap(vu.cryptoGenerateKey))
	_ = o.Set("sign", wrap(vu.cryptoSign))
	_ = o.Set("verify", wrap(vu.cryptoVerify))
	_ = o.Set("encrypt", wrap(func(call sobek.FunctionCall) (any, error) { return vu.cryptoCipher(call, true) }))
	_ = o.Set("decrypt", wrap(func(call sobek.FunctionCall) (any, error) { return vu.cryptoCipher(call, false) }))
	_ = o.Set("deriveBits", wrap(vu.cryptoDeriveBits))
	return o
}

// cryptoErr is a WebCrypto failure with its DOMException name.
type cryptoErr struct{ name, msg string }

func (e *cryptoErr) Error() string { return e.name + ": " + e.msg }

func notSupported(format string, args ...any) error {
	return &cryptoErr{"NotSupportedError", fmt.Sprintf(format, args...)}
}

func invalidAccess(format string, args ...any) error {
	return &cryptoErr{"InvalidAccessError", fmt.Sprintf(format, args...)}
}

func (vu *VU) cryptoError(err error) sobek.Value {
	var ce *cryptoErr
	if !errors.As(err, &ce) {
		ce = &cryptoErr{"OperationError", err.Error()}
	}
	return vu.fsError(ce.name, ce.msg)
}

// algorithm reads an algorithm argument: a name or {name, ...}.
func (vu *VU) algorithm(v sobek.Value) (name string, params *sobek.Object) {
	if o, ok := v.(*sobek.Object); ok {
		return strings.ToUpper(getStr(o, "name")), o
	}
	return strings.ToUpper(v.String()), vu.rt.NewObject()
}

// intParam reads an integer parameter; 0 when it is missing.
func intParam(o *sobek.Object, name string) int64 {
	v := o.Get(name)
	if isNullish(v) {
		return 0
	}
	return v.ToInteger()
}

// hashName reads a hash parameter: "SHA-256" or {name: "SHA-256"}.
func (vu *VU) hashName(v sobek.Value) string {
	if isNullish(v) {
		return ""
	}
	n, _ := vu.algorithm(v)
	return n
}

func newHash(name string) (func() hash.Hash, crypto.Hash, error) {
	switch name {
	case "SHA-1":
		return sha1.New, crypto.SHA1, nil
	case "SHA-256":
		return sha256.New, crypto.SHA256, nil
	case "SHA-384":
		return sha512.New384, crypto.SHA384, nil
	case "SHA-512":
		return sha512.New, crypto.SHA512, nil
	}
	return nil, 0, notSupported("hash %q", name)
}

func (vu *VU) data(v sobek.Value) ([]byte, error) {
	b, ok := vu.bytesOf(v)
	if !ok {
		return nil, &cryptoErr{"TypeError", "want an ArrayBuffer, a typed array or a DataView"}
	}
	return b, nil
}

func (vu *VU) cryptoDigest(call sobek.FunctionCall) (any, error) {
	name, _ := vu.algorithm(call.Argument(0))
	h, _, err := newHash(name)
	if err != nil {
		return nil, err
	}
	b, err := vu.data(call.Argument(1))
	if err != nil {
		return nil, err
	}
	d := h()
	d.Write(b)
	return vu.rt.NewArrayBuffer(d.Sum(nil)), nil
}

// keyObject makes the CryptoKey object of k.
func (vu *VU) keyObject(k *cryptoKey) *sobek.Object {
	rt := vu.rt
	o := rt.NewObject()
	_ = o.Set("type", k.typ)
	_ = o.Set("extractable", k.extractable)
	alg := rt.NewObject()
	_ = alg.Set("name", k.alg)
	if k.hash != "" && (k.alg == "HMAC" || strings.HasPrefix(k.alg, "RS")) {
		h := rt.NewObject()
		_ = h.Set("name", k.hash)
		_ = alg.Set("hash", h)
	}
	if k.curve != "" {
		_ = alg.Set("namedCurve", k.curve)
	}
	if k.secret != nil {
		_ = alg.Set("length", 8*len(k.secret))
	}
	_ = o.Set("algorithm", alg)
	_ = o.Set("usages", k.usages)
	if vu.cryptoKeys == nil {
		vu.cryptoKeys = map[*sobek.Object]*cryptoKey{}
	}
	vu.cryptoKeys[o] = k
	return o
}

func (vu *VU) keyOf(v sobek.Value) (*cryptoKey, error) {
	if o, ok := v.(*sobek.Object); ok {
		if k, ok := vu.cryptoKeys[o]; ok {
			return k, nil
		}
	}
	return nil, &cryptoErr{"TypeError", "want a CryptoKey"}
}

func (k *cryptoKey) can(usage string) error {
	if !slices.Contains(k.usages, usage) {
		return invalidAccess("the key cannot be used to %s", usage)
	}
	return nil
}

func (vu *VU) usages(v sobek.Value) []string {
	var us []string
	_ = vu.rt.ExportTo(v, &us)
	return us
}

func curveOf(name string) (elliptic.Curve, ecdh.Curve, error) {
	switch name {
	case "P-256":
		return elliptic.P256(), ecdh.P256(), nil
	case "P-384":
		return elliptic.P384(), ecdh.P384(), nil
	case "P-521":
		return elliptic.P521(), ecdh.P521(), nil
	}
	return nil, nil, notSupported("named curve %q", name)
}

func (vu *VU) cryptoImportKey(call sobek.FunctionCall) (any, error) {
	format := call.Argument(0).String()
	alg, params := vu.algorithm(call.Argument(2))
	k := &cryptoKey{alg: alg, extractable: call.Argument(3).ToBoolean(), usages: vu.usages(call.Argument(4)),
		hash: vu.hashName(params.Get("hash")), curve: getStr(params, "namedCurve")}
	switch alg {
	case "HMAC", "AES-GCM", "AES-CBC", "AES-CTR":
		k.typ = "secret"
		switch format {
		case "raw":
			b, err := vu.data(call.Argument(1))
			if err != nil {
				return nil, err
			}
			k.secret = slices.Clone(b)
		case "jwk":
			o, ok := call.Argument(1).(*sobek.Object)
			if !ok {
				return nil, &cryptoErr{"TypeError", "a jwk key must be an object"}
			}
			b, err := base64.RawURLEncoding.DecodeString(getStr(o, "k"))
			if err != nil {
				return nil, &cryptoErr{"DataError", "jwk k: " + err.Error()}
			}
			k.secret = b
		default:
			return nil, notSupported("format %q for %s", format, alg)
		}
		if alg != "HMAC" {
			if n := len(k.secret); n != 16 && n != 24 && n != 32 {
				return nil, &cryptoErr{"DataError", fmt.Sprintf("an AES key has 128, 192 or 256 bits, not %d", 8*n)}
			}
		}
		return vu.keyObject(k), nil
	case "ECDSA", "ECDH", "RSASSA-PKCS1-V1_5", "RSA-PSS", "RSA-OAEP":
		if alg == "RSASSA-PKCS1-V1_5" {
			k.alg = "RSASSA-PKCS1-v1_5"
		}
		b, err := vu.data(call.Argument(1))
		if err != nil && format != "jwk" {
			return nil, err
		}
		switch format {
		case "pkcs8":
			key, err := x509.ParsePKCS8PrivateKey(b)
			if err != nil {
				return nil, &cryptoErr{"DataError", err.Error()}
			}
			k.typ, k.priv = "private", key
		case "spki":
			key, err := x509.ParsePKIXPublicKey(b)
			if err != nil {
				return nil, &cryptoErr{"DataError", err.Error()}
			}
			k.typ, k.pub = "public", key
		case "raw":
			c, _, err := curveOf(k.curve)
			if err != nil {
				return nil, err
			}
			pub, err := ecdsa.ParseUncompressedPublicKey(c, b)
			if err != nil {
				return nil, &cryptoErr{"DataError", "not an uncompressed point on " + k.curve}
			}
			k.typ, k.pub = "public", pub
		default:
			return nil, notSupported("format %q for %s", format, alg)
		}
		if ec, ok := k.priv.(*ecdsa.PrivateKey); ok && k.curve == "" {
			k.curve = ec.Curve.Params().Name
		}
		if ec, ok := k.pub.(*ecdsa.PublicKey); ok && k.curve == "" {
			k.curve = ec.Curve.Params().Name
		}
		return vu.keyObject(k), nil
	}
	return nil, notSupported("algorithm %q", alg)
}

func (vu *VU) cryptoExportKey(call sobek.FunctionCall) (any, error) {
	format := call.Argument(0).String()
	k, err := vu.keyOf(call.Argument(1))
	if err != nil {
		return nil, err
	}
	if !k.extractable {
		return nil, invalidAccess("the key is not extractable")
	}
	switch {
	case format == "raw" && k.secret != nil:
		return vu.rt.NewArrayBuffer(slices.Clone(k.secret)), nil
	case format == "jwk" && k.secret != nil:
		o := vu.rt.NewObject()
		_ = o.Set("kty", "oct")
		_ = o.Set("k", base64.RawURLEncoding.EncodeToString(k.secret))
		_ = o.Set("ext", true)
		_ = o.Set("key_ops", k.usages)
		return o, nil
	case format == "pkcs8" && k.priv != nil:
		b, err := x509.MarshalPKCS8PrivateKey(k.priv)
		if err != nil {
			return nil, err
		}
		return vu.rt.NewArrayBuffer(b), nil
	case format == "spki" && k.pub != nil:
		b, err := x509.MarshalPKIXPublicKey(k.pub)
		if err != nil {
			return nil, err
		}
		return vu.rt.NewArrayBuffer(b), nil
	case format == "raw" && k.pub != nil:
		if ec, ok := k.pub.(*ecdsa.PublicKey); ok {
			pk, err := ec.ECDH()
			if err != nil {
				return nil, err
			}
			return vu.rt.NewArrayBuffer(pk.Bytes()), nil
		}
	}
	return nil, notSupported("exporting a %s %s key as %q", k.typ, k.alg, format)
}

func (vu *VU) cryptoGenerateKey(call sobek.FunctionCall) (any, error) {
	alg, params := vu.algorithm(call.Argument(0))
	extractable, usages := call.Argument(1).ToBoolean(), vu.usages(call.Argument(2))
	switch alg {
	case "AES-GCM", "AES-CBC", "AES-CTR", "HMAC":
		n := int(intParam(params, "length"))
		k := &cryptoKey{typ: "secret", alg: alg, extractable: extractable, usages: usages, hash: vu.hashName(params.Get("hash"))}
		if alg == "HMAC" && n == 0 {
			h, _, err := newHash(k.hash)
			if err != nil {
				return nil, err
			}
			n = 8 * h().BlockSize()
		}
		if alg != "HMAC" && n != 128 && n != 192 && n != 256 {
			return nil, &cryptoErr{"OperationError", fmt.Sprintf("an AES key has 128, 192 or 256 bits, not %d", n)}
		}
		k.secret = make([]byte, n/8)
		_, _ = rand.Read(k.secret)
		return vu.keyObject(k), nil
	case "ECDSA", "ECDH":
		curve := getStr(params, "namedCurve")
		c, _, err := curveOf(curve)
		if err != nil {
			return nil, err
		}
		priv, err := ecdsa.GenerateKey(c, rand.Reader)
		if err != nil {
			return nil, err
		}
		return vu.keyPair(&cryptoKey{alg: alg, curve: curve}, priv, &priv.PublicKey, extractable, usages), nil
	case "RSASSA-PKCS1-V1_5", "RSA-PSS":
		bits := int(intParam(params, "modulusLength"))
		if bits < 1024 || bits > 8192 {
			return nil, &cryptoErr{"OperationError", fmt.Sprintf("modulusLength %d: want 1024 to 8192", bits)}
		}
		priv, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, err
		}
		name := alg
		if alg == "RSASSA-PKCS1-V1_5" {
			name = "RSASSA-PKCS1-v1_5"
		}
		return vu.keyPair(&cryptoKey{alg: name, hash: vu.hashName(params.Get("hash"))}, priv, &priv.PublicKey, extractable, usages), nil
	}
	return nil, notSupported("algorithm %q", alg)
}

// keyPair makes {privateKey, publicKey}; the public key is always
// extractable and keeps the usages that apply to it.
func (vu *VU) keyPair(tmpl *cryptoKey, priv crypto.PrivateKey, pub crypto.PublicKey, extractable bool, usages []string) *sobek.Object {
	privK, pubK := *tmpl, *tmpl
	privK.typ, privK.priv, privK.extractable = "private", priv, extractable
	pubK.typ, pubK.pub, pubK.extractable = "public", pub, true
	for _, u := range usages {
		switch u {
		case "verify", "encrypt", "wrapKey":
			pubK.usages = append(pubK.usages, u)
		default:
			privK.usages = append(privK.usages, u)
		}
	}
	o := vu.rt.NewObject()
	_ = o.Set("privateKey", vu.keyObject(&privK))
	_ = o.Set("publicKey", vu.keyObject(&pubK))
	return o
}

// signature signs (sig nil) or verifies data with the key.
func (vu *VU) signature(params *sobek.Object, k *cryptoKey, data, sig []byte) ([]byte, bool, error) {
	hashName := k.hash
	if h := vu.hashName(params.Get("hash")); h != "" {
		hashName = h
	}
	newH, ch, err := newHash(hashName)
	if err != nil {
		return nil, false, err
	}
	digest := func() []byte { h := newH(); h.Write(data); return h.Sum(nil) }
	verifying := sig != nil
	switch k.alg {
	case "HMAC":
		m := hmac.New(newH, k.secret)
		m.Write(data)
		mac := m.Sum(nil)
		return mac, verifying && hmac.Equal(mac, sig), nil
	case "ECDSA":
		if verifying {
			pub, ok := k.pub.(*ecdsa.PublicKey)
			if !ok {
				return nil, false, invalidAccess("verifying needs a public key")
			}
			n := (pub.Curve.Params().BitSize + 7) / 8
			if len(sig) != 2*n {
				return nil, false, nil
			}
			r, s := new(big.Int).SetBytes(sig[:n]), new(big.Int).SetBytes(sig[n:])
			return nil, ecdsa.Verify(pub, digest(), r, s), nil
		}
		priv, ok := k.priv.(*ecdsa.PrivateKey)
		if !ok {
			return nil, false, invalidAccess("signing needs a private key")
		}
		r, s, err := ecdsa.Sign(rand.Reader, priv, digest())
		if err != nil {
			return nil, false, err
		}
		n := (priv.Curve.Params().BitSize + 7) / 8
		out := make([]byte, 2*n)
		r.FillBytes(out[:n])
		s.FillBytes(out[n:])
		return out, false, nil
	case "RSASSA-PKCS1-v1_5", "RSA-PSS":
		var pss *rsa.PSSOptions
		if k.alg == "RSA-PSS" {
			pss = &rsa.PSSOptions{SaltLength: int(intParam(params, "saltLength")), Hash: ch}
		}
		if verifying {
			pub, ok := k.pub.(*rsa.PublicKey)
			if !ok {
				return nil, false, invalidAccess("verifying needs a public key")
			}
			if pss != nil {
				return nil, rsa.VerifyPSS(pub, ch, digest(), sig, pss) == nil, nil
			}
			return nil, rsa.VerifyPKCS1v15(pub, ch, digest(), sig) == nil, nil
		}
		priv, ok := k.priv.(*rsa.PrivateKey)
		if !ok {
			return nil, false, invalidAccess("signing needs a private key")
		}
		var out []byte
		if pss != nil {
			out, err = rsa.SignPSS(rand.Reader, priv, ch, digest(), pss)
		} else {
			out, err = rsa.SignPKCS1v15(rand.Reader, priv, ch, digest())
		}
		return out, false, err
	}
	return nil, false, notSupported("signing with %s", k.alg)
}

func (vu *VU) cryptoSign(call sobek.FunctionCall) (any, error) {
	_, params := vu.algorithm(call.Argument(0))
	k, err := vu.keyOf(call.Argument(1))
	if err != nil {
		return nil, err
	}
	if err := k.can("sign"); err != nil {
		return nil, err
	}
	data, err := vu.data(call.Argument(2))
	if err != nil {
		return nil, err
	}
	sig, _, err := vu.signature(params, k, data, nil)
	if err != nil {
		return nil, err
	}
	return vu.rt.NewArrayBuffer(sig), nil
}

func (vu *VU) cryptoVerify(call sobek.FunctionCall) (any, error) {
	_, params := vu.algorithm(call.Argument(0))
	k, err := vu.keyOf(call.Argument(1))
	if err != nil {
		return nil, err
	}
	if err := k.can("verify"); err != nil {
		return nil, err
	}
	sig, err := vu.data(call.Argument(2))
	if err != nil {
		return nil, err
	}
	data, err := vu.data(call.Argument(3))
	if err != nil {
		return nil, err
	}
	_, ok, err := vu.signature(params, k, data, slices.Clone(sig))
	return ok, err
}

func (vu *VU) cryptoCipher(call sobek.FunctionCall, encrypt bool) (any, error) {
	alg, params := vu.algorithm(call.Argument(0))
	k, err := vu.keyOf(call.Argument(1))
	if err != nil {
		return nil, err
	}
	usage := "decrypt"
	if encrypt {
		usage = "encrypt"
	}
	if err := k.can(usage); err != nil {
		return nil, err
	}
	if alg != k.alg {
		return nil, invalidAccess("the key is for %s, not %s", k.alg, alg)
	}
	data, err := vu.data(call.Argument(2))
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k.secret)
	if err != nil {
		return nil, err
	}
	param := func(name string) ([]byte, error) {
		v := params.Get(name)
		if isNullish(v) {
			return nil, nil
		}
		return vu.data(v)
	}
	var out []byte
	switch alg {
	case "AES-GCM":
		iv, err := param("iv")
		if err != nil {
			return nil, err
		}
		ad, err := param("additionalData")
		if err != nil {
			return nil, err
		}
		tag := 16
		if t := params.Get("tagLength"); !isNullish(t) {
			tag = int(t.ToInteger()) / 8
		}
		g, err := cipher.NewGCMWithNonceSize(block, len(iv))
		if err == nil && tag != 16 {
			g, err = cipher.NewGCMWithTagSize(block, tag)
		}
		if err != nil {
			return nil, err
		}
		if encrypt {
			out = g.Seal(nil, iv, data, ad)
		} else if out, err = g.Open(nil, iv, data, ad); err != nil {
			return nil, &cryptoErr{"OperationError", "the data cannot be decrypted"}
		}
	case "AES-CBC":
		iv, err := param("iv")
		if err != nil {
			return nil, err
		}
		if len(iv) != aes.BlockSize {
			return nil, &cryptoErr{"OperationError", "AES-CBC needs a 16-byte iv"}
		}
		if encrypt {
			pad := aes.BlockSize - len(data)%aes.BlockSize
			buf := append(slices.Clone(data), make([]byte, pad)...)
			for i := len(data); i < len(buf); i++ {
				buf[i] = byte(pad)
			}
			cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
			out = buf
		} else {
			if len(data) == 0 || len(data)%aes.BlockSize != 0 {
				return nil, &cryptoErr{"OperationError", "the data cannot be decrypted"}
			}
			buf := slices.Clone(data)
			cipher.NewCBCDecrypter(block, iv).CryptBlocks(buf, buf)
			pad := int(buf[len(buf)-1])
			if pad == 0 || pad > aes.BlockSize {
				return nil, &cryptoErr{"OperationError", "the data cannot be decrypted"}
			}
			out = buf[:len(buf)-pad]
		}
	case "AES-CTR":
		counter, err := param("counter")
		if err != nil {
			return nil, err
		}
		if len(counter) != aes.BlockSize {
			return nil, &cryptoErr{"OperationError", "AES-CTR needs a 16-byte counter"}
		}
		out = make([]byte, len(data))
		cipher.NewCTR(block, counter).XORKeyStream(out, data)
	default:
		return nil, notSupported("algorithm %q", alg)
	}
	return vu.rt.NewArrayBuffer(out), nil
}

func (vu *VU) cryptoDeriveBits(call sobek.FunctionCall) (any, error) {
	alg, params := vu.algorithm(call.Argument(0))
	if alg != "ECDH" {
		return nil, notSupported("deriving bits with %q", alg)
	}
	k, err := vu.keyOf(call.Argument(1))
	if err != nil {
		return nil, err
	}
	if err := k.can("deriveBits"); err != nil {
		return nil, err
	}
	pubK, err := vu.keyOf(params.Get("public"))
	if err != nil {
		return nil, err
	}
	priv, ok := k.priv.(*ecdsa.PrivateKey)
	pub, ok2 := pubK.pub.(*ecdsa.PublicKey)
	if !ok || !ok2 {
		return nil, invalidAccess("ECDH needs an EC private key and an EC public key")
	}
	ep, err := priv.ECDH()
	if err != nil {
		return nil, err
	}
	eq, err := pub.ECDH()
	if err != nil {
		return nil, err
	}
	secret, err := ep.ECDH(eq)
	if err != nil {
		return nil, err
	}
	if n := call.Argument(2); !isNullish(n) {
		bits := int(n.ToInteger())
		if bits > 8*len(secret) || bits%8 != 0 {
			return nil, &cryptoErr{"OperationError", fmt.Sprintf("cannot derive %d bits", bits)}
		}
		secret = secret[:bits/8]
	}
	return vu.rt.NewArrayBuffer(secret), nil
}
