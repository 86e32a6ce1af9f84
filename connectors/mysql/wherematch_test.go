package mysql

import (
	"context"
	"fmt"
	"testing"

	"github.com/etlq/etlq/connectors"
)

// TestMatchWhereAsTheTable: MatchWhere, over a row given as the texts a
// dead letter keeps (binary as base64, TIMESTAMP in UTC), says of each
// condition what the server says of the same row in the table itself —
// a case-insensitive and a binary collation, a DECIMAL, a FLOAT against a
// literal it does not hold exactly, dates and times, a TIMESTAMP, binary,
// an unsigned, an ENUM by its text, a NULL. (An ENUM or SET compared as
// a number, its index, is compared as its text instead: a limit,
// docs/operations.md.)
func TestMatchWhereAsTheTable(t *testing.T) {
	for _, s := range servers(t) {
		t.Run(s.name, func(t *testing.T) {
			db := uniqueDB(t, s)
			run(t, s, "CREATE TABLE "+db+".w (id INT PRIMARY KEY, ci VARCHAR(10) CHARACTER SET latin1 COLLATE latin1_swedish_ci, cs VARCHAR(10) COLLATE utf8mb4_bin, "+
				"amount DECIMAL(12,2), f FLOAT, d DATE, dt DATETIME(3), ts TIMESTAMP(0) NULL, tm TIME, b VARBINARY(8), u INT UNSIGNED, e ENUM('a','b'), n INT NULL)",
				"SET time_zone = '+00:00'",
				"INSERT INTO "+db+".w VALUES (7, 'Äbc', 'Abc', 12.50, 0.1, '2024-02-29', '2024-03-01 10:00:00.125', '2024-03-01 10:00:00', '-01:02:03', 0x00ff41, 4000000000, 'b', NULL)")
			src := newSrc(t, s, nil)
			defer src.Close()
			ref := connectors.TableRef{DB: db, Table: "w"}
			ts, err := src.Describe(context.Background(), ref)
			if err != nil {
				t.Fatal(err)
			}
			v := func(s string) *string { return &s }
			row := map[string]*string{"id": v("7"), "ci": v("Äbc"), "cs": v("Abc"), "amount": v("12.50"), "f": v("0.1"), "d": v("2024-02-29"),
				"dt": v("2024-03-01 10:00:00.125"), "ts": v("2024-03-01 10:00:00"), "tm": v("-01:02:03"), "b": v("AP9B"), "u": v("4000000000"), "e": v("b")}
			for _, where := range []string{
				"ci = 'äBC'", "cs = 'abc'", "cs = 'Abc'", "amount = 12.5", "amount > '9'", "f = 0.1", "f < 0.1000001",
				"d BETWEEN '2024-02-01' AND '2024-02-29'", "dt > '2024-03-01 10:00:00.12'", "ts = '2024-03-01 10:00:00'",
				"tm < '00:00:00'", "b = 0x00ff41", "HEX(b) = '00FF41'", "u > 3000000000", "e = 'B'", "n IS NULL", "n = 0", "id BETWEEN 1 AND 6",
				"w.id = 7 AND ci LIKE 'ä%'",
			} {
				got, err := src.MatchWhere(context.Background(), ref, ts.Fields, where, []map[string]*string{row})
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				c := conn(t, s)
				c.Execute("SET time_zone = '+00:00'")
				r, err := c.Execute(fmt.Sprintf("SELECT COUNT(*) FROM %s.w WHERE %s", db, where))
				c.Close()
				if err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				n, _ := r.GetInt(0, 0)
				if got[0] != (n == 1) {
					t.Errorf("WHERE %s: MatchWhere says %v, the table %v", where, got[0], n == 1)
				}
			}
		})
	}
}
