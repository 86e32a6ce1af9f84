// Package testenv gives tests the real servers started by scripts/services:
// two MariaDB instances and a ClickHouse. Each accessor checks that its server
// answers; when it does not, the test is skipped with a hint, or fails when
// the environment variable CI is "true", so a CI run never passes by skipping.
//
// The DSNs come from the environment, with these defaults:
//
//	ETLQ_TEST_MYSQL_DSN          mysql://root@127.0.0.1:3316       (binlog_row_metadata=FULL, TZ Europe/Berlin)
//	ETLQ_TEST_MYSQL_MINIMAL_DSN  mysql://root@127.0.0.1:3317       (binlog_row_metadata default, TZ America/Sao_Paulo)
//	ETLQ_TEST_CLICKHOUSE_DSN     clickhouse://127.0.0.1:19000
//	ETLQ_TEST_NATS_URL           nats://127.0.0.1:14222            (nats-server -js, nats.go)
//
// Tests share these servers, also with other packages running in parallel:
// name databases and tables with UniqueName.
package testenv

import (
	"os"
	"sync"
	"testing"
)

// Environment variables holding the test DSNs, and their defaults.
const (
	EnvMySQLDSN        = "ETLQ_TEST_MYSQL_DSN"
	EnvMySQLMinimalDSN = "ETLQ_TEST_MYSQL_MINIMAL_DSN"
	EnvClickHouseDSN   = "ETLQ_TEST_CLICKHOUSE_DSN"

	DefaultMySQLDSN        = "mysql://root@127.0.0.1:3316"
	DefaultMySQLMinimalDSN = "mysql://root@127.0.0.1:3317"
	DefaultClickHouseDSN   = "clickhouse://127.0.0.1:19000"
)

// hint tells a developer how to get the servers.
const hint = "run: scripts/services up"

// checked caches each DSN's availability (nil or the error) for the process,
// so a package with many tests dials each server once.
var checked sync.Map // dsn -> error (as *checkResult)

type checkResult struct{ err error }

// MySQLDSN returns the DSN of MariaDB A (binlog_row_metadata=FULL, server
// time zone Europe/Berlin) after checking that it answers.
func MySQLDSN(t testing.TB) string {
	t.Helper()
	return require(t, "mysql", env(EnvMySQLDSN, DefaultMySQLDSN), checkMySQL)
}

// MySQLMinimalDSN returns the DSN of MariaDB B (binlog_row_metadata left at
// the server default, so the binlog carries no column names; server time zone
// America/Sao_Paulo) after checking that it answers.
func MySQLMinimalDSN(t testing.TB) string {
	t.Helper()
	return require(t, "mysql (minimal metadata)", env(EnvMySQLMinimalDSN, DefaultMySQLMinimalDSN), checkMySQL)
}

// ClickHouseDSN returns the ClickHouse DSN after checking that it answers.
func ClickHouseDSN(t testing.TB) string {
	t.Helper()
	return require(t, "clickhouse", env(EnvClickHouseDSN, DefaultClickHouseDSN), checkClickHouse)
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// require returns dsn when check passes; otherwise it skips the test, or
// fails it when CI=true.
func require(t testing.TB, what, dsn string, check func(string) error) string {
	t.Helper()
	var err error
	if r, ok := checked.Load(dsn); ok {
		err = r.(*checkResult).err
	} else {
		err = check(dsn)
		checked.Store(dsn, &checkResult{err: err})
	}
	if err != nil {
		unavailable(t, what, dsn, err)
	}
	return dsn
}

// unavailable reports a server that does not answer.
func unavailable(t testing.TB, what, dsn string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s test server %q does not answer: %v (CI=true, so this fails; %s)", what, redact(dsn), err, hint)
		return
	}
	t.Skipf("%s test server %q does not answer: %v (%s)", what, redact(dsn), err, hint)
}
