package main

import (
	"context"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors/testenv"
)

// onBothServers runs fn against MariaDB A (binlog_row_metadata=FULL) and
// MariaDB B (the server default), as subtests that run in parallel (with
// each other and, -parallel permitting, with other tests: every test has
// databases and state directories of its own).
func onBothServers(t *testing.T, fn func(t *testing.T, myDSN string)) {
	for _, tc := range []struct {
		name string
		dsn  func(testing.TB) string
	}{
		{"metadata_full", testenv.MySQLDSN},
		{"metadata_default", testenv.MySQLMinimalDSN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fn(t, tc.dsn(t))
		})
	}
}

// scratch is a test's own database, of the same name on MariaDB and on
// ClickHouse, dropped on both when the test ends.
type scratch struct {
	db    string
	chDSN string
	my    *client.Conn
	ch    driver.Conn
}

func newScratch(t *testing.T, myDSN string) *scratch {
	s := &scratch{db: testenv.UniqueName(t), chDSN: testenv.ClickHouseDSN(t)}
	s.my = testenv.MySQLConn(t, myDSN)
	s.ch = testenv.ClickHouseConn(t, s.chDSN)
	t.Cleanup(func() {
		s.my.Execute("DROP DATABASE IF EXISTS " + s.db)
		s.ch.Exec(context.Background(), "DROP DATABASE IF EXISTS "+s.db)
	})
	return s
}
