package mysql

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
)

// tlsServer is the MariaDB with a certificate (scripts/services up
// mariadb-tls), with a user of each REQUIRE kind created for the test.
type tlsServer struct {
	root   server // root over plain TCP, by the certificate's name
	certs  testenv.TLSFiles
	port   string
	x509   string // user created REQUIRE X509
	ssl    string // user created REQUIRE SSL
	plain  string // user with no REQUIRE
	passwd string
}

func newTLSServer(t *testing.T) *tlsServer {
	t.Helper()
	dsn := testenv.MySQLTLSDSN(t)
	certs := testenv.TLSCerts(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	ts := &tlsServer{root: server{"tls", dsn}, certs: certs, port: u.Port(), passwd: "Tls-pa55"}
	base := strings.ToLower(nameRe.ReplaceAllString(strings.ToLower(t.Name()), "_"))
	if len(base) > 20 {
		base = base[len(base)-20:]
	}
	ts.x509, ts.ssl, ts.plain = base+"_x509", base+"_ssl", base+"_plain"
	for _, x := range []struct{ user, require string }{{ts.x509, "REQUIRE X509"}, {ts.ssl, "REQUIRE SSL"}, {ts.plain, ""}} {
		run(t, ts.root,
			"DROP USER IF EXISTS "+quoteString(x.user)+"@'127.0.0.1'",
			"CREATE USER "+quoteString(x.user)+"@'127.0.0.1' IDENTIFIED BY "+quoteString(ts.passwd)+" "+x.require,
			"GRANT SELECT, RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO "+quoteString(x.user)+"@'127.0.0.1'")
		user := x.user
		t.Cleanup(func() { run(t, ts.root, "DROP USER IF EXISTS "+quoteString(user)+"@'127.0.0.1'") })
	}
	return ts
}

// dsn is a DSN of user at host (localhost: the certificate's name;
// 127.0.0.1: a name it lacks).
func (ts *tlsServer) dsn(user, host string) string {
	return "mysql://" + user + ":" + ts.passwd + "@" + host + ":" + ts.port
}

// TestTLSModes connects to a MariaDB with a certificate in every ssl_mode
// as users created REQUIRE X509, REQUIRE SSL and without REQUIRE: each mode
// that should connect does (and the session is encrypted when it should
// be), each that should refuse does, with an error that says why.
func TestTLSModes(t *testing.T) {
	ts := newTLSServer(t)
	c := ts.certs
	client := map[string]any{"ssl_cert": c.ClientCert, "ssl_key": c.ClientKey}
	with := func(m map[string]any, kv ...any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i].(string)] = kv[i+1]
		}
		return out
	}
	cases := []struct {
		name, user, host string
		opts             map[string]any
		cipher           bool   // the session must be encrypted
		err              string // "" connects; else a part of the error
	}{
		{"disabled plain user", ts.plain, "localhost", map[string]any{"ssl_mode": "disabled"}, false, ""},
		{"preferred by default", ts.plain, "localhost", nil, true, ""},
		{"required", ts.ssl, "127.0.0.1", map[string]any{"ssl_mode": "required"}, true, ""},
		{"disabled refused by REQUIRE SSL", ts.ssl, "localhost", map[string]any{"ssl_mode": "disabled"}, false, "Access denied"},
		{"verify_ca", ts.ssl, "127.0.0.1", map[string]any{"ssl_mode": "verify_ca", "ssl_ca": c.CA}, true, ""},
		{"verify_ca wrong CA", ts.ssl, "localhost", map[string]any{"ssl_mode": "verify_ca", "ssl_ca": c.WrongCA}, false, "not signed by ssl_ca " + c.WrongCA},
		{"verify_ca system CAs", ts.ssl, "localhost", map[string]any{"ssl_mode": "verify_ca"}, false, "not signed by the system's certificate authorities"},
		{"verify_identity", ts.ssl, "localhost", map[string]any{"ssl_mode": "verify_identity", "ssl_ca": c.CA}, true, ""},
		{"verify_identity wrong host", ts.ssl, "127.0.0.1", map[string]any{"ssl_mode": "verify_identity", "ssl_ca": c.CA}, false, "does not name the host of the DSN"},
		{"x509 with client certificate", ts.x509, "localhost", with(client, "ssl_mode", "verify_identity", "ssl_ca", c.CA), true, ""},
		{"x509 without client certificate", ts.x509, "localhost", map[string]any{"ssl_mode": "verify_identity", "ssl_ca": c.CA}, false, "Access denied"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src, err := NewSource("tls", ts.dsn(tc.user, tc.host), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			conn, err := src.connect(ctx)
			if tc.err != "" {
				if err == nil {
					conn.Close()
					t.Fatalf("connected; want an error with %q", tc.err)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %q, want it to say %q", err, tc.err)
				}
				if strings.Contains(err.Error(), ts.passwd) {
					t.Fatalf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			r, err := conn.Execute("SHOW SESSION STATUS LIKE 'Ssl_cipher'")
			if err != nil {
				t.Fatal(err)
			}
			cipher, _ := r.GetString(0, 1)
			if (cipher != "") != tc.cipher {
				t.Fatalf("Ssl_cipher = %q, want encrypted = %v", cipher, tc.cipher)
			}
		})
	}
}

// TestTLSPreferredFallsBackToPlain: ssl_mode = 'preferred' (the default)
// connects in plain to a server without a certificate, and 'required' is
// refused there with an error that says the server offers no TLS.
func TestTLSPreferredFallsBackToPlain(t *testing.T) {
	dsn := testenv.MySQLDSN(t)
	src, err := NewSource("plain", dsn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Tables(context.Background(), "information_schema", "TABLES"); err != nil {
		t.Fatalf("preferred against a server without TLS: %v", err)
	}
	src, err = NewSource("plain", dsn, map[string]any{"ssl_mode": "required"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = src.Tables(context.Background(), "information_schema", "TABLES")
	if err == nil || !strings.Contains(err.Error(), "the server does not offer TLS") {
		t.Fatalf("required against a server without TLS: %v, want an error saying it offers no TLS", err)
	}
}

// TestTLSPreferredWarnsOnPlain: when ssl_mode = 'preferred' (the default)
// falls back to plain against a server without TLS (both test servers),
// a WARN names the source and the address, once however many connections
// and Source values the process makes for that target; an explicit
// 'disabled' and a server that offers TLS log nothing.
func TestTLSPreferredWarnsOnPlain(t *testing.T) {
	logs := captureLog(t)
	for _, srv := range servers(t) {
		name := "warn_" + testenv.UniqueName(t) + "_" + srv.name
		for range 2 {
			src, err := NewSource(name, srv.dsn, nil)
			if err != nil {
				t.Fatal(err)
			}
			for range 2 {
				if _, err := src.Tables(context.Background(), "information_schema", "TABLES"); err != nil {
					t.Fatalf("%s: preferred against a server without TLS: %v", srv.name, err)
				}
			}
		}
		u, _ := url.Parse(srv.dsn)
		var warns []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "source="+name+" ") {
				warns = append(warns, l)
			}
		}
		if len(warns) != 1 || !strings.Contains(warns[0], "level=WARN") || !strings.Contains(warns[0], "unencrypted connection") ||
			!strings.Contains(warns[0], "addr="+u.Host) {
			t.Fatalf("%s: logged %q, want one WARN about the unencrypted connection to %s", srv.name, warns, u.Host)
		}

		quiet := "quiet_" + testenv.UniqueName(t) + "_" + srv.name
		src, err := NewSource(quiet, srv.dsn, map[string]any{"ssl_mode": "disabled"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Tables(context.Background(), "information_schema", "TABLES"); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(logs.String(), "source="+quiet) {
			t.Fatalf("%s: ssl_mode = 'disabled' logged %q", srv.name, logs.String())
		}
	}
	ts := newTLSServer(t)
	name := "tls_" + testenv.UniqueName(t)
	src, err := NewSource(name, ts.dsn(ts.plain, "localhost"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.Tables(context.Background(), "information_schema", "TABLES"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "source="+name) {
		t.Fatalf("preferred against a server with TLS logged %q", logs.String())
	}
}

// TestTLSStreamAsX509User snapshots a table and follows its binlog as a
// user created REQUIRE X509, with verify_identity and the settings given as
// DSN parameters: every connection the stream opens (snapshot, binlog,
// position queries) must be TLS with the client certificate, or the server
// refuses the login.
func TestTLSStreamAsX509User(t *testing.T) {
	ts := newTLSServer(t)
	db := uniqueDB(t, ts.root)
	run(t, ts.root, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(20))",
		"INSERT INTO "+db+".t VALUES (1,'a'),(2,'b')")
	q := url.Values{"ssl_mode": {"verify_identity"}, "ssl_ca": {ts.certs.CA},
		"ssl_cert": {ts.certs.ClientCert}, "ssl_key": {ts.certs.ClientKey}}
	src, err := NewSource("tls_stream", ts.dsn(ts.x509, "localhost")+"?"+q.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ref := connectors.TableRef{DB: db, Table: "t"}
	mem := checkedMem(t)
	ctx := context.Background()
	st, err := src.OpenWithAllocator(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref}}, Once: true}, mem)
	if err != nil {
		t.Fatal(err)
	}
	rows, mark := drain(t, st, 30*time.Second, nil)
	st.Close()
	if len(rows) != 2 || mark == nil {
		t.Fatalf("snapshot over TLS: %d rows, mark %v", len(rows), mark)
	}
	run(t, ts.root, "INSERT INTO "+db+".t VALUES (3,'c')", "UPDATE "+db+".t SET v = 'bb' WHERE id = 2")
	st, err = src.OpenWithAllocator(ctx, connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref}}, Once: true, Resume: mark.Bytes()}, mem)
	if err != nil {
		t.Fatal(err)
	}
	rows, _ = drain(t, st, 30*time.Second, nil)
	st.Close()
	if len(rows) != 2 || rows[0]["_op"] != "insert" || rows[1]["v"] != "bb" {
		t.Fatalf("binlog over TLS: %v", rows)
	}
}

// TestTLSOptionErrors: settings that cannot work are refused when the
// source is made, before any connection.
func TestTLSOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		dsn  string
		opts map[string]any
		err  string
	}{
		{"mysql://u@h", map[string]any{"ssl_mode": "verify"}, `option "ssl_mode": want one of`},
		{"mysql://u@h", map[string]any{"ssl_cert": "/x.pem"}, `"ssl_cert" and "ssl_key" go together`},
		{"mysql://u@h", map[string]any{"ssl_mode": "disabled", "ssl_ca": "/x.pem"}, "would not be used"},
		// A CA is used only to verify the server: the modes that do not
		// verify ignored it, and a wrong CA (or a server posing as the
		// real one) connected all the same (trial-trust).
		{"mysql://u@h", map[string]any{"ssl_ca": "/x.pem"}, "ssl_ca is not used under ssl_mode = 'preferred' (the default)"},
		{"mysql://u@h?ssl_ca=/x.pem", nil, "ssl_ca is not used under ssl_mode = 'preferred' (the default)"},
		{"mysql://u@h", map[string]any{"ssl_mode": "preferred", "ssl_ca": "/x.pem"}, "ssl_ca is not used under ssl_mode = 'preferred',"},
		{"mysql://u@h", map[string]any{"ssl_mode": "required", "ssl_ca": "/x.pem"}, "ssl_ca is not used under ssl_mode = 'required'"},
		{"mysql://u@h", map[string]any{"ssl_mode": "verify_ca", "ssl_ca": "/nonexistent/ca.pem"}, `option "ssl_ca": open /nonexistent/ca.pem`},
		{"mysql://u@h?ssl_mode=required", map[string]any{"ssl_mode": "required"}, "both as a DSN parameter and a WITH option"},
		{"mysql://u@h?ssl_mode=required&tls=true", nil, `unknown parameter "tls"`},
	} {
		_, err := NewSource("s", tc.dsn, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s %v: %v, want an error with %q", tc.dsn, tc.opts, err, tc.err)
		}
	}
}

// TestAccessDeniedOverPlain: a user created REQUIRE SSL connecting with
// ssl_mode = 'disabled'. MariaDB answers "Access denied … (using password:
// YES)", as it also does when the server sets require_secure_transport =
// ON (new-user trial, on a server of the trial's own: the shared ones'
// globals are not for tests to set); the hint named the password and the
// user's REQUIRE only, and did not say that this connection had no TLS.
func TestAccessDeniedOverPlain(t *testing.T) {
	ts := newTLSServer(t)
	src, err := NewSource("plain_denied", ts.dsn(ts.ssl, "localhost"), map[string]any{"ssl_mode": "disabled"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	_, err = src.Tables(context.Background(), "information_schema", "TABLES")
	for _, want := range []string{"Access denied", "this connection is plain (ssl_mode = 'disabled')", "REQUIRE SSL or X509", "require_secure_transport = ON"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("REQUIRE SSL user over ssl_mode = 'disabled': %v, want an error with %q", err, want)
		}
	}
}

// TestTLSCAWithoutVerificationRefused: a source given ssl_ca and no
// verifying ssl_mode connected to the TLS server with a CA that did not
// sign its certificate — the CA was read and never used, so the user who
// gave it believed the server verified (trial-trust: `etlq check` passed
// with ssl_ca = another CA). It is refused before any connection, saying
// which mode uses it; with verify_ca the same CA is refused by the server's
// certificate.
func TestTLSCAWithoutVerificationRefused(t *testing.T) {
	ts := newTLSServer(t)
	for _, opts := range []map[string]any{
		{"ssl_ca": ts.certs.WrongCA},
		{"ssl_mode": "required", "ssl_ca": ts.certs.WrongCA},
	} {
		src, err := NewSource("tls", ts.dsn(ts.ssl, "localhost"), opts)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			conn, cerr := src.connect(ctx)
			cancel()
			if cerr == nil {
				conn.Close()
			}
			t.Fatalf("%v: the source was made (connect: %v); want it refused: the CA would not be used", opts, cerr)
		}
		if !strings.Contains(err.Error(), "set ssl_mode = 'verify_identity'") {
			t.Errorf("%v: %v, want it to say how to use the CA", opts, err)
		}
	}
}

// selfSignedClient writes a client certificate and key that no CA signed,
// so a server that verifies clients against its ssl_ca refuses it.
func selfSignedClient(t *testing.T) (cert, key string) {
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	testenv.WriteSelfSignedClient(t, cert, key)
	return cert, key
}

// TestTLSClientCertificateRefused: a client certificate the server's CA
// did not sign is refused by the server with a TLS alert; the error says
// so and names ssl_cert. It said "ReadPacket: io.ReadFull(header) failed.
// err remote error: tls: unknown certificate authority: connection was
// bad" alone (a security trial, a user created REQUIRE X509).
func TestTLSClientCertificateRefused(t *testing.T) {
	ts := newTLSServer(t)
	cert, key := selfSignedClient(t)
	src, err := NewSource("tls", ts.dsn(ts.x509, "localhost"), map[string]any{
		"ssl_mode": "verify_identity", "ssl_ca": ts.certs.CA, "ssl_cert": cert, "ssl_key": key})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := src.connect(ctx)
	if err == nil {
		conn.Close()
		t.Fatal("connected with a client certificate no CA of the server signed")
	}
	want := "the server refused the client certificate ssl_cert " + cert + ": it is not signed by a CA the server trusts"
	// (A server that cuts the connection before its alert is read gives
	// a reset instead: the error then says the certificate may be
	// refused — a CI run under load.)
	reset := "it may refuse the client certificate ssl_cert " + cert + ": is it signed by a CA the server trusts"
	if !strings.Contains(err.Error(), want) && !strings.Contains(err.Error(), reset) {
		t.Fatalf("error %q, want it to say %q", err, want)
	}
}
