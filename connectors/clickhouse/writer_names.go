package clickhouse

import (
	"context"
	"fmt"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

// listSafe reports whether a column name survives clickhouse-go's own
// reading of an INSERT column list. PrepareBatch reads the names back out
// of the statement to order the block the server sends, dropping every "`"
// and keeping "\" escapes: a name with either comes back different from
// the server's and the insert fails ("requested column order is incorrect
// length to sort block").
func listSafe(name string) bool { return !strings.ContainsAny(name, "`\\") }

// listParens reports whether the parentheses in a column name are ones
// clickhouse-go's pattern for an INSERT column list gets past: balanced,
// not nested. Past others it loses the column list, and ClickHouse 18.16
// answers an INSERT without one with an empty block.
func listParens(name string) bool {
	depth := 0
	for _, r := range name {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		}
		if depth < 0 || depth > 1 {
			return false
		}
	}
	return depth == 0
}

// prepareInsert starts the insert of g with its column list. When a name
// is not listSafe, the statement is written so that clickhouse-go does not
// read the names back ("INSERT INTO" then a newline: its pattern for the
// list wants a space there), and the block the server sends, in the order
// of the list, is checked against g's columns by name instead.
func (w *writer) prepareInsert(ctx context.Context, g *group) (driver.Batch, error) {
	safe := true
	names := make([]string, len(g.cols))
	for i, c := range g.cols {
		names[i] = quote(c.name)
		safe = safe && listSafe(c.name)
	}
	into := "INSERT INTO "
	if !safe {
		into = "INSERT INTO\n"
	}
	ins, err := w.conn.PrepareBatch(ctx, into+w.qualified+" ("+strings.Join(names, ", ")+")")
	if err != nil || safe {
		return ins, err
	}
	cols := ins.Columns()
	ok := len(cols) == len(g.cols)
	for k := 0; ok && k < len(cols); k++ {
		ok = cols[k].Name() == g.cols[k].name
	}
	if !ok {
		got := make([]string, len(cols))
		for k, c := range cols {
			got[k] = c.Name()
		}
		_ = ins.Abort()
		return nil, &dataError{fmt.Sprintf("insert into %s: ClickHouse answered with the columns %q for the columns %q", w.target, got, names)}
	}
	return ins, nil
}
