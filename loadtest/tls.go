package loadtest

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
)

// TLSVersion is k6's tlsVersion option: the lowest and highest TLS
// versions to offer, by k6's names ("tls1.0" … "tls1.3"); "" leaves that
// end at Go's default. In JSON it is one name (both ends) or
// {"min": …, "max": …}.
type TLSVersion struct {
	Min string `json:"min,omitempty"`
	Max string `json:"max,omitempty"`
}

// UnmarshalJSON reads "tls1.2" or {"min": "tls1.2", "max": "tls1.3"}.
func (v *TLSVersion) UnmarshalJSON(b []byte) error {
	var one string
	if json.Unmarshal(b, &one) == nil {
		*v = TLSVersion{Min: one, Max: one}
		return nil
	}
	type plain TLSVersion
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return errors.New(`want a version such as "tls1.2" or {"min": "tls1.2", "max": "tls1.3"}`)
	}
	*v = TLSVersion(p)
	return nil
}

// TLSAuth is a client certificate of k6's tlsAuth option. As in k6
// v2.2.0, a server that asks for a certificate gets the first one it
// accepts (by its certificate authorities), whatever Domains says: k6
// deprecated it.
type TLSAuth struct {
	Domains []string `json:"domains,omitempty"`
	// Cert and Key are PEM: the certificate (chain) and its private key.
	Cert string `json:"cert"`
	Key  string `json:"key"`
	// Password decrypts an encrypted key in k6; loadlens refuses encrypted
	// keys (decrypt the key first).
	Password string `json:"password,omitempty"`
}

var tlsVersions = map[string]uint16{"tls1.0": tls.VersionTLS10, "tls1.1": tls.VersionTLS11,
	"tls1.2": tls.VersionTLS12, "tls1.3": tls.VersionTLS13}

// tlsSettings builds the TLS configuration of tlsVersion, tlsCipherSuites
// and tlsAuth; nil when none is set. Every
// problem is reported, each naming its option.
func (o Options) tlsSettings() (*tls.Config, error) {
	if o.TLSVersion == nil && o.TLSCipherSuites == nil && o.TLSAuth == nil {
		return nil, nil
	}
	var errs []error
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	if v := o.TLSVersion; v != nil {
		for _, x := range []struct {
			key, name string
			dst       *uint16
		}{{"min", v.Min, &conf.MinVersion}, {"max", v.Max, &conf.MaxVersion}} {
			if x.name == "" {
				continue
			}
			ver, ok := tlsVersions[x.name]
			if !ok {
				errs = append(errs, fmt.Errorf("options.tlsVersion.%s: unknown TLS version %q (want tls1.0, tls1.1, tls1.2 or tls1.3)", x.key, x.name))
			}
			*x.dst = ver
		}
		if conf.MaxVersion != 0 && conf.MinVersion > conf.MaxVersion {
			errs = append(errs, fmt.Errorf("options.tlsVersion: min %q is above max %q", v.Min, v.Max))
		}
	}
	for i, name := range o.TLSCipherSuites {
		id, ok := cipherSuite(name)
		if !ok {
			errs = append(errs, fmt.Errorf("options.tlsCipherSuites[%d]: unknown cipher suite %q", i, name))
		}
		conf.CipherSuites = append(conf.CipherSuites, id)
	}
	for i, a := range o.TLSAuth {
		if a.Password != "" {
			errs = append(errs, fmt.Errorf("options.tlsAuth[%d].password: encrypted keys are not supported; decrypt the key", i))
			continue
		}
		cert, err := tls.X509KeyPair([]byte(a.Cert), []byte(a.Key))
		if err != nil {
			errs = append(errs, fmt.Errorf("options.tlsAuth[%d]: %w", i, err))
			continue
		}
		conf.Certificates = append(conf.Certificates, cert)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return conf, nil
}

func cipherSuite(name string) (uint16, bool) {
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, cs := range list {
			if cs.Name == name {
				return cs.ID, true
			}
		}
	}
	return 0, false
}
