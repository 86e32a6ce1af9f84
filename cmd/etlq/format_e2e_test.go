package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	nethttp "net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
	"github.com/go-mysql-org/go-mysql/client"
)

// fmtDB is a test's own MariaDB (and ClickHouse) database, fmt_<test name>,
// dropped when the test ends.
func fmtDB(t *testing.T) string {
	return "fmt_" + testenv.UniqueName(t)
}

// writeEtl writes an .etl file into dir and returns its path.
func writeEtl(t *testing.T, dir, src string) string {
	t.Helper()
	file := filepath.Join(dir, "p.etl")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// readLines returns the non-empty lines of a file.
func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// TestCanalJSONSourceTypes: canal_json's mysqlType names each column by the
// source's COLUMN_TYPE, as canal does ("varchar(64)", "int(11)",
// "decimal(12,2)"), and sqlType gives canal's java.sql.Types code for it;
// a computed column has a type derived from its Arrow type. (Every string
// column used to be "text"/2005 and every integer "int", whatever the
// source said.)
func TestCanalJSONSourceTypes(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	db := fmtDB(t)
	my := testenv.MySQLConn(t, myDSN)
	t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".o (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, code CHAR(3), amount DECIMAL(12,2), qty INT UNSIGNED, "+
			"big BIGINT, created DATETIME(6), paid TIMESTAMP(3) NULL, day DATE, note TEXT, raw VARBINARY(16), st ENUM('new','paid'), tags SET('a','b'), yr YEAR)",
		"INSERT INTO "+db+".o VALUES (1, 'Ann', 'abc', 2000.00, 7, 5, '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123', '2024-01-02', 'n', 'xy', 'paid', 'a,b', 2024)")
	colType := map[string]string{}
	for _, r := range myRows(t, my, "SELECT column_name, column_type FROM information_schema.columns WHERE table_schema = '"+db+"'") {
		k, v, _ := strings.Cut(r, "|")
		colType[k] = strings.ToLower(v)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "out.json")
	file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = 7311);
CREATE PIPELINE p FROM binlog s.%s.o SNAPSHOT initial
  TRANSFORM *, amount * 2 AS dbl, lower(name) AS lname, id + 1 AS nxt, _op
  INTO file '%s' FORMAT canal_json;
`, myDSN, db, out))
	mustEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "state"), "--progress", "never", file)
	lines := readLines(t, out)
	if len(lines) != 1 {
		t.Fatalf("want 1 message, got %d:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	var msg struct {
		MySQLType map[string]string `json:"mysqlType"`
		SQLType   map[string]int    `json:"sqlType"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &msg); err != nil {
		t.Fatal(err)
	}
	// java.sql.Types, as canal gives them for each column type.
	sqlType := map[string]int{"id": 4, "name": 12, "code": 1, "amount": 3, "qty": -5, "big": -5, "created": 93, "paid": 93,
		"day": 91, "note": 2005, "raw": 2004, "st": 4, "tags": -7, "yr": 12}
	for col, code := range sqlType {
		if msg.MySQLType[col] != colType[col] {
			t.Errorf("mysqlType of %s: got %q, want the source's %q", col, msg.MySQLType[col], colType[col])
		}
		if msg.SQLType[col] != code {
			t.Errorf("sqlType of %s (%s): got %d, want %d", col, colType[col], msg.SQLType[col], code)
		}
	}
	// Computed columns: from their type.
	for col, want := range map[string]string{"dbl": "decimal(13,2)", "lname": "text", "nxt": "bigint", "_op": "text"} {
		if msg.MySQLType[col] != want {
			t.Errorf("mysqlType of computed %s: got %q, want %q", col, msg.MySQLType[col], want)
		}
	}
	for col, want := range map[string]int{"dbl": 3, "lname": 2005, "nxt": -5, "_op": 2005} {
		if msg.SQLType[col] != want {
			t.Errorf("sqlType of computed %s: got %d, want %d", col, msg.SQLType[col], want)
		}
	}
}

// TestDecimalsKeepTheirScale: a DECIMAL(12,2) 2000.00 is "2000.00" wherever
// etlq writes a value as text: the dead-letter file (it used to say "2000",
// and write times as "-3723250000us"), the message of a row error naming a
// decimal key, and every stream format.
func TestDecimalsKeepTheirScale(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	db := fmtDB(t)
	my := testenv.MySQLConn(t, myDSN)
	t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".o (id INT PRIMARY KEY, amount DECIMAL(12,2), big DECIMAL(12,2), at DATETIME(6), tm TIME(3))",
		"INSERT INTO "+db+".o VALUES (1, 2000.00, 1000000.00, '2024-01-02 03:04:05.500000', '-01:02:03.250'), (2, 5.10, 0.50, '2024-01-02 00:00:00', '00:00:01')",
		"CREATE TABLE "+db+".k (k DECIMAL(6,2) PRIMARY KEY, qty VARCHAR(10))",
		"INSERT INTO "+db+".k VALUES (10.50, 'x7')")
	dir := t.TempDir()
	var pipes strings.Builder
	fmt.Fprintf(&pipes, "CREATE SOURCE s FROM mysql '%s' WITH (server_id = 7312);\n", myDSN)
	fmt.Fprintf(&pipes, `CREATE PIPELINE checked FROM binlog s.%s.o SNAPSHOT initial
  WHERE assert(amount < 1000, 'amount too big')
  TRANSFORM id, amount INTO file '%s' FORMAT jsonl WITH (on_error = 'dead_letter');
`, db, filepath.Join(dir, "checked.jsonl"))
	formats := []string{"jsonl", "csv", "table", "canal_json", "debezium_json"}
	for _, f := range formats {
		fmt.Fprintf(&pipes, "CREATE PIPELINE p_%s FROM binlog s.%s.o SNAPSHOT initial INTO file '%s' FORMAT %s;\n", f, db, filepath.Join(dir, "out."+f), f)
	}
	state := filepath.Join(dir, "state")
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", writeEtl(t, dir, pipes.String()))

	lines := readLines(t, filepath.Join(state, "deadletter", "checked.jsonl"))
	if len(lines) != 1 {
		t.Fatalf("want 1 dead letter, got %d:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	var dl struct {
		Reason string
		Row    map[string]string
	}
	if err := json.Unmarshal([]byte(lines[0]), &dl); err != nil {
		t.Fatal(err)
	}
	for col, want := range map[string]string{"id": "1", "amount": "2000.00", "big": "1000000.00", "at": "2024-01-02 03:04:05.500000", "tm": "-01:02:03.250"} { // as csv writes them: a TIME(3) with 3 digits
		if dl.Row[col] != want {
			t.Errorf("dead letter %s = %q, want %q (reason %q)", col, dl.Row[col], want, dl.Reason)
		}
	}
	for _, f := range formats {
		b, err := os.ReadFile(filepath.Join(dir, "out."+f))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"2000.00", "1000000.00", "5.10", "0.50"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("%s output lacks %s:\n%s", f, want, b)
			}
		}
	}

	// A row error names the row by its key, with the key's scale.
	file := writeEtl(t, dir, fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = 7313);\nCREATE PIPELINE p FROM binlog s.%s.k SNAPSHOT initial TRANSFORM k, CAST(qty AS INT64) AS qty INTO stdout FORMAT jsonl;\n", myDSN, db))
	out, err := runEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "state2"), "--progress", "never", file)
	if err == nil || !strings.Contains(out, "k = 10.50)") {
		t.Errorf("want a failure naming the row k = 10.50, got %v:\n%s", err, out)
	}
}

// TestChangelogBeforeColumns: a changelog table keeps the old values of the
// outputs computed from the source columns (_before_<name>), and nothing
// else: no before copies of the metadata columns (_before__version,
// _before__pos, …) nor of an output that already is an old value
// (before.amount AS old_amount used to give _before_old_amount).
func TestChangelogBeforeColumns(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	chDSN := testenv.ClickHouseDSN(t)
	db := fmtDB(t)
	my := testenv.MySQLConn(t, myDSN)
	ch := testenv.ClickHouseConn(t, chDSN)
	t.Cleanup(func() {
		my.Execute("DROP DATABASE IF EXISTS " + db)
		ch.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
	})
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".orders (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2))",
		"INSERT INTO "+db+".orders VALUES (1, 'new', 10.00), (2, 'new', 20.00)")
	dir := t.TempDir()
	file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = 7314);
CREATE SINK dw INTO clickhouse '%s';
CREATE PIPELINE audit FROM binlog s.%s.orders SNAPSHOT never
  TRANSFORM id, upper(status) AS status, amount * 100 AS cents, before.amount AS old_amount,
    amount - before.amount AS delta, _op, _ts, _pos, _version
  INTO clickhouse dw.%s.audit MODE changelog;
`, myDSN, chDSN, db, db))
	state := filepath.Join(dir, "state")
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	myExec(t, my, "UPDATE "+db+".orders SET status = 'paid', amount = 12.50 WHERE id = 1", "DELETE FROM "+db+".orders WHERE id = 2")
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)

	cols := chRows(t, ch, "SELECT name FROM system.columns WHERE database = '"+db+"' AND table = 'audit' AND name LIKE '\\_before%'")
	if got, want := strings.Join(cols, ","), "_before_id,_before_status,_before_cents"; got != want {
		t.Errorf("before columns: got %s, want %s", got, want)
	}
	rows := chRows(t, ch, "SELECT _op, toString(id), status, toString(cents), ifNull(toString(_before_cents), 'NULL'), ifNull(_before_status, 'NULL'), ifNull(toString(old_amount), 'NULL') FROM "+db+".audit ORDER BY _version")
	if got, want := strings.Join(rows, "\n"), "update|1|PAID|1250.00|1000.00|NEW|10.00\ndelete|2|NEW|2000.00|NULL|NULL|NULL"; got != want {
		t.Errorf("changelog rows:\n%s\nwant:\n%s", got, want)
	}
}

// TestDebeziumSourceFields compares debezium_json with what Debezium's MySQL
// connector (2.x) writes: the first snapshot record says snapshot "first",
// the last "last"; a binlog
// record carries the id of the server that wrote it and its transaction's
// GTID (MariaDB always logs one); BIT(1) is a boolean and BIT(10) its bits
// as little-endian bytes, base64.
func TestDebeziumSourceFields(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	db := fmtDB(t)
	my := testenv.MySQLConn(t, myDSN)
	t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".o (id INT PRIMARY KEY, flag BIT(1), bits BIT(10))",
		"INSERT INTO "+db+".o VALUES (1, b'1', b'1000000001'), (2, b'0', b'0'), (3, NULL, NULL)")
	dir := t.TempDir()
	out := filepath.Join(dir, "out.json")
	file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = 7314);
CREATE PIPELINE p FROM binlog s.%s.o SNAPSHOT initial INTO file '%s' FORMAT debezium_json;
`, myDSN, db, out))
	state := filepath.Join(dir, "state")
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)

	type event struct {
		After  map[string]any
		Op     string
		Source struct {
			Snapshot string
			ServerID uint32 `json:"server_id"`
			GTID     *string
		}
	}
	read := func() []event {
		t.Helper()
		var evs []event
		for _, l := range readLines(t, out) {
			var e event
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatalf("%v: %s", err, l)
			}
			evs = append(evs, e)
		}
		return evs
	}
	evs := read()
	if len(evs) != 3 {
		t.Fatalf("want 3 snapshot records, got %d", len(evs))
	}
	for i, e := range evs {
		want := []string{"first", "true", "last"}[i]
		if e.Op != "r" || e.Source.Snapshot != want || e.Source.ServerID != 0 || e.Source.GTID != nil {
			t.Errorf("snapshot record %d: op %q, snapshot %q, server_id %d, gtid %v; want r, %q, 0, null", i, e.Op, e.Source.Snapshot, e.Source.ServerID, e.Source.GTID, want)
		}
	}
	byID := map[float64]map[string]any{}
	for _, e := range evs {
		byID[e.After["id"].(float64)] = e.After
	}
	// b'1000000001' little-endian in 2 bytes: 0x01 0x02.
	if r := byID[1]; r["flag"] != true || r["bits"] != "AQI=" {
		t.Errorf("row 1: flag %v, bits %v; want true, \"AQI=\"", r["flag"], r["bits"])
	}
	if r := byID[2]; r["flag"] != false || r["bits"] != "AAA=" {
		t.Errorf("row 2: flag %v, bits %v; want false, \"AAA=\"", r["flag"], r["bits"])
	}
	if r := byID[3]; r["flag"] != nil || r["bits"] != nil {
		t.Errorf("row 3: flag %v, bits %v; want null, null", r["flag"], r["bits"])
	}

	// Two tables: the first row of the table that begins second says
	// "first_in_data_collection", the last row of the first to end
	// "last_in_data_collection"; the very first row "first", the very last
	// "last".
	myExec(t, my, "CREATE TABLE "+db+".o2 (id INT PRIMARY KEY)", "INSERT INTO "+db+".o2 VALUES (1), (2)")
	out2 := filepath.Join(dir, "out2.json")
	file2 := filepath.Join(dir, "two.etl")
	if err := os.WriteFile(file2, []byte(fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = 7315);
CREATE PIPELINE p FROM binlog s.%[2]s.o, s.%[2]s.o2 SNAPSHOT only TRANSFORM id INTO file '%[3]s' FORMAT debezium_json;
`, myDSN, db, out2)), 0o644); err != nil {
		t.Fatal(err)
	}
	mustEtlq(t, "apply", "--once", "--state-dir", filepath.Join(dir, "state2"), "--progress", "never", file2)
	var marks []string
	lines := readLines(t, out2)
	for _, l := range lines {
		var e event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		marks = append(marks, e.Source.Snapshot)
	}
	count := map[string]int{}
	for _, m := range marks {
		count[m]++
	}
	if len(marks) != 5 || marks[0] != "first" || marks[4] != "last" || count["first_in_data_collection"] != 1 ||
		count["last_in_data_collection"] != 1 || count["true"] != 1 {
		t.Errorf("two tables: snapshot fields %v, want first, last at the end, one each of first_in_data_collection, last_in_data_collection and true:\n%s", marks, strings.Join(lines, "\n"))
	}

	myExec(t, my, "INSERT INTO "+db+".o VALUES (4, b'1', b'11')")
	gtid := myRows(t, my, "SELECT @@last_gtid")[0]
	serverID := myRows(t, my, "SELECT @@server_id")[0]
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	evs = read()
	if len(evs) != 4 {
		t.Fatalf("want 4 records, got %d", len(evs))
	}
	e := evs[3]
	if e.Op != "c" || e.Source.Snapshot != "false" || fmt.Sprint(e.Source.ServerID) != serverID || e.Source.GTID == nil || *e.Source.GTID != gtid {
		g := "null"
		if e.Source.GTID != nil {
			g = *e.Source.GTID
		}
		t.Errorf("binlog record: op %q, snapshot %q, server_id %d, gtid %s; want c, false, %s, %s", e.Op, e.Source.Snapshot, e.Source.ServerID, g, serverID, gtid)
	}
	// b'11' in BIT(10): 2 bytes, 0x03 0x00.
	if e.After["flag"] != true || e.After["bits"] != "AwA=" {
		t.Errorf("binlog row: flag %v, bits %v; want true, \"AwA=\"", e.After["flag"], e.After["bits"])
	}
}

// TestChangelogIntoFile: MODE changelog into a file writes the columns of a
// ClickHouse changelog table, in its order — the outputs, _op, _ts, _pos,
// _version, then _before_<output> for the outputs computed from the row
// (set for an update, NULL otherwise) — in jsonl and csv, on both servers.
// (INTO file … MODE changelog used to be an error of check.)
func TestChangelogIntoFile(t *testing.T) {
	t.Parallel()
	for i, srv := range []struct{ name, dsn string }{{"A", testenv.MySQLDSN(t)}, {"B", testenv.MySQLMinimalDSN(t)}} {
		t.Run(srv.name, func(t *testing.T) {
			db := fmtDB(t)
			my := testenv.MySQLConn(t, srv.dsn)
			t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
			myExec(t, my, "CREATE DATABASE "+db,
				"CREATE TABLE "+db+".orders (id INT PRIMARY KEY, status VARCHAR(16) NOT NULL, amount DECIMAL(12,2))")
			dir := t.TempDir()
			jsonl, csv := filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "audit.csv")
			file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE PIPELINE audit FROM binlog s.%s.orders SNAPSHOT never
  TRANSFORM id, upper(status) AS status, amount * 100 AS cents, before.amount AS old_amount
  INTO file '%s' MODE changelog;
CREATE PIPELINE audit_csv FROM binlog s.%s.orders SNAPSHOT never
  TRANSFORM id, status
  INTO file '%s' MODE changelog;
`, srv.dsn, 7371+i, db, jsonl, db, csv))
			state := filepath.Join(dir, "state")
			mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
			myExec(t, my, "INSERT INTO "+db+".orders VALUES (1, 'new', 10.00)",
				"UPDATE "+db+".orders SET status = 'paid', amount = 12.50 WHERE id = 1",
				"DELETE FROM "+db+".orders WHERE id = 1")
			mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)

			lines := readLines(t, jsonl)
			if len(lines) != 3 {
				t.Fatalf("want 3 changelog lines, got %d:\n%s", len(lines), strings.Join(lines, "\n"))
			}
			wantKeys := "id,status,cents,old_amount,_op,_ts,_pos,_version,_before_id,_before_status,_before_cents"
			var got []string
			for _, l := range lines {
				keys, row := jsonKeys(t, l)
				if k := strings.Join(keys, ","); k != wantKeys {
					t.Errorf("columns: got %s, want %s", k, wantKeys)
				}
				if row["_ts"] == nil || row["_pos"] == nil || row["_version"] == nil {
					t.Errorf("changelog row without _ts, _pos or _version: %s", l)
				}
				got = append(got, fmt.Sprintf("%v|%v|%v|%v|%v|%v|%v", row["_op"], row["id"], row["status"], row["cents"], row["old_amount"], row["_before_status"], row["_before_cents"]))
			}
			want := "insert|1|NEW|1000.00|<nil>|<nil>|<nil>\n" +
				"update|1|PAID|1250.00|10.00|NEW|1000.00\n" +
				"delete|1|PAID|1250.00|<nil>|<nil>|<nil>"
			if g := strings.Join(got, "\n"); g != want {
				t.Errorf("changelog rows:\n%s\nwant:\n%s", g, want)
			}
			csvLines := readLines(t, csv)
			if len(csvLines) != 4 || strings.TrimSuffix(csvLines[0], "\r") != "id,status,_op,_ts,_pos,_version,_before_id,_before_status" {
				t.Errorf("csv changelog: want the header id,status,_op,_ts,_pos,_version,_before_id,_before_status and 3 rows, got:\n%s", strings.Join(csvLines, "\n"))
			}
		})
	}
}

// jsonKeys returns the keys of a JSON object in their order, and its values.
func jsonKeys(t *testing.T, line string) ([]string, map[string]any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	var keys []string
	row := map[string]any{}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", line)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		keys = append(keys, tok.(string))
		row[tok.(string)] = v
	}
	return keys, row
}

// TestCanalJSONValuesAsCanal: on MariaDB A and B, canal_json's data and old
// values are the strings canal writes, through the snapshot and the
// binlog: DATETIME(n), TIMESTAMP(n) and TIME(n) with exactly n fractional
// digits (canal formats them with the column's precision; they used to
// lose the declared zeros, "03:14:07.999000" for a DATETIME(3) and
// "00:00:01" for a TIMESTAMP(6)), YEAR 0 as "0000", and binary columns
// as canal's ISO-8859-1 text of their bytes — one character U+0000…U+00FF
// per byte, which canal's consumers turn back into the bytes (they used to
// get base64 text).
func TestCanalJSONValuesAsCanal(t *testing.T) {
	t.Parallel()
	onFormatServers(t, func(t *testing.T, name, dsn, db string, my *client.Conn) {
		row := func(id int) string {
			return fmt.Sprintf("(%d, '2038-01-19 03:14:07.999', '2024-06-01 12:00:00', '1970-01-02 00:00:01', '-838:59:59', '12:00:00', 0, 2024, x'00ff80412c', x'0a22', 'éa')", id)
		}
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, d3 DATETIME(3), d0 DATETIME, ts6 TIMESTAMP(6) NULL, tm6 TIME(6), tm0 TIME, "+
				"y0 YEAR, y YEAR, vb VARBINARY(8), bl BLOB, tx TEXT)",
			"SET time_zone = '+00:00'",
			"INSERT INTO "+db+".t VALUES "+row(1))
		dir := t.TempDir()
		out := filepath.Join(dir, "out.json")
		file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = 7391);
CREATE PIPELINE p FROM binlog s.%s.t SNAPSHOT initial TRANSFORM * INTO file '%s' FORMAT canal_json;
`, dsn, db, out))
		state := filepath.Join(dir, "state")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		myExec(t, my, "SET time_zone = '+00:00'", "INSERT INTO "+db+".t VALUES "+row(2),
			"UPDATE "+db+".t SET d3 = '2038-01-19 03:14:08.000', vb = x'ff', y0 = 2155 WHERE id = 2")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		lines := readLines(t, out)
		if len(lines) != 3 {
			t.Fatalf("want 3 messages (snapshot, insert, update), got %d:\n%s", len(lines), strings.Join(lines, "\n"))
		}
		want := map[string]string{"id": "", "d3": "2038-01-19 03:14:07.999", "d0": "2024-06-01 12:00:00",
			"ts6": "1970-01-02 00:00:01.000000", "tm6": "-838:59:59.000000", "tm0": "12:00:00", "y0": "0000", "y": "2024",
			"vb": "\x00\u00ff\u0080A,", "bl": "\n\"", "tx": "éa"}
		for n, l := range lines {
			var msg struct {
				Type string              `json:"type"`
				Data []map[string]string `json:"data"`
				Old  []map[string]string `json:"old"`
			}
			if err := json.Unmarshal([]byte(l), &msg); err != nil {
				t.Fatal(err)
			}
			if len(msg.Data) != 1 {
				t.Fatalf("message %d: want 1 row: %s", n, l)
			}
			w := map[string]string{}
			for k, v := range want {
				w[k] = v
			}
			w["id"] = "1"
			if n > 0 {
				w["id"] = "2"
			}
			if n == 2 {
				w["d3"], w["vb"], w["y0"] = "2038-01-19 03:14:08.000", "\u00ff", "2155"
				old := map[string]string{"d3": "2038-01-19 03:14:07.999", "vb": "\x00\u00ff\u0080A,", "y0": "0000"}
				if len(msg.Old) != 1 || fmt.Sprint(msg.Old[0]) != fmt.Sprint(old) {
					t.Errorf("message %d (%s): old = %q, want %q", n, msg.Type, msg.Old, old)
				}
			}
			for k, v := range w {
				if got := msg.Data[0][k]; got != v {
					t.Errorf("message %d (%s): %s = %q, want %q", n, msg.Type, k, got, v)
				}
			}
		}
	})
}

// TestDebeziumGeometryStruct: on MariaDB A and B, a spatial column in
// debezium_json is Debezium's io.debezium.data.geometry struct, through the
// snapshot and the binlog: {"wkb": base64 of the WKB without MySQL's SRID
// prefix, "srid": the SRID, null for 0}, and a POINT column (Point) also
// has "x" and "y". (It used to be base64 of MySQL's internal bytes, SRID
// prefix included, which no Debezium consumer reads as a geometry.)
func TestDebeziumGeometryStruct(t *testing.T) {
	t.Parallel()
	onFormatServers(t, func(t *testing.T, name, dsn, db string, my *client.Conn) {
		row := func(id int) string {
			return fmt.Sprintf("(%d, ST_GeomFromText('LINESTRING(0 0, 1 1)', 4326), ST_GeomFromText('POINT(1.5 -2)'))", id)
		}
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, g GEOMETRY, p POINT)",
			"INSERT INTO "+db+".t VALUES "+row(1))
		wkbOf := func(wkt string) string {
			r := myRows(t, my, "SELECT TO_BASE64(ST_AsBinary(ST_GeomFromText('"+wkt+"')))")
			return r[0]
		}
		wantG, wantP := wkbOf("LINESTRING(0 0, 1 1)"), wkbOf("POINT(1.5 -2)")
		dir := t.TempDir()
		out := filepath.Join(dir, "out.json")
		file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = 7392);
CREATE PIPELINE p FROM binlog s.%s.t SNAPSHOT initial TRANSFORM * INTO file '%s' FORMAT debezium_json;
`, dsn, db, out))
		state := filepath.Join(dir, "state")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		myExec(t, my, "INSERT INTO "+db+".t VALUES "+row(2))
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		lines := readLines(t, out)
		if len(lines) != 2 {
			t.Fatalf("want 2 events, got %d:\n%s", len(lines), strings.Join(lines, "\n"))
		}
		for n, l := range lines {
			var ev struct {
				Op    string `json:"op"`
				After struct {
					G map[string]any `json:"g"`
					P map[string]any `json:"p"`
				} `json:"after"`
			}
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("event %d: %v: %s", n, err, l)
			}
			g, p := ev.After.G, ev.After.P
			if g["wkb"] != wantG || g["srid"] != float64(4326) || len(g) != 2 {
				t.Errorf("event %d (%s): g = %v, want wkb %s and srid 4326", n, ev.Op, g, wantG)
			}
			if p["wkb"] != wantP || p["srid"] != nil || p["x"] != 1.5 || p["y"] != float64(-2) || len(p) != 4 {
				t.Errorf("event %d (%s): p = %v, want wkb %s, srid null, x 1.5, y -2", n, ev.Op, p, wantP)
			}
		}
	})
}

// TestDebeziumKeyChange: on MariaDB A and B, an UPDATE that changes the
// primary key is, as Debezium's MySQL connector sends it, a delete event
// for the old key (before: the old row, after: null, op d) followed by a
// create event for the new one (before: null, op c); an update of other
// columns stays one u event. (It used to be one u event, after which a
// consumer that applies events by the key of "after" kept the old key's row.)
func TestDebeziumKeyChange(t *testing.T) {
	t.Parallel()
	onFormatServers(t, func(t *testing.T, name, dsn, db string, my *client.Conn) {
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (a INT, b VARCHAR(4), note VARCHAR(10), PRIMARY KEY (a, b))",
			"INSERT INTO "+db+".t VALUES (1, 'x', 'one'), (2, 'y', 'two')")
		dir := t.TempDir()
		out := filepath.Join(dir, "out.json")
		file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = 7393);
CREATE PIPELINE p FROM binlog s.%s.t SNAPSHOT initial TRANSFORM * INTO file '%s' FORMAT debezium_json;
`, dsn, db, out))
		state := filepath.Join(dir, "state")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		myExec(t, my, "UPDATE "+db+".t SET b = 'z', note = 'moved' WHERE a = 1",
			"UPDATE "+db+".t SET note = 'kept' WHERE a = 2")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		var got []string
		for _, l := range readLines(t, out) {
			var ev struct {
				Op     string         `json:"op"`
				Before map[string]any `json:"before"`
				After  map[string]any `json:"after"`
			}
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("%v: %s", err, l)
			}
			got = append(got, fmt.Sprintf("%s %v %v", ev.Op, ev.Before, ev.After))
		}
		want := []string{
			"r map[] map[a:1 b:x note:one]",
			"r map[] map[a:2 b:y note:two]",
			"d map[a:1 b:x note:one] map[]",
			"c map[] map[a:1 b:z note:moved]",
			"u map[a:2 b:y note:two] map[a:2 b:y note:kept]",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestDebeziumTimestampDigits: on MariaDB A and B, a TIMESTAMP(n) column in
// debezium_json is the ISO string Debezium's MySQL connector writes, with
// exactly n fractional digits (its ZonedTimestamp takes the column's
// width): "2024-06-01T06:30:00Z" for TIMESTAMP, ".120Z" for TIMESTAMP(3).
// (Every timestamp had six digits.)
func TestDebeziumTimestampDigits(t *testing.T) {
	t.Parallel()
	onFormatServers(t, func(t *testing.T, name, dsn, db string, my *client.Conn) {
		row := func(id int) string {
			return fmt.Sprintf("(%d, '2024-06-01 06:30:00', '2024-06-01 06:30:00.12', '2024-06-01 06:30:00.000001')", id)
		}
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, t0 TIMESTAMP NULL, t3 TIMESTAMP(3) NULL, t6 TIMESTAMP(6) NULL)",
			"SET time_zone = '+00:00'", "INSERT INTO "+db+".t VALUES "+row(1))
		dir := t.TempDir()
		out := filepath.Join(dir, "out.json")
		file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = 7394);
CREATE PIPELINE p FROM binlog s.%s.t SNAPSHOT initial TRANSFORM * INTO file '%s' FORMAT debezium_json;
`, dsn, db, out))
		state := filepath.Join(dir, "state")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		myExec(t, my, "SET time_zone = '+00:00'", "INSERT INTO "+db+".t VALUES "+row(2))
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		lines := readLines(t, out)
		if len(lines) != 2 {
			t.Fatalf("want 2 events, got %d", len(lines))
		}
		for n, l := range lines {
			var ev struct {
				After map[string]any `json:"after"`
			}
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatal(err)
			}
			for col, want := range map[string]string{"t0": "2024-06-01T06:30:00Z", "t3": "2024-06-01T06:30:00.120Z", "t6": "2024-06-01T06:30:00.000001Z"} {
				if ev.After[col] != want {
					t.Errorf("event %d: %s = %v, want %q", n, col, ev.After[col], want)
				}
			}
		}
	})
}

// TestDebeziumRowPlaceInEvent: on MariaDB A and B, debezium_json's
// source.row is the row's place among the rows of its binlog event, as in
// Debezium, so that (file, pos, row) names one change: also when the
// source cuts the event's rows into several batches (batch_rows = 3),
// when the WHERE leaves rows of the event out, and when an http request
// carries a batch's later rows. It was counted over the rows of each
// batch or request: a 10-row UPDATE gave rows 0,1,2 three times, and the
// third row of an event was 0 when the WHERE dropped the two before it
// (webhook trial).
func TestDebeziumRowPlaceInEvent(t *testing.T) {
	t.Parallel()
	onFormatServers(t, func(t *testing.T, name, dsn, db string, my *client.Conn) {
		myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (k INT PRIMARY KEY, v INT)",
			"INSERT INTO "+db+".t SELECT seq, 0 FROM "+db+".seq_1_to_10")
		var mu sync.Mutex
		var got []string
		srv := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			body, _ := io.ReadAll(r.Body)
			mu.Lock()
			got = append(got, string(body))
			mu.Unlock()
		}))
		defer srv.Close()
		dir := t.TempDir()
		all, some := filepath.Join(dir, "all.json"), filepath.Join(dir, "some.json")
		file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = 7399);
CREATE PIPELINE a FROM binlog s.%[2]s.t TRANSFORM k, v INTO file '%[3]s' FORMAT debezium_json WITH (batch_rows = 3);
CREATE PIPELINE b FROM binlog s.%[2]s.t WHERE k %% 3 = 0 TRANSFORM k, v INTO file '%[4]s' FORMAT debezium_json;
CREATE PIPELINE h FROM binlog s.%[2]s.t TRANSFORM k, v INTO http '%[5]s' FORMAT debezium_json WITH (batch_rows = 4, body = 'ndjson');
`, dsn, db, all, some, srv.URL))
		state := filepath.Join(dir, "state")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		myExec(t, my, "UPDATE "+db+".t SET v = 1")
		mu.Lock()
		n0, s0, h0 := len(readLines(t, all)), len(readLines(t, some)), len(got)
		mu.Unlock()
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		mu.Lock()
		defer mu.Unlock()
		var hook []string
		for _, b := range got[h0:] {
			hook = append(hook, strings.Split(strings.TrimSpace(b), "\n")...)
		}
		for _, c := range []struct {
			name  string
			lines []string
			keys  []int
		}{{"batch_rows = 3", readLines(t, all)[n0:], []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
			{"WHERE k % 3 = 0", readLines(t, some)[s0:], []int{3, 6, 9}},
			{"http batch_rows = 4", hook, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}}} {
			var pos any
			var keys []int
			for _, l := range c.lines {
				var ev struct {
					After  struct{ K int }
					Source struct {
						Pos any
						Row int
					}
				}
				if err := json.Unmarshal([]byte(l), &ev); err != nil {
					t.Fatal(err)
				}
				keys = append(keys, ev.After.K)
				if pos == nil {
					pos = ev.Source.Pos
				}
				if ev.Source.Pos != pos {
					t.Errorf("%s: k = %d at pos %v, the event is at %v", c.name, ev.After.K, ev.Source.Pos, pos)
				}
				// The UPDATE's event has the rows in key order.
				if ev.Source.Row != ev.After.K-1 {
					t.Errorf("%s: k = %d has row %d, want %d (its place in the event)", c.name, ev.After.K, ev.Source.Row, ev.After.K-1)
				}
			}
			if fmt.Sprint(keys) != fmt.Sprint(c.keys) {
				t.Errorf("%s: the update's events are of keys %v, want %v", c.name, keys, c.keys)
			}
		}
	})
}

// TestDebeziumZeroDateNotNull: on MariaDB A and B, a zero or invalid date
// ('0000-00-00', '2024-02-00 10:00:00') is written by debezium_json as
// Debezium's MySQL connector writes it: null in a column that may be NULL,
// the epoch in a NOT NULL one (DATE 0, DATETIME(n) 0, TIMESTAMP(n)
// "1970-01-01T00:00:00Z" with n fractional digits) — the snapshot, the
// binlog's after and before images, and a NOT NULL column added while etlq
// was stopped. (Every zero date was null: a consumer that trusts
// Debezium's schema, where such a column is not optional, failed on it.)
func TestDebeziumZeroDateNotNull(t *testing.T) {
	t.Parallel()
	onFormatServers(t, func(t *testing.T, name, dsn, db string, my *client.Conn) {
		zero := "'0000-00-00', '2024-02-00', '0000-00-00 00:00:00', '2024-02-00 10:00:00.5', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00'"
		myExec(t, my, "CREATE DATABASE "+db,
			"SET sql_mode = ''",
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, d DATE NOT NULL, dx DATE NOT NULL, dt DATETIME NOT NULL, dt6 DATETIME(6) NOT NULL,"+
				" ts TIMESTAMP NOT NULL DEFAULT '0000-00-00 00:00:00', ts3 TIMESTAMP(3) NOT NULL DEFAULT '0000-00-00 00:00:00',"+
				" dn DATE NULL, dtn DATETIME NULL, tsn TIMESTAMP NULL)",
			"INSERT INTO "+db+".t VALUES (1, "+zero+")")
		dir := t.TempDir()
		out := filepath.Join(dir, "out.json")
		file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = 7396);
CREATE PIPELINE p FROM binlog s.%s.t SNAPSHOT initial TRANSFORM * INTO file '%s' FORMAT debezium_json;
`, dsn, db, out))
		state := filepath.Join(dir, "state")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		myExec(t, my, "SET sql_mode = ''",
			"INSERT INTO "+db+".t VALUES (2, "+zero+")",
			"UPDATE "+db+".t SET dn = NULL WHERE id = 2",
			"DELETE FROM "+db+".t WHERE id = 2",
			"ALTER TABLE "+db+".t ADD COLUMN added DATE NOT NULL",
			"INSERT INTO "+db+".t VALUES (3, "+zero+", '0000-00-00')")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		want := map[string]any{"d": 0.0, "dx": 0.0, "dt": 0.0, "dt6": 0.0, "ts": "1970-01-01T00:00:00Z",
			"ts3": "1970-01-01T00:00:00.000Z", "dn": nil, "dtn": nil, "tsn": nil}
		lines := readLines(t, out)
		if len(lines) != 5 {
			t.Fatalf("want 5 events (r, c, u, d, c), got %d:\n%s", len(lines), strings.Join(lines, "\n"))
		}
		for n, l := range lines {
			var ev struct {
				Op            string
				Before, After map[string]any
			}
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatal(err)
			}
			for side, img := range map[string]map[string]any{"before": ev.Before, "after": ev.After} {
				if img == nil {
					continue
				}
				for col, w := range want {
					if got, ok := img[col]; !ok || got != w {
						t.Errorf("event %d (%s) %s.%s = %#v, want %#v", n, ev.Op, side, col, got, w)
					}
				}
				if id := img["id"]; id == 3.0 && img["added"] != 0.0 {
					t.Errorf("event %d (%s) %s.added = %#v, want 0", n, ev.Op, side, img["added"])
				}
			}
		}
	})
}

// TestDebeziumTruncateSource: on MariaDB A and B, the "op":"t" event of a
// TRUNCATE TABLE, a binlog record, carries the server id and the GTID of
// the statement as every binlog record does (they were 0 and null, the
// marks of a snapshot record), and so does the t event of a DROP TABLE.
func TestDebeziumTruncateSource(t *testing.T) {
	t.Parallel()
	onFormatServers(t, func(t *testing.T, name, dsn, db string, my *client.Conn) {
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY)",
			"INSERT INTO "+db+".t VALUES (1)")
		dir := t.TempDir()
		out := filepath.Join(dir, "out.json")
		file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = 7397);
CREATE PIPELINE p FROM binlog s.%s.t SNAPSHOT initial TRANSFORM * INTO file '%s' FORMAT debezium_json;
`, dsn, db, out))
		state := filepath.Join(dir, "state")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		serverID := myRows(t, my, "SELECT @@server_id")[0]
		var gtids []string
		for _, stmt := range []string{"TRUNCATE TABLE " + db + ".t", "INSERT INTO " + db + ".t VALUES (2)", "DROP TABLE " + db + ".t"} {
			myExec(t, my, stmt)
			gtids = append(gtids, myRows(t, my, "SELECT @@last_gtid")[0])
		}
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		var got []string
		for _, l := range readLines(t, out) {
			var ev struct {
				Op     string
				Source struct {
					ServerID json.Number `json:"server_id"`
					GTID     *string
				}
			}
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatal(err)
			}
			g := "null"
			if ev.Source.GTID != nil {
				g = *ev.Source.GTID
			}
			got = append(got, fmt.Sprintf("%s %s %s", ev.Op, ev.Source.ServerID, g))
		}
		want := []string{"r 0 null", "t " + serverID + " " + gtids[0], "c " + serverID + " " + gtids[1], "t " + serverID + " " + gtids[2]}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("events (op server_id gtid):\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestDebeziumSnapshotEndMarked: on MariaDB A and B, two tables read in
// many parallel chunks each: every run's debezium_json snapshot has its
// "first" and "last" records and a "first_in_data_collection" and
// "last_in_data_collection" for the table that is not first or last. (A
// chunk streamed while it was read sent its last rows before the read said
// they were its last, and the table's end then came on a row-less batch:
// half the runs lost "last" or "last_in_data_collection".)
func TestDebeziumSnapshotEndMarked(t *testing.T) {
	t.Parallel()
	onFormatServers(t, func(t *testing.T, name, dsn, db string, my *client.Conn) {
		fill := " WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 20000) SELECT n, REPEAT('x', 40) FROM c"
		myExec(t, my, "CREATE DATABASE "+db, "SET SESSION max_recursive_iterations = 100000",
			"CREATE TABLE "+db+".a (id INT PRIMARY KEY, v VARCHAR(64))",
			"CREATE TABLE "+db+".b (id INT PRIMARY KEY, v VARCHAR(64))",
			"INSERT INTO "+db+".a"+fill, "INSERT INTO "+db+".b"+fill)
		dir := t.TempDir()
		for run := range 3 {
			out := filepath.Join(dir, fmt.Sprintf("out%d.json", run))
			file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = 7398, chunk_rows = 1000);
CREATE PIPELINE p FROM binlog s.%[2]s.a, s.%[2]s.b SNAPSHOT only TRANSFORM id INTO file '%[3]s' FORMAT debezium_json;
`, dsn, db, out))
			mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", filepath.Join(dir, fmt.Sprintf("state%d", run)), file)
			lines := readLines(t, out)
			var marks []string
			for _, l := range lines {
				var ev struct{ Source struct{ Snapshot string } }
				if err := json.Unmarshal([]byte(l), &ev); err != nil {
					t.Fatal(err)
				}
				if s := ev.Source.Snapshot; s != "true" {
					marks = append(marks, s)
				}
			}
			got := strings.Join(marks, " ")
			if len(lines) != 40000 || (got != "first first_in_data_collection last_in_data_collection last" &&
				got != "first last_in_data_collection first_in_data_collection last") {
				t.Errorf("run %d: %d records, marks %q; want 40000, first, last_in/first_in_data_collection, last", run, len(lines), got)
			}
		}
	})
}

// onFormatServers runs f on MariaDB A (FULL metadata) and B (the server
// default) in parallel subtests named A and B, each with a database name
// of its own (dropped at the end) and a connection.
func onFormatServers(t *testing.T, f func(t *testing.T, name, dsn, db string, my *client.Conn)) {
	for _, srv := range []struct{ name, dsn string }{{"A", testenv.MySQLDSN(t)}, {"B", testenv.MySQLMinimalDSN(t)}} {
		t.Run(srv.name, func(t *testing.T) {
			t.Parallel()
			db := fmtDB(t)
			my := testenv.MySQLConn(t, srv.dsn)
			t.Cleanup(func() { my.Execute("DROP DATABASE IF EXISTS " + db) })
			f(t, srv.name, srv.dsn, db, my)
		})
	}
}

// TestYearTextAsServer: on MariaDB A and B, the text formats (csv, table)
// write a YEAR column as the server shows it (SELECT y, CAST(y AS CHAR)):
// four digits, "0000" for YEAR 0, from the snapshot and from the binlog.
// They wrote "0" (found by a new-user trial).
func TestYearTextAsServer(t *testing.T) {
	t.Parallel()
	onFormatServers(t, func(t *testing.T, name, dsn, db string, my *client.Conn) {
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, y YEAR)",
			"INSERT INTO "+db+".t VALUES (1, 0), (2, 2024)")
		dir := t.TempDir()
		csvOut, tableOut := filepath.Join(dir, "out.csv"), filepath.Join(dir, "out.txt")
		file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = 7393);
CREATE PIPELINE c FROM binlog s.%[2]s.t SNAPSHOT initial TRANSFORM id, y INTO file '%[3]s' FORMAT csv;
CREATE PIPELINE p FROM binlog s.%[2]s.t SNAPSHOT initial TRANSFORM id, y INTO file '%[4]s' FORMAT table;
`, dsn, db, csvOut, tableOut))
		state := filepath.Join(dir, "state")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		myExec(t, my, "INSERT INTO "+db+".t VALUES (3, 0), (4, 1901)")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)

		r, err := my.Execute("SELECT id, CAST(y AS CHAR) FROM " + db + ".t ORDER BY id")
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, row := range r.Values {
			want = append(want, fmt.Sprintf("%d,%s", row[0].AsInt64(), row[1].AsString()))
		}
		if w := strings.Join(want, " "); w != "1,0000 2,2024 3,0000 4,1901" {
			t.Fatalf("the server shows %s", w)
		}
		csvLines := readLines(t, csvOut)
		var got []string
		for _, l := range csvLines[1:] {
			got = append(got, strings.TrimSpace(l))
		}
		if g := strings.Join(got, " "); g != strings.Join(want, " ") {
			t.Errorf("csv: %s, want %s (the server's text)", g, strings.Join(want, " "))
		}
		var cells []string
		for _, l := range readLines(t, tableOut) {
			f := strings.Split(l, "|")
			if len(f) < 2 || strings.TrimSpace(f[0]) == "id" || strings.HasPrefix(l, "-") {
				continue
			}
			cells = append(cells, strings.TrimSpace(f[0])+","+strings.TrimSpace(f[1]))
		}
		if g := strings.Join(cells, " "); g != strings.Join(want, " ") {
			t.Errorf("table: %s, want %s (the server's text)\n%s", g, strings.Join(want, " "), strings.Join(readLines(t, tableOut), "\n"))
		}
	})
}

// TestCanalIDRisesAcrossRuns: on MariaDB A and B, canal_json's id rises
// from message to message and goes on rising in the next run, as canal's
// batch ids do when its meta is kept (ZooKeeper): it restarted at 1 each
// run, so a consumer that orders or drops repeats by id took the second
// run's messages for ones it had seen (found by a new-user trial).
func TestCanalIDRisesAcrossRuns(t *testing.T) {
	t.Parallel()
	onFormatServers(t, func(t *testing.T, name, dsn, db string, my *client.Conn) {
		myExec(t, my, "CREATE DATABASE "+db, "CREATE TABLE "+db+".t (id INT PRIMARY KEY, v INT)",
			"INSERT INTO "+db+".t VALUES (1, 1), (2, 2)")
		dir := t.TempDir()
		out := filepath.Join(dir, "out.json")
		file := writeEtl(t, dir, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = 7394);
CREATE PIPELINE p FROM binlog s.%s.t SNAPSHOT initial TRANSFORM * INTO file '%s' FORMAT canal_json;
`, dsn, db, out))
		state := filepath.Join(dir, "state")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		myExec(t, my, "INSERT INTO "+db+".t VALUES (3, 3)", "UPDATE "+db+".t SET v = 9 WHERE id = 1")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		myExec(t, my, "DELETE FROM "+db+".t WHERE id = 2")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		lines := readLines(t, out)
		var ids []int64
		for _, l := range lines {
			var msg struct{ ID int64 }
			if err := json.Unmarshal([]byte(l), &msg); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, msg.ID)
		}
		if len(ids) < 4 {
			t.Fatalf("want the snapshot, an insert, an update and a delete, got:\n%s", strings.Join(lines, "\n"))
		}
		for i := 1; i < len(ids); i++ {
			if ids[i] <= ids[i-1] {
				t.Errorf("ids %v do not rise (message %d)", ids, i)
				break
			}
		}
	})
}
