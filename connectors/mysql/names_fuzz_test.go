package mysql

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// hostileRunes are characters that break SQL built by concatenation:
// quotes of every kind, comment and statement starts, parentheses, commas,
// inner spaces and letters outside ASCII. Left out: '*', '?', '[' and
// '\\', which a FROM table name reads as a glob pattern, and '.', '/' that
// MariaDB refuses in a table name.
var hostileRunes = []rune("`'\";-#()$,={}% é日")

// hostileName returns prefix and 3 to 10 characters drawn mostly from
// hostileRunes, without a trailing space (MariaDB refuses one).
func hostileName(r *rand.Rand, prefix string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for n := 3 + r.Intn(8); n > 0; n-- {
		if r.Intn(4) == 0 {
			b.WriteByte(byte('a' + r.Intn(26)))
		} else {
			b.WriteRune(hostileRunes[r.Intn(len(hostileRunes))])
		}
	}
	return strings.TrimRight(b.String(), " ") + "z"
}

// TestHostileNames snapshots and follows the binlog of tables whose names
// and column names (the key's included) are drawn from quotes, backquotes,
// comment markers and the like: every identifier and string the source
// puts into SQL (schema queries, chunked SELECTs, key ranges) is quoted,
// and the rows arrive under their names. Seeded; the seed is logged.
func TestHostileNames(t *testing.T) {
	seed := int64(20261204)
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	s := servers(t)[0]
	db := uniqueDB(t, s)
	for i := 0; i < 4; i++ {
		table := hostileName(r, fmt.Sprintf("t%d", i))
		key, val := hostileName(r, "k"), hostileName(r, "v")
		t.Run(table, func(t *testing.T) {
			id := quoteIdent(db) + "." + quoteIdent(table)
			run(t, s, "CREATE TABLE "+id+" ("+quoteIdent(key)+" VARCHAR(20) PRIMARY KEY, "+quoteIdent(val)+" VARCHAR(40))")
			for k := 0; k < 5; k++ {
				run(t, s, "INSERT INTO "+id+" VALUES ("+quoteString(fmt.Sprintf("%s-%d", hostileName(r, "x"), k))+", "+quoteString(hostileName(r, "y"))+")")
			}
			src := newSrc(t, s, map[string]any{"chunk_rows": 2})
			ref := connectors.TableRef{DB: db, Table: table}
			refs, err := src.Tables(context.Background(), db, table)
			if err != nil || len(refs) != 1 || refs[0] != ref {
				t.Fatalf("Tables(%q) = %v, %v", table, refs, err)
			}
			mem := checkedMem(t)
			st, err := src.OpenWithAllocator(context.Background(), connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref}}, Once: true}, mem)
			if err != nil {
				t.Fatal(err)
			}
			rows, mark := drain(t, st, 30*time.Second, nil)
			st.Close()
			if len(rows) != 5 || mark == nil {
				t.Fatalf("snapshot in chunks of 2: %d rows", len(rows))
			}
			for _, row := range rows {
				if _, ok := row[key]; !ok {
					t.Fatalf("row without column %q: %v", key, row)
				}
			}
			run(t, s, "UPDATE "+id+" SET "+quoteIdent(val)+" = 'changed' ORDER BY "+quoteIdent(key)+" LIMIT 1")
			st, err = src.OpenWithAllocator(context.Background(), connectors.StreamRequest{Tables: []connectors.StreamTable{{Ref: ref}}, Once: true, Resume: mark.Bytes()}, mem)
			if err != nil {
				t.Fatal(err)
			}
			rows, _ = drain(t, st, 30*time.Second, nil)
			st.Close()
			if len(rows) != 1 || rows[0][val] != "changed" {
				t.Fatalf("binlog: %v", rows)
			}
		})
	}
}
