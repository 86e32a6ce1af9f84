package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// sakilaDir holds the Sakila sample database (shared/ sits beside the repo).
const sakilaDir = "../../../shared/fixtures/sakila"

// sakilaChange is one statement of the change round, with the table and
// operation its affected rows show up as in the binlog, and whether the
// film triggers write the same number of film_text rows.
type sakilaChange struct {
	sql      string
	table    string
	op       string
	filmText bool
}

// TestSakila loads the Sakila database (16 tables; ENUM, SET, YEAR, BLOB,
// GEOMETRY, DECIMAL, TIMESTAMP, DATETIME, CHAR, composite keys, triggers),
// snapshots every base table into ClickHouse with one pipeline per table
// plus one pattern pipeline over db.* that records every change's table and
// operation, then changes the data (updates, deletes, inserts, a key change,
// a multi-table transaction, film inserts whose trigger writes film_text)
// and catches up. After each run every table's _current view equals the
// source, every column of every row compared by its type, and the pattern
// pipeline saw exactly the operations made.
func TestSakila(t *testing.T) {
	t.Parallel()
	onBothServers(t, testSakila)
}

func testSakila(t *testing.T, myDSN string) {
	chDSN := testenv.ClickHouseDSN(t)
	if _, err := os.Stat(filepath.Join(sakilaDir, "sakila-schema.sql")); err != nil {
		t.Fatalf("the Sakila fixture is missing: %v", err)
	}
	db := testenv.UniqueName(t)
	my := testenv.MySQLConn(t, myDSN)
	ch := testenv.ClickHouseConn(t, chDSN)
	t.Cleanup(func() {
		my.Execute("DROP DATABASE IF EXISTS " + db)
		ch.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
	})
	// The fixture under this test's database name. MariaDB skips MySQL
	// 5.7 versioned comments (/*!50705 … */), which hold address.location
	// (GEOMETRY) and its values: open them, so GEOMETRY is covered too.
	name := regexp.MustCompile(`\bsakila\b`)
	rewrite := func(s string) string {
		return strings.ReplaceAll(name.ReplaceAllString(s, db), "/*!50705 ", "/*!")
	}
	mysqlLoadFile(t, myDSN, filepath.Join(sakilaDir, "sakila-schema.sql"), rewrite)
	mysqlLoadFile(t, myDSN, filepath.Join(sakilaDir, "sakila-data.sql"), rewrite)
	if n := testenv.Query(t, my, "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '"+db+"' AND TABLE_NAME = 'address' AND DATA_TYPE = 'geometry'"); n[0][0] != "1" {
		t.Fatalf("address.location (GEOMETRY) was not created")
	}

	var tables []string
	for _, r := range testenv.Query(t, my, "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = '"+db+"' AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME") {
		tables = append(tables, r[0])
	}
	if len(tables) != 16 {
		t.Fatalf("want the 16 Sakila tables, found %d: %v", len(tables), tables)
	}
	if n := testenv.Query(t, my, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = '"+db+"' AND EVENT_OBJECT_TABLE = 'film'"); n[0][0] != "3" {
		t.Fatalf("the film triggers were not created: %v", n)
	}

	// One pipeline per table (TRANSFORM * by default, upsert by the
	// primary key), and one pattern pipeline over every table: one target
	// for several tables of different layouts, so it keeps what they have
	// in common, the table and the operation of each change.
	var src strings.Builder
	fmt.Fprintf(&src, "CREATE SOURCE src FROM mysql '%s';\nCREATE SINK dw INTO clickhouse '%s';\n", myDSN, chDSN)
	for _, tb := range tables {
		fmt.Fprintf(&src, "CREATE PIPELINE copy_%s FROM binlog src.%s.%s SNAPSHOT initial INTO clickhouse dw.%s.%s;\n", tb, db, tb, db, tb)
	}
	fmt.Fprintf(&src, "CREATE PIPELINE changes FROM binlog src.%s.* SNAPSHOT initial\n  TRANSFORM _table AS tbl, _op AS op\n  INTO clickhouse dw.%s.changes MODE append;\n", db, db)
	dir := t.TempDir()
	file := filepath.Join(dir, "sakila.etl")
	if err := os.WriteFile(file, []byte(src.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")

	ops := map[string]int{}
	for _, tb := range tables {
		n := testenv.Query(t, my, "SELECT COUNT(*) FROM `"+db+"`.`"+tb+"`")[0][0]
		var c int
		fmt.Sscan(n, &c)
		ops[tb+"|read"] = c
	}
	compareAll := func(round string) {
		t.Helper()
		total := 0
		for _, tb := range tables {
			total += compareTable(t, my, ch, db, tb, db, tb, "`"+db+"`.`"+tb+"_current`")
		}
		var want []string
		for k, n := range ops {
			want = append(want, fmt.Sprintf("%s|%d", k, n))
		}
		sort.Strings(want)
		got := chRows(t, ch, "SELECT tbl, op, toString(count()) FROM `"+db+"`.changes GROUP BY tbl, op")
		sort.Strings(got)
		if strings.Join(want, "\n") != strings.Join(got, "\n") {
			t.Errorf("%s: the pattern pipeline's changes per table and operation differ", round)
			diffRows(t, want, got)
		}
		t.Logf("%s: %d tables, %d rows compared", round, len(tables), total)
	}

	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	compareAll("snapshot")
	if t.Failed() {
		return
	}

	// The changes. None of them fires a foreign-key cascade: InnoDB does
	// not write cascaded changes to the binlog, so no binlog reader sees
	// them (payments of deleted rentals are deleted first).
	q := func(s string) string { return strings.ReplaceAll(s, "DB.", "`"+db+"`.") }
	changes := []sakilaChange{
		{sql: "UPDATE DB.actor SET last_name = CONCAT(last_name, '-X') WHERE actor_id % 7 = 0", table: "actor", op: "update"},
		{sql: "UPDATE DB.film SET rental_rate = rental_rate + 1, special_features = 'Trailers,Deleted Scenes', length = NULL WHERE film_id % 10 = 0", table: "film", op: "update"},
		{sql: "UPDATE DB.film SET title = CONCAT(title, ' II'), release_year = 2155, rating = 'NC-17' WHERE film_id % 25 = 1", table: "film", op: "update", filmText: true},
		{sql: "INSERT INTO DB.film (title, description, release_year, language_id, original_language_id, rental_duration, rental_rate, length, replacement_cost, rating, special_features) VALUES " +
			"('ZÜRICH NIGHTS', 'A “quoted” tale of a café', 1901, 2, 1, 7, 0.99, 185, 29.99, 'PG-13', 'Commentaries,Behind the Scenes'), " +
			"('BARE FILM', NULL, NULL, 1, NULL, 3, 4.99, NULL, 19.99, NULL, NULL), " +
			"('EMPTY SET', '', 2024, 1, NULL, 1, 0.00, 0, 0.00, 'R', '')", table: "film", op: "insert", filmText: true},
		{sql: "DELETE FROM DB.film WHERE title = 'BARE FILM'", table: "film", op: "delete", filmText: true},
		{sql: "UPDATE DB.film_text SET description = CONCAT(description, ' (restored)') WHERE film_id % 100 = 2", table: "film_text", op: "update"},
		{sql: "UPDATE DB.staff SET picture = UNHEX('00FF10'), password = NULL WHERE staff_id = 2", table: "staff", op: "update"},
		{sql: "UPDATE DB.address SET location = ST_GeomFromText('POINT(1.5 -2.25)'), address2 = NULL, postal_code = '' WHERE address_id % 100 = 1", table: "address", op: "update"},
		{sql: "UPDATE DB.customer SET active = 0, email = NULL, create_date = '2030-12-31 23:59:59' WHERE customer_id % 9 = 0", table: "customer", op: "update"},
		{sql: "UPDATE DB.rental SET return_date = NULL WHERE rental_id % 97 = 0 AND return_date IS NOT NULL", table: "rental", op: "update"},
		{sql: "DELETE FROM DB.payment WHERE rental_id IN (SELECT rental_id FROM DB.rental WHERE rental_id % 500 = 0)", table: "payment", op: "delete"},
		{sql: "DELETE FROM DB.rental WHERE rental_id % 500 = 0", table: "rental", op: "delete"},
		{sql: "DELETE FROM DB.payment WHERE payment_id % 50 = 7", table: "payment", op: "delete"},
		{sql: "UPDATE DB.payment SET amount = amount * 2, payment_date = '1999-12-31 23:59:59' WHERE payment_id % 40 = 3", table: "payment", op: "update"},
		{sql: "INSERT INTO DB.category (name) VALUES ('Documentary II'), ('Ñoño')", table: "category", op: "insert"},
		{sql: "UPDATE DB.language SET name = 'Klingon' WHERE language_id = 6", table: "language", op: "update"},
		{sql: "INSERT INTO DB.country (country) VALUES ('Atlantis')", table: "country", op: "insert"},
		{sql: "DELETE FROM DB.country WHERE country = 'Atlantis'", table: "country", op: "delete"},
		{sql: "UPDATE DB.city SET city = 'Zürich' WHERE city_id = 1", table: "city", op: "update"},
		{sql: "INSERT INTO DB.inventory (film_id, store_id) SELECT film_id, 2 FROM DB.film WHERE film_id <= 5", table: "inventory", op: "insert"},
		{sql: "DELETE FROM DB.film_actor WHERE actor_id = 1", table: "film_actor", op: "delete"},
		// A key change of a composite key: the old key must disappear.
		{sql: "UPDATE DB.film_category SET category_id = 1 WHERE film_id % 100 = 3 AND category_id <> 1", table: "film_category", op: "update"},
		{sql: "UPDATE DB.store SET last_update = '2020-01-01 00:00:00' WHERE store_id = 1", table: "store", op: "update"},
		// One transaction over several tables.
		{sql: "BEGIN"},
		{sql: "INSERT INTO DB.customer (store_id, first_name, last_name, email, address_id, active, create_date) VALUES (1, 'ADA', 'LOVELACE', NULL, 5, 1, '2026-01-02 03:04:05')", table: "customer", op: "insert"},
		{sql: "INSERT INTO DB.payment (customer_id, staff_id, rental_id, amount, payment_date) VALUES (LAST_INSERT_ID(), 1, NULL, 999.99, '2026-01-02 03:04:05')", table: "payment", op: "insert"},
		{sql: "UPDATE DB.actor SET first_name = 'ADA' WHERE actor_id = 2", table: "actor", op: "update"},
		{sql: "COMMIT"},
	}
	for _, c := range changes {
		r, err := my.Execute(q(c.sql))
		if err != nil {
			t.Fatalf("%s: %v", q(c.sql), err)
		}
		if c.table == "" {
			continue
		}
		if r.AffectedRows == 0 {
			t.Fatalf("%s changed no row", q(c.sql))
		}
		ops[c.table+"|"+c.op] += int(r.AffectedRows)
		if c.filmText {
			ops["film_text|"+c.op] += int(r.AffectedRows)
		}
	}
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	compareAll("changes")
}
