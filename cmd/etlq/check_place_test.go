package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckPlacesDateRangeWarningAtItsItem: check's warning about DATE
// values beyond ClickHouse's Date range pointed at INTO; it points at
// the TRANSFORM item that gives the column.
func TestCheckPlacesDateRangeWarningAtItsItem(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		myExec(t, s.my, "CREATE DATABASE "+s.db,
			"CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, day DATE, other DATE)")
		file := filepath.Join(t.TempDir(), "p.etl")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s';
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.t
  TRANSFORM id,
    day,
    other AS later
  INTO clickhouse dw.%[3]s.t;
CREATE PIPELINE r FROM binlog s.%[3]s.t
  TRANSFORM *
  INTO clickhouse dw.%[3]s.r;
`, myDSN, s.chDSN, s.db))
		out, err := runEtlq(t, "check", file)
		if err != nil {
			t.Fatalf("check: %v\n%s", err, out)
		}
		for _, want := range []string{
			"warning: " + file + ":5:5: pipeline p: column \"day\": DATE values outside",
			"warning: " + file + ":6:5: pipeline p: column \"later\": DATE values outside",
			"    other AS later\n    ^~~~~~~~~~~~~~",
			"warning: " + file + ":9:13: pipeline r: column \"day\": DATE values outside",
			"warning: " + file + ":9:13: pipeline r: column \"other\": DATE values outside",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("want %q in\n%s", want, out)
			}
		}
	})
}
