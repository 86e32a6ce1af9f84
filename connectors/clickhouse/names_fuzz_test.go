package clickhouse

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/sinktest"
)

// hostileRunes are characters that break SQL built by concatenation:
// quotes, backquotes, backslashes, comment and statement starts, white
// space, commas, dots and letters outside ASCII.
//
// Left out: parentheses. clickhouse-go's PrepareBatch re-parses the INSERT
// and cannot take a table name with '(' or ')', nor a column name whose
// parentheses do not balance; etlq refuses such names with a clear error
// before any data moves (TestOddNamesIntoClickHouse in cmd/etlq covers the
// refusal and the balanced case end to end).
var hostileRunes = []rune("'\";-/*$?{}=é日#% `\\,.")

// hostileName returns prefix and 3 to 12 characters drawn mostly from
// hostileRunes (the prefix keeps names apart and readable in a failure).
func hostileName(r *rand.Rand, prefix string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for n := 3 + r.Intn(10); n > 0; n-- {
		if r.Intn(4) == 0 {
			b.WriteByte(byte('a' + r.Intn(26)))
		} else {
			b.WriteRune(hostileRunes[r.Intn(len(hostileRunes))])
		}
	}
	return b.String()
}

// TestHostileNames creates tables whose database-qualified name, table
// name, column names and key are drawn from quotes, backslashes, comment
// markers and the like, in every mode, loads rows into them and reads them
// back by those names: every name the sink puts into DDL and INSERTs is
// quoted. The seed is in the test's log, so a failure can be replayed.
func TestHostileNames(t *testing.T) {
	seed := int64(20261204)
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewSource(seed))
	e := newEnv(t, nil)
	for i, mode := range []connectors.Mode{connectors.ModeUpsert, connectors.ModeAppend, connectors.ModeChangelog,
		connectors.ModeUpsert, connectors.ModeAppend, connectors.ModeChangelog} {
		table := hostileName(r, fmt.Sprintf("t%d", i))
		cols := map[string]bool{}
		var fields []arrow.Field
		for len(fields) < 3 {
			n := hostileName(r, "c")
			if cols[n] {
				continue
			}
			cols[n] = true
			typ := arrow.DataType(arrow.BinaryTypes.String)
			if len(fields) == 0 {
				typ = arrow.PrimitiveTypes.Int64
			}
			fields = append(fields, arrow.Field{Name: n, Type: typ, Nullable: len(fields) > 0})
		}
		var key []string
		if mode == connectors.ModeUpsert {
			key = []string{fields[0].Name}
		}
		t.Run(fmt.Sprintf("%s %q", mode, table), func(t *testing.T) {
			s := sinktest.SinkSchema(fields, mode == connectors.ModeChangelog)
			w := e.open(e.target(table, mode, key, s, map[string]any{"order_by": ""}))
			var rows [][]any
			for id := 1; id <= 2; id++ {
				user := []any{id, hostileName(r, "v"), nil}
				if mode == connectors.ModeChangelog {
					user = append(user, nil, nil, nil)
				}
				rows = append(rows, sysRow(uint64(id), false, "insert", user...))
			}
			write(t, w, e.build(s, rows...), nil)
			flush(t, w)
			got := e.text("SELECT toString(count()), toString(sum(" + quote(fields[0].Name) + ")) FROM " + quote(e.db) + "." + quote(table))
			if got != "2\t3\n" {
				t.Errorf("rows read back by their names: %q", got)
			}
			names := strings.Split(strings.TrimSuffix(e.text("SELECT name FROM system.columns WHERE database = "+quoteString(e.db)+
				" AND table = "+quoteString(table)), "\n"), "\n")
			for _, n := range fields {
				if !contains(names, n.Name) {
					t.Errorf("column %q missing; table has %q", n.Name, names)
				}
			}
			if mode == connectors.ModeUpsert {
				v := e.text("SELECT toString(count()) FROM " + quote(e.db) + "." + quote(table+currentView))
				if v != "2\n" {
					t.Errorf("view %q: %q", table+currentView, v)
				}
			}
		})
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
