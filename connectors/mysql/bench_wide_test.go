package mysql

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// BenchmarkBinlogDecodeWideUpdates decodes the updates of a 300-column
// table (cmd/etlq BenchmarkShapeWideTable's columns: 100 INT, 100
// VARCHAR(32) latin1, 50 DOUBLE, 49 DECIMAL and the key), 10,000 rows each
// updated once in one column, full row images: with every before.* value
// decoded (a changelog's) and with only the key's (an upsert's,
// connectors.BeforeCols). cpu_ns/row is the process's CPU per update.
func BenchmarkBinlogDecodeWideUpdates(b *testing.B) {
	s := server{"full", envOr("ETLQ_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3316")}
	const rows = 10000
	db := fmt.Sprintf("bench_decode_wide_%d", time.Now().UnixNano()%100000)
	run(b, s, "CREATE DATABASE "+db)
	defer run(b, s, "DROP DATABASE "+db)
	var cols, vals []string
	cols = append(cols, "id INT NOT NULL PRIMARY KEY")
	vals = append(vals, "seq")
	for i := 0; i < 100; i++ {
		cols = append(cols, fmt.Sprintf("i%d INT NOT NULL", i), fmt.Sprintf("s%d VARCHAR(32) CHARACTER SET latin1 NOT NULL", i))
		vals = append(vals, fmt.Sprintf("seq * %d", i+1), fmt.Sprintf("CONCAT('value-%d-', seq)", i))
	}
	for i := 0; i < 50; i++ {
		cols = append(cols, fmt.Sprintf("f%d DOUBLE NOT NULL", i))
		vals = append(vals, fmt.Sprintf("seq / %d", i+3))
	}
	for i := 0; i < 49; i++ {
		cols = append(cols, fmt.Sprintf("d%d DECIMAL(12,2) NOT NULL", i))
		vals = append(vals, fmt.Sprintf("seq * %d / 100", i+1))
	}
	t := db + ".wide"
	run(b, s, "CREATE TABLE "+t+" ("+strings.Join(cols, ", ")+")",
		fmt.Sprintf("INSERT INTO %s SELECT %s FROM %s.seq_1_to_%d", t, strings.Join(vals, ", "), db, rows))
	c := conn(b, s)
	defer c.Close()
	start, _, err := masterStatus(c, "")
	if err != nil {
		b.Fatal(err)
	}
	for lo := 1; lo <= rows; lo += 1000 {
		run(b, s, fmt.Sprintf("UPDATE %s SET i0 = i0 + 1 WHERE id BETWEEN %d AND %d", t, lo, lo+999))
	}
	end, _, err := masterStatus(c, "")
	if err != nil {
		b.Fatal(err)
	}
	raw := fetchRaw(b, s, start, end)
	src := newSrc(b, s, nil)
	src.cfg.Flavor = "mariadb"
	tc, err := src.connect(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	tbl, err := readTable(tc, connectors.TableRef{DB: db, Table: "wide"})
	tc.Close()
	if err != nil {
		b.Fatal(err)
	}
	benchBeforeModes(b, src, tbl, start, raw, rows)
}
