package mysql

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/etlq/etlq/connectors"
)

// resnapshotHint is the way out of a schema etlq cannot know.
const resnapshotHint = "re-snapshot the table: start its pipeline again with an empty state directory, or drop the table from the pipeline"

// ddl handles a DDL query event at position at whose default database is
// schema: the statement is parsed and applied to the stored schema of each
// streamed table it changes, which is then versioned at this position.
// Today's information_schema is never read here: it is already at the
// table's latest shape, ahead of the event when the reader is behind.
func (r *binlogReader) ddl(schema, q string, at binlogPos) error {
	changes, err := parseDDL(schema, q)
	if err != nil {
		if !ddlOnTable(q) {
			// A trigger, routine or view: no table's columns change.
			r.cfg.log.Debug("DDL not parsed; it changes no table", "ddl", abbreviate(q, 200), "error", firstLine(err))
			return nil
		}
		if err := r.declaredVersioning(schema, q, at); err != nil {
			return err
		}
		var se *ddlSyntaxError
		if !errors.As(err, &se) {
			// Parsed, but a column type or definition etlq cannot
			// take: the tables it names cannot be decoded past it.
			se = &ddlSyntaxError{Query: q, Err: err}
		}
		for _, ref := range ddlTargets(schema, q) {
			for _, ts := range r.tabs.tables {
				if !ts.gone && !ts.cur.before(at) && strings.EqualFold(ts.ref.DB, ref.DB) && strings.EqualFold(ts.ref.Table, ref.Table) {
					r.markStale(ts, at, q, se.Err)
				}
			}
			for sr := range r.tabs.shadows {
				if strings.EqualFold(sr.DB, ref.DB) && strings.EqualFold(sr.Table, ref.Table) {
					// Its schema is no longer known: renamed onto a
					// streamed table, it makes that one stale.
					delete(r.tabs.shadows, sr)
					r.tabs.schemasDirty = true
				}
			}
		}
		return nil
	}
	// The schemas as the statement goes: RENAME TABLE a TO b, b TO a
	// swaps them.
	known := map[connectors.TableRef]*table{}
	lookup := func(ref connectors.TableRef) *table {
		if t, ok := known[ref]; ok {
			return t
		}
		if ts := r.tabs.byRef[ref]; ts != nil && ts.mode != connectors.SnapshotOnly && ts.cur.Stale == "" {
			return ts.cur
		}
		return r.tabs.shadows[ref]
	}
	streamed := func(ref connectors.TableRef) bool {
		ts := r.tabs.byRef[ref]
		return ts != nil && ts.mode != connectors.SnapshotOnly
	}
	// A table that joined the stream after this statement (JoinsAt) has
	// it in the schema it joined with: a statement naming one changes
	// nothing of it.
	joinedLater := func(refs ...connectors.TableRef) bool { return r.joinedLater(at, refs...) }
	ap := r.applier()
	for _, ch := range changes {
		switch c := ch.(type) {
		case *alterTable:
			if joinedLater(c.Ref) {
				continue
			}
		case *createTable:
			if joinedLater(c.Ref) {
				continue
			}
		case *renameTable:
			if joinedLater(c.From, c.To) {
				continue
			}
		case *dropTable:
			if joinedLater(c.Ref) {
				continue
			}
		}
		switch c := ch.(type) {
		case *alterTable:
			t := lookup(c.Ref)
			if t == nil {
				continue
			}
			nt, err := ap.alter(t, c)
			if err != nil {
				r.markStale(r.tabs.byRef[c.Ref], at, q, err)
				known[c.Ref] = nil
				continue
			}
			r.fixTemporalDefaults(c, nt)
			nt.CopyOf = t.CopyOf // (a tool's copy stays one)
			known[c.Ref] = nt
		case *createTable:
			if !streamed(c.Ref) {
				// A table created LIKE one etlq follows is followed
				// too (online schema change tools), until dropped.
				if c.Like != nil && !c.Temporary {
					if lt := lookup(*c.Like); lt != nil {
						nt := lt.clone()
						nt.Ref = c.Ref
						known[c.Ref] = nt
					}
				}
				continue
			}
			if c.IfNotExists && lookup(c.Ref) != nil {
				continue // the table exists: nothing changes
			}
			var nt *table
			if c.Like != nil {
				if lt := lookup(*c.Like); lt != nil {
					nt = lt.clone()
					nt.Ref = c.Ref
				} else {
					err = fmt.Errorf("it is created LIKE %s, whose schema etlq does not follow", c.Like)
				}
			} else {
				nt, err = ap.create(c)
			}
			if nt == nil {
				r.markStale(r.tabs.byRef[c.Ref], at, q, err)
				known[c.Ref] = nil
				continue
			}
			known[c.Ref] = nt
		case *renameTable:
			from := lookup(c.From)
			known[c.From] = nil
			if !streamed(c.To) {
				if from != nil {
					nt := from.clone()
					nt.Ref, nt.CopyOf = c.To, from.CopyOf
					known[c.To] = nt
				}
				continue
			}
			if from == nil {
				r.markStale(r.tabs.byRef[c.To], at, q, fmt.Errorf("it is renamed from %s, whose schema etlq does not follow", c.From))
				continue
			}
			nt := from.clone()
			nt.Ref = c.To
			known[c.To] = nt
		case *dropTable:
			if !streamed(c.Ref) {
				known[c.Ref] = nil
			}
		}
		// DROP and TRUNCATE of a streamed table leave its schema as it
		// is: the table's lifecycle is handled where they are met.
	}
	for ref, nt := range known {
		if !streamed(ref) {
			_, had := r.tabs.shadows[ref]
			if nt == nil {
				delete(r.tabs.shadows, ref)
			} else {
				nt.Shadow = true
				r.tabs.shadows[ref] = nt
			}
			r.tabs.schemasDirty = r.tabs.schemasDirty || had || nt != nil
			continue
		}
		ts := r.tabs.byRef[ref]
		if nt == nil {
			continue
		}
		if err := r.changeSchema(ts, nt, at, q); err != nil {
			return err
		}
	}
	return nil
}

// joinedLater reports whether one of refs is a table that joined the
// stream after the binlog position at (table.JoinsAt): the stream's
// history of it begins there, and an event before it is not its own.
func (r *binlogReader) joinedLater(at binlogPos, refs ...connectors.TableRef) bool {
	for _, ref := range refs {
		if ts := r.tabs.byRef[ref]; ts != nil && ts.cur.before(at) {
			return true
		}
	}
	return false
}

// sortedShadows returns the shadow schemas in name order, for checkpoints.
func sortedShadows(m map[connectors.TableRef]*table) []*table {
	out := make([]*table, 0, len(m))
	for _, t := range m {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref.String() < out[j].Ref.String() })
	return out
}

// applier returns the DDL applier of the reader's server.
func (r *binlogReader) applier() ddlApplier {
	return ddlApplier{flavor: r.cfg.flavor, defaultCollation: r.defaultCollation, dbCharset: r.dbCharset}
}

// dbCharset returns the default character set and collation of database
// db as the server has it now (the server's own defaults when the database
// is gone), for a CREATE TABLE that names none: "" when the server does
// not answer. A database whose default changed between the CREATE and now
// gives its new default: the binlog does not say the old one.
func (r *binlogReader) dbCharset(db string) (string, string) {
	c, err := r.cfg.src.connect(context.Background())
	if err != nil {
		r.cfg.log.Warn("cannot read the database's default character set for a CREATE TABLE that names none: its text columns are taken as utf8mb4",
			"database", db, "error", firstLine(err))
		return "", ""
	}
	defer c.Close()
	res, err := c.Execute(`SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?
		UNION ALL SELECT @@character_set_server, @@collation_server`, db)
	if err != nil || res.RowNumber() == 0 {
		r.cfg.log.Warn("cannot read the database's default character set for a CREATE TABLE that names none: its text columns are taken as utf8mb4",
			"database", db, "error", err)
		return "", ""
	}
	cs, _ := res.GetString(0, 0)
	coll, _ := res.GetString(0, 1)
	return strings.ToLower(cs), strings.ToLower(coll)
}

// defaultCollation returns the default collation of a character set,
// reading information_schema.COLLATIONS once ("" when unknown).
func (r *binlogReader) defaultCollation(cs string) string {
	if r.defaults == nil {
		r.defaults = map[string]string{}
		c, err := r.cfg.src.connect(context.Background())
		if err != nil {
			return ""
		}
		defer c.Close()
		res, err := c.Execute("SELECT CHARACTER_SET_NAME, COLLATION_NAME FROM information_schema.COLLATIONS WHERE IS_DEFAULT = 'Yes'")
		if err != nil {
			return ""
		}
		for i := 0; i < res.RowNumber(); i++ {
			s, _ := res.GetString(i, 0)
			coll, _ := res.GetString(i, 1)
			r.defaults[strings.ToLower(s)] = strings.ToLower(coll)
		}
	}
	return r.defaults[strings.ToLower(cs)]
}

// markStale records that the schema of ts past position at is not known:
// the DDL q changed it in a way etlq could not apply. Its rows are then
// decoded only with a schema the binlog's table map gives (full row
// metadata), or refused. The staleness is part of the checkpoint, so a
// restart refuses them too.
func (r *binlogReader) markStale(ts *tableState, at binlogPos, q string, cause error) {
	if ts == nil || ts.mode == connectors.SnapshotOnly {
		return
	}
	if ts.copyOf != "" {
		// A tool's copy whose schema etlq lost: no longer followed row
		// by row; at the cut-over the table is read again, as a copy
		// never followed (lifecycle.go).
		r.cfg.log.Warn("online schema change: a DDL on the tool's copy cannot be applied; the copy is no longer followed row by row and the cut-over will read the table again",
			"table", ts.ref.DB+"."+ts.copyOf, "copy", ts.key, "position", at.String(), "ddl", abbreviate(q, 200), "error", firstLine(cause))
		r.leaveCopy(ts, at, "its schema was lost")
		r.dropCopy(ts)
		return
	}
	nt := ts.cur.clone()
	nt.Stale = fmt.Sprintf("the DDL at %s (%q) changed it and etlq cannot apply that statement (%s)", at, abbreviate(q, 200), firstLine(cause))
	if ts.bb != nil {
		r.flush(ts)
		ts.bb.release()
		ts.bb = nil
	}
	ts.cur = nt
	if r.cfg.opts.schemaChanges != "ignore" {
		ts.out = nt
	}
	r.tabs.schemasDirty = true
	for id, m := range r.maps {
		if m.t.Ref == ts.ref {
			delete(r.maps, id)
		}
	}
	r.cfg.log.Warn("schema change etlq cannot apply: the table's rows need the binlog's column metadata from here on",
		"table", ts.key, "position", at.String(), "ddl", abbreviate(q, 200), "error", firstLine(cause))
}

// tableMapSchema handles the table map of a table whose schema is stale:
// with full row metadata the map gives the schema the rows were written
// with; without, the rows are refused.
func (r *binlogReader) tableMapSchema(ts *tableState, e *replication.TableMapEvent, at binlogPos) error {
	if len(e.ColumnName) == 0 {
		return staleError(ts, at)
	}
	nt, err := r.schemaFromTableMap(e, ts.cur)
	if err != nil {
		return fmt.Errorf("schema of %s at %s: %s; rebuilding it from the binlog's table map failed: %v: %s", ts.key, at, ts.cur.Stale, err, resnapshotHint)
	}
	r.cfg.log.Warn("schema rebuilt from the binlog's table map", "table", ts.key, "position", at.String())
	for _, c := range nt.Cols {
		// A column the statement added (or renamed) is new to the
		// targets, as one a DDL etlq applies adds: a target lacking it
		// gains it, instead of taking it for a column dropped there by
		// hand (which stopped the run).
		known := false
		for _, o := range ts.cur.Cols {
			if strings.EqualFold(o.Name, c.Name) {
				known, c.Added = true, c.Added || o.Added
				if c.AddedAt == 0 {
					c.AddedAt = o.AddedAt
				}
			}
		}
		if !known {
			c.Added = true
		}
	}
	if sameColumns(nt, ts.cur) {
		// The statement changed nothing etlq decodes.
		r.adoptSchema(ts, nt)
		return nil
	}
	return r.changeSchema(ts, nt, at, "the binlog's table map")
}

// adoptSchema makes nt, which decodes as ts.cur does, the schema of ts.
func (r *binlogReader) adoptSchema(ts *tableState, nt *table) {
	if ts.bb != nil {
		r.flush(ts)
		ts.bb.release()
		ts.bb = nil
	}
	if ts.out == ts.cur || r.cfg.opts.schemaChanges != "ignore" {
		ts.out = nt
	}
	ts.cur = nt
	r.tabs.schemasDirty = true
	for id, m := range r.maps {
		if m.t.Ref == ts.ref {
			delete(r.maps, id)
		}
	}
}

// sameDDLMeta reports whether a and b (same columns) also agree on what
// DDLs said of them: defaults, former names, the table's charset, staleness.
func sameDDLMeta(a, b *table) bool {
	if a.Charset != b.Charset || a.Collation != b.Collation || a.Stale != b.Stale || a.Versioned != b.Versioned {
		return false
	}
	for i := range a.Cols {
		x, y := a.Cols[i], b.Cols[i]
		if x.RenamedFrom != y.RenamedFrom || x.Added != y.Added || x.Joined != y.Joined || (x.Default == nil) != (y.Default == nil) ||
			(x.Default != nil && x.Default.literal() != y.Default.literal()) {
			return false
		}
	}
	return true
}

// staleError is the refusal to decode rows of a table whose schema at this
// position is not known.
func staleError(ts *tableState, at binlogPos) error {
	return fmt.Errorf("schema of %s at %s is not known: %s, and the binlog carries no column names to decode its rows with (binlog_row_metadata is not FULL): %s",
		ts.key, at, ts.cur.Stale, resnapshotHint)
}
