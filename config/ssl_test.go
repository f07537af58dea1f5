package config

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/xlb-project/xlb/internal/testcert"
)

// keepalived's SSL block is read, loaded at validation (so a file that
// does not load refuses the configuration, as keepalived stops; the
// problem names the statement's line), and survives `xlb config convert`.
func TestKeepalivedSSLBlock(t *testing.T) {
	f := testcert.Write(t, "checker")
	block := func(lines ...string) string {
		return "SSL {\n " + strings.Join(lines, "\n ") + "\n}\n"
	}
	c, warns, err := ParseKeepalived("k.conf", []byte(block("certificate "+f.Cert, "key "+f.EncryptedKey, "password "+f.Password, "ca "+f.Cert)))
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %v", warns)
	}
	want := SSLContext{Certificate: f.Cert, Key: f.EncryptedKey, Password: f.Password, CA: f.Cert, Line: 1}
	if c.SSL == nil || *c.SSL != want {
		t.Fatalf("SSL = %+v, want %+v", c.SSL, want)
	}
	if _, ok, err := c.SSL.ClientCertificate(); !ok || err != nil {
		t.Errorf("client certificate: %v %v", ok, err)
	}
	assertRoundTrip(t, c)
	if d := c.Clone(); d.SSL == c.SSL {
		t.Error("Clone shares the SSL block")
	}

	_, warns, err = ParseKeepalived("k.conf", []byte(block("password x")))
	if err != nil || len(warns) != 1 || !strings.Contains(warns[0].Msg, "nothing to decrypt") {
		t.Errorf("password alone: %v %v, want one warning", warns, err)
	}

	for _, tc := range []struct {
		name, conf string
		line       int
		field, msg string
	}{
		{"missing certificate file", block("certificate /nonexistent.crt"), 2, "ssl.certificate", "no such file"},
		{"wrong password", block("certificate "+f.Cert, "key "+f.EncryptedKey, "password nope"), 2, "ssl.certificate", "decrypt with the SSL block's password"},
		{"encrypted key without password", block("certificate "+f.Cert, "key "+f.EncryptedKey), 2, "ssl.certificate", "has no password"},
		{"pkcs8 encrypted", block("certificate "+f.Cert, "key "+f.PKCS8Encrypted), 2, "ssl.certificate", "PKCS#8-encrypted keys are not supported"},
		{"key without certificate", block("key " + f.Key), 1, "ssl.certificate", "is needed with a key"},
		{"ca not PEM", block("ca " + f.Key), 2, "ssl.ca", "holds no PEM certificate"},
		{"unknown keyword", block("cipher ALL"), 2, "cipher", "not supported in SSL"},
		{"two blocks", block("ca "+f.Cert) + block("ca "+f.Cert), 4, "SSL", "a second SSL block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseKeepalived("k.conf", []byte(tc.conf))
			wantProblem(t, err, "k.conf", tc.line, tc.field, tc.msg)
		})
	}
}

func TestYAMLSSL(t *testing.T) {
	f := testcert.Write(t, "checker")
	c, err := ParseYAML("x.yaml", []byte(fmt.Sprintf("ssl: {certificate: %s, key: %s}\n", f.Cert, f.Key)))
	if err != nil {
		t.Fatal(err)
	}
	if c.SSL == nil || c.SSL.Certificate != f.Cert || c.SSL.Key != f.Key {
		t.Fatalf("ssl = %+v", c.SSL)
	}
	assertRoundTrip(t, c)
	_, err = ParseYAML("x.yaml", []byte("ssl: {certificate: /nonexistent.crt}\n"))
	wantProblem(t, err, "x.yaml", 1, "ssl.certificate", "no such file")
	_, err = ParseYAML("x.yaml", []byte("ssl: {cert: x}\n"))
	wantProblem(t, err, "x.yaml", 1, "ssl.cert", "unknown")
}

// A wrong password that the legacy scheme's padding check lets through
// (about one in 256) is still called a wrong password, at the key, not
// a key that does not parse.
func TestDecryptKeyWrongPasswordPastPadding(t *testing.T) {
	f := testcert.Write(t, "checker")
	data, err := os.ReadFile(f.EncryptedKey)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(data)
	pw := ""
	for i := 0; i < 100000 && pw == ""; i++ {
		if try := fmt.Sprintf("wrong%d", i); try != f.Password {
			if _, err := x509.DecryptPEMBlock(b, []byte(try)); err == nil {
				pw = try
			}
		}
	}
	if pw == "" {
		t.Fatal("no wrong password got past the padding check in 100000 tries")
	}
	_, err = decryptKey(data, pw)
	if !errors.Is(err, x509.IncorrectPasswordError) {
		t.Errorf("wrong password %q past the padding check: %v, want x509.IncorrectPasswordError", pw, err)
	}
	if _, err := decryptKey(data, f.Password); err != nil {
		t.Errorf("the right password: %v", err)
	}
}
