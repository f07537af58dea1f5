// Package testcert writes throwaway certificates and keys for tests of
// the TLS checks and the SSL block.
package testcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Files are a self-signed certificate and its key, as PEM files.
type Files struct {
	Cert, Key string
	// EncryptedKey is Key encrypted OpenSSL's traditional way with
	// Password (what keepalived's SSL password decrypts).
	EncryptedKey, Password string
	// PKCS8Encrypted is a file holding an "ENCRYPTED PRIVATE KEY" block.
	PKCS8Encrypted string
}

// Write creates the files in a temporary directory of t.
func Write(t testing.TB, cn string) Files {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		IsCA:        true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := Files{
		Cert: filepath.Join(dir, cn+".crt"), Key: filepath.Join(dir, cn+".key"),
		EncryptedKey: filepath.Join(dir, cn+".enc.key"), Password: "s3cret",
		PKCS8Encrypted: filepath.Join(dir, cn+".p8.key"),
	}
	write := func(path string, b *pem.Block) {
		t.Helper()
		if err := os.WriteFile(path, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(f.Cert, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	write(f.Key, &pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	// Deprecated in Go, but the legacy format is the point.
	enc, err := x509.EncryptPEMBlock(rand.Reader, "EC PRIVATE KEY", keyDER, []byte(f.Password), x509.PEMCipherAES256)
	if err != nil {
		t.Fatal(err)
	}
	write(f.EncryptedKey, enc)
	write(f.PKCS8Encrypted, &pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte("not decrypted by anyone")})
	return f
}
