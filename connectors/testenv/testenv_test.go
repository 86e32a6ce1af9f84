package testenv

import (
	"context"
	"fmt"
	"net"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestParseMySQLDSN(t *testing.T) {
	for _, tc := range []struct {
		dsn  string
		want MySQLConfig
		err  string
	}{
		{dsn: "mysql://root@127.0.0.1:3316", want: MySQLConfig{User: "root", Addr: "127.0.0.1:3316"}},
		{dsn: "mysql://u:p%40ss@db.example:3307/shopdb?tls=skip-verify&x=1",
			want: MySQLConfig{User: "u", Password: "p@ss", Addr: "db.example:3307", Database: "shopdb"}},
		{dsn: "mysql://localhost", want: MySQLConfig{User: "root", Addr: "localhost:3306"}},
		{dsn: "mysql://u@[::1]:3316/db/", want: MySQLConfig{User: "u", Addr: "[::1]:3316", Database: "db"}},
		{dsn: "postgres://u@h:1", err: `scheme must be "mysql"`},
		{dsn: "mysql:///db", err: "no host"},
		{dsn: "mysql://h/a/b", err: "is not a database name"},
	} {
		got, err := ParseMySQLDSN(tc.dsn)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseMySQLDSN(%q) error = %v, want one containing %q", tc.dsn, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseMySQLDSN(%q): %v", tc.dsn, err)
			continue
		}
		got.Params = nil
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseMySQLDSN(%q) = %+v, want %+v", tc.dsn, got, tc.want)
		}
	}
	c, _ := ParseMySQLDSN("mysql://h:1/db?tls=skip-verify&x=1")
	if c.Params.Get("tls") != "skip-verify" || c.Params.Get("x") != "1" {
		t.Errorf("params = %v", c.Params)
	}
}

func TestRedact(t *testing.T) {
	if got := redact("mysql://u:secret@h:1/db"); strings.Contains(got, "secret") {
		t.Errorf("redact kept the password: %s", got)
	}
	if got := redact("mysql://root@h:1"); got != "mysql://root@h:1" {
		t.Errorf("redact changed a DSN without password: %s", got)
	}
}

var nameOK = regexp.MustCompile(`^[a-z][a-z0-9_]*_[0-9a-f]{6}$`)

func TestUniqueName(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 50; i++ {
		n := UniqueName(t)
		if !nameOK.MatchString(n) || len(n) > maxNameLen {
			t.Fatalf("UniqueName = %q: want [a-z][a-z0-9_]* with a 6-hex suffix, at most %d chars", n, maxNameLen)
		}
		if !strings.HasPrefix(n, "testuniquename_") {
			t.Errorf("UniqueName = %q, want it to start with the test name", n)
		}
		if seen[n] {
			t.Errorf("UniqueName returned %q twice", n)
		}
		seen[n] = true
	}
	t.Run("Very/Long sub-test name with Spaces, punctuation & ÜNICODE and more more more more", func(t *testing.T) {
		n := UniqueName(t)
		if !nameOK.MatchString(n) || len(n) > maxNameLen || strings.Contains(n, "__") {
			t.Errorf("UniqueName = %q (len %d)", n, len(n))
		}
	})
	t.Run("123 starts with a digit", func(t *testing.T) {
		if n := UniqueName(t); !nameOK.MatchString(n) {
			t.Errorf("UniqueName = %q", n)
		}
	})
}

// recordingTB records Skipf and Fatalf instead of stopping the goroutine.
type recordingTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Skipf(f string, a ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(f, a...)
}
func (r *recordingTB) Fatalf(f string, a ...any) {
	r.failed, r.msg = true, fmt.Sprintf(f, a...)
}

// closedPort returns a local TCP port nothing listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func TestMissingServerSkipsLocallyAndFailsInCI(t *testing.T) {
	port := strconv.Itoa(closedPort(t))
	for _, tc := range []struct {
		name string
		env  string
		dsn  string
		get  func(testing.TB) string
	}{
		{"mysql", EnvMySQLDSN, "mysql://root@127.0.0.1:" + port, MySQLDSN},
		{"mysql_minimal", EnvMySQLMinimalDSN, "mysql://root:pw@127.0.0.1:" + port + "/x", MySQLMinimalDSN},
		{"clickhouse", EnvClickHouseDSN, "clickhouse://127.0.0.1:" + port, ClickHouseDSN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.env, tc.dsn)
			for _, ci := range []string{"", "false", "true"} {
				t.Setenv("CI", ci)
				r := &recordingTB{TB: t}
				tc.get(r)
				wantFail := ci == "true"
				if r.failed != wantFail || r.skipped == wantFail {
					t.Errorf("CI=%q: failed=%v skipped=%v, want failed=%v", ci, r.failed, r.skipped, wantFail)
				}
				if !strings.Contains(r.msg, "scripts/services up") || strings.Contains(r.msg, ":pw@") {
					t.Errorf("CI=%q: message %q lacks the hint or shows the password", ci, r.msg)
				}
			}
		})
	}
}

func mysqlVars(t *testing.T, dsn string) map[string]string {
	conn := MySQLConn(t, dsn)
	rows := Query(t, conn, `SELECT @@log_bin, @@binlog_format, @@binlog_row_image, @@binlog_row_metadata,
		@@server_id, @@max_connections, TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), NOW()) <> 0,
		CONVERT_TZ('2024-01-01 12:00:00', 'UTC', 'Asia/Tokyo'), @@character_set_server`)
	if len(rows) != 1 {
		t.Fatalf("got %d rows", len(rows))
	}
	r := rows[0]
	return map[string]string{
		"log_bin": r[0], "binlog_format": r[1], "binlog_row_image": r[2], "binlog_row_metadata": r[3],
		"server_id": r[4], "max_connections": r[5], "non_utc": r[6], "convert_tz": r[7], "charset": r[8],
	}
}

// TestMySQLServers checks the two MariaDB servers are set up as the
// connectors' tests expect.
func TestMySQLServers(t *testing.T) {
	a := mysqlVars(t, MySQLDSN(t))
	b := mysqlVars(t, MySQLMinimalDSN(t))
	for name, v := range map[string]map[string]string{"A": a, "B": b} {
		if v["log_bin"] != "1" || v["binlog_format"] != "ROW" || v["binlog_row_image"] != "FULL" {
			t.Errorf("server %s: binlog settings %v", name, v)
		}
		if v["non_utc"] != "1" {
			t.Errorf("server %s: system time zone is UTC, want non-UTC", name)
		}
		if v["convert_tz"] != "2024-01-01 21:00:00" {
			t.Errorf("server %s: CONVERT_TZ with named zones = %q (time zone tables not loaded?)", name, v["convert_tz"])
		}
		if n, _ := strconv.Atoi(v["max_connections"]); n < 300 {
			t.Errorf("server %s: max_connections = %d", name, n)
		}
		if v["charset"] != "utf8mb4" {
			t.Errorf("server %s: character_set_server = %q", name, v["charset"])
		}
	}
	if a["binlog_row_metadata"] != "FULL" {
		t.Errorf("server A: binlog_row_metadata = %q, want FULL", a["binlog_row_metadata"])
	}
	if b["binlog_row_metadata"] == "FULL" {
		t.Errorf("server B: binlog_row_metadata = FULL, want the server default")
	}
	if a["server_id"] == b["server_id"] {
		t.Errorf("servers A and B share server_id %s", a["server_id"])
	}
}

func TestMySQLExecAndQuery(t *testing.T) {
	dsn := MySQLDSN(t)
	conn := MySQLConn(t, dsn)
	db := UniqueName(t)
	Exec(t, conn,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, s VARCHAR(10), d DECIMAL(12,2), ts DATETIME(6))",
		"INSERT INTO "+db+".t VALUES (1, 'x', 1.50, '2024-01-02 03:04:05.000006'), (2, NULL, NULL, NULL)",
	)
	t.Cleanup(func() { conn.Execute("DROP DATABASE IF EXISTS " + db) })
	got := fmt.Sprint(Query(t, conn, "SELECT id, s, d, ts FROM "+db+".t ORDER BY id"))
	want := "[[1 x 1.50 2024-01-02 03:04:05.000006] [2 NULL NULL NULL]]"
	if got != want {
		t.Errorf("Query = %s, want %s", got, want)
	}
	// A DSN naming a database connects to it.
	conn2 := MySQLConn(t, dsn+"/"+db)
	if got := Query(t, conn2, "SELECT DATABASE(), COUNT(*) FROM t"); fmt.Sprint(got) != "[["+db+" 2]]" {
		t.Errorf("connection with database: %v", got)
	}
}

func TestClickHouse(t *testing.T) {
	conn := ClickHouseConn(t, ClickHouseDSN(t))
	db := UniqueName(t)
	ClickHouseExec(t, conn,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id UInt64, s Nullable(String), d Decimal(12, 2)) ENGINE = MergeTree ORDER BY id",
	)
	t.Cleanup(func() { conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db) })
	// ClickHouse 18.16 needs the explicit column list.
	b, err := conn.PrepareBatch(context.Background(), "INSERT INTO "+db+".t (id, s, d)")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uint64(1), "one", "1.50"); err != nil {
		t.Fatal(err)
	}
	if err := b.Append(uint64(2), nil, "-2.25"); err != nil {
		t.Fatal(err)
	}
	if err := b.Send(); err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(ClickHouseQuery(t, conn, "SELECT id, s, toString(d) FROM "+db+".t ORDER BY id"))
	if want := "[[1 one 1.50] [2 NULL -2.25]]"; got != want {
		t.Errorf("ClickHouseQuery = %s, want %s", got, want)
	}
}
