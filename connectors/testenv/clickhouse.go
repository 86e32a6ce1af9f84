package testenv

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// checkClickHouse opens a native connection and pings.
func checkClickHouse(dsn string) error {
	o, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return err
	}
	o.DialTimeout = checkTimeout
	conn, err := clickhouse.Open(o)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	return conn.Ping(ctx)
}

// ClickHouseConn opens a native clickhouse-go connection to dsn (from
// ClickHouseDSN), closed when the test ends.
func ClickHouseConn(t testing.TB, dsn string) driver.Conn {
	t.Helper()
	o, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("invalid clickhouse dsn %q: %v", redact(dsn), err)
	}
	conn, err := clickhouse.Open(o)
	if err != nil {
		t.Fatalf("connect to clickhouse %q: %v", redact(dsn), err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// ClickHouseExec runs each statement in order and fails the test at the
// first error, naming the statement.
func ClickHouseExec(t testing.TB, conn driver.Conn, sql ...string) {
	t.Helper()
	for _, s := range sql {
		if err := conn.Exec(context.Background(), s); err != nil {
			t.Fatalf("clickhouse: %v\nstatement: %s", err, s)
		}
	}
}

// ClickHouseQuery runs a query and returns its rows with every value
// formatted by fmt (wrap columns in toString() for exact text), failing the
// test on error.
func ClickHouseQuery(t testing.TB, conn driver.Conn, query string) [][]string {
	t.Helper()
	rows, err := conn.Query(context.Background(), query)
	if err != nil {
		t.Fatalf("clickhouse: %v\nquery: %s", err, query)
	}
	defer rows.Close()
	types := rows.ColumnTypes()
	var out [][]string
	for rows.Next() {
		dest := make([]any, len(types))
		for i, ct := range types {
			dest[i] = newScanTarget(ct.ScanType())
		}
		if err := rows.Scan(dest...); err != nil {
			t.Fatalf("clickhouse: scan: %v\nquery: %s", err, query)
		}
		row := make([]string, len(dest))
		for i, d := range dest {
			row[i] = formatScanned(d)
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("clickhouse: %v\nquery: %s", err, query)
	}
	return out
}

// newScanTarget allocates a pointer to a value of the column's scan type.
func newScanTarget(typ reflect.Type) any {
	return reflect.New(typ).Interface()
}

// formatScanned formats a scanned value; a nil pointer (NULL) is "NULL".
func formatScanned(v any) string {
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return "NULL"
		}
		rv = rv.Elem()
	}
	return fmt.Sprint(rv.Interface())
}
