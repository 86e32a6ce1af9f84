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

// TestVerifySharedTarget: two pipelines write one target (the tenants of
// two shards into one table, told apart by _db and _table). verify checks
// each pipeline against its own rows only: a correct target passes, a
// change in one tenant is found and repaired, and the repair leaves the
// other pipeline's rows alone; a pipeline whose shared target cannot tell
// the rows apart is reported as not verified. Failed before: each
// pipeline took the other's rows for extra keys (exit 1 on a correct
// target), and --repair wrote tombstones for them, emptying the other
// pipeline's part of the target.
func TestVerifySharedTarget(t *testing.T) {
	t.Parallel()
	onBothServers(t, testVerifySharedTarget)
}

func testVerifySharedTarget(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my, "CREATE DATABASE "+db)
	for _, tb := range []string{"a_1", "a_2", "b_1"} {
		myExec(t, my, "CREATE TABLE "+db+"."+tb+" "+liveTableDef)
		seed(t, my, db+"."+tb, 20)
	}
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE pa FROM binlog s.%[3]s.a_* SNAPSHOT only TRANSFORM _db, _table, * INTO clickhouse dw.%[3]s.shared;
CREATE PIPELINE pb FROM binlog s.%[3]s.b_* SNAPSHOT only TRANSFORM _db, _table, * INTO clickhouse dw.%[3]s.shared;
`, myDSN, s.chDSN, db, testServerID()))
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	if v, code, out := runVerify(t, "--state-dir", state, file); code != 0 || !v.OK {
		t.Fatalf("verify of a correct shared target: exit %d:\n%s", code, out)
	}
	myExec(t, my, "UPDATE "+db+".a_2 SET status = 'changed' WHERE id = 3", "DELETE FROM "+db+".b_1 WHERE id = 4")
	v, code, out := runVerify(t, "--state-dir", state, file)
	if code != 1 || len(v.Pipelines) != 2 || v.Pipelines[0].Changed != 1 || v.Pipelines[0].Extra != 0 || v.Pipelines[1].Extra != 1 || v.Pipelines[1].Changed != 0 {
		t.Fatalf("verify after a change in each pipeline's tables: exit %d:\n%s", code, out)
	}
	if v, code, out := runVerify(t, "--repair", "--state-dir", state, file); code != 0 || v.Pipelines[0].Repaired != 1 || v.Pipelines[1].Repaired != 1 {
		t.Fatalf("verify --repair: exit %d:\n%s", code, out)
	}
	var want []string
	for _, tb := range []string{"a_1", "a_2", "b_1"} {
		want = append(want, myRows(t, my, fmt.Sprintf("SELECT '%s', id, status FROM %s.%s ORDER BY id", tb, db, tb))...)
	}
	diffRows(t, want, chRows(t, ch, fmt.Sprintf("SELECT _table, toString(id), status FROM %s.shared_current ORDER BY _table, id", db)))

	// Without _db and _table the rows cannot be told apart: not verified.
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE pa FROM binlog s.%[3]s.a_1 SNAPSHOT only INTO clickhouse dw.%[3]s.plain KEY (id);
CREATE PIPELINE pb FROM binlog s.%[3]s.b_1 SNAPSHOT only TRANSFORM id + 1000 AS id, status, amount INTO clickhouse dw.%[3]s.plain KEY (id);
`, myDSN, s.chDSN, db, testServerID()))
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", filepath.Join(dir, "plain"), file)
	out, err := runEtlq(t, "verify", "--progress", "never", "--state-dir", filepath.Join(dir, "plain"), file)
	if err == nil || !strings.Contains(out, "pa: not verified: its target "+db+".plain is written by pipeline pb as well, and has no _db or _table column to tell their rows apart") {
		t.Errorf("verify of a shared target without _table: %v\n%s", err, out)
	}
}

// TestVerifyChangelogTruncateOfOneTable: a changelog target of several
// tables, one of them truncated: verify replays each table's changes
// after its own truncate. Failed before: the last truncate of any table
// ended every table's replay, and verify found the other tables' rows
// missing.
func TestVerifyChangelogTruncateOfOneTable(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my := s.db, s.my
		myExec(t, my, "CREATE DATABASE "+db)
		for _, tb := range []string{"c_1", "c_2"} {
			myExec(t, my, "CREATE TABLE "+db+"."+tb+" "+liveTableDef)
			seed(t, my, db+"."+tb, 10)
		}
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.c_* TRANSFORM _db, _table, id, status INTO clickhouse dw.%[3]s.log MODE changelog KEY (_db, _table, id);
`, myDSN, s.chDSN, db, testServerID()))
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		myExec(t, my, "UPDATE "+db+".c_1 SET status = 'later' WHERE id = 2", "TRUNCATE TABLE "+db+".c_2", "INSERT INTO "+db+".c_2 VALUES (7, 'back', 1.00)")
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		if v, code, out := runVerify(t, "--state-dir", state, file); code != 0 || !v.OK {
			t.Fatalf("verify after a truncate of one table: exit %d:\n%s", code, out)
		}
	})
}

// TestVerifyDuplicateKeysOfSeveralTables: a changelog over shards whose
// ids repeat, keyed by the primary key alone: verify's duplicate keys
// say how to make the key unique across the tables. Before, it told the
// user to key on the source's primary key — the key it had.
func TestVerifyDuplicateKeysOfSeveralTables(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my := s.db, s.my
		myExec(t, my, "CREATE DATABASE "+db)
		for _, tb := range []string{"d_1", "d_2"} {
			myExec(t, my, "CREATE TABLE "+db+"."+tb+" "+liveTableDef)
			seed(t, my, db+"."+tb, 3)
		}
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s.d_* TRANSFORM _table, id, status INTO clickhouse dw.%[3]s.log MODE changelog;
`, myDSN, s.chDSN, db, testServerID()))
		mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		out, err := runEtlq(t, "verify", "--progress", "never", "--state-dir", state, file)
		if err == nil || !strings.Contains(out, "(fix: a KEY that is unique across the pipeline's 2 tables: add _db and _table to TRANSFORM and to the KEY, KEY (_db, _table, …))") {
			t.Errorf("verify of duplicate keys over two tables: %v\n%s", err, out)
		}
	})
}

// TestDatabasePatternKeyedByTenant: `FROM binlog s.tenant_*.orders
// TRANSFORM _db AS tenant, *` — tables of one name in several databases
// differ by database alone, so the tenant column tells their rows apart
// (the key becomes (tenant, id)): ids shared by tenants stay apart, a
// TRUNCATE of one tenant's table removes its rows only, and verify
// checks each tenant's rows. Failed before: check refused the pipeline
// until _table was added to TRANSFORM (a column that held "orders" in
// every row).
func TestDatabasePatternKeyedByTenant(t *testing.T) {
	t.Parallel()
	onBothServers(t, testDatabasePatternKeyedByTenant)
}

func testDatabasePatternKeyedByTenant(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch, chDSN := s.db, s.my, s.ch, s.chDSN
	tenant := func(n int) string { return fmt.Sprintf("%s_t%d", db, n) }
	t.Cleanup(func() {
		for n := 1; n <= 2; n++ {
			s.my.Execute("DROP DATABASE IF EXISTS " + tenant(n))
		}
	})
	myExec(t, my, "CREATE DATABASE "+db)
	for n := 1; n <= 2; n++ {
		myExec(t, my, "CREATE DATABASE "+tenant(n), "CREATE TABLE "+tenant(n)+".orders "+liveTableDef)
		seed(t, my, tenant(n)+".orders", 40*n)
	}
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[4]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p FROM binlog s.%[3]s_t*.orders TRANSFORM _db AS tenant, * INTO clickhouse dw.%[3]s.orders WITH (flush_interval = '100ms');
`, myDSN, chDSN, db, testServerID()))
	if out, err := runEtlq(t, "check", file); err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	myQ := func() string {
		return fmt.Sprintf("SELECT * FROM (SELECT '%[1]s' AS d, id, status FROM %[1]s.orders UNION ALL SELECT '%[2]s', id, status FROM %[2]s.orders) x ORDER BY d, id", tenant(1), tenant(2))
	}
	chQ := fmt.Sprintf("SELECT tenant, toString(id), status FROM %s.orders_current ORDER BY tenant, id", db)

	a := startApply(t, state, file)
	a.waitSame(t, my, ch, myQ(), chQ, 90*time.Second)
	myExec(t, my, "UPDATE "+tenant(2)+".orders SET status = 'moved' WHERE id <= 10", "TRUNCATE TABLE "+tenant(1)+".orders",
		"INSERT INTO "+tenant(1)+".orders VALUES (7, 'after', 2.00)")
	a.waitSame(t, my, ch, myQ(), chQ, 90*time.Second)
	out := a.stop(t)
	if strings.Contains(out, "the target keeps") {
		t.Errorf("the truncate kept rows:\n%s", out)
	}
	if v, code, out := runVerify(t, "--state-dir", state, file); code != 0 || !v.OK {
		t.Fatalf("verify: exit %d:\n%s", code, out)
	}
	// (apply stopped: verify reports the difference as unconfirmed: not exit 0)
	myExec(t, my, "UPDATE "+tenant(1)+".orders SET status = 'drift' WHERE id = 7")
	if v, code, out := runVerify(t, "--state-dir", state, file); code == 0 || len(v.Pipelines) != 1 || v.Pipelines[0].Changed != 1 || v.Pipelines[0].Extra != 0 || v.Pipelines[0].Missing != 0 {
		t.Fatalf("verify after a change of one tenant's row: exit %d:\n%s", code, out)
	}
}
