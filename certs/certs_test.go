package certs

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// serve starts a TLS listener with cfg that completes handshakes.
func serve(t *testing.T, cfg *tls.Config) string {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				c.(*tls.Conn).Handshake()
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

func pool(t *testing.T, certFile string) *x509.CertPool {
	b, err := os.ReadFile(certFile)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatal("bad PEM")
	}
	return p
}

func setup(t *testing.T) (string, string, *Reloader) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	created, err := EnsureSelfSigned(cert, key, "127.0.0.1")
	if err != nil || !created {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(key); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", fi.Mode())
	}
	if again, _ := EnsureSelfSigned(cert, key, "127.0.0.1"); again {
		t.Fatal("an existing certificate was replaced")
	}
	r, err := NewReloader(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key, r
}

func TestTLS13OnlyByDefault(t *testing.T) {
	cert, _, r := setup(t)
	addr := serve(t, ServerConfig(r, false))
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool(t, cert), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	if v := c.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Fatalf("version %x", v)
	}
	c.Close()
	if _, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool(t, cert), ServerName: "localhost", MaxVersion: tls.VersionTLS12}); err == nil {
		t.Fatal("TLS 1.2 accepted without --tls12")
	}
}

func TestTLS12OnlyWithAEAD(t *testing.T) {
	cert, _, r := setup(t)
	addr := serve(t, ServerConfig(r, true))
	roots := pool(t, cert)
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost", MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	st := c.ConnectionState()
	c.Close()
	if st.Version != tls.VersionTLS12 || st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 && st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 && st.CipherSuite != tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 {
		t.Fatalf("negotiated %x %s", st.Version, tls.CipherSuiteName(st.CipherSuite))
	}
	// A client offering only CBC suites gets no connection.
	_, err = tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "localhost", MaxVersion: tls.VersionTLS12,
		CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA}})
	if err == nil {
		t.Fatal("CBC suite accepted")
	}
}

func TestCertificateReloadsWithoutRestart(t *testing.T) {
	cert, key, r := setup(t)
	addr := serve(t, ServerConfig(r, false))
	first := pool(t, cert)
	// Replace the pair on disk (as a renewal would).
	os.Remove(cert)
	os.Remove(key)
	if _, err := EnsureSelfSigned(cert, key, "127.0.0.1"); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute)
	os.Chtimes(cert, future, future)
	os.Chtimes(key, future, future)
	second := pool(t, cert)
	r.mu.Lock()
	r.checked = time.Time{} // skip the few seconds' wait
	r.mu.Unlock()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: second, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("new certificate not served: %v", err)
	}
	c.Close()
	if _, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: first, ServerName: "localhost"}); err == nil {
		t.Fatal("old certificate still served")
	}
	// A broken pair keeps the working one in service.
	os.WriteFile(key, []byte("garbage"), 0o600)
	later := future.Add(time.Minute)
	os.Chtimes(key, later, later)
	r.mu.Lock()
	r.checked = time.Time{}
	r.mu.Unlock()
	if c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: second, ServerName: "localhost"}); err != nil {
		t.Fatalf("broken renewal took the server down: %v", err)
	} else {
		c.Close()
	}
}
