package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestCheckNamesTransformAliasReadAsColumn: a TRANSFORM item that reads
// another item's alias (amount AS x, x * 2 AS y) was "unknown column "x"
// in db.t" alone, where WHERE's same mistake says that the name is an
// output of TRANSFORM and what to write; TRANSFORM says so too
// (new-user trial).
func TestCheckNamesTransformAliasReadAsColumn(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, amount DECIMAL(12,2), y INT)")
	file := filepath.Join(t.TempDir(), "p.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s';
CREATE PIPELINE p FROM binlog s.%[2]s.t
  TRANSFORM id, amount * 100 AS cents, cents + 1 AS more, y AS z, y + 1 AS w
  INTO stdout;
`, myDSN, s.db))
	out, err := runEtlq(t, "check", file)
	if err == nil {
		t.Fatalf("check passed:\n%s", out)
	}
	want := file + `:3:40: unknown column "cents" in ` + s.db + `.t: TRANSFORM's items read the source row, and cents is an output of TRANSFORM; write its expression, amount * 100`
	if !strings.Contains(out, want) {
		t.Errorf("want %q in\n%s", want, out)
	}
	if strings.Count(out, "unknown column") != 1 {
		t.Errorf("a table column of the alias's name (y) is the column: want one error, got\n%s", out)
	}
}
