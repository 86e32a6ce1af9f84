package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestOnceEndsAfterGrant: a GRANT is a transaction of its own in the
// binlog (MariaDB: a standalone GTID, no COMMIT after it) but no DDL etlq
// follows. As the last event of the binlog it left the reader "in a
// transaction" until the next write to the server: apply --once never
// ended on an idle source (nor did a resnapshot or an idle checkpoint come).
// Now the run ends, and the write after the GRANT arrives in the next.
func TestOnceEndsAfterGrant(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		db := "grant_" + testenv.UniqueName(t)
		user := fmt.Sprintf("etlq_grant_%d", rand.IntN(1<<30))
		my := testenv.MySQLConn(t, myDSN)
		t.Cleanup(func() {
			my.Execute("DROP DATABASE IF EXISTS " + db)
			my.Execute("DROP USER IF EXISTS '" + user + "'@'localhost'")
		})
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT)",
			"INSERT INTO "+db+".t VALUES (1, 10)",
			"CREATE USER '"+user+"'@'localhost' IDENTIFIED BY 'x'")
		dir := t.TempDir()
		out := filepath.Join(dir, "out.jsonl")
		file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE PIPELINE p FROM binlog s.%s.t SNAPSHOT initial TRANSFORM id, v, _op INTO file '%s' FORMAT jsonl;
`, myDSN, 100000+rand.IntN(1<<30), db, out))
		apply := func(step string) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			b, err := exec.CommandContext(ctx, etlqBin, "apply", "--once", "--progress", "never",
				"--state-dir", filepath.Join(dir, "state"), file).CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("%s: apply --once did not end within 60 s\n%s", step, b)
			}
			if err != nil {
				t.Fatalf("%s: %v\n%s", step, err, b)
			}
		}
		apply("snapshot")
		myExec(t, my, "INSERT INTO "+db+".t VALUES (2, 20)",
			"GRANT SELECT ON "+db+".* TO '"+user+"'@'localhost'") // the binlog's last event
		apply("after the GRANT")
		myExec(t, my, "UPDATE "+db+".t SET v = 21 WHERE id = 2")
		apply("after the next write")
		got := strings.Join(readLines(t, out), "\n")
		for _, want := range []string{`"id":1,"v":10,"_op":"read"`, `"id":2,"v":20,"_op":"insert"`, `"id":2,"v":21,"_op":"update"`} {
			if strings.Count(got, want) != 1 {
				t.Errorf("want %s once in the output:\n%s", want, got)
			}
		}
	})
}
