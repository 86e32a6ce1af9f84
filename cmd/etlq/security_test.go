package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestCheckNamesMissingGrants: `etlq check` as a user that may read the
// table but not the binlog fails, naming each missing privilege with the
// GRANT that gives it, at the CREATE SOURCE.
func TestCheckNamesMissingGrants(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	db := checkDB(t, myDSN, map[string]string{"t": "id INT PRIMARY KEY"})
	cfg, err := testenv.ParseMySQLDSN(myDSN)
	if err != nil {
		t.Fatal(err)
	}
	my := testenv.MySQLConn(t, myDSN)
	user := db + "_u"
	acct := "'" + user + "'@'127.0.0.1'"
	myExec(t, my, "CREATE USER "+acct+" IDENTIFIED BY 'Gr4nt-me'", "GRANT SELECT ON "+db+".* TO "+acct)
	t.Cleanup(func() { my.Execute("DROP USER IF EXISTS " + acct) })
	src := fmt.Sprintf("CREATE SOURCE s FROM mysql 'mysql://%s:Gr4nt-me@%s';\nCREATE PIPELINE p FROM binlog %s.t INTO stdout;\n", user, cfg.Addr, db)
	out, err := runCheck(t, src)
	for _, want := range []string{
		"check.etl:1:8: source s: user " + acct + " lacks REPLICATION SLAVE (to read the binlog): GRANT REPLICATION SLAVE ON *.* TO " + acct + ";",
		"source s: user " + acct + " lacks BINLOG MONITOR (to read the binlog position (SHOW MASTER STATUS)): GRANT BINLOG MONITOR ON *.* TO " + acct + ";",
	} {
		if err == nil || !strings.Contains(out, want) {
			t.Errorf("want check to fail with\n%s\ngot %v:\n%s", want, err, out)
		}
	}
	if strings.Contains(out, "Gr4nt-me") {
		t.Errorf("check shows the password:\n%s", out)
	}
}

// TestSecretsNeverPrinted plants three secrets — a DSN password with
// URL-special characters from ${VAR}, a bearer token written inline in a
// headers option, a signing secret from ${file:…} — and greps every output
// of check, plan, a REPL session, a successful apply (stdout, stderr,
// every file of the state dir), the /metrics of a running apply, an apply
// whose endpoint echoes the request
// headers in a 400, and a file error quoting the line of an inline
// password: none may show a secret. The run must also have used them: the
// endpoint verifies the signature and the token, and the source logs in
// with the password.
func TestSecretsNeverPrinted(t *testing.T) {
	myDSN := testenv.MySQLDSN(t)
	db := checkDB(t, myDSN, map[string]string{"t": "id INT PRIMARY KEY, v VARCHAR(10)"})
	cfg, err := testenv.ParseMySQLDSN(myDSN)
	if err != nil {
		t.Fatal(err)
	}
	my := testenv.MySQLConn(t, myDSN)
	myExec(t, my, "INSERT INTO "+db+".t VALUES (1, 'a'), (2, 'b')")
	const (
		password   = "p@ss:w/rd#x9Q%"
		token      = "tok-7Hq2Zp9w"
		fileSecret = "fs-Kq83mZ4v"
	)
	user := db + "_u"
	acct := "'" + user + "'@'127.0.0.1'"
	myExec(t, my, "CREATE USER "+acct+" IDENTIFIED BY '"+password+"'",
		"GRANT SELECT, RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO "+acct)
	t.Cleanup(func() { my.Execute("DROP USER IF EXISTS " + acct) })

	dir := t.TempDir()
	secretFile := filepath.Join(dir, "hook_secret")
	if err := os.WriteFile(secretFile, []byte(fileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ETLQ_TEST_PW", password)

	var mu sync.Mutex
	var verdicts []string
	echo := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if echo {
			// A careless endpoint: the error body quotes the request.
			http.Error(w, fmt.Sprintf("refused: %v", r.Header), http.StatusBadRequest)
			return
		}
		verdict := "ok"
		ts, sig, _ := strings.Cut(strings.TrimPrefix(r.Header.Get("X-Etlq-Signature"), "t="), ",v1=")
		m := hmac.New(sha256.New, []byte(fileSecret))
		m.Write([]byte(ts + "." + string(body)))
		if !hmac.Equal([]byte(hex.EncodeToString(m.Sum(nil))), []byte(sig)) {
			verdict = "bad signature"
		}
		if r.Header.Get("Authorization") != "Bearer "+token {
			verdict = "bad token"
		}
		verdicts = append(verdicts, verdict)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()

	file := filepath.Join(dir, "secrets.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql 'mysql://%s:${ETLQ_TEST_PW}@%s';
CREATE PIPELINE hook FROM binlog s.%s.t
  INTO http '%s/hook' FORMAT jsonl
  WITH (headers = 'Authorization: Bearer %s', signing_secret = '${file:%s}', retry_max = 0);
`, user, cfg.Addr, db, srv.URL, token, secretFile)
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	var outputs []string
	run := func(stdin string, args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, etlqBin, args...)
		cmd.Stdin = strings.NewReader(stdin)
		out, _ := cmd.CombinedOutput()
		outputs = append(outputs, "etlq "+strings.Join(args, " ")+":\n"+string(out))
		return string(out)
	}
	if out := run("", "check", file); !strings.Contains(out, ": ok (") {
		t.Fatalf("check:\n%s", out)
	}
	run("", "plan", file)
	run("SHOW SOURCES;\nSHOW PIPELINES;\n", "repl", file)
	state := filepath.Join(dir, "state")
	if out := run("", "apply", "--once", "--progress", "never", "--state-dir", state, file); !strings.Contains(out, "finished") {
		t.Fatalf("apply:\n%s", out)
	}
	outputs = append(outputs, "metrics:\n"+scrapeMetrics(t, file, state))
	mu.Lock()
	if len(verdicts) == 0 || strings.Join(verdicts, "") != strings.Repeat("ok", len(verdicts)) {
		t.Errorf("the endpoint's verdicts: %q", verdicts)
	}
	echo = true
	mu.Unlock()
	myExec(t, my, "INSERT INTO "+db+".t VALUES (3, 'c')")
	if out := run("", "apply", "--once", "--progress", "never", "--log-format", "json", "--state-dir", state, file); !strings.Contains(out, "400") {
		t.Errorf("apply against the echoing endpoint should fail with its 400:\n%s", out)
	}
	// A file error quotes the line that holds an inline password.
	bad := filepath.Join(dir, "bad.etl")
	os.WriteFile(bad, []byte(fmt.Sprintf("CREATE SOURCE s FROM mysql 'mysql://%s:%s@%s' WITH (bogus = 1);\n", user, url.QueryEscape(password), cfg.Addr)), 0o600)
	if out := run("", "check", bad); !strings.Contains(out, `unknown option "bogus"`) {
		t.Errorf("check of a bad file:\n%s", out)
	}
	// The go-sql-driver form and an unescaped password in the file.
	os.WriteFile(bad, []byte(fmt.Sprintf("CREATE SOURCE s FROM mysql '%s:%s@tcp(%s)/%s';\nCREATE SOURCE s2 FROM mysql 'mysql://%s:%s@%s';\nCREATE PIPELINE p FROM binlog s.%s.t INTO stdout;\n",
		user, password, cfg.Addr, db, user, password, cfg.Addr, db)), 0o600)
	run("", "check", bad)
	run("", "plan", bad)

	filepath.Walk(state, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(p)
			outputs = append(outputs, p+":\n"+string(b))
		}
		return nil
	})
	for _, out := range outputs {
		for _, s := range []string{password, url.QueryEscape(password), url.PathEscape(password), "p@ss:w", token, fileSecret} {
			if strings.Contains(out, s) {
				t.Errorf("secret %q printed in\n%s", s, out)
			}
		}
	}
	if len(outputs) < 9 {
		t.Errorf("only %d outputs were checked", len(outputs))
	}
}

// scrapeMetrics runs apply (not --once) with --metrics-addr until its
// /metrics shows the pipeline, returns what it served, and stops it with
// SIGINT.
func scrapeMetrics(t *testing.T, file, state string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(etlqBin, "apply", "--progress", "never", "--state-dir", state, "--metrics-addr", addr, file)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}()
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(b), `etlq_rows_in_total{pipeline="hook"}`) {
				return string(b)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no metrics of pipeline hook on %s within a minute:\n%s", addr, out.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestTLSCheckAndRepl: `etlq check` reports a server that refuses the
// asked TLS mode (no TLS at all; a certificate from another CA; a host
// name the certificate lacks) at the CREATE SOURCE or the pipeline, and
// passes the same file with the right CA; `etlq repl --source` takes the
// TLS settings as DSN parameters and reaches a user created REQUIRE X509.
func TestTLSCheckAndRepl(t *testing.T) {
	t.Parallel()
	tlsDSN := testenv.MySQLTLSDSN(t)
	chTLS := testenv.ClickHouseTLSDSN(t)
	certs := testenv.TLSCerts(t)
	plainDSN := testenv.MySQLDSN(t)
	db := checkDB(t, tlsDSN, map[string]string{"t": "id INT PRIMARY KEY"})
	my := testenv.MySQLConn(t, tlsDSN)
	user := db + "_x"
	acct := "'" + user + "'@'127.0.0.1'"
	myExec(t, my, "CREATE USER "+acct+" IDENTIFIED BY 'X509-pw' REQUIRE X509",
		"GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO "+acct)
	t.Cleanup(func() { my.Execute("DROP USER IF EXISTS " + acct) })
	tu, err := url.Parse(tlsDSN)
	if err != nil {
		t.Fatal(err)
	}
	pu, err := url.Parse(plainDSN)
	if err != nil {
		t.Fatal(err)
	}
	x509 := func(host string) string { return "mysql://" + user + ":X509-pw@" + host + ":" + tu.Port() }
	client := fmt.Sprintf("ssl_cert = '%s', ssl_key = '%s'", certs.ClientCert, certs.ClientKey)
	pipe := fmt.Sprintf("CREATE PIPELINE p FROM binlog s.%s.t INTO stdout;\n", db)
	for _, tc := range []struct {
		name, src, want string
	}{
		{"verify_identity", fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (ssl_mode = 'verify_identity', ssl_ca = '%s', %s);\n", x509("localhost"), certs.CA, client), ": ok ("},
		{"no TLS on the server", fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (ssl_mode = 'required');\n", "mysql://root@"+pu.Host), "ssl_mode = 'required', but the server does not offer TLS"},
		{"wrong CA", fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (ssl_mode = 'verify_ca', ssl_ca = '%s', %s);\n", x509("localhost"), certs.WrongCA, client), "the server's certificate is not signed by ssl_ca " + certs.WrongCA},
		{"wrong host", fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (ssl_mode = 'verify_identity', ssl_ca = '%s', %s);\n", x509("127.0.0.1"), certs.CA, client), "the server's certificate does not name the host of the DSN"},
		{"no client certificate", fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (ssl_mode = 'verify_identity', ssl_ca = '%s');\n", x509("localhost"), certs.CA), "a user created REQUIRE SSL or X509"},
		{"clickhouse wrong CA", fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (ssl_mode = 'verify_identity', ssl_ca = '%s', %s);\nCREATE SINK dw INTO clickhouse '%s' WITH (tls_ca = '%s');\nCREATE PIPELINE q FROM binlog s.%s.t INTO clickhouse dw.%s.t;\n",
			x509("localhost"), certs.CA, client, chTLS, certs.WrongCA, db, db), "TLS: the server's certificate is not signed by tls_ca " + certs.WrongCA},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src
			if !strings.Contains(src, "CREATE PIPELINE") {
				src += pipe
			}
			out, err := runCheck(t, src)
			if tc.want == ": ok (" {
				if err != nil || !strings.Contains(out, tc.want) {
					t.Fatalf("want check to pass, got %v:\n%s", err, out)
				}
				return
			}
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("want check to fail with %q, got %v:\n%s", tc.want, err, out)
			}
			if strings.Contains(out, "X509-pw") {
				t.Errorf("the password is shown:\n%s", out)
			}
		})
	}

	q := url.Values{"ssl_mode": {"verify_identity"}, "ssl_ca": {certs.CA}, "ssl_cert": {certs.ClientCert}, "ssl_key": {certs.ClientKey}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, etlqBin, "repl", "--source", x509("localhost")+"?"+q.Encode())
	cmd.Stdin = strings.NewReader("SHOW TABLES FROM " + db + ";\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "(1 table)") || strings.Contains(string(out), "X509-pw") {
		t.Errorf("repl over TLS as a REQUIRE X509 user: %v\n%s", err, out)
	}
}

// TestApplyOverTLS runs a pipeline whose every connection is verified TLS:
// the source as a user created REQUIRE X509 (verify_identity, client
// certificate; snapshot and binlog), the sink on ClickHouse's secure
// native port with the test CA. The rows, an update included, arrive.
func TestApplyOverTLS(t *testing.T) {
	t.Parallel()
	tlsDSN := testenv.MySQLTLSDSN(t)
	chTLS := testenv.ClickHouseTLSDSN(t)
	certs := testenv.TLSCerts(t)
	db := checkDB(t, tlsDSN, map[string]string{"t": "id INT PRIMARY KEY, v VARCHAR(10)"})
	my := testenv.MySQLConn(t, tlsDSN)
	user := db + "_x"
	acct := "'" + user + "'@'127.0.0.1'"
	myExec(t, my, "CREATE USER "+acct+" IDENTIFIED BY 'X509-pw' REQUIRE X509",
		"GRANT SELECT, RELOAD, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO "+acct,
		"INSERT INTO "+db+".t VALUES (1, 'a'), (2, 'b')")
	t.Cleanup(func() { my.Execute("DROP USER IF EXISTS " + acct) })
	chRead := chTLS + "&skip_verify=true"
	tu, err := url.Parse(tlsDSN)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "tls.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql 'mysql://%s:X509-pw@localhost:%s'
  WITH (ssl_mode = 'verify_identity', ssl_ca = '%s', ssl_cert = '%s', ssl_key = '%s');
CREATE SINK dw INTO clickhouse '%s' WITH (tls_ca = '%s');
CREATE PIPELINE p FROM binlog s.%s.t INTO clickhouse dw.%s.t MODE upsert;
`, user, tu.Port(), certs.CA, certs.ClientCert, certs.ClientKey, chTLS, certs.CA, db, db)
	if err := os.WriteFile(file, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		o := testenv.ClickHouseConn(t, chRead)
		o.Exec(ctx, "DROP DATABASE IF EXISTS `"+db+"`")
	}()
	state := filepath.Join(t.TempDir(), "state")
	mustEtlq(t, "check", file)
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	myExec(t, my, "UPDATE "+db+".t SET v = 'bb' WHERE id = 2", "INSERT INTO "+db+".t VALUES (3, 'c')")
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	n, err := chCount(chRead, "SELECT count() FROM `"+db+"`.t_current WHERE v IN ('a', 'bb', 'c')")
	if err != nil || n != 3 {
		t.Fatalf("rows over TLS: %d, %v", n, err)
	}
}

// TestFlagURLSecrets: a password in a command-line URL (--log nats://…,
// repl --source) given as ${NAME} or ${file:PATH} in single quotes, as
// docs/security.md shows. The shell leaves the reference alone, so the
// secret is not in argv (ps), and etlq expands it, percent-escaping it
// into the user:password part. Before, etlq took the reference literally:
// "want nats://host:port[/namespace]" (new-user trial); the only way was a
// double-quoted URL that put the password in every process listing.
func TestFlagURLSecrets(t *testing.T) {
	t.Parallel()
	const pw = `p@ss:w/o?r#d%2'"  ü€`
	n := startPrivateNATS(t)
	n.stop()
	n.cmd.Args = append(n.cmd.Args, "--user", "etl", "--pass", pw)
	n.start(t)
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, v INT)", "INSERT INTO "+s.db+".t VALUES (1, 1)")
	file := filepath.Join(t.TempDir(), "log.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t TRANSFORM id, v INTO clickhouse dw.%s.t MODE upsert KEY (id);
`, myDSN, testServerID(), s.chDSN, s.db, s.db))
	pwFile := filepath.Join(t.TempDir(), "nats_pw")
	writeFile(t, pwFile, pw+"\n")
	run := func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, etlqBin, args...)
		cmd.Env = append(os.Environ(), "ETLQ_TEST_NATS_PW="+pw)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	for _, ref := range []string{"${ETLQ_TEST_NATS_PW}", "${file:" + pwFile + "}"} {
		logURL := "nats://etl:" + ref + "@127.0.0.1:" + n.port + "/ns"
		out, err := run("capture", "--once", "--log", logURL, file)
		if err != nil {
			t.Errorf("capture --log %s: %v\n%s", logURL, err, out)
		}
		if strings.Contains(out, pw) {
			t.Errorf("capture --log %s printed the password:\n%s", logURL, out)
		}
		if out, err := run("status", "--log", logURL, file); err != nil || !strings.Contains(out, "stream ns_s") {
			t.Errorf("status --log %s: %v\n%s", logURL, err, out)
		}
	}
	// A wrong password is refused: the expansion is what made it work.
	if out, err := run("status", "--log", "nats://etl:wrong@127.0.0.1:"+n.port+"/ns", file); err == nil {
		t.Errorf("status with a wrong password succeeded:\n%s", out)
	}
	if out, err := run("status", "--log", "nats://etl:${ETLQ_TEST_NO_SUCH_VAR}@127.0.0.1:"+n.port+"/ns", file); err == nil ||
		!strings.Contains(out, `--log: environment variable "ETLQ_TEST_NO_SUCH_VAR" is not set`) {
		t.Errorf("status with an unset variable: %v\n%s", err, out)
	}

	// The REPL's --source, the same way: a user whose password needs
	// escaping, from the environment.
	u, err := url.Parse(myDSN)
	if err != nil {
		t.Fatal(err)
	}
	user := "flagsecret_" + fmt.Sprint(time.Now().UnixNano()%1e6)
	acct := "'" + user + "'@'127.0.0.1'"
	myExec(t, s.my, "CREATE USER "+acct+" IDENTIFIED BY 'p@ss:w/o?r#d%2''\"  ü€'", "GRANT SELECT ON "+s.db+".* TO "+acct)
	t.Cleanup(func() { s.my.Execute("DROP USER IF EXISTS " + acct) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, etlqBin, "repl", "--source", "mysql://"+user+":${ETLQ_TEST_NATS_PW}@"+u.Host)
	cmd.Env = append(os.Environ(), "ETLQ_TEST_NATS_PW="+pw)
	cmd.Stdin = strings.NewReader("SHOW TABLES FROM " + s.db + "; SHOW SOURCES;\n")
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), " t\n") || strings.Contains(string(out), pw) || !strings.Contains(string(out), user+":****@") {
		t.Errorf("repl --source with ${…}: %v\n%s", err, out)
	}
}

// TestSkipVerifyWarns: a ClickHouse sink with ?skip_verify=true connects
// over TLS without verifying the server, which anyone on the path can then
// pose as; check, plan and apply went on without a word (new-user trial).
// Each now warns, naming the sink and what to give instead; a verified
// sink (tls_ca) gets no such warning.
func TestSkipVerifyWarns(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	chTLS := testenv.ClickHouseTLSDSN(t)
	certs := testenv.TLSCerts(t)
	db := checkDB(t, myDSN, map[string]string{"t": "id INT PRIMARY KEY, v VARCHAR(10)"})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		testenv.ClickHouseConn(t, chTLS+"&skip_verify=true").Exec(ctx, "DROP DATABASE IF EXISTS `"+db+"`")
	}()
	const warn = `sink dw: skip_verify=true: the server's certificate is not verified`
	for _, c := range []struct {
		sink string
		want bool
	}{
		{fmt.Sprintf("'%s&skip_verify=true'", chTLS), true},
		{fmt.Sprintf("'%s' WITH (tls_ca = '%s')", chTLS, certs.CA), false},
	} {
		file := filepath.Join(t.TempDir(), "skip.etl")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse %s;
CREATE PIPELINE p FROM binlog s.%s.t INTO clickhouse dw.%s.t MODE upsert;
`, myDSN, testServerID(), c.sink, db, db))
		for _, args := range [][]string{
			{"check", file},
			{"plan", file},
			{"apply", "--once", "--progress", "never", "--state-dir", filepath.Join(t.TempDir(), "state"), file},
		} {
			out := mustEtlq(t, args...)
			if strings.Contains(out, warn) != c.want {
				t.Errorf("etlq %s with sink %s: warning %q shown: %v, want %v:\n%s", args[0], c.sink, warn, !c.want, c.want, out)
			}
		}
	}
}

// TestRequiredSSLWarns: a MySQL source with ssl_mode = 'required' is
// encrypted but accepts any certificate, as the ClickHouse sink's
// skip_verify = true, which check, plan and apply warn of; the source went
// without a word. It now warns the same way, naming the source and what
// to set instead; verify_identity with ssl_ca, and the default
// (preferred), do not.
func TestRequiredSSLWarns(t *testing.T) {
	t.Parallel()
	tlsDSN := testenv.MySQLTLSDSN(t)
	certs := testenv.TLSCerts(t)
	db := checkDB(t, tlsDSN, map[string]string{"t": "id INT PRIMARY KEY, v VARCHAR(10)"})
	const warn = "source s: ssl_mode = 'required': the server's certificate is not verified"
	for _, c := range []struct {
		with string
		want bool
	}{
		{"ssl_mode = 'required'", true},
		{fmt.Sprintf("ssl_mode = 'verify_identity', ssl_ca = '%s'", certs.CA), false},
		{"ssl_mode = 'preferred'", false},
	} {
		file := filepath.Join(t.TempDir(), "req.etl")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d, %s);
CREATE PIPELINE p FROM binlog s.%s.t INTO stdout;
`, tlsDSN, testServerID(), c.with, db))
		for _, args := range [][]string{{"check", file}, {"plan", file}} {
			out := mustEtlq(t, args...)
			if strings.Contains(out, warn) != c.want {
				t.Errorf("etlq %s with %s: warning %q shown: %v, want %v:\n%s", args[0], c.with, warn, !c.want, c.want, out)
			}
		}
	}
}

// TestPlainHTTPCredentialsWarn: an INTO http target with an http:// URL to
// another host and an Authorization header sends the token in clear text
// with every request; check went on without a word (new-user trial). It
// now warns, naming the pipeline; https:// and a loopback host do not.
func TestPlainHTTPCredentialsWarn(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	db := checkDB(t, myDSN, map[string]string{"t": "id INT PRIMARY KEY, v VARCHAR(10)"})
	const warn = "pipeline p: the Authorization header goes over plain http to hooks.example.com"
	for url, want := range map[string]bool{
		"http://hooks.example.com/h":  true,
		"https://hooks.example.com/h": false,
		"http://127.0.0.1:9/h":        false,
	} {
		file := filepath.Join(t.TempDir(), "h.etl")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE PIPELINE p FROM binlog s.%s.t INTO http '%s' WITH (headers = 'Authorization: Bearer Plain-Http-T0ken');
`, myDSN, testServerID(), db, url))
		out := mustEtlq(t, "check", file)
		if strings.Contains(out, warn) != want {
			t.Errorf("check with INTO http %s: warning %q shown: %v, want %v:\n%s", url, warn, !want, want, out)
		}
		if strings.Contains(out, "Plain-Http-T0ken") {
			t.Errorf("check printed the token:\n%s", out)
		}
	}
}

// TestMissingBinlogGrantsNamedOnce: a user that may read the tables but not
// the binlog. check names each missing privilege once, with its GRANT — it
// also printed the server's raw "read binlog position: ERROR 1227 … Access
// denied" for the same cause, at the same place — and apply, which stops
// there before moving data, names every one with its GRANT too: it printed
// only the raw ERROR 1227 (BINLOG MONITOR through the server's words, and
// not REPLICATION SLAVE, which the next try then met). An ops trial with a
// grant-limited replication user. On both servers.
func TestMissingBinlogGrantsNamedOnce(t *testing.T) {
	t.Parallel()
	for _, srv := range []struct{ name, dsn string }{{"A", testenv.MySQLDSN(t)}, {"B", testenv.MySQLMinimalDSN(t)}} {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			db := checkDB(t, srv.dsn, map[string]string{"t": "id INT PRIMARY KEY"})
			cfg, err := testenv.ParseMySQLDSN(srv.dsn)
			if err != nil {
				t.Fatal(err)
			}
			my := testenv.MySQLConn(t, srv.dsn)
			user := db + "_u"
			acct := "'" + user + "'@'127.0.0.1'"
			myExec(t, my, "CREATE USER "+acct+" IDENTIFIED BY 'Gr4nt-me'", "GRANT SELECT ON "+db+".* TO "+acct)
			t.Cleanup(func() { my.Execute("DROP USER IF EXISTS " + acct) })
			src := fmt.Sprintf("CREATE SOURCE s FROM mysql 'mysql://%s:Gr4nt-me@%s' WITH (ssl_mode = 'disabled');\nCREATE PIPELINE p FROM binlog %s.t INTO stdout;\n", user, cfg.Addr, db)
			grants := []string{
				"source s: user " + acct + " lacks REPLICATION SLAVE (to read the binlog): GRANT REPLICATION SLAVE ON *.* TO " + acct + ";",
				"source s: user " + acct + " lacks BINLOG MONITOR (to read the binlog position (SHOW MASTER STATUS)): GRANT BINLOG MONITOR ON *.* TO " + acct + ";",
			}
			out, err := runCheck(t, src)
			if err == nil {
				t.Fatalf("check passed:\n%s", out)
			}
			for _, want := range grants {
				if n := strings.Count(out, want); n != 1 {
					t.Errorf("check says %q %d times, want once:\n%s", want, n, out)
				}
			}
			// Nor as the warning that the binlog retention cannot be
			// read, which said it once more (a security trial).
			if strings.Contains(out, "ERROR 1227") {
				t.Errorf("check repeats the server's access-denied error beside the missing grants:\n%s", out)
			}
			file := filepath.Join(t.TempDir(), "apply.etl")
			if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err = runEtlq(t, "apply", "--once", "--state-dir", filepath.Join(t.TempDir(), "state"), "--progress", "never", file)
			if err == nil {
				t.Fatalf("apply passed:\n%s", out)
			}
			for _, want := range grants {
				if !strings.Contains(out, want) {
					t.Errorf("apply does not say %q:\n%s", want, out)
				}
			}
		})
	}
}
