package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors/testenv"
)

// mysqlLoadFile feeds a SQL file, rewritten by rewrite, to the mariadb
// command-line client (which understands DELIMITER and versioned comments).
func mysqlLoadFile(t *testing.T, dsn, path string, rewrite func(string) string) {
	t.Helper()
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sql := rewrite(string(text))
	c, err := testenv.ParseMySQLDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(c.Addr, ":")
	args := []string{"--no-defaults", "--protocol=tcp", "-h", host, "-P", port, "-u", c.User, "--default-character-set=utf8mb4"}
	if c.Password != "" {
		args = append(args, "-p"+c.Password)
	}
	cmd := exec.Command("mariadb", args...)
	cmd.Stdin = strings.NewReader(sql)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("loading %s: %v\n%s", path, err, out)
	}
}

// colCompare is how one column is read on both sides so that equal values
// give equal text: the MySQL expression, the ClickHouse expression (a
// String or Nullable(String)), and a normalization applied to both texts.
type colCompare struct {
	name   string
	my, ch string
	norm   func(string) string
}

// columnCompares derives, from the source column types and the ClickHouse
// column types, how each column of a table is compared (docs/types.md). It
// fails the test for a type it has no rule for, and for a ClickHouse type
// that is not the one the mapping gives. The MySQL expressions assume the
// session time zone '+00:00'.
func columnCompares(t *testing.T, my *client.Conn, ch driver.Conn, myDB, table, chDB, chTable string) []colCompare {
	t.Helper()
	cols := testenv.Query(t, my, fmt.Sprintf("SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s' ORDER BY ORDINAL_POSITION", myDB, table))
	if len(cols) == 0 {
		t.Fatalf("table %s.%s has no columns", myDB, table)
	}
	var out []colCompare
	for _, c := range cols {
		name, dt, ct := c[0], strings.ToLower(c[1]), strings.ToLower(c[2])
		chType := chColumnType(t, ch, chDB, chTable, name)
		base := chType
		if strings.HasPrefix(base, "Nullable(") {
			base = strings.TrimSuffix(strings.TrimPrefix(base, "Nullable("), ")")
		}
		q, cq := "`"+name+"`", "`"+name+"`"
		cc := colCompare{name: name, my: q, ch: "toString(" + cq + ")", norm: func(s string) string { return s }}
		want := []string{}
		unsigned := strings.Contains(ct, "unsigned")
		intType := func(bits int) string {
			if unsigned {
				return fmt.Sprintf("UInt%d", bits)
			}
			return fmt.Sprintf("Int%d", bits)
		}
		switch dt {
		case "tinyint":
			want = []string{intType(8)}
		case "smallint":
			want = []string{intType(16)}
		case "mediumint", "int", "integer":
			want = []string{intType(32)}
		case "bigint":
			want = []string{intType(64)}
		case "decimal":
			var p, s int
			fmt.Sscanf(strings.TrimPrefix(ct, "decimal"), "(%d,%d)", &p, &s)
			want = []string{fmt.Sprintf("Decimal(%d, %d)", p, s)}
			if p > 38 {
				want = append(want, "String")
			}
			cc.norm = normDecimal
		case "float":
			want = []string{"Float32"}
			cc.my = q + "*1e0" // FLOAT's own text has only 6 digits
			cc.norm = normFloat(32)
		case "double", "real":
			want = []string{"Float64"}
			cc.norm = normFloat(64)
		case "bit":
			want = []string{"UInt64"}
			cc.my = "CAST(" + q + " AS UNSIGNED)"
		case "char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set", "json":
			want = []string{"String"}
			cc.ch = cq
		case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob",
			"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection":
			// Bytes as they are (geometry: SRID + WKB, MySQL's own bytes).
			want = []string{"String"}
			cc.my, cc.ch = "HEX("+q+")", "hex("+cq+")"
		case "year":
			want = []string{"UInt16"}
		case "date":
			want = []string{"Date", "Date32"}
		case "datetime", "timestamp":
			// Microseconds since the epoch: the wall clock read as UTC for
			// DATETIME, the instant for TIMESTAMP (session time zone UTC).
			want = []string{"Int64", "DateTime64(6, 'UTC')"}
			cc.my = "CAST(TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', " + q + ") AS CHAR)"
			if strings.HasPrefix(base, "DateTime64") {
				cc.ch = "toString(toUnixTimestamp64Micro(" + cq + "))"
			}
		case "time":
			want = []string{"Int64"}
			cc.my = "CAST(TIMESTAMPDIFF(MICROSECOND, '2000-01-01 00:00:00', TIMESTAMP('2000-01-01', " + q + ")) AS CHAR)"
		default:
			t.Fatalf("column %s.%s: no comparison rule for MySQL type %s", table, name, ct)
		}
		ok := false
		for _, w := range want {
			ok = ok || base == w
		}
		if !ok {
			t.Errorf("column %s.%s (%s) is %s in ClickHouse, docs/types.md says %s", table, name, ct, chType, strings.Join(want, " or "))
		}
		out = append(out, cc)
	}
	return out
}

// normDecimal drops trailing fractional zeros (newer ClickHouse servers
// print 2.5 for Decimal(4,2) 2.50).
func normDecimal(s string) string {
	if s == "NULL" || !strings.Contains(s, ".") {
		return s
	}
	return strings.TrimSuffix(strings.TrimRight(s, "0"), ".")
}

// normFloat prints a float in the shortest text that reads back as the same
// value of that width.
func normFloat(bits int) func(string) string {
	return func(s string) string {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return s
		}
		if bits == 32 {
			return strconv.FormatFloat(float64(float32(f)), 'g', -1, 32)
		}
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
}

// compareTable compares every row and every column of a source table with
// what chFrom (a ClickHouse table or view, e.g. the _current view of
// chDB.chTable) returns, each value converted by its type, and reports the
// differences. It returns the number of source rows.
func compareTable(t *testing.T, my *client.Conn, ch driver.Conn, myDB, table, chDB, chTable, chFrom string) int {
	t.Helper()
	w, g := tableRows(t, my, ch, myDB, table, chDB, chTable, chFrom)
	if strings.Join(w, "\n") != strings.Join(g, "\n") {
		t.Errorf("table %s:", table)
		diffRows(t, w, g)
	}
	return len(w)
}

// tableRows returns the rows of the MySQL table and of ClickHouse's
// chFrom as compareTable compares them: normalized, sorted.
func tableRows(t *testing.T, my *client.Conn, ch driver.Conn, myDB, table, chDB, chTable, chFrom string) ([]string, []string) {
	t.Helper()
	cols := columnCompares(t, my, ch, myDB, table, chDB, chTable)
	var myX, chX []string
	for _, c := range cols {
		myX = append(myX, c.my)
		chX = append(chX, c.ch)
	}
	myExec(t, my, "SET time_zone = '+00:00'")
	want := myCells(t, my, fmt.Sprintf("SELECT %s FROM `%s`.`%s`", strings.Join(myX, ", "), myDB, table))
	got := chCells(t, ch, fmt.Sprintf("SELECT %s FROM %s", strings.Join(chX, ", "), chFrom))
	join := func(rows [][]string) []string {
		out := make([]string, len(rows))
		for i, r := range rows {
			for j := range r {
				r[j] = cols[j].norm(r[j])
			}
			out[i] = strings.Join(r, "|")
		}
		sort.Strings(out)
		return out
	}
	return join(want), join(got)
}

// myCells returns a MySQL query's rows, each value as text, NULL as "NULL".
// The values are copies: GetString's string shares the result's buffer,
// which Close hands to the next query of the process.
func myCells(t *testing.T, c *client.Conn, q string) [][]string {
	t.Helper()
	r, err := c.Execute(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer r.Close()
	out := make([][]string, len(r.Values))
	for i := range r.Values {
		row := make([]string, len(r.Values[i]))
		for j, v := range r.Values[i] {
			if v.Value() == nil {
				row[j] = "NULL"
				continue
			}
			s, _ := r.GetString(i, j)
			row[j] = strings.Clone(s)
		}
		out[i] = row
	}
	return out
}

// TestMyCellsOutliveTheResult: the rows myCells returns keep their values
// after other queries. go-mysql's GetString returns a string over the
// result's packet buffer, and Close hands that buffer to a pool that the
// process's next query reads its packets into: the cells of an earlier
// myCells then changed under the test (with the package's tests in
// parallel, TestOnlineSchemaChangeStoppedOrBehind read the source's row
// 1005|paid|… as 1005|newd|…, "new" of another query's packet written
// over "paid", and reported a ClickHouse target that equalled its source
// as differing).
func TestMyCellsOutliveTheResult(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDSN(t)
	my, other := testenv.MySQLConn(t, dsn), testenv.MySQLConn(t, dsn)
	for round := 0; round < 20; round++ {
		rows := myCells(t, my, "SELECT seq, CONCAT('row-', seq) FROM mysql.seq_1_to_200")
		// Another query of the same size, as another test's would be.
		myExec(t, other, "SELECT seq, REPEAT('#', LENGTH(CONCAT('row-', seq))) FROM mysql.seq_1_to_200")
		for i, r := range rows {
			if want := []string{strconv.Itoa(i + 1), fmt.Sprintf("row-%d", i+1)}; strings.Join(r, "|") != strings.Join(want, "|") {
				t.Fatalf("round %d: row %d reads %q after another query, want %q", round, i+1, r, want)
			}
		}
	}
}

// chCells returns the rows of a ClickHouse query whose columns are all
// String or Nullable(String), NULL as "NULL".
func chCells(t *testing.T, c driver.Conn, q string) [][]string {
	t.Helper()
	rows, err := c.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	n := len(rows.Columns())
	var out [][]string
	for rows.Next() {
		vals := make([]*string, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		row := make([]string, n)
		for i, v := range vals {
			if v == nil {
				row[i] = "NULL"
			} else {
				row[i] = *v
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}
