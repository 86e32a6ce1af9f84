package mysql

import (
	"fmt"
	"testing"
)

// TestRowsChangedBy: the statements that change a table's rows without
// row events, however written, and the ones that do not.
func TestRowsChangedBy(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want string // the tables and their reasons, "" for none
	}{
		{"ALTER TABLE pt TRUNCATE PARTITION p1", "[{d.pt TRUNCATE PARTITION}]"},
		{"alter table `d`.`pt` truncate partition all", "[{d.pt TRUNCATE PARTITION}]"},
		{"ALTER TABLE pt DROP PARTITION p1, p2", "[{d.pt DROP PARTITION}]"},
		{"ALTER TABLE pt EXCHANGE PARTITION p2 WITH TABLE o.px", "[{d.pt EXCHANGE PARTITION … WITH TABLE o.px} {o.px EXCHANGE PARTITION … WITH TABLE o.px (with d.pt)}]"},
		{"ALTER IGNORE TABLE k ADD UNIQUE KEY uv (v)", "[{d.k ALTER IGNORE TABLE … ADD UNIQUE KEY (v): rows of a duplicate key deleted}]"},
		{"ALTER ONLINE IGNORE TABLE k ADD PRIMARY KEY (a, b)", "[{d.k ALTER IGNORE TABLE … ADD PRIMARY KEY (a, b): rows of a duplicate key deleted}]"},
		{"ALTER TABLE g ADD COLUMN d INT AS (a+1) VIRTUAL", "[{d.g generated column d added or redefined: every row's value computed by the server}]"},
		{"ALTER TABLE g MODIFY d INT GENERATED ALWAYS AS (a+2) STORED", "[{d.g generated column d added or redefined: every row's value computed by the server}]"},
		{"ALTER TABLE k ADD UNIQUE KEY uv (v)", "[]"},
		{"ALTER TABLE pt REORGANIZE PARTITION pmax INTO (PARTITION p4 VALUES LESS THAN (2010), PARTITION pmax VALUES LESS THAN MAXVALUE)", "[]"},
		{"ALTER TABLE pt COALESCE PARTITION 2", "[]"},
		{"ALTER TABLE pt ADD COLUMN z INT DEFAULT 1", "[]"},
		{"TRUNCATE TABLE pt", "[]"},
	} {
		var got []rowsChange
		got = append(got, rowsChangedBy("d", tc.q)...)
		if s := fmt.Sprint(stringsOf(got)); s != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.q, s, tc.want)
		}
	}
	for q, want := range map[string]bool{
		"CREATE OR REPLACE TABLE t (id INT)":           true,
		"create or replace temporary table t (id INT)": true,
		"/* x */ CREATE OR REPLACE TABLE t LIKE u":     true,
		"CREATE TABLE t (id INT)":                      false,
		"CREATE OR REPLACE VIEW v AS SELECT 1":         false,
	} {
		if got := createOrReplace(q); got != want {
			t.Errorf("createOrReplace(%q) = %v, want %v", q, got, want)
		}
	}
}

func stringsOf(rc []rowsChange) []string {
	out := []string{}
	for _, c := range rc {
		out = append(out, "{"+c.ref.String()+" "+c.why+"}")
	}
	return out
}

// TestConvertPartition: MariaDB's CONVERT PARTITION / CONVERT TABLE, which
// the DDL parser rejects, are read as row changes of the partitioned
// table (and the drop of the table converted into a partition).
func TestConvertPartition(t *testing.T) {
	for q, want := range map[string]string{
		"ALTER TABLE pt CONVERT PARTITION p1 TO TABLE pt_c1":                     "[{d.pt CONVERT PARTITION … TO TABLE d.pt_c1}]",
		"alter table `o`.`pt` convert partition p1 to table o.x":                 "[{o.pt CONVERT PARTITION … TO TABLE o.x}]",
		"ALTER TABLE pt CONVERT TABLE x TO PARTITION p1 VALUES LESS THAN (2001)": "[{d.pt CONVERT TABLE d.x TO PARTITION}]",
		"ALTER TABLE pt CONVERT TO CHARACTER SET utf8mb4":                        "[]",
		"ALTER TABLE pt ADD PARTITION (PARTITION p9 VALUES LESS THAN (2020))":    "[]",
	} {
		if s := fmt.Sprint(stringsOf(rowsChangedBy("d", q))); s != want {
			t.Errorf("%s:\n got %s\nwant %s", q, s, want)
		}
	}
	ch, err := parseDDL("d", "ALTER TABLE pt CONVERT TABLE x TO PARTITION p1 VALUES LESS THAN (2001)")
	if err != nil || len(ch) != 2 {
		t.Fatalf("parseDDL: %v %v", ch, err)
	}
	if d, ok := ch[1].(*dropTable); !ok || d.Ref.String() != "d.x" {
		t.Errorf("CONVERT TABLE x: want the drop of d.x, got %#v", ch[1])
	}
	// CONVERT PARTITION makes x with pt's columns and the partition's
	// rows: a filled table, which joins with a snapshot.
	ch, err = parseDDL("d", "ALTER TABLE pt CONVERT PARTITION p1 TO TABLE o.x")
	if err != nil || len(ch) != 2 {
		t.Fatalf("parseDDL: %v %v", ch, err)
	}
	if c, ok := ch[1].(*createTable); !ok || c.Ref.String() != "o.x" || c.Like == nil || c.Like.String() != "d.pt" || c.Filled == "" {
		t.Errorf("CONVERT PARTITION … TO TABLE o.x: want o.x created like d.pt, filled, got %#v", ch[1])
	}
	if steps := lifeSteps("d", "ALTER TABLE pt CONVERT PARTITION p1 TO TABLE o.x"); len(steps) != 1 || steps[0].kind != lifeCreate || steps[0].to.String() != "o.x" {
		t.Errorf("CONVERT PARTITION: lifecycle steps %+v, want the creation of o.x", steps)
	}
}
