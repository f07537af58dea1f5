package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// SSLContext is keepalived's top-level SSL block: the client certificate
// every SSL_GET check presents to the real servers. As in keepalived, the
// servers' certificates are not verified (SSL_GET asks whether a server
// answers, and servers are addressed by IP): CA must load, as keepalived
// refuses to start without it, but checks nothing.
type SSLContext struct {
	// Certificate is a PEM file of the certificate and its chain;
	// Key the PEM private key (default: the certificate file), encrypted
	// with Password when it is a legacy "Proc-Type: 4,ENCRYPTED" key.
	Certificate, Key, Password string
	CA                         string
	Line                       int
}

// keyFile is where the private key is read from.
func (s SSLContext) keyFile() string {
	if s.Key != "" {
		return s.Key
	}
	return s.Certificate
}

// ClientCertificate loads the certificate SSL_GET checks present; ok is
// false when the block names none.
func (s SSLContext) ClientCertificate() (cert tls.Certificate, ok bool, err error) {
	if s.Certificate == "" {
		return tls.Certificate{}, false, nil
	}
	certPEM, err := os.ReadFile(s.Certificate)
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(s.keyFile())
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("key: %w", err)
	}
	keyPEM, err = decryptKey(keyPEM, s.Password)
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("key %s: %w", s.keyFile(), err)
	}
	cert, err = tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("certificate %s with key %s: %w", s.Certificate, s.keyFile(), err)
	}
	return cert, true, nil
}

// decryptKey returns the PEM private key of data, decrypted with password
// when it is encrypted the way OpenSSL's traditional format does (what
// keepalived's password is for).
func decryptKey(data []byte, password string) ([]byte, error) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return data, nil // no key block: X509KeyPair says what is missing
		}
		switch {
		case b.Type == "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("PKCS#8-encrypted keys are not supported: decrypt it (openssl pkey) or use a traditional encrypted key (openssl rsa -aes256)")
		// Deprecated in Go for its weak scheme, but these legacy keys are
		// what keepalived's password decrypts.
		case x509.IsEncryptedPEMBlock(b):
			if password == "" {
				return nil, errors.New("is encrypted and the SSL block has no password")
			}
			der, err := x509.DecryptPEMBlock(b, []byte(password))
			if err == nil && !parsesAsKey(der) {
				// The legacy scheme's padding check lets about one
				// wrong password in 256 through, as garbage.
				err = x509.IncorrectPasswordError
			}
			if err != nil {
				return nil, fmt.Errorf("decrypt with the SSL block's password: %w", err)
			}
			return pem.EncodeToMemory(&pem.Block{Type: b.Type, Bytes: der}), nil
		case b.Type == "PRIVATE KEY" || b.Type == "RSA PRIVATE KEY" || b.Type == "EC PRIVATE KEY":
			return data, nil
		}
	}
}

// parsesAsKey reports whether der is a private key in any of the
// encodings a PEM key block holds.
func parsesAsKey(der []byte) bool {
	if _, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return true
	}
	if _, err := x509.ParseECPrivateKey(der); err == nil {
		return true
	}
	_, err := x509.ParsePKCS8PrivateKey(der)
	return err == nil
}

// validateSSL loads what the SSL block names, as keepalived does at start
// (it stops when one does not load).
func (c *Config) validateSSL(ps *problems) {
	s := c.SSL
	if s == nil {
		return
	}
	if s.Certificate == "" && s.Key != "" {
		ps.field(s.Line, "ssl.certificate", "is needed with a key (the client certificate it belongs to)")
	}
	if _, _, err := s.ClientCertificate(); err != nil {
		ps.field(s.Line, "ssl.certificate", "%v", err)
	}
	if s.CA != "" {
		pemCA, err := os.ReadFile(s.CA)
		if err == nil && !x509.NewCertPool().AppendCertsFromPEM(pemCA) {
			err = errors.New("holds no PEM certificate")
		}
		if err != nil {
			ps.field(s.Line, "ssl.ca", "%v", err)
		}
	}
}

// ssl reads YAML's ssl: {certificate, key, password, ca}.
func (d *yamlDecoder) ssl(n *yaml.Node, path string) *SSLContext {
	s := &SSLContext{Line: deref(n).Line}
	d.mapping(n, path, func(key, field string, v *yaml.Node) bool {
		switch key {
		case "certificate":
			d.str(v, field, &s.Certificate)
		case "key":
			d.str(v, field, &s.Key)
		case "password":
			d.str(v, field, &s.Password)
		case "ca":
			d.str(v, field, &s.CA)
		default:
			return false
		}
		return true
	})
	return s
}

// sslBlock reads keepalived's top-level SSL { password, ca, certificate, key }.
func (k *kconv) sslBlock(b *kstmt) {
	if !b.hasBlock || len(b.args) != 0 {
		k.fail(b, "ssl", "want SSL { certificate FILE key FILE … }")
		return
	}
	if k.c.SSL != nil {
		k.fail(b, "ssl", "a second SSL block (keepalived has one SSL context)")
		return
	}
	s := &SSLContext{Line: b.line}
	k.mark(b, "ssl")
	for _, st := range b.block {
		var dst *string
		switch st.key {
		case "certificate":
			dst = &s.Certificate
		case "key":
			dst = &s.Key
		case "password":
			dst = &s.Password
		case "ca":
			dst = &s.CA
		default:
			k.unsupported(st, "SSL")
			continue
		}
		if v, ok := k.oneArg(st, "ssl."+st.key); ok {
			*dst = v
			k.mark(st, "ssl."+st.key)
		}
	}
	if s.Password != "" && s.Certificate == "" && s.Key == "" {
		k.warn(b, "SSL: password without certificate or key: nothing to decrypt")
	}
	k.c.SSL = s
}

// sslNode is the YAML form of s.
func sslNode(s *SSLContext) *yaml.Node {
	m := mapping()
	addString(m, "certificate", s.Certificate)
	addString(m, "key", s.Key)
	addString(m, "password", s.Password)
	addString(m, "ca", s.CA)
	return m
}
