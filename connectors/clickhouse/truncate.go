package clickhouse

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"

	"github.com/etlq/etlq/connectors"
)

var _ connectors.Truncater = (*writer)(nil)
var _ connectors.SchemaFollower = (*writer)(nil)

// Truncate removes, after every earlier Write, the rows of an upsert
// target that t names (connectors.Truncater): one INSERT … SELECT writes a
// tombstone of version t.Version for every key the table shows as live.
// It waits until every earlier insert is acknowledged, so that the rows
// they wrote are seen; a later insert seen too is no harm, since its
// larger version wins over the tombstone.
func (w *writer) Truncate(ctx context.Context, t connectors.Truncation, done func(error)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return fmt.Errorf("clickhouse writer for %s is closed", w.target)
	}
	if w.layout.mode != connectors.ModeUpsert {
		return fmt.Errorf("clickhouse %s: truncate of an %s table", w.target, w.layout.mode)
	}
	if err := w.seal(ctx); err != nil {
		return err
	}
	w.finishOpen() // (the truncation waits for the inserts before it)
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.ctx.Done():
		return errClosed
	}
	g := &group{items: []item{{nil, done}}, finished: make(chan struct{}), acked: make(chan struct{})}
	prev, q := w.last, w.truncateQuery(t)
	w.last = g
	w.order.push(g)
	go func() {
		defer func() {
			<-w.slots
			close(g.finished)
		}()
		if prev != nil {
			select {
			case <-prev.acked:
			case <-w.ctx.Done():
				g.err = errClosed
				return
			}
		}
		for attempt := 0; ; attempt++ {
			err := w.conn.Exec(w.ctx, q)
			if err == nil {
				if t.Older {
					slog.Info("clickhouse: removed the rows a re-read (snapshot, resnapshot) did not find at the source", "table", w.target, "source", t.Table.String(), "version", t.Version)
				} else {
					slog.Info("clickhouse: removed a truncated table's rows", "table", w.target, "source", t.Table.String(), "version", t.Version)
				}
				return
			}
			if w.ctx.Err() != nil {
				g.err = errClosed
				return
			}
			if !retryable(err) {
				g.err = fmt.Errorf("clickhouse truncate of %s in %s: %w", t.Table, w.target, err)
				return
			}
			d := backoff(attempt, w.opts.maxBackoff)
			slog.Warn("clickhouse: truncate failed, retrying", "table", w.target, "attempt", attempt+1, "in", d, "error", err)
			if sleep(w.ctx, d) != nil {
				g.err = errClosed
				return
			}
		}
	}()
	return nil
}

// truncateQuery returns the INSERT … SELECT of tombstones for t.
func (w *writer) truncateQuery(t connectors.Truncation) string {
	l := w.layout
	keys := make([]string, len(l.key))
	for i, k := range l.key {
		keys[i] = quote(k)
	}
	var conds []string
	names := make([]string, 0, len(t.Where))
	for c := range t.Where {
		names = append(names, c)
	}
	sort.Strings(names)
	for _, c := range names {
		// A String column is compared as it is, so that ClickHouse can
		// use the primary key: with KEY (_table, id) the removal of one
		// source table's rows reads that table's range of the target,
		// not all of it (0.004 s against 0.1 s for a table of 1,000 rows
		// in a target of 1M, and 1,000 such removals after a first
		// snapshot over a populated target).
		if w.layout.stringColumn(c) {
			conds = append(conds, quote(c)+" = "+quoteString(t.Where[c]))
		} else {
			conds = append(conds, "toString("+quote(c)+") = "+quoteString(t.Where[c]))
		}
	}
	if t.Filter != "" {
		conds = append(conds, "("+t.Filter+")")
	}
	if t.Older {
		conds = append(conds, quote(colVersion)+" < "+strconv.FormatUint(t.Version, 10))
	}
	where := quote(colIsDeleted) + " = 0"
	if len(conds) > 0 {
		where += " AND " + strings.Join(conds, " AND ")
	}
	k := strings.Join(keys, ", ")
	return "INSERT INTO " + l.qualified() + " (" + k + ", " + quote(colVersion) + ", " + quote(colIsDeleted) + ") SELECT " +
		k + ", toUInt64(" + strconv.FormatUint(t.Version, 10) + "), toUInt8(1) FROM " + l.qualified() + " FINAL WHERE " + where
}

// stringColumn reports whether the table's column name holds String
// (LowCardinality or Nullable String included): the type of the existing
// table's column when the sink read it, else the layout's.
func (l *tableLayout) stringColumn(name string) bool {
	typ := ""
	for _, e := range l.existing {
		if e.name == name {
			typ = e.typ
		}
	}
	if typ == "" {
		c := l.col(name)
		if c == nil {
			return false
		}
		typ = c.chType()
	}
	for {
		inner, ok := strings.CutPrefix(typ, "LowCardinality(")
		if !ok {
			inner, ok = strings.CutPrefix(typ, "Nullable(")
		}
		if !ok || !strings.HasSuffix(inner, ")") {
			return typ == "String"
		}
		typ = inner[:len(inner)-1]
	}
}
