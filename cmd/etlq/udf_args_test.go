package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUDFArgumentRowError: an argument of a CREATE FUNCTION that does not
// convert to the parameter's type for one row stops the pipeline (on_error
// = 'fail') with the row, the output column, the function, the argument
// and why — for a snapshot row and for a binlog row, on both servers.
// The reason said only "cannot cast 'x' to INT32", which names no
// function when the column's expression holds several calls; a constant
// argument that cannot convert is an error of `check` at the argument.
func TestUDFArgumentRowError(t *testing.T) {
	t.Parallel()
	onBothServers(t, testUDFArgumentRowError)
}

func testUDFArgumentRowError(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my := s.db, s.my
	myExec(t, my,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, code VARCHAR(20))",
		"INSERT INTO "+db+".t VALUES (1, '7')",
		"CREATE TABLE "+db+".bad (id INT PRIMARY KEY, code VARCHAR(20))",
		"INSERT INTO "+db+".bad VALUES (1, '7'), (2, 'x')")
	dir := t.TempDir()
	write := func(name, table, items string) string {
		file := filepath.Join(dir, name)
		src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE FUNCTION dbl(x INT32) RETURNS INT64 AS EXPR 'x * 2';
CREATE PIPELINE p FROM binlog s.%s.%s
  TRANSFORM id, %s AS v
  INTO stdout FORMAT jsonl;
`, myDSN, db, table, items)
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}

	// A constant that no row can convert: check says so, at the argument.
	file := write("const.etl", "t", "dbl(id) + dbl('abc')")
	out, err := runEtlq(t, "check", file)
	if want := file + `:4:31: argument 1 of "dbl" (x INT32): cannot cast 'abc' to INT32`; err == nil || !strings.Contains(out, want) {
		t.Fatalf("check: %v\n%s\nwant %s", err, out, want)
	}

	// A snapshot row.
	file = write("snap.etl", "bad", "dbl(id) + dbl(code)")
	out, err = runEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", filepath.Join(dir, "snap"), file)
	want := `(snapshot, id = 2): column "v": function "dbl": argument 1 (x): cannot cast 'x' to INT32`
	if err == nil || !strings.Contains(out, "row of "+db+".bad at binlog.") || !strings.Contains(out, want) {
		t.Fatalf("apply over a snapshot row: %v\n%s\nwant %s", err, out, want)
	}

	// A binlog row.
	file = write("binlog.etl", "t", "dbl(id) + dbl(code)")
	state := filepath.Join(dir, "binlog")
	if out, err := runEtlqStdout(t, "apply", "--once", "--progress", "never", "--state-dir", state, file); err != nil || out != `{"id":1,"v":16}`+"\n" {
		t.Fatalf("apply: %v\n%s", err, out)
	}
	myExec(t, my, "INSERT INTO "+db+".t VALUES (2, 'y')")
	out, err = runEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	want = `(insert, id = 2): column "v": function "dbl": argument 1 (x): cannot cast 'y' to INT32`
	if err == nil || !strings.Contains(out, want) {
		t.Fatalf("apply over a binlog row: %v\n%s\nwant %s", err, out, want)
	}
}

// TestUDFIntegerOfDecimal: an INT64 function of a DECIMAL gives the value
// the arithmetic means: `a * 100` for 5.02 is 502, for a snapshot row and
// a binlog row, on both servers. A DECIMAL is a float64 in the body
// (501.99999999999994), and the INT64 result was truncated to 501
// (repl-and-language trial).
func TestUDFIntegerOfDecimal(t *testing.T) {
	t.Parallel()
	onBothServers(t, testUDFIntegerOfDecimal)
}

func testUDFIntegerOfDecimal(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my := s.db, s.my
	myExec(t, my,
		"CREATE DATABASE "+db,
		"CREATE TABLE "+db+".pay (id INT PRIMARY KEY, amount DECIMAL(5,2))",
		"INSERT INTO "+db+".pay VALUES (1, 5.02), (2, 4.02)")
	dir := t.TempDir()
	file := filepath.Join(dir, "cents.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s';
CREATE FUNCTION cents(a DECIMAL(5,2)) RETURNS INT64 AS EXPR 'a * 100';
CREATE PIPELINE p FROM binlog s.%s.pay
  TRANSFORM id, cents(amount) AS c
  INTO stdout FORMAT jsonl;
`, myDSN, db)
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	if out, err := runEtlqStdout(t, "apply", "--once", "--progress", "never", "--state-dir", state, file); err != nil || out != `{"id":1,"c":502}`+"\n"+`{"id":2,"c":402}`+"\n" {
		t.Fatalf("apply over the snapshot: %v\n%s", err, out)
	}
	myExec(t, my, "INSERT INTO "+db+".pay VALUES (3, 5.02)")
	if out, err := runEtlqStdout(t, "apply", "--once", "--progress", "never", "--state-dir", state, file); err != nil || out != `{"id":3,"c":502}`+"\n" {
		t.Fatalf("apply over the binlog: %v\n%s", err, out)
	}
}
