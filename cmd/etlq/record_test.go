package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestRecordThenTest: `etlq record` captures real binlog changes of a
// table (types that need care: DECIMAL, DATETIME(6), ENUM, JSON, binary,
// TIME, NULL) with its schema; `etlq test` over the recording passes with
// the rows the pipeline must write from those changes, and fails with a
// wrong one.
func TestRecordThenTest(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		db := testenv.UniqueName(t)
		my := testenv.MySQLConn(t, myDSN)
		t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT UNSIGNED PRIMARY KEY, s ENUM('new','paid') NOT NULL, amt DECIMAL(10,2),"+
				" at DATETIME(6), j JSON, b VARBINARY(8), tm TIME)")
		dir := t.TempDir()
		out := filepath.Join(dir, "fx", "rec.json")
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		// A pipeline over the recording: what it must write is known from
		// the changes made above.
		etl := filepath.Join(dir, "p.etl")
		src := fmt.Sprintf("CREATE SOURCE src FROM mysql '%s';\n"+
			"CREATE PIPELINE p FROM binlog src.%s.t SNAPSHOT never WHERE amt > 1\n"+
			"  TRANSFORM id, s, amt * 2 AS dbl, json_value(j, '$.channel') AS channel, at, b, tm, _op, before.s AS was\n"+
			"  INTO stdout FORMAT jsonl;\n", myDSN, db)
		if err := os.WriteFile(etl, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		recordChanges(t, []string{"--source", myDSN, "--table", db + ".t", "--limit", "4", "-o", out, "--file", etl}, func() {
			myExec(t, my,
				"INSERT INTO "+db+".t VALUES (1, 'new', 12.50, '2024-01-02 03:04:05.123456', '{\"channel\": \"web\"}', 0x00ff, '-01:02:03')",
				"INSERT INTO "+db+".t VALUES (2, 'new', 0.50, NULL, NULL, NULL, NULL)",
				"UPDATE "+db+".t SET s = 'paid', amt = 99.99 WHERE id = 1",
				"DELETE FROM "+db+".t WHERE id = 2")
		})

		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var fx map[string]any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&fx); err != nil {
			t.Fatal(err)
		}
		changes := fx["changes"].([]any)
		var ops []string
		for _, c := range changes {
			ops = append(ops, c.(map[string]any)["op"].(string))
		}
		if strings.Join(ops, ",") != "insert,insert,update,delete" {
			t.Fatalf("recorded ops %v:\n%s", ops, data)
		}
		first := changes[0].(map[string]any)["after"].(map[string]any)
		for k, want := range map[string]string{"amt": "12.50", "at": "2024-01-02 03:04:05.123456", "b": "AP8=", "tm": "-01:02:03", "s": "new"} {
			if got := fmt.Sprint(first[k]); got != want {
				t.Errorf("recorded %s = %q, want %q", k, got, want)
			}
		}
		upd := changes[2].(map[string]any)
		if fmt.Sprint(upd["before"].(map[string]any)["s"]) != "new" || fmt.Sprint(upd["after"].(map[string]any)["amt"]) != "99.99" {
			t.Errorf("recorded update %v", upd)
		}

		row := func(s, dbl, was any, op string) map[string]any {
			return map[string]any{"id": 1, "s": s, "dbl": dbl, "channel": "web", "at": "2024-01-02 03:04:05.123456",
				"b": "AP8=", "tm": "-01:02:03", "_op": op, "was": was}
		}
		expect := func(rows ...any) {
			fx["expect"] = map[string]any{"p": rows}
			b, _ := json.MarshalIndent(fx, "", "  ")
			if err := os.WriteFile(out, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		// --file filled the expected rows with what the pipeline writes.
		got, _ := json.Marshal(fx["expect"])
		want, _ := json.Marshal(map[string]any{"p": []any{
			map[string]any{"id": "1", "s": "new", "dbl": "25.00", "channel": "web", "at": "2024-01-02 03:04:05.123456", "b": "AP8=", "tm": "-01:02:03", "_op": "insert", "was": nil, "__op": "insert", "__deleted": "0"},
			map[string]any{"id": "1", "s": "paid", "dbl": "199.98", "channel": "web", "at": "2024-01-02 03:04:05.123456", "b": "AP8=", "tm": "-01:02:03", "_op": "update", "was": "new", "__op": "update", "__deleted": "0"},
		}})
		if string(got) != string(want) {
			t.Errorf("record --file filled\n%s\nwant\n%s", got, want)
		}
		if o := mustEtlqEnv(t, noDemoEnv(), "test", etl, "--fixtures", filepath.Dir(out)); !strings.Contains(o, "1 passed, 0 failed") {
			t.Fatalf("etlq test over the recording as written:\n%s", o)
		}

		expect(row("new", 25, nil, "insert"), row("paid", "199.98", "new", "update"))
		if o := mustEtlqEnv(t, noDemoEnv(), "test", etl, "--fixtures", filepath.Dir(out)); !strings.Contains(o, "1 passed, 0 failed") {
			t.Fatalf("etlq test:\n%s", o)
		}
		expect(row("new", 25, nil, "insert"), row("paid", "199.99", "new", "update"))
		failingTest(t, []string{"pipeline p: row 2 (id = 1) differs:", `dbl: want "199.99", got "199.98"`}, etl, "--fixtures", filepath.Dir(out))
	})
}

// TestRecordFileCheckedFirst: `etlq record --file` plans the file against
// the recorded table before it records, so a file it cannot be planned
// against (here a pipeline of the table naming a column it lacks; then a
// file with no pipeline of the table) fails at once, naming the problem.
// It used to record first — waiting for --limit changes or Ctrl-C — and
// then fail without writing the changes it had recorded.
func TestRecordFileCheckedFirst(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		db := testenv.UniqueName(t)
		my := testenv.MySQLConn(t, myDSN)
		t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
		myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT)", "CREATE TABLE "+db+".u (id INT PRIMARY KEY)")
		dir := t.TempDir()
		etl, out := filepath.Join(dir, "p.etl"), filepath.Join(dir, "rec.json")
		for _, c := range []struct{ pipelines, want string }{
			{fmt.Sprintf("CREATE PIPELINE p FROM binlog %s.t INTO stdout;\n"+
				"CREATE PIPELINE q FROM binlog %s.t TRANSFORM id, nosuch INTO stdout;\n", db, db),
				"--file is planned against " + db + ".t alone"},
			{fmt.Sprintf("CREATE PIPELINE q FROM binlog %s.u INTO stdout;\n", db),
				"no pipeline of it reads " + db + ".t alone, so the recording would test none (pipeline q reads " + db + ".u)"},
		} {
			writeFile(t, etl, fmt.Sprintf("CREATE SOURCE src FROM mysql '%s';\n", myDSN)+c.pipelines)
			// No change is made: the error must come before any is waited for.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			b, err := exec.CommandContext(ctx, etlqBin, "record", "--source", myDSN, "--table", db+".t", "--limit", "1", "-o", out, "--file", etl).CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("record --file with a file it cannot plan waited for changes:\n%s", b)
			}
			cancel()
			if err == nil || !strings.Contains(string(b), c.want) {
				t.Fatalf("record --file: %v, want an error containing %q\n%s", err, c.want, b)
			}
			if strings.Contains(string(b), "recording changes") {
				t.Fatalf("record started recording before it checked --file:\n%s", b)
			}
		}
	})
}

// TestRecordOneTableOfFile: a recording of one table fills and tests the
// pipelines of a file over several that read that table; the others are
// left out and said so, by record and by test. Record refused such a
// file (no table matches …), and etlq test refused a fixture without
// every table of the file, so a one-table recording could not test a
// multi-table file without the other schemas added by hand (trial).
func TestRecordOneTableOfFile(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		db := testenv.UniqueName(t)
		my := testenv.MySQLConn(t, myDSN)
		t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
		myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT)", "CREATE TABLE "+db+".u (id INT PRIMARY KEY)")
		dir := t.TempDir()
		etl, out := filepath.Join(dir, "p.etl"), filepath.Join(dir, "fx", "rec.json")
		writeFile(t, etl, fmt.Sprintf("CREATE SOURCE src FROM mysql '%s';\n"+
			"CREATE PIPELINE p FROM binlog %s.t SNAPSHOT never TRANSFORM id, v * 2 AS v2 INTO stdout;\n"+
			"CREATE PIPELINE q FROM binlog %s.u SNAPSHOT never INTO stdout;\n"+
			"CREATE PIPELINE tu FROM binlog %s.t, %s.u SNAPSHOT never TRANSFORM id INTO stdout;\n", myDSN, db, db, db, db))
		log := recordChanges(t, []string{"--source", myDSN, "--table", db + ".t", "--limit", "1", "-o", out, "--file", etl}, func() {
			myExec(t, my, "INSERT INTO "+db+".t VALUES (1, 21)")
		})
		for _, want := range []string{"pipeline q: left out of the recording's expect (it reads " + db + ".u, not recorded)",
			"pipeline tu: left out of the recording's expect (it reads " + db + ".u, not recorded)"} {
			if !strings.Contains(log, want) {
				t.Errorf("record's output lacks %q:\n%s", want, log)
			}
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var fx struct {
			Expect map[string][]map[string]any `json:"expect"`
		}
		if err := json.Unmarshal(data, &fx); err != nil {
			t.Fatal(err)
		}
		if got, _ := json.Marshal(fx.Expect); string(got) != `{"p":[{"__deleted":"0","__op":"insert","id":"1","v2":"42"}]}` {
			t.Errorf("record --file filled expect %s", got)
		}
		o := mustEtlqEnv(t, noDemoEnv(), "test", etl, "--fixtures", filepath.Dir(out))
		for _, want := range []string{"ok    ", "pipeline q: not tested by fixture rec.json (it has no table " + db + ".u)",
			"pipeline tu: not tested by fixture rec.json (it has no table " + db + ".u)", "1 passed, 0 failed",
			"pipeline q: tested by no fixture", "pipeline tu: tested by no fixture"} {
			if !strings.Contains(o, want) {
				t.Errorf("etlq test's output lacks %q:\n%s", want, o)
			}
		}
		// The test is a real one: a wrong row of p fails it.
		writeFile(t, out, strings.Replace(string(data), `"v2": "42"`, `"v2": "43"`, 1))
		failingTest(t, []string{"pipeline p: row 1 (id = 1) differs:", `v2: want "43", got "42"`}, etl, "--fixtures", filepath.Dir(out))
	})
}

// TestRecordOutputInNewDirectory: `etlq record -o DIR/rec.json` where DIR
// does not exist yet (testdata/<file>/, where `etlq test` looks for
// fixtures, in a new project) writes the recording there. It used to wait
// for the changes and then fail to create the file, losing every recorded
// change (new-user trial). A location that cannot be written is said
// before any change is waited for.
func TestRecordOutputInNewDirectory(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		db := testenv.UniqueName(t)
		my := testenv.MySQLConn(t, myDSN)
		t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
		myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT)")
		dir := t.TempDir()
		out := filepath.Join(dir, "testdata", "p", "rec.json")
		recordChanges(t, []string{"--source", myDSN, "--table", db + ".t", "--limit", "1", "-o", out}, func() {
			myExec(t, my, "INSERT INTO "+db+".t VALUES (1, 2)")
		})
		data, err := os.ReadFile(out)
		if err != nil || !strings.Contains(string(data), `"op": "insert"`) {
			t.Fatalf("recording: %v\n%s", err, data)
		}
		if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 1 {
			t.Fatalf("the directory holds %d files, want the recording alone", len(ents))
		}

		// A location that cannot be written (a file stands where the
		// directory should be) fails at once, before recording.
		writeFile(t, filepath.Join(dir, "plain"), "x")
		ctx2, cancel2 := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel2()
		b, err := exec.CommandContext(ctx2, etlqBin, "record", "--source", myDSN, "--table", db+".t", "--limit", "1", "-o", filepath.Join(dir, "plain", "rec.json")).CombinedOutput()
		if ctx2.Err() != nil {
			t.Fatalf("record -o into an unwritable place waited for changes:\n%s", b)
		}
		if err == nil || strings.Contains(string(b), "recording changes") || !strings.Contains(string(b), "plain") {
			t.Fatalf("record -o into an unwritable place: %v\n%s", err, b)
		}
	})
}

// TestRecordEnumMemberCase: `etlq record` writes an ENUM's and a SET's
// column type with its members as MySQL has them ('G','PG-13', not
// 'g','pg-13'), and `etlq test` over that recording passes. It wrote the
// lower-cased type (new-user trial: sakila.film's rating).
func TestRecordEnumMemberCase(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		db := testenv.UniqueName(t)
		my := testenv.MySQLConn(t, myDSN)
		t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, rating ENUM('G','PG-13','NC-17') NOT NULL, f SET('Trailers','Deleted Scenes'))")
		dir := t.TempDir()
		out := filepath.Join(dir, "fx", "rec.json")
		etl := filepath.Join(dir, "p.etl")
		writeFile(t, etl, fmt.Sprintf("CREATE SOURCE src FROM mysql '%s';\n"+
			"CREATE PIPELINE p FROM binlog src.%s.t SNAPSHOT never WHERE rating <> 'G'\n"+
			"  TRANSFORM id, rating, f INTO stdout FORMAT jsonl;\n", myDSN, db))
		recordChanges(t, []string{"--source", myDSN, "--table", db + ".t", "--limit", "2", "-o", out, "--file", etl}, func() {
			myExec(t, my, "INSERT INTO "+db+".t VALUES (1, 'PG-13', 'Trailers,Deleted Scenes')",
				"INSERT INTO "+db+".t VALUES (2, 'G', NULL)")
		})
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var fx struct {
			Tables []struct {
				Columns []struct{ Name, Type string }
			}
			Expect map[string][]map[string]any
		}
		if err := json.Unmarshal(data, &fx); err != nil {
			t.Fatal(err)
		}
		types := map[string]string{}
		for _, c := range fx.Tables[0].Columns {
			types[c.Name] = c.Type
		}
		if types["rating"] != "enum('G','PG-13','NC-17')" || types["f"] != "set('Trailers','Deleted Scenes')" {
			t.Errorf("recorded column types %v, want the members' case kept:\n%s", types, data)
		}
		if rows := fx.Expect["p"]; len(rows) != 1 || rows[0]["rating"] != "PG-13" || rows[0]["f"] != "Trailers,Deleted Scenes" {
			t.Errorf("record --file filled %v", fx.Expect)
		}
		if o := mustEtlqEnv(t, noDemoEnv(), "test", etl, "--fixtures", filepath.Dir(out)); !strings.Contains(o, "1 passed, 0 failed") {
			t.Fatalf("etlq test over the recording:\n%s", o)
		}
	})
}

// recordChanges runs etlq record with args, makes the changes with write
// once record follows the binlog, and waits for it to end (its --limit
// reached), failing the test with its log when it fails; it returns what
// record said on standard error.
func recordChanges(t *testing.T, args []string, write func()) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, etlqBin, append([]string{"record"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Changes are written once record follows the binlog.
	sc := bufio.NewScanner(stderr)
	var log bytes.Buffer
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "recording changes of") {
			break
		}
	}
	write()
	for sc.Scan() {
		log.WriteString(sc.Text() + "\n")
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("etlq record %s: %v\n%s", strings.Join(args, " "), err, log.String())
	}
	return log.String()
}

// TestRecordFileClickHouseVersion: `etlq record --file` fills the
// expected rows for the ClickHouse the file's sink runs, and writes its
// version into the fixture, so that `etlq test` judges the recording as
// apply would. It used the newest ClickHouse: on 18.16 (the shared
// server) a date of 2200 is outside Date and stops the pipeline, but the
// recording expected the row written (new-user trial: a recording of
// Sakila against 18.16 expected another failure than the one apply met).
// On both servers.
func TestRecordFileClickHouseVersion(t *testing.T) {
	t.Parallel()
	chDSN := testenv.ClickHouseDSN(t)
	ch := testenv.ClickHouseConn(t, chDSN)
	version := testenv.ClickHouseQuery(t, ch, "SELECT version()")[0][0]
	onBothServers(t, func(t *testing.T, myDSN string) {
		db := testenv.UniqueName(t)
		my := testenv.MySQLConn(t, myDSN)
		t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
		myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, d DATE NOT NULL)")
		dir := t.TempDir()
		etl, out := filepath.Join(dir, "p.etl"), filepath.Join(dir, "fx", "rec.json")
		writeFile(t, etl, fmt.Sprintf("CREATE SOURCE src FROM mysql '%s';\nCREATE SINK dw INTO clickhouse '%s';\n"+
			"CREATE PIPELINE p FROM binlog %s.t TRANSFORM id, d INTO clickhouse dw.%s.t;\n", myDSN, chDSN, db, db))
		recordChanges(t, []string{"--source", myDSN, "--table", db + ".t", "--limit", "1", "-o", out, "--file", etl}, func() {
			myExec(t, my, "INSERT INTO "+db+".t VALUES (1, '2200-01-01')")
		})
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var f struct {
			ClickHouseVersion string           `json:"clickhouse_version"`
			Expect            map[string][]any `json:"expect"`
			ExpectError       string           `json:"expect_error"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			t.Fatal(err)
		}
		if f.ClickHouseVersion != version {
			t.Errorf("clickhouse_version %q, want the sink's %q:\n%s", f.ClickHouseVersion, version, data)
		}
		if strings.HasPrefix(version, "18.") && (len(f.Expect["p"]) != 0 || !strings.Contains(f.ExpectError, `column "d" = '2200-01-01'`)) {
			t.Errorf("on ClickHouse %s a date of 2200 stops the pipeline; the recording says otherwise:\n%s", version, data)
		}
		if b, err := exec.Command(etlqBin, "test", etl, "--fixtures", filepath.Dir(out)).CombinedOutput(); err != nil {
			t.Errorf("etlq test of the recording: %v\n%s", err, b)
		}
	})
}
