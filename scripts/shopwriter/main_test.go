package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/testenv"
)

func TestParseDSN(t *testing.T) {
	p, err := parseDSN("mysql://u:p%40w@h:3317")
	if err != nil || p != (dsnParts{addr: "h:3317", user: "u", password: "p@w"}) {
		t.Errorf("parseDSN = %+v, %v", p, err)
	}
	p, err = parseDSN("mysql://h")
	if err != nil || p != (dsnParts{addr: "h:3306", user: "root"}) {
		t.Errorf("parseDSN = %+v, %v", p, err)
	}
	if _, err := parseDSN("root@h:1"); err == nil {
		t.Error("parseDSN accepted a DSN without scheme")
	}
}

// TestSeedAndWrite seeds a small shop, writes changes for a moment and
// checks the data stays consistent: no orphan items, every status valid,
// and the summary printed.
func TestSeedAndWrite(t *testing.T) {
	dsn := testenv.MySQLDSN(t)
	db := testenv.UniqueName(t)
	conn := testenv.MySQLConn(t, dsn)
	t.Cleanup(func() { conn.Execute("DROP DATABASE IF EXISTS " + db) })
	var out bytes.Buffer
	c := config{dsn: dsn, db: db, seed: 300, rate: 400, duration: 700 * time.Millisecond, report: 200 * time.Millisecond, randSeed: 1}
	if err := run(context.Background(), c, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !strings.Contains(text, "seeded "+db+" with 30 customers, 300 orders") || !strings.Contains(text, " total ") ||
		strings.Count(text, " last ") < 2 {
		t.Errorf("unexpected output:\n%s", text)
	}
	rows := testenv.Query(t, conn, `SELECT
		(SELECT COUNT(*) FROM `+db+`.orders),
		(SELECT MAX(id) FROM `+db+`.orders),
		(SELECT COUNT(*) FROM `+db+`.order_items WHERE order_id NOT IN (SELECT id FROM `+db+`.orders)),
		(SELECT COUNT(*) FROM `+db+`.orders o WHERE NOT EXISTS (SELECT 1 FROM `+db+`.order_items i WHERE i.order_id = o.id)),
		(SELECT COUNT(DISTINCT status) FROM `+db+`.orders),
		(SELECT COUNT(*) FROM `+db+`.customers)`)
	r := rows[0]
	if r[0] == "300" && r[1] == "300" {
		t.Errorf("no change written after seeding: %v", r)
	}
	if r[2] != "0" || r[3] != "0" {
		t.Errorf("orphan items %s, orders without items %s", r[2], r[3])
	}
	if r[4] != "4" {
		t.Errorf("distinct statuses = %s, want 4", r[4])
	}
	// A second run finds the orders and does not seed again.
	out.Reset()
	c.rate = 0
	if err := run(context.Background(), c, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "already has orders") {
		t.Errorf("second run: %s", out.String())
	}
}
