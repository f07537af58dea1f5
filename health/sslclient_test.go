package health

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/xlb-project/xlb/config"
	"github.com/xlb-project/xlb/internal/testcert"
)

// keepalived's SSL block: an SSL_GET presents its certificate to a real
// server that requires one (and is down without it); an encrypted key
// loads with the block's password.
func TestSSLGetPresentsClientCertificate(t *testing.T) {
	client := testcert.Write(t, "checker")
	pemCA, err := os.ReadFile(client.Cert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pemCA)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok"))
	}))
	srv.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := netip.MustParseAddrPort(srv.Listener.Addr().String())
	check := config.Check{Type: config.HTTPSCheck, Path: "/", ConnectTimeout: time.Second}

	if err := probeOnce(t, Target{Addr: addr, Check: check}); err == nil {
		t.Fatal("SSL_GET without a client certificate passed against a server that requires one")
	}
	for _, ssl := range []config.SSLContext{
		{Certificate: client.Cert, Key: client.Key},
		{Certificate: client.Cert, Key: client.EncryptedKey, Password: client.Password},
	} {
		if err := probeOnce(t, Target{Addr: addr, Check: check, SSL: ssl}); err != nil {
			t.Errorf("SSL_GET with the client certificate (key %s): %v", ssl.Key, err)
		}
	}
	// A key file changed since validation fails the check and says so.
	pr, err := newProber(Target{Addr: addr, Check: check, SSL: config.SSLContext{Certificate: client.Cert, Key: client.EncryptedKey, Password: "wrong"}}, paramsOf(Target{Check: check}))
	if err == nil || !strings.Contains(err.Error(), "ssl: key") {
		t.Errorf("wrong password: prober %v, error %v; want an ssl: key error", pr, err)
	}
}
