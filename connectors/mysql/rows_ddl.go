package mysql

import (
	"strings"

	"github.com/etlq/etlq/connectors"
)

// Statements that change a table's rows without a row event in the
// binlog (docs/schema-changes.md, "Rows changed by DDL"): ALTER TABLE …
// TRUNCATE PARTITION, DROP PARTITION and EXCHANGE PARTITION … WITH TABLE
// (rows vanish, or come in from the other table), ALTER IGNORE TABLE …
// ADD UNIQUE / PRIMARY KEY (the rows with a duplicate key are deleted),
// and a generated column added or redefined (every row gets a new value;
// a VIRTUAL one is in the binlog's rows too). No binlog reader sees
// those rows change: each such table whose targets can be read again in
// place is (the re-read of a type change: rebuild.go, queueReread — at
// its end the keys the table no longer has leave upsert targets); for
// any other, a WARN says that the targets keep what the statement
// changed.

// rowsChange is a table whose rows a statement changed without row events.
type rowsChange struct {
	ref connectors.TableRef
	why string // the statement's operation, for messages
}

// rowsChangedBy returns the tables whose rows statement q (default
// database db) changes without row events, in statement order.
func rowsChangedBy(db, q string) []rowsChange {
	changes, err := parseDDL(db, q)
	if err != nil {
		return nil
	}
	ignore := alterIgnore(q)
	var out []rowsChange
	for _, ch := range changes {
		a, ok := ch.(*alterTable)
		if !ok {
			continue
		}
		why := a.Rows
		for _, op := range a.Ops {
			switch {
			case why != "":
			case ignore && (op.Kind == alterAddPrimaryKey || op.Kind == alterAddUniqueKey):
				why = "ALTER IGNORE TABLE … ADD " + strings.ToUpper(strings.TrimPrefix(op.Kind.String(), "add ")) + " (" + strings.Join(op.Key, ", ") + "): rows of a duplicate key deleted"
			case (op.Kind == alterAddColumn || op.Kind == alterModifyColumn || op.Kind == alterChangeColumn) && op.Col != nil && op.Col.Generated:
				why = "generated column " + op.Col.Name + " added or redefined: every row's value computed by the server"
			}
		}
		if why == "" {
			continue
		}
		out = append(out, rowsChange{ref: a.Ref, why: why})
		if a.Exchange != nil {
			out = append(out, rowsChange{ref: *a.Exchange, why: a.Rows + " (with " + a.Ref.String() + ")"})
		}
	}
	return out
}

// alterIgnore reports whether q is ALTER [ONLINE] IGNORE TABLE.
func alterIgnore(q string) bool {
	w := ddlWords(q)
	is := func(i int, s string) bool { return i < len(w) && !w[i].quoted && strings.EqualFold(w[i].text, s) }
	if !is(0, "ALTER") {
		return false
	}
	i := 1
	if is(i, "ONLINE") {
		i++
	}
	return is(i, "IGNORE") && is(i+1, "TABLE")
}

// rowsChanged reads again in place the streamed tables whose rows
// statement q changed at position at without row events; a table that
// cannot be read again in place gets a WARN naming what its targets keep.
func (r *binlogReader) rowsChanged(schema, q string, at binlogPos) {
	r.rereadChanged(rowsChangedBy(schema, q), at)
}

// rereadChanged reads again in place the streamed tables of changes, whose
// rows a statement changed at position at without row events; a table
// that cannot be read again in place gets a WARN naming what its targets
// keep.
func (r *binlogReader) rereadChanged(changes []rowsChange, at binlogPos) {
	for _, rc := range changes {
		ts := r.tabs.byRef[rc.ref]
		if ts == nil || ts.gone || ts.mode == connectors.SnapshotOnly || r.joinedLater(at, rc.ref) ||
			ts.copyOf != "" && ts.copyOf != ts.ref.Table || !ts.skipTo.isZero() {
			continue
		}
		no, todo := "", "run etlq verify --repair, or re-snapshot the table"
		switch {
		case !r.upsertTarget(ts.ref):
			// (verify --repair writes no changelog, append or file
			// target: docs/verify.md.)
			no = "no pipeline reading it writes an upsert target: its targets (changelog, append, files, http) get no change for the rows the statement removed, which stay there as rows never deleted, nor for those it brought in"
			todo = "no delete can be sent for rows no row event names: tell the targets' readers of the statement (the position says where), and to send the table's rows as the source has them now run etlq resnapshot FILE PIPELINE " + ts.key + " for each pipeline reading it (each row again as a read change)"
		case len(ts.cur.Key) == 0:
			no = "the table has no primary key to be read again by: upsert targets keep the rows the statement removed and lack those it brought in"
		case ts.mode == connectors.SnapshotNever:
			no = "the table is read with SNAPSHOT never: upsert targets keep the rows the statement removed and lack those it brought in"
		}
		if no != "" {
			r.cfg.log.Warn(ts.key+": a statement changed the table's rows without row events in the binlog, and the table cannot be read again in place: "+no+"; "+todo,
				"table", ts.key, "position", at.String(), "statement", rc.why, "reason", no)
			continue
		}
		r.cfg.log.Info(ts.key+": a statement changed the table's rows without row events in the binlog: the table is read again in place; the keys it no longer has leave upsert targets at the end of the read",
			"table", ts.key, "position", at.String(), "statement", rc.why)
		nt := ts.cur.clone()
		nt.Reread, nt.RereadWhy = true, rc.why
		if ts.out == ts.cur {
			ts.out = nt
		}
		ts.cur = nt
		r.tabs.schemasDirty = true
		queueReread(r.tabs, ts)
	}
}

// convertPartition recognizes MariaDB 10.7's ALTER TABLE t CONVERT
// PARTITION p TO TABLE x (the partition's rows leave t and become the new
// table x) and ALTER TABLE t CONVERT TABLE x TO PARTITION p … (x's rows
// come into t, x is gone), which the DDL parser does not know. t's
// columns do not change: its changes are an alterTable without
// operations whose Rows names the statement (the table is read again,
// rowsChanged), then for CONVERT PARTITION the creation of x with t's
// columns, filled (a pattern that matches x takes it up with a snapshot
// at the statement: no row event brings its rows), and for CONVERT TABLE
// the drop of x. ok is false for any other statement.
func convertPartition(db, q string) (changes []ddlChange, ok bool) {
	w := ddlWords(q)
	is := func(i int, s string) bool { return i < len(w) && !w[i].quoted && strings.EqualFold(w[i].text, s) }
	name := func(i int) (connectors.TableRef, int, bool) {
		if i >= len(w) || !w[i].quoted && !isWordByte(w[i].text[0]) {
			return connectors.TableRef{}, i, false
		}
		if i+2 < len(w) && w[i+1].text == "." && !w[i+1].quoted {
			return connectors.TableRef{DB: w[i].text, Table: w[i+2].text}, i + 3, true
		}
		return connectors.TableRef{DB: db, Table: w[i].text}, i + 1, true
	}
	if !is(0, "ALTER") {
		return nil, false
	}
	i := 1
	for is(i, "ONLINE") || is(i, "IGNORE") {
		i++
	}
	if !is(i, "TABLE") {
		return nil, false
	}
	t, i, ok := name(i + 1)
	if !ok || !is(i, "CONVERT") {
		return nil, false
	}
	switch {
	case is(i+1, "PARTITION") && is(i+3, "TO") && is(i+4, "TABLE"):
		x, _, ok := name(i + 5)
		if !ok {
			return nil, false
		}
		return []ddlChange{&alterTable{Ref: t, Rows: "CONVERT PARTITION … TO TABLE " + x.String()},
			&createTable{Ref: x, Like: &t, Filled: "CONVERT PARTITION of " + t.String()}}, true
	case is(i+1, "TABLE"):
		x, j, ok := name(i + 2)
		if !ok || !is(j, "TO") || !is(j+1, "PARTITION") {
			return nil, false
		}
		return []ddlChange{&alterTable{Ref: t, Rows: "CONVERT TABLE " + x.String() + " TO PARTITION"}, &dropTable{Ref: x}}, true
	}
	return nil, false
}
