package main

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
)

// TestErrorsNameSourceOrSinkOnce: the real failures of a source or sink —
// a ClickHouse port nothing listens on, a wrong MariaDB password, a table
// the source lacks — name the source or sink once in what etlq apply and
// etlq verify print (the engine's paths past check are tested in
// exec/engine: TestErrorsNameSourceOrSinkOnce, a rejoin among them).
func TestErrorsNameSourceOrSinkOnce(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, v INT)", "INSERT INTO "+s.db+".t VALUES (1, 1)")
		bad, err := url.Parse(myDSN)
		if err != nil {
			t.Fatal(err)
		}
		bad.User = url.UserPassword(bad.User.Username(), "not-the-password")
		dir := t.TempDir()
		for _, c := range []struct {
			name, src, sink, table, named, want string
		}{
			{"clickhouse unreachable", myDSN, "clickhouse://127.0.0.1:1", "t", "dwsink", "cannot reach 127.0.0.1:1"},
			{"wrong password", bad.String(), s.chDSN, "t", "srcx", "Access denied"},
			{"table missing", myDSN, s.chDSN, "nope", "srcx", "no table matches"},
		} {
			file := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".etl")
			writeFile(t, file, fmt.Sprintf(`CREATE SOURCE srcx FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dwsink INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog srcx.%s.%s TRANSFORM id, v INTO clickhouse dwsink.%s.t MODE upsert KEY (id);
`, c.src, testServerID(), c.sink, s.db, c.table, s.db))
			state := filepath.Join(dir, "state-"+strings.ReplaceAll(c.name, " ", "_"))
			for _, args := range [][]string{{"apply", "--once", "--state-dir", state, file}, {"verify", "--state-dir", state, file}} {
				out, err := runEtlq(t, args...)
				var msg string // the error's line (not the file's line under it, nor a log line)
				for _, l := range strings.Split(out, "\n") {
					if strings.HasPrefix(l, "etlq: ") {
						msg = l
					}
				}
				if err == nil || !strings.Contains(msg, c.want) {
					t.Errorf("%s: etlq %s: %v, want %q:\n%s", c.name, args[0], err, c.want, out)
				} else if n := strings.Count(msg, c.named); n != 1 {
					t.Errorf("%s: etlq %s names %s %d times:\n%s", c.name, args[0], c.named, n, msg)
				}
			}
		}
	})
}
