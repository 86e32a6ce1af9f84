package clickhouse

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
	"github.com/etlq/etlq/connectors/testenv"
)

// newTLSEnv is newEnv against the ClickHouse with a secure native port; the
// test's own connection trusts the test CA.
func newTLSEnv(t *testing.T, dsn string, opts map[string]any) *chEnv {
	t.Helper()
	certs := testenv.TLSCerts(t)
	e := &chEnv{t: t, dsn: dsn, db: testenv.UniqueName(t), mem: memory.NewCheckedAllocator(memory.NewGoAllocator())}
	o, err := clickhouse.ParseDSN(testenv.ClickHouseTLSDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	o.TLS = &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if e.conn, err = clickhouse.Open(o); err != nil {
		t.Fatal(err)
	}
	s, err := NewSink("dw", dsn, opts)
	if err != nil {
		t.Fatal(err)
	}
	e.sink = s
	t.Cleanup(func() {
		s.Close()
		_ = e.conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+quote(e.db))
		e.conn.Close()
		e.mem.AssertSize(t, 0)
	})
	return e
}

// withHost returns dsn with its host name (not port) replaced.
func withHost(t *testing.T, dsn, host string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = host + ":" + u.Port()
	return u.String()
}

// TestTLSSink loads rows over the secure native port of a ClickHouse with a
// certificate from the test CA: verified with tls_ca, and unverified with
// skip_verify; a wrong CA, the system's CAs, a host name the certificate
// lacks and TLS spoken to a plain port each fail with an error saying so.
func TestTLSSink(t *testing.T) {
	dsn := testenv.ClickHouseTLSDSN(t)
	certs := testenv.TLSCerts(t)
	for _, tc := range []struct {
		name string
		dsn  string
		opts map[string]any
	}{
		{"tls_ca", dsn, map[string]any{"tls_ca": certs.CA}},
		{"tls_ca and client certificate", dsn, map[string]any{"tls_ca": certs.CA, "tls_cert": certs.ClientCert, "tls_key": certs.ClientKey}},
		{"skip_verify", dsn + "&skip_verify=true", nil},
		{"tls_server_name", withHost(t, dsn, "127.0.0.1") + "&tls_server_name=localhost", map[string]any{"tls_ca": certs.CA}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTLSEnv(t, tc.dsn, tc.opts)
			s := sinktest.SinkSchema(orderFields(), false)
			w := e.open(e.target("orders", connectors.ModeAppend, nil, s, nil))
			write(t, w, e.build(s, sysRow(1, false, "insert", 1, "a", "1.00")), nil)
			flush(t, w)
			if got := e.text("SELECT id, name FROM " + quote(e.db) + ".orders"); got != "1\ta\n" {
				t.Fatalf("rows over TLS: %q", got)
			}
		})
	}
	for _, tc := range []struct {
		name string
		dsn  string
		opts map[string]any
		err  string
	}{
		{"wrong CA", dsn, map[string]any{"tls_ca": certs.WrongCA}, "not signed by tls_ca " + certs.WrongCA},
		{"system CAs", dsn, nil, "not signed by the system's certificate authorities"},
		{"wrong host", withHost(t, dsn, "127.0.0.1"), map[string]any{"tls_ca": certs.CA}, "does not name the host of the DSN"},
		// It named the DSN's host and told to set tls_server_name, which
		// was set (new-user trial).
		{"wrong tls_server_name", dsn + "&tls_server_name=wronghost", map[string]any{"tls_ca": certs.CA}, "does not name tls_server_name wronghost; give a name it holds"},
		{"TLS to the plain port", withHost(t, testenv.ClickHouseDSN(t), "localhost") + "?secure=true", map[string]any{"tls_ca": certs.CA}, "did not answer in TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSink("dw", tc.dsn, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, err = s.Version(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("%v, want an error with %q", err, tc.err)
			}
			// Open, which waits out a connection that fails, stops at
			// once too: no retry mends the setting.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tg := connectors.Target{Pipeline: "p", Name: "etlq_tls.t", Schema: sinktest.SinkSchema(orderFields(), false), Mode: connectors.ModeAppend, Options: map[string]any{"max_backoff": "100ms"}}
			if _, err = s.Open(ctx, tg); err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Open: %v, want an error with %q at once", err, tc.err)
			}
		})
	}
}

// TestTLSOptionsNeedSecure: the TLS options are refused where they could
// not be used.
func TestTLSOptionsNeedSecure(t *testing.T) {
	for _, tc := range []struct {
		dsn  string
		opts map[string]any
		err  string
	}{
		{"clickhouse://h:9000", map[string]any{"tls_ca": "/ca.pem"}, "add ?secure=true"},
		{"clickhouse://h:9440?secure=true&skip_verify=true", map[string]any{"tls_ca": "/ca.pem"}, "would not be used"},
		{"clickhouse://h:9440?secure=true", map[string]any{"tls_cert": "/c.pem"}, "go together"},
		{"clickhouse://h:9440?secure=true", map[string]any{"tls_ca": "/nonexistent/ca.pem"}, "open /nonexistent/ca.pem"},
	} {
		_, err := NewSink("dw", tc.dsn, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s %v: %v, want an error with %q", tc.dsn, tc.opts, err, tc.err)
		}
	}
}

// TestPlainToSecurePort: a DSN without ?secure=true to the secure native
// port. The server resets the connection at the handshake, and check said
// only "handshake: failed to read packet …: connection reset by peer"
// (new-user trial). The error now says to add ?secure=true.
func TestPlainToSecurePort(t *testing.T) {
	dsn := testenv.ClickHouseTLSDSN(t)
	plain := strings.Replace(dsn, "?secure=true", "", 1)
	if plain == dsn {
		t.Fatalf("the TLS DSN %s has no ?secure=true", dsn)
	}
	s, err := NewSink("dw", plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.Version(context.Background())
	if err == nil || !strings.Contains(err.Error(), "add ?secure=true to the DSN") {
		t.Fatalf("%v, want an error saying to add ?secure=true", err)
	}
}

// TestClientCertificateRefused: a server that verifies client certificates
// (ClickHouse's openSSL verificationMode strict, here a Go TLS server)
// answers a handshake without one, or with one its CA did not sign, with a
// TLS alert. check said only "handshake: failed to read packet …: remote
// error: tls: certificate required" (or "connection reset by peer"), with
// no word of tls_cert (a security trial). The error now names it.
func TestClientCertificateRefused(t *testing.T) {
	certs := testenv.TLSCerts(t)
	srv, err := tls.LoadX509KeyPair(filepath.Join(certs.Dir, "server.pem"), filepath.Join(certs.Dir, "server-key.pem"))
	if err != nil {
		t.Fatalf("the test server certificate (scripts/services makes it with the CA): %v", err)
	}
	caPEM, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{srv}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				// The alert is sent; the connection stays open a
				// moment, so that the client reads it.
				_ = c.(*tls.Conn).Handshake()
				time.Sleep(2 * time.Second)
				c.Close()
			}()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	dsn := "clickhouse://localhost:" + port + "?secure=true"
	stranger := filepath.Join(t.TempDir(), "stranger")
	for _, tc := range []struct {
		name string
		opts map[string]any
		err  string
	}{
		{"no client certificate", map[string]any{"tls_ca": certs.CA}, "give one as the sink's tls_cert and tls_key"},
		{"client certificate of another CA", map[string]any{"tls_ca": certs.CA, "tls_cert": stranger + ".pem", "tls_key": stranger + "-key.pem"},
			"the server refused the client certificate tls_cert " + stranger + ".pem: it is not signed by a CA the server trusts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if c, ok := tc.opts["tls_cert"].(string); ok {
				testenv.WriteSelfSignedClient(t, c, tc.opts["tls_key"].(string))
			}
			s, err := NewSink("dw", dsn, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			_, err = s.Version(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("%v, want an error with %q", err, tc.err)
			}
		})
	}
}
