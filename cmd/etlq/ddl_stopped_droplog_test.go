package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDropWhileStoppedLogged: a DROP COLUMN made while etlq was stopped is
// logged at the DDL as what it is — change="dropped last_name" — on MariaDB
// A and B. (The plan is made from the table as it is now, without the
// column, and the stream replays the changes before the DDL with the
// checkpoint's layout, which has it: the line said "added last_name".)
func TestDropWhileStoppedLogged(t *testing.T) {
	t.Parallel()
	ddlWhileStoppedLogged(t, stoppedDDL{
		create:  "(id INT PRIMARY KEY, first VARCHAR(16), last_name VARCHAR(16))",
		rows:    "(1, 'a', 'x'), (2, 'b', 'y')",
		stopped: []string{"INSERT INTO %s.t VALUES (3, 'c', 'z')", "ALTER TABLE %s.t DROP COLUMN last_name", "INSERT INTO %s.t VALUES (4, 'd')"},
		after:   "SELECT count() FROM %s.t", afterRows: 4,
		change: "dropped last_name", never: "added last_name", replay: "with last_name varchar(16)",
	})
}

// TestAddWhileStoppedLogged (new-user trial "trialops2"): an ADD COLUMN
// and a widening made while etlq was stopped are logged at their DDL as
// what they are, and the replay of the changes before them as such — on
// MariaDB A and B. (The plan is made from the table as it is now, with the
// column; the replay's first batch, without it, was logged as a schema
// change, change="dropped channel; id bigint(20) → int(11)", and counted in
// etlq_schema_changes_total, before the DDL that added it.)
func TestAddWhileStoppedLogged(t *testing.T) {
	t.Parallel()
	ddlWhileStoppedLogged(t, stoppedDDL{
		create: "(id INT PRIMARY KEY, first VARCHAR(16))",
		rows:   "(1, 'a'), (2, 'b')",
		stopped: []string{"INSERT INTO %s.t VALUES (3, 'c')",
			"ALTER TABLE %s.t ADD COLUMN channel VARCHAR(8) NOT NULL DEFAULT 'store', MODIFY id BIGINT",
			"INSERT INTO %s.t VALUES (4, 'd', 'web')"},
		after: "SELECT count() FROM %s.t WHERE channel = 'web'", afterRows: 1,
		change: "id int(11) → bigint(20); added channel varchar(8)", never: "dropped channel", replay: "with id int(11); without channel",
	})
}

// stoppedDDL is a DDL made while etlq was stopped and what the restart
// must log of it: the table's columns (create) and first rows, the
// statements made while stopped (%s: the database), the count query that
// says the restart has their rows (afterRows), the schema change line's
// change, what no line may say (never), and the replay's change before it.
type stoppedDDL struct {
	create, rows          string
	stopped               []string
	after                 string
	afterRows             uint64
	change, never, replay string
}

func ddlWhileStoppedLogged(t *testing.T, c stoppedDDL) {
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, chDSN := s.db, s.my, s.chDSN
		myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t "+c.create, "INSERT INTO "+db+".t VALUES "+c.rows)
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE p FROM binlog s.%s.t INTO clickhouse dw.%s.t MODE append;
`, myDSN, testServerID(), chDSN, db, db))
		a := startApply(t, state, file)
		a.waitFor(t, "the snapshot", 2*time.Minute, func() (bool, string) {
			n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.t", db))
			return err == nil && n == 2, fmt.Sprintf("%d, %v", n, err)
		})
		out := a.stop(t)
		for _, q := range c.stopped {
			myExec(t, my, fmt.Sprintf(q, db))
		}
		a = startApply(t, state, file)
		a.waitFor(t, "the rows after the DDL while stopped", 2*time.Minute, func() (bool, string) {
			n, err := chCount(chDSN, fmt.Sprintf(c.after, db))
			return err == nil && n == c.afterRows, fmt.Sprintf("%d, %v", n, err)
		})
		out += a.stop(t)
		var lines []string
		for _, l := range strings.Split(out, "\n") {
			if strings.Contains(l, "planned again") {
				lines = append(lines, l)
			}
		}
		if len(lines) != 1 || !strings.Contains(lines[0], `change="`+c.change+`"`) || !strings.Contains(lines[0], "table="+db+".t") || strings.Contains(out, c.never) {
			t.Fatalf("want one schema change line, saying change=%q, and none saying %q; got:\n%s\n\nthe whole log:\n%s", c.change, c.never, strings.Join(lines, "\n"), out)
		}
		// The replay of the changes before the DDL says it is one.
		if !strings.Contains(out, `msg="pipeline planned as the checkpoint has the table: the changes before a DDL made while etlq was stopped" table=`+db+`.t change="`+c.replay+`"`) {
			t.Errorf("want the replay before the DDL logged as one:\n%s", out)
		}
	})
}
