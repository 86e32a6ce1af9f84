package testenv

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

// checkTimeout bounds each availability check.
const checkTimeout = 3 * time.Second

// checkMySQL dials the server and logs in.
func checkMySQL(dsn string) error {
	c, err := ParseMySQLDSN(dsn)
	if err != nil {
		return err
	}
	nc, err := net.DialTimeout("tcp", c.Addr, checkTimeout)
	if err != nil {
		return err
	}
	nc.Close()
	conn, err := client.ConnectWithTimeout(c.Addr, c.User, c.Password, "", checkTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Ping()
}

// MySQLConn opens a connection to dsn (from MySQLDSN or MySQLMinimalDSN),
// closed when the test ends. The connection is not safe for concurrent use.
func MySQLConn(t testing.TB, dsn string) *client.Conn {
	t.Helper()
	c, err := ParseMySQLDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := client.ConnectWithTimeout(c.Addr, c.User, c.Password, c.Database, 10*time.Second)
	if err != nil {
		t.Fatalf("connect to mysql %q: %v", redact(dsn), err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// Exec runs each statement in order on conn and fails the test at the first
// error, naming the statement.
func Exec(t testing.TB, conn *client.Conn, sql ...string) {
	t.Helper()
	for _, s := range sql {
		if _, err := conn.Execute(s); err != nil {
			t.Fatalf("mysql: %v\nstatement: %s", err, s)
		}
	}
}

// Query runs a query on conn and returns its rows with every value as text
// (NULL as "NULL"), failing the test on error.
func Query(t testing.TB, conn *client.Conn, query string) [][]string {
	t.Helper()
	r, err := conn.Execute(query)
	if err != nil {
		t.Fatalf("mysql: %v\nquery: %s", err, query)
	}
	defer r.Close()
	rows := make([][]string, 0, len(r.Values))
	for i := range r.Values {
		row := make([]string, len(r.Values[i]))
		for j, v := range r.Values[i] {
			if v.Value() == nil {
				row[j] = "NULL"
				continue
			}
			row[j] = fmt.Sprint(stringValue(v.Value()))
		}
		rows = append(rows, row)
	}
	return rows
}

func stringValue(v any) any {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v
}
