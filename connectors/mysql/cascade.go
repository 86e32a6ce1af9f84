package mysql

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/go-mysql-org/go-mysql/replication"
)

// Foreign-key cascades (docs/schema-changes.md, "Foreign-key cascades"):
// MariaDB and MySQL do not log what InnoDB does for a foreign key's ON
// DELETE CASCADE / SET NULL or ON UPDATE CASCADE / SET NULL: the binlog
// has the parent's row event, and none for the child rows the server
// deleted or changed with it. A streamed child table's targets kept
// those rows, silently. The stream now knows the cascading foreign keys
// of the server (loadCascades, at the open; again after a DDL) and, at a
// delete from a parent — or an update of one, for ON UPDATE rules —
// WARNs that the streamed child's targets keep what the cascade changed,
// naming the position and what to run: once a minute per foreign key at most,
// with the count since the last WARN.

// cascadeFK is a foreign key of a child table whose rule changes the
// child's rows when the parent's change.
type cascadeFK struct {
	child            connectors.TableRef
	name             string
	onDelete, onUpdt string // the rules, "" when RESTRICT or NO ACTION
	// refs are the parent's columns the key refers to; parentCols the
	// parent's columns in table order as the server has them when the
	// keys were read (information_schema), for a table map without
	// column names (binlog_row_metadata MINIMAL) of a table the stream
	// does not follow. nil when not known: every update of the parent
	// then "may" have cascaded.
	refs, parentCols []string
}

// cascadeKey names a foreign key: its child table and its name.
type cascadeKey struct {
	child connectors.TableRef
	name  string
}

// cascadeWarn is the WARN state of one foreign key.
type cascadeWarn struct {
	last  time.Time
	count int
}

// loadCascades reads the cascading foreign keys of the streamed tables
// refs, by parent table, as etlq check does (ForeignKeyActions: MariaDB
// hides REFERENTIAL_CONSTRAINTS from a user with SELECT alone, the grants
// the docs ask for); nil when it cannot (the stream goes on without the
// WARNs).
func loadCascades(ctx context.Context, s *Source, refs []connectors.TableRef) map[connectors.TableRef][]cascadeFK {
	fks, err := s.ForeignKeyActions(ctx, refs)
	if err != nil {
		return nil
	}
	rule := func(r string) string {
		if connectors.ChangesRows(r) {
			return r
		}
		return ""
	}
	var updParents []connectors.TableRef
	for _, fk := range fks {
		if rule(fk.OnUpdate) != "" && !slices.Contains(updParents, fk.Parent) {
			updParents = append(updParents, fk.Parent)
		}
	}
	cols, _ := tableColumns(ctx, s, updParents) // (nil: the parents' updates "may" cascade)
	out := map[connectors.TableRef][]cascadeFK{}
	for _, fk := range fks {
		out[fk.Parent] = append(out[fk.Parent], cascadeFK{child: fk.Child, name: fk.Name, onDelete: rule(fk.OnDelete), onUpdt: rule(fk.OnUpdate),
			refs: fk.Referenced, parentCols: cols[fk.Parent]})
	}
	return out
}

// tableColumns reads the columns of tables, in table order.
func tableColumns(ctx context.Context, s *Source, tables []connectors.TableRef) (map[connectors.TableRef][]string, error) {
	if len(tables) == 0 {
		return nil, nil
	}
	var in []string
	for _, t := range tables {
		in = append(in, "("+quoteString(t.DB)+", "+quoteString(t.Table)+")")
	}
	c, done, err := s.questionConn(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	r, err := c.Execute(`SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME FROM information_schema.COLUMNS WHERE (TABLE_SCHEMA, TABLE_NAME) IN (` +
		strings.Join(in, ", ") + `) ORDER BY TABLE_SCHEMA, TABLE_NAME, ORDINAL_POSITION`)
	if err != nil {
		return nil, err
	}
	out := map[connectors.TableRef][]string{}
	for i := 0; i < r.RowNumber(); i++ {
		get := func(j int) string { v, _ := r.GetString(i, j); return v }
		ref := connectors.TableRef{DB: get(0), Table: get(1)}
		out[ref] = append(out[ref], get(2))
	}
	return out, nil
}

// streamedRefs are the refs of the tables the stream reads the binlog of.
func streamedRefs(tabs map[connectors.TableRef]*tableState) []connectors.TableRef {
	var refs []connectors.TableRef
	for ref, ts := range tabs {
		if !ts.gone && ts.mode != connectors.SnapshotOnly {
			refs = append(refs, ref)
		}
	}
	return refs
}

// noteCascade WARNs, for rows event e on table ref at position at, of
// the streamed child tables whose rows a foreign key's rule changed
// without row events. An update cascades only where it changed a
// referenced column: where the event's row images say it changed none,
// nothing is said (Sakila's ON UPDATE CASCADE keys WARNed at every
// update of a parent's other columns, once a minute each).
func (r *binlogReader) noteCascade(ref connectors.TableRef, e *replication.RowsEvent, at binlogPos) {
	fks := r.cfg.cascades[ref]
	if len(fks) == 0 {
		return
	}
	kind := e.Type()
	var changed map[int]bool // (an update's columns changed in some row, decoded at the first need)
	decoded := false
	for _, fk := range fks {
		rule, what := fk.onDelete, "ON DELETE"
		if kind == replication.EnumRowsEventTypeUpdate {
			rule, what = fk.onUpdt, "ON UPDATE"
		} else if kind != replication.EnumRowsEventTypeDelete {
			continue
		}
		ts := r.tabs.byRef[fk.child]
		if rule == "" || ts == nil || ts.gone || ts.mode == connectors.SnapshotOnly {
			continue
		}
		sure := kind == replication.EnumRowsEventTypeDelete
		if !sure {
			if !decoded {
				changed, decoded = changedColumns(e), true
			}
			if idx, ok := r.refColumns(e, fk); ok && changed != nil {
				if !slices.ContainsFunc(idx, func(i int) bool { return changed[i] }) {
					continue // no referenced column changed: nothing cascaded
				}
				sure = true
			}
		}
		if r.cascadeWarned == nil {
			r.cascadeWarned = map[cascadeKey]*cascadeWarn{}
		}
		key := cascadeKey{fk.child, fk.name}
		w := r.cascadeWarned[key]
		if w == nil {
			w = &cascadeWarn{}
			r.cascadeWarned[key] = w
		}
		w.count++
		if !w.last.IsZero() && time.Since(w.last) < time.Minute {
			continue
		}
		verb := "deleted or changed"
		switch {
		case !sure:
			verb = "may have changed" // (the update's referenced columns could not be compared)
		case kind == replication.EnumRowsEventTypeUpdate:
			verb = "changed"
		}
		r.cfg.log.Warn(ts.key+": the foreign key "+fk.name+" ("+what+" "+rule+") "+verb+" rows of it with a change of "+ref.String()+", and the server logs no row event for what a foreign key does: the table's targets keep those rows as they were. Run etlq verify --repair on it (upsert targets) to mend them",
			"table", ts.key, "parent", ref.String(), "position", at.String(), "parent_changes", w.count)
		w.last, w.count = time.Now(), 0
	}
}

// parentAltered reports whether DDL u (upper case) may alter a parent
// table whose columns were read with its keys (cascadeFK.parentCols),
// which then places its referenced columns no more.
func (r *binlogReader) parentAltered(u string) bool {
	if !strings.Contains(u, "ALTER") {
		return false
	}
	for parent, fks := range r.cfg.cascades {
		if len(fks) > 0 && fks[0].parentCols != nil && strings.Contains(u, strings.ToUpper(parent.Table)) {
			return true
		}
	}
	return false
}

// changedColumns decodes the row images of update event e and returns
// the columns some row changed; nil when they cannot be decoded.
func changedColumns(e *replication.RowsEvent) map[int]bool {
	if len(e.Rows) == 0 {
		return nil
	}
	rows := e.Rows
	if raw, ok := rows[len(rows)-1][0].(rawRows); ok {
		if len(rows) > 1 {
			rows = rows[:len(rows)-1] // (decoded already: a table with JSON columns)
		} else {
			d := *e
			d.Rows = nil
			if err := d.DecodeData(0, raw); err != nil {
				return nil
			}
			rows = d.Rows
		}
	}
	changed := map[int]bool{}
	for i := 0; i+1 < len(rows); i += 2 {
		b, a := rows[i], rows[i+1]
		for c := range b {
			if c >= len(a) || !reflect.DeepEqual(b[c], a[c]) {
				changed[c] = true
			}
		}
	}
	return changed
}

// refColumns places fk's referenced columns in the parent's row images
// of event e: by the table map's column names (binlog_row_metadata
// FULL), else by the schema the stream follows the parent with, else by
// the parent's columns read with the keys when the event has as many.
// ok is false when they cannot be placed.
func (r *binlogReader) refColumns(e *replication.RowsEvent, fk cascadeFK) ([]int, bool) {
	if len(fk.refs) == 0 || e.Table == nil {
		return nil, false
	}
	var names []string
	switch {
	case len(e.Table.ColumnName) == int(e.ColumnCount):
		for _, n := range e.Table.ColumnName {
			names = append(names, string(n))
		}
	case r.maps[e.TableID] != nil && len(r.maps[e.TableID].t.Cols) == int(e.ColumnCount):
		for _, c := range r.maps[e.TableID].t.Cols {
			names = append(names, c.Name)
		}
	case len(fk.parentCols) == int(e.ColumnCount):
		names = fk.parentCols
	default:
		return nil, false
	}
	var idx []int
	for _, ref := range fk.refs {
		i := slices.IndexFunc(names, func(n string) bool { return strings.EqualFold(n, ref) })
		if i < 0 {
			return nil, false
		}
		idx = append(idx, i)
	}
	return idx, true
}

// reloadCascades reads the cascading foreign keys again after DDL q when
// it may have made, dropped or moved one (a foreign key clause, a drop or
// a rename of a table that has them), as the server has them now.
func (r *binlogReader) reloadCascades(q string) {
	u := strings.ToUpper(q)
	if !strings.Contains(u, "REFERENCES") && !strings.Contains(u, "FOREIGN KEY") && (len(r.cfg.cascades) == 0 || !strings.Contains(u, "DROP") && !strings.Contains(u, "RENAME")) &&
		!r.parentAltered(u) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if m := loadCascades(ctx, r.cfg.src, streamedRefs(r.tabs.byRef)); m != nil {
		r.cfg.cascades = m
		r.cascadeIDs = nil // (table maps come again in every transaction)
	}
}
