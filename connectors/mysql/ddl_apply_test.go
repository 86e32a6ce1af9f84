package mysql

import (
	"strings"
	"testing"
)

// schemaText prints a schema compactly: "name type[ null][ pk n]", in order.
func schemaText(t *table) string {
	var parts []string
	for _, c := range t.Cols {
		s := c.Name + " " + c.ColumnType
		if c.Charset != "" {
			s += " " + c.Charset
		}
		if !c.Nullable {
			s += " notnull"
		}
		if c.PK > 0 {
			s += " pk" + string(rune('0'+c.PK))
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func TestApplyDDL(t *testing.T) {
	base := func() *table {
		ch, err := parseDDL("db", "CREATE TABLE t (id INT NOT NULL, a INT, b VARCHAR(10), c DECIMAL(10,2), PRIMARY KEY (id)) DEFAULT CHARSET=latin1")
		if err != nil {
			t.Fatal(err)
		}
		tb, err := ddlApplier{flavor: "mariadb"}.create(ch[0].(*createTable))
		if err != nil {
			t.Fatal(err)
		}
		return tb
	}
	if got, want := schemaText(base()), "id int(11) notnull pk1, a int(11), b varchar(10) latin1, c decimal(10,2)"; got != want {
		t.Fatalf("create:\n got %s\nwant %s", got, want)
	}
	cases := []struct{ ddl, want string }{
		{"ALTER TABLE t ADD COLUMN x INT DEFAULT 7 FIRST", "x int(11), id int(11) notnull pk1, a int(11), b varchar(10) latin1, c decimal(10,2)"},
		{"ALTER TABLE t DROP COLUMN b", "id int(11) notnull pk1, a int(11), c decimal(10,2)"},
		{"ALTER TABLE t MODIFY c INT AFTER id", "id int(11) notnull pk1, c int(11), a int(11), b varchar(10) latin1"},
		{"ALTER TABLE t MODIFY a BIGINT NOT NULL", "id int(11) notnull pk1, a bigint(20) notnull, b varchar(10) latin1, c decimal(10,2)"},
		{"ALTER TABLE t CHANGE b bb TEXT CHARACTER SET utf8mb4 FIRST", "bb text utf8mb4, id int(11) notnull pk1, a int(11), c decimal(10,2)"},
		{"ALTER TABLE t RENAME COLUMN a TO a2", "id int(11) notnull pk1, a2 int(11), b varchar(10) latin1, c decimal(10,2)"},
		{"ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (a, id)", "id int(11) notnull pk2, a int(11) notnull pk1, b varchar(10) latin1, c decimal(10,2)"},
		{"ALTER TABLE t DROP PRIMARY KEY", "id int(11) notnull, a int(11), b varchar(10) latin1, c decimal(10,2)"},
		{"ALTER TABLE t DROP COLUMN id", "a int(11), b varchar(10) latin1, c decimal(10,2)"},
		{"ALTER TABLE t CONVERT TO CHARACTER SET utf8mb4", "id int(11) notnull pk1, a int(11), b varchar(10) utf8mb4, c decimal(10,2)"},
		{"ALTER TABLE t CHARACTER SET utf8mb4, ADD d CHAR(2)", "id int(11) notnull pk1, a int(11), b varchar(10) latin1, c decimal(10,2), d char(2) utf8mb4"},
		{"ALTER TABLE t ADD e VARBINARY(4) AFTER a, ADD j JSON", "id int(11) notnull pk1, a int(11), e varbinary(4) binary, b varchar(10) latin1, c decimal(10,2), j longtext utf8mb4"},
		{"ALTER TABLE t ADD COLUMN IF NOT EXISTS a INT, DROP COLUMN IF EXISTS zz", "id int(11) notnull pk1, a int(11), b varchar(10) latin1, c decimal(10,2)"},
	}
	for _, c := range cases {
		ch, err := parseDDL("db", c.ddl)
		if err != nil {
			t.Fatalf("%s: %v", c.ddl, err)
		}
		nt, err := ddlApplier{flavor: "mariadb"}.alter(base(), ch[0].(*alterTable))
		if err != nil {
			t.Errorf("%s: %v", c.ddl, err)
			continue
		}
		if got := schemaText(nt); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.ddl, got, c.want)
		}
		for i, k := range nt.Key {
			if nt.Cols[k].PK != i+1 {
				t.Errorf("%s: key %v does not match the columns' positions", c.ddl, nt.Key)
			}
		}
	}
	// Errors name the column and what the table has.
	for _, q := range []string{"ALTER TABLE t DROP COLUMN nope", "ALTER TABLE t ADD x INT AFTER nope", "ALTER TABLE t ADD a INT", "ALTER TABLE t RENAME COLUMN a TO b"} {
		ch, _ := parseDDL("db", q)
		if _, err := (ddlApplier{flavor: "mariadb"}).alter(base(), ch[0].(*alterTable)); err == nil {
			t.Errorf("%s: no error", q)
		}
	}
	// The stored schema is never changed in place.
	b := base()
	ch, _ := parseDDL("db", "ALTER TABLE t RENAME COLUMN a TO a2, MODIFY c INT FIRST")
	nt, _ := ddlApplier{flavor: "mariadb"}.alter(b, ch[0].(*alterTable))
	if schemaText(b) != schemaText(base()) || nt.Cols[2].RenamedFrom != "a" {
		t.Errorf("original %s; new %s", schemaText(b), schemaText(nt))
	}
	// An ENUM NOT NULL without a DEFAULT: the rows already there hold its
	// first member.
	ch, _ = parseDDL("db", "ALTER TABLE t ADD e ENUM('Small','big') NOT NULL, ADD f ENUM('x') NULL")
	nt, _ = ddlApplier{flavor: "mariadb"}.alter(base(), ch[0].(*alterTable))
	if d := nt.Cols[nt.colIndex("e")].Default; d == nil || d.literal() != "'Small'" || nt.Cols[nt.colIndex("f")].Default != nil {
		t.Errorf("enum defaults: %+v %+v", d, nt.Cols[nt.colIndex("f")].Default)
	}
	// MySQL 8 prints integers without a display width.
	ch, _ = parseDDL("db", "ALTER TABLE t ADD x INT UNSIGNED, ADD y TINYINT(1)")
	nt, _ = ddlApplier{flavor: "mysql"}.alter(base(), ch[0].(*alterTable))
	if got := schemaText(nt); !strings.HasSuffix(got, "x int unsigned, y tinyint(1)") {
		t.Errorf("mysql: %s", got)
	}
}
