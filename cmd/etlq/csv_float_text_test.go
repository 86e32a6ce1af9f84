package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestCSVFloatsAsMariaDBShowsThem: the csv (and table, canal_json) text of
// a DOUBLE or FLOAT column was Go's exponent form ("1.5e+06",
// "1.23456789125e+08", "2.5e-07") where MariaDB, and etlq's own CAST(x AS
// STRING), write 1500000, 123456789.125 and 0.00000025: a csv export of a
// DOUBLE column differed from the source's text. Floats are written in
// the shortest digits that read back, in exponent form only from 1e15 and
// below 1e-15, as CAST writes a DOUBLE (new-user trial).
func TestCSVFloatsAsMariaDBShowsThem(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, d DOUBLE, f FLOAT)",
		"INSERT INTO "+s.db+".t VALUES (1, 1500000, 1500000), (2, 1e20, 0.1), (3, 123456789.125, 2.5e-7), (4, -0.000001, -42.5), (5, 1.5e-16, 0)")
	dir := t.TempDir()
	file := filepath.Join(dir, "p.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s';
CREATE PIPELINE p FROM binlog s.%[2]s.t SNAPSHOT only TRANSFORM id, d, f, CAST(d AS STRING) AS ds INTO stdout FORMAT csv;
`, myDSN, s.db))
	got, err := runEtlqStdout(t, "apply", "--progress", "never", "--state-dir", filepath.Join(dir, "state"), file)
	if err != nil {
		t.Fatalf("apply: %v\n%s", err, got)
	}
	want := "id,d,f,ds\r\n" +
		"1,1500000,1500000,1500000\r\n" +
		"2,1e20,0.1,1e20\r\n" +
		"3,123456789.125,0.00000025,123456789.125\r\n" +
		"4,-0.000001,-42.5,-0.000001\r\n" +
		"5,1.5e-16,0,1.5e-16\r\n"
	if got != want {
		t.Errorf("csv:\n%s\nwant:\n%s", strings.ReplaceAll(got, "\r", ""), strings.ReplaceAll(want, "\r", ""))
	}
}
