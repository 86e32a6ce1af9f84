package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSharedTargetOfAnotherKeyRefused: two upsert pipelines of different
// keys into one ClickHouse table (a new-user trial: sakila.payment KEY
// (payment_id) and sakila.customer, keyed by customer_id, into dwy.t).
// check said ok, and apply made the table ORDER BY payment_id, where the
// customers, which have no payment_id, collapsed into one row: 598 of 599
// gone, which only verify noticed. check, plan and apply now refuse the
// later pipeline at its INTO, naming the other and why — also through a
// second sink to the same server, and for an upsert pipeline beside an
// append one — and nothing is written. Two append pipelines into one
// table, and two upsert pipelines of one KEY, stay planned and run.
func TestSharedTargetOfAnotherKeyRefused(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db := s.db
		myExec(t, s.my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".pay (payment_id INT PRIMARY KEY, customer_id INT NOT NULL, amount INT NOT NULL)",
			"CREATE TABLE "+db+".cust (customer_id INT PRIMARY KEY, email VARCHAR(20) NOT NULL)")
		for i := 1; i <= 12; i++ {
			myExec(t, s.my, fmt.Sprintf("INSERT INTO %s.pay VALUES (%d, %d, %d)", db, i, i%3+1, i*10),
				fmt.Sprintf("INSERT INTO %s.cust VALUES (%d, 'c%d@x')", db, i, i))
		}
		dir := t.TempDir()
		file := filepath.Join(dir, "t.etl")
		head := fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);\nCREATE SINK dw INTO clickhouse '%s';\nCREATE SINK wh INTO clickhouse '%s';\n",
			myDSN, testServerID(), s.chDSN, s.chDSN)
		for _, c := range []struct {
			name, a, b, want string
		}{
			{"other key", "TRANSFORM payment_id, amount INTO clickhouse dw." + db + ".t MODE upsert",
				"TRANSFORM customer_id, email INTO clickhouse dw." + db + ".t MODE upsert",
				"pipeline b writes into clickhouse dw." + db + ".t, which pipeline a (line 4) writes as well: an upsert table has one key, its ORDER BY, and keeps one row per value of it: KEY (payment_id) for pipeline a, (customer_id) for b"},
			{"other sink", "TRANSFORM payment_id, amount INTO clickhouse dw." + db + ".t MODE upsert",
				"TRANSFORM customer_id, email INTO clickhouse wh." + db + ".t MODE upsert",
				"pipeline b writes into clickhouse wh." + db + ".t, which pipeline a (line 4) writes as well (sink wh reaches the server of sink dw)"},
			{"upsert and append", "TRANSFORM payment_id, amount INTO clickhouse dw." + db + ".t MODE upsert",
				"TRANSFORM customer_id, email INTO clickhouse dw." + db + ".t MODE append",
				"pipeline a is MODE upsert and b MODE append, and a table has one engine"},
		} {
			writeFile(t, file, head+"CREATE PIPELINE a FROM binlog s."+db+".pay "+c.a+";\nCREATE PIPELINE b FROM binlog s."+db+".cust "+c.b+";\n")
			state := filepath.Join(dir, "state-"+strings.ReplaceAll(c.name, " ", "-"))
			for _, args := range [][]string{{"check", "--state-dir", state}, {"plan"}, {"apply", "--once", "--progress", "never", "--state-dir", state}} {
				out, err := runEtlq(t, append(args, file)...)
				at := file + ":5:"
				if err == nil || !strings.Contains(out, c.want) || !strings.Contains(out, at) || !strings.Contains(out, "write pipeline b INTO a table of its own") || !strings.Contains(out, "^") {
					t.Errorf("%s, %s: want it refused at %s with %q and a caret, got %v:\n%s", c.name, args[0], at, c.want, err, out)
				}
			}
			if n := chRows(t, s.ch, "SELECT toString(count()) FROM system.tables WHERE database = '"+db+"' AND name = 't'"); n[0] != "0" {
				t.Errorf("%s: apply made the table %s.t although it refused the file", c.name, db)
			}
		}

		// What is right to share stays: two append pipelines into one
		// table (every row kept), two upsert pipelines of one KEY.
		writeFile(t, file, head+
			"CREATE PIPELINE a FROM binlog s."+db+".pay TRANSFORM _table, payment_id AS id INTO clickhouse dw."+db+".log MODE append;\n"+
			"CREATE PIPELINE b FROM binlog s."+db+".cust TRANSFORM _table, customer_id AS id INTO clickhouse wh."+db+".log MODE append;\n"+
			"CREATE PIPELINE c FROM binlog s."+db+".pay TRANSFORM _table, payment_id AS id, amount INTO clickhouse dw."+db+".live KEY (_table, id);\n"+
			"CREATE PIPELINE d FROM binlog s."+db+".cust TRANSFORM _table, customer_id AS id, email INTO clickhouse wh."+db+".live KEY (_table, id);\n")
		state := filepath.Join(dir, "state-ok")
		mustEtlq(t, "check", "--state-dir", state, file)
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		diffRows(t, []string{"cust|12", "pay|12"}, chRows(t, s.ch, "SELECT _table, toString(count()) FROM "+db+".log GROUP BY _table ORDER BY _table"))
		diffRows(t, []string{"cust|12", "pay|12"}, chRows(t, s.ch, "SELECT _table, toString(count()) FROM "+db+".live_current GROUP BY _table ORDER BY _table"))
	})
}

// TestSinkRenamedIsTheSameTarget: CREATE SINK dw renamed wh in the file
// (the same DSN, the same INTO database.table) is the same target. It
// was taken for a new one: check said "writes into another target …
// the new one, which has none of the rows written so far", and apply
// read the tables into it again — an append table got every row twice
// (10 → 20, a new-user trial). check now notes the rename alone, apply
// reads nothing again, and the rows are what they were, also from a
// state directory of an older etlq, which kept the sink's name only.
func TestSinkRenamedIsTheSameTarget(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db := s.db
		myExec(t, s.my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".o (id INT PRIMARY KEY, amount INT NOT NULL)")
		for i := 1; i <= 10; i++ {
			myExec(t, s.my, fmt.Sprintf("INSERT INTO %s.o VALUES (%d, %d)", db, i, i))
		}
		dir := t.TempDir()
		file := filepath.Join(dir, "o.etl")
		id := testServerID()
		etl := func(sink, sfx string) string {
			return fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);\nCREATE SINK %s INTO clickhouse '%s';\n", myDSN, id, sink, s.chDSN) +
				fmt.Sprintf("CREATE PIPELINE app FROM binlog s.%s.o TRANSFORM id, amount INTO clickhouse %s.%s.o_app%s MODE append;\n", db, sink, db, sfx) +
				fmt.Sprintf("CREATE PIPELINE up FROM binlog s.%s.o TRANSFORM id, amount INTO clickhouse %s.%s.o_up%s;\n", db, sink, db, sfx)
		}
		for _, older := range []bool{false, true} {
			sfx := map[bool]string{false: "", true: "_older"}[older]
			count := func() int {
				return atoi(t, chRows(t, s.ch, "SELECT toString(count()) FROM "+db+".o_app"+sfx)[0])
			}
			state := filepath.Join(dir, "state"+sfx)
			writeFile(t, file, etl("dw", sfx))
			mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
			if older {
				// As an older etlq kept the targets: the sink's name, no
				// server.
				writeFile(t, filepath.Join(state, "targets-s.json"), fmt.Sprintf(`{"app": "clickhouse dw %s.o_app%s", "up": "clickhouse dw %s.o_up%s"}`, db, sfx, db, sfx))
			}
			before := count()
			myExec(t, s.my, "UPDATE "+db+".o SET amount = amount + 1 WHERE id = 1")

			writeFile(t, file, etl("wh", sfx))
			out := mustEtlq(t, "check", "--state-dir", state, file)
			if strings.Contains(out, "writes into another target") || !strings.Contains(out, "pipeline app writes through a sink named otherwise since the last run (clickhouse wh "+db+".o_app"+sfx+", was clickhouse dw "+db+".o_app"+sfx+"): the same server and table") {
				t.Errorf("older state %v: check: want the rename noted as the same target, not another one, got:\n%s", older, out)
			}
			out = mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
			if strings.Contains(out, "another target") || strings.Contains(out, "resnapshot requested") {
				t.Errorf("older state %v: apply took the renamed sink for another target:\n%s", older, out)
			}
			// The update's row alone is new: nothing was read again.
			if got := count(); got != before+1 {
				t.Errorf("older state %v: %s.o_app%s has %d rows after the sink's rename, want %d (%d and the update's): the rows were read again", older, db, sfx, got, before+1, before)
			}
			diffRows(t, myRows(t, s.my, "SELECT id, amount FROM "+db+".o ORDER BY id"),
				chRows(t, s.ch, "SELECT toString(id), toString(amount) FROM "+db+".o_up"+sfx+"_current ORDER BY id"))
			if data, err := os.ReadFile(filepath.Join(state, "targets-s.json")); err != nil || !strings.Contains(string(data), `"at"`) {
				t.Errorf("older state %v: the state directory does not keep where the targets are: %v\n%s", older, err, data)
			}
		}
	})
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return n
}

// TestIntoMovedOntoAnotherPipelinesTable: a pipeline whose INTO was
// edited onto the table another pipeline of the file writes, as right
// sharing (upsert, the same KEY (_table, id)). check warned that the
// table "lacks column(s) … apply adds them" and said ok; apply then
// stopped the pipeline with "the table lacks column(s) email … dropped
// outside etlq … re-snapshot the table" (a new-user trial). The moved
// pipeline's output columns are new to that table, not dropped: apply
// adds them and reads the pipeline's table into it, next to the other
// pipeline's rows. Edited onto it with another key, check refuses it.
func TestIntoMovedOntoAnotherPipelinesTable(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db := s.db
		myExec(t, s.my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".pay (payment_id INT PRIMARY KEY, amount INT NOT NULL)",
			"CREATE TABLE "+db+".cust (customer_id INT PRIMARY KEY, email VARCHAR(20) NOT NULL)")
		for i := 1; i <= 8; i++ {
			myExec(t, s.my, fmt.Sprintf("INSERT INTO %s.pay VALUES (%d, %d)", db, i, i*10),
				fmt.Sprintf("INSERT INTO %s.cust VALUES (%d, 'c%d@x')", db, i, i))
		}
		dir := t.TempDir()
		file, state := filepath.Join(dir, "t.etl"), filepath.Join(dir, "state")
		etl := func(bTable, bKey string) string {
			return fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);\nCREATE SINK dw INTO clickhouse '%s';\n", myDSN, testServerID(), s.chDSN) +
				"CREATE PIPELINE a FROM binlog s." + db + ".pay TRANSFORM _table, payment_id AS id, amount INTO clickhouse dw." + db + ".t KEY (_table, id);\n" +
				"CREATE PIPELINE b FROM binlog s." + db + ".cust TRANSFORM _table, customer_id AS id, email INTO clickhouse dw." + db + "." + bTable + " KEY " + bKey + ";\n"
		}
		writeFile(t, file, etl("t2", "(_table, id)"))
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)

		writeFile(t, file, etl("t", "(id)"))
		if out, err := runEtlq(t, "check", "--state-dir", state, file); err == nil || !strings.Contains(out, file+":4:") || !strings.Contains(out, "KEY (_table, id) for pipeline a, (id) for b") {
			t.Errorf("check: want b's INTO onto a's table with another key refused at its INTO, got %v:\n%s", err, out)
		}
		writeFile(t, file, etl("t", "(_table, id)"))
		out := mustEtlq(t, "check", "--state-dir", state, file)
		if !strings.Contains(out, "note: pipeline b writes into another target since the last run (clickhouse dw "+db+".t, was clickhouse dw "+db+".t2): apply reads its tables in full into the new one") {
			t.Errorf("check: want the note that b moved, got:\n%s", out)
		}
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		// (A column one pipeline does not write holds its default for
		// the other's rows: amount is NOT NULL, email added for b.)
		want := append(myRows(t, s.my, "SELECT 'cust', customer_id, 0, email FROM "+db+".cust ORDER BY customer_id"),
			myRows(t, s.my, "SELECT 'pay', payment_id, amount, '' FROM "+db+".pay ORDER BY payment_id")...)
		diffRows(t, want, chRows(t, s.ch, "SELECT _table, toString(id), toString(amount), ifNull(email, '') FROM "+db+".t_current ORDER BY _table, id"))
	})
}
