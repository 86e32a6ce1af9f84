package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
)

// tenantRows is the MySQL query of every row of table tb in the databases
// of the tenants given, as "db|id|status|cents", ordered like tenantCH's.
func tenantRows(t *testing.T, my *client.Conn, prefix, tb string) string {
	t.Helper()
	var parts []string
	for _, d := range myRows(t, my, fmt.Sprintf("SELECT TABLE_SCHEMA FROM information_schema.TABLES WHERE TABLE_SCHEMA LIKE '%s\\_t%%' AND TABLE_NAME = '%s' ORDER BY 1", prefix, tb)) {
		parts = append(parts, fmt.Sprintf("SELECT '%[1]s' AS d, id, status, CAST(amount * 100 AS SIGNED) AS a FROM %[1]s.%[2]s", d, tb))
	}
	if len(parts) == 0 {
		return "SELECT 1 FROM DUAL WHERE FALSE"
	}
	return "SELECT * FROM (" + strings.Join(parts, " UNION ALL ") + ") x ORDER BY d, id"
}

func tenantCH(db, table string) string {
	return fmt.Sprintf("SELECT _db, toString(id), status, toString(toInt64(amount * 100)) FROM %s.%s_current ORDER BY _db, id", db, table)
}

// TestDatabasePatternFollowsDatabases: `FROM binlog s.tenant_*.orders`, a
// pattern in the database part only (a SaaS with one database per tenant),
// follows the tenants' databases as tables under a pattern are followed
// (docs/live-tables.md): a tenant created while etlq runs joins at once
// with its rows, a tenant dropped leaves the target with its rows, and the
// same while etlq is stopped. Failed before: the stream took the pattern
// for the names planned at the start, so a new tenant's rows never reached
// the target and a tenant dropped while etlq was stopped kept its rows.
func TestDatabasePatternFollowsDatabases(t *testing.T) {
	t.Parallel()
	onBothServers(t, testDatabasePatternFollowsDatabases)
}

func testDatabasePatternFollowsDatabases(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	tenant := func(n int) string { return fmt.Sprintf("%s_t%d", db, n) }
	t.Cleanup(func() {
		for n := 1; n <= 4; n++ {
			s.my.Execute("DROP DATABASE IF EXISTS " + tenant(n))
		}
	})
	myExec(t, my, "CREATE DATABASE "+db)
	for n := 1; n <= 2; n++ {
		myExec(t, my, "CREATE DATABASE "+tenant(n), "CREATE TABLE "+tenant(n)+".orders "+liveTableDef)
		seed(t, my, tenant(n)+".orders", 100*n)
	}
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s_t*.orders TRANSFORM _db, _table, * INTO clickhouse dw.%[3]s.orders WITH (flush_interval = '100ms');
`, myDSN, chDSN, db, testServerID()))
	myQ, chQ := tenantRows(t, my, db, "orders"), tenantCH(db, "orders")

	a := startApply(t, state, file)
	a.waitSame(t, my, ch, myQ, chQ, 90*time.Second)
	myExec(t, my, "CREATE DATABASE "+tenant(3), "CREATE TABLE "+tenant(3)+".orders "+liveTableDef)
	seed(t, my, tenant(3)+".orders", 50)
	myExec(t, my, "UPDATE "+tenant(3)+".orders SET amount = 1.25 WHERE id % 5 = 0", "DELETE FROM "+tenant(3)+".orders WHERE id % 7 = 0",
		"UPDATE "+tenant(1)+".orders SET status = 'moved' WHERE id < 10")
	// A marker after the new tenant's changes: once it is in the target,
	// so must they be.
	myExec(t, my, "INSERT INTO "+tenant(1)+".orders VALUES (100001, 'marker', 1.00)")
	a.waitFor(t, "the marker in ClickHouse", 90*time.Second, func() (bool, string) {
		n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.orders_current WHERE id = 100001", db))
		return err == nil && n == 1, fmt.Sprintf("%d, %v", n, err)
	})
	myQ = tenantRows(t, my, db, "orders")
	diffRows(t, myRows(t, my, myQ), chRows(t, ch, chQ))
	out := a.stop(t)
	if !strings.Contains(out, "msg=\"table joined the pipeline\" pipeline=p table="+tenant(3)+".orders") {
		t.Errorf("the log does not say %s.orders joined:\n%s", tenant(3), out)
	}

	// While etlq is stopped: one tenant dropped, one created.
	myExec(t, my, "DROP DATABASE "+tenant(2),
		"CREATE DATABASE "+tenant(4), "CREATE TABLE "+tenant(4)+".orders "+liveTableDef)
	seed(t, my, tenant(4)+".orders", 30)
	mustEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
	myQ = tenantRows(t, my, db, "orders")
	diffRows(t, myRows(t, my, myQ), chRows(t, ch, chQ))
	n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.orders_current WHERE _db = '%s'", db, tenant(2)))
	if err != nil || n != 0 {
		t.Errorf("the dropped tenant's rows in the target: %d (%v)", n, err)
	}
}
