package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestPartialRowImagesStop: a writer session that sets binlog_row_image =
// MINIMAL (or NOBLOB) itself, whatever the server's global FULL, logs
// updates with the updated columns only. apply wrote NULL over the other
// columns of the upsert target's row (its _current view showed the row
// with a and body NULL) and into the changelog's row and before image. It
// must stop, naming the table, the position and the columns the binlog
// left out, and leave both targets as they were.
func TestPartialRowImagesStop(t *testing.T) {
	t.Parallel()
	onBothServers(t, testPartialRowImagesStop)
}

func testPartialRowImagesStop(t *testing.T, myDSN string) {
	for _, image := range []string{"MINIMAL", "NOBLOB"} {
		t.Run(image, func(t *testing.T) {
			s := newScratch(t, myDSN)
			db := s.db
			myExec(t, s.my,
				"CREATE DATABASE "+db,
				"CREATE TABLE "+db+".t (id INT PRIMARY KEY, a VARCHAR(20), n INT, body TEXT)",
				"INSERT INTO "+db+".t VALUES (1, 'one', 10, 'b1'), (2, 'two', 20, 'b2')",
			)
			dir := t.TempDir()
			file := filepath.Join(dir, "p.etl")
			src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE up FROM binlog s.%[3]s.t TRANSFORM * INTO clickhouse dw.%[3]s.up MODE upsert KEY (id);
CREATE PIPELINE audit FROM binlog s.%[3]s.t TRANSFORM * INTO clickhouse dw.%[3]s.audit MODE changelog;
`, myDSN, s.chDSN, db)
			if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			state := filepath.Join(dir, "state")
			mustEtlq(t, "apply", "--once", "--state-dir", state, file)
			// A session of its own: the image is the session's, not the
			// server's.
			c := testenv.MySQLConn(t, myDSN)
			myExec(t, c,
				"SET SESSION binlog_row_image = '"+image+"'",
				"UPDATE "+db+".t SET a = 'uno' WHERE id = 1",
			)
			out, err := runEtlq(t, "apply", "--once", "--state-dir", state, file)
			if err == nil {
				t.Fatalf("apply went on:\n%s", out)
			}
			for _, w := range []string{"binlog rows of " + db + ".t at binlog.", "(update)", "lacks", "body", "binlog_row_image = MINIMAL or NOBLOB"} {
				if !strings.Contains(out, w) {
					t.Errorf("the error lacks %q:\n%s", w, out)
				}
			}
			diffRows(t, []string{"1|one|10|b1", "2|two|20|b2"},
				chRows(t, s.ch, "SELECT toString(id), a, toString(n), body FROM "+db+".up_current ORDER BY id"))
			diffRows(t, []string{"1|read|one|b1", "2|read|two|b2"},
				chRows(t, s.ch, "SELECT toString(id), _op, a, body FROM "+db+".audit ORDER BY _version"))
		})
	}
}
