package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestApplyRefusedForWorkers: `etlq apply` without --log on the state
// directory of `apply --log` workers (their checkpoints count log messages,
// not source positions). With several workers (worker-N subdirectories) it
// took the directory for a new one and snapshotted every table again into
// the workers' targets, next to them; with one worker it stopped with
// "invalid mysql checkpoint state: json: cannot unmarshal number into Go
// value of type mysql.markState" (trial-trust). It is refused before any
// connection, pointing to --log, as resnapshot is
// (TestResnapshotRefusedForWorkers). Both servers.
func TestApplyRefusedForWorkers(t *testing.T) {
	t.Parallel()
	for _, server := range []struct {
		name string
		dsn  func(testing.TB) string
	}{{"A", testenv.MySQLDSN}, {"B", testenv.MySQLMinimalDSN}} {
		t.Run(server.name, func(t *testing.T) {
			myDSN := server.dsn(t)
			s := newScratch(t, myDSN)
			myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, v VARCHAR(16) NOT NULL)",
				"INSERT INTO "+s.db+".t VALUES (1, 'a'), (2, 'b')")
			dir := t.TempDir()
			file := filepath.Join(dir, "p.etl")
			writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t TRANSFORM id, v INTO clickhouse dw.%s.t MODE upsert KEY (id);
`, myDSN, s.chDSN, s.db, s.db))
			one, several := filepath.Join(dir, "one"), filepath.Join(dir, "several")
			for _, d := range []string{one, filepath.Join(several, "worker-0"), filepath.Join(several, "worker-1")} {
				if err := os.MkdirAll(d, 0o700); err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(d, "source-s.json"), `{"format": 1, "source": "s", "mark": 7, "pipelines": ["p"], "updated": "2026-01-01T00:00:00Z"}`)
			}
			for _, d := range []string{one, several} {
				out, err := runEtlq(t, "apply", "--once", "--state-dir", d, file)
				if err == nil || !strings.Contains(out, "apply --log") || !strings.Contains(out, "--log nats://") {
					t.Errorf("apply with workers' state directory %s: want refused naming apply --log: %v:\n%s", d, err, out)
				}
				if n, err := chCount(s.chDSN, "SELECT count() FROM system.tables WHERE database = '"+s.db+"'"); err != nil || n != 0 {
					t.Errorf("apply with workers' state directory %s wrote into the targets: %d tables (%v)", d, n, err)
				}
			}
		})
	}
}
