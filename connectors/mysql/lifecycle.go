package mysql

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// A table's life in a stream (docs/live-tables.md): TRUNCATE queues a
// truncate change; DROP and RENAME … TO another name make it leave (a
// truncate change first, so that upsert targets lose its rows); CREATE,
// and RENAME … TO a name the stream wants (asked for by name, or matching
// one of its patterns), make a table join — created, it is empty and its
// rows follow in the binlog; renamed in, it has rows and is snapshotted.

// lifeStep is one lifecycle change of a DDL statement.
type lifeStep struct {
	kind     lifeKind
	from, to connectors.TableRef
	create   *createTable // lifeCreate, when the DDL parser gave it
	// fromSchema is the schema of the renamed table when the stream
	// followed it (set by leaves), after alters.
	fromSchema *table
	// rowCopy: the renamed table is a tool's copy of the table it is
	// renamed to, followed row by row since its CREATE (startCopy).
	rowCopy bool
	// snapRows are the snapshot rows read and estimated of the table its
	// row copy replaces: the same table to the metrics, whose counter
	// goes on.
	snapRows [2]int64
	// alters are the ALTER TABLE operations of the same statement on
	// the renamed table before its RENAME TO (ALTER TABLE t ADD c …,
	// RENAME TO u).
	alters []*alterTable
	// older, on a rename into the name of a followed table that leaves
	// in the same statement (an online schema change's cut-over that
	// re-snapshots, RENAME TABLE t TO t_old, x TO t): the version
	// reserved at the statement. The old table left without a truncate;
	// the new one is read again in place (resnapState.cutover), and at
	// the end of that read the keys older than this version leave.
	older uint64
}

// lifeSteps returns the lifecycle changes of statement q (default database
// db): from the DDL parser (ddl_parse.go), or, for a statement it
// rejects, from the small recognizer of lifecycle_parse.go. Temporary
// tables have no binlog rows and are left out.
func lifeSteps(db, q string) []lifeStep {
	var out []lifeStep
	if lc := parseLife(db, q); lc.kind == lifeDropDB {
		// Its tables go without a statement of their own.
		return []lifeStep{{kind: lifeDropDB, from: lc.from[0]}}
	}
	changes, err := parseDDL(db, q)
	if err != nil {
		lc := parseLife(db, q)
		switch lc.kind {
		case lifeTruncate, lifeDrop:
			for _, f := range lc.from {
				out = append(out, lifeStep{kind: lc.kind, from: f})
			}
		case lifeRename:
			for i := range lc.from {
				out = append(out, lifeStep{kind: lifeRename, from: lc.from[i], to: lc.to[i]})
			}
		case lifeCreate:
			if createOrReplace(q) {
				out = append(out, lifeStep{kind: lifeDrop, from: lc.to[0]})
			}
			out = append(out, lifeStep{kind: lifeCreate, to: lc.to[0]})
		}
		return out
	}
	orReplace := createOrReplace(q)
	alters := map[connectors.TableRef][]*alterTable{}
	for _, ch := range changes {
		switch c := ch.(type) {
		case *alterTable:
			alters[c.Ref] = append(alters[c.Ref], c)
		case *truncateTable:
			out = append(out, lifeStep{kind: lifeTruncate, from: c.Ref})
		case *dropTable:
			if !c.Temporary {
				out = append(out, lifeStep{kind: lifeDrop, from: c.Ref})
			}
		case *renameTable:
			out = append(out, lifeStep{kind: lifeRename, from: c.From, to: c.To, alters: alters[c.From]})
		case *createTable:
			if !c.Temporary {
				if orReplace {
					// MariaDB's CREATE OR REPLACE TABLE drops the table
					// of that name first (the server logs no DROP): its
					// rows leave, as for DROP TABLE then CREATE TABLE.
					out = append(out, lifeStep{kind: lifeDrop, from: c.Ref})
				}
				out = append(out, lifeStep{kind: lifeCreate, to: c.Ref, create: c})
			}
		}
	}
	return out
}

// tableType is information_schema's TABLE_TYPE of ref ("BASE TABLE",
// "SEQUENCE", "SYSTEM VERSIONED", "VIEW"), "" when it cannot be read.
func tableType(c *client.Conn, ref connectors.TableRef) string {
	r, err := c.Execute("SELECT TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = " + quoteString(ref.DB) + " AND TABLE_NAME = " + quoteString(ref.Table))
	if err != nil || r.RowNumber() == 0 {
		return ""
	}
	typ, _ := r.GetString(0, 0)
	return typ
}

// createOrReplace reports whether q is MariaDB's CREATE OR REPLACE
// [TEMPORARY] TABLE.
func createOrReplace(q string) bool {
	w := ddlWords(q)
	is := func(i int, s string) bool { return i < len(w) && !w[i].quoted && strings.EqualFold(w[i].text, s) }
	return is(0, "CREATE") && is(1, "OR") && is(2, "REPLACE") && (is(3, "TABLE") || is(3, "TEMPORARY") && is(4, "TABLE"))
}

// ddlStatement handles a DDL query event at position at: first the tables
// it empties or removes (truncate changes, tables leaving), then the
// schema history of the tables that stay (ddl), then the tables that join.
func (r *binlogReader) ddlStatement(schema, q string, at binlogPos) error {
	defer r.reloadCascades(q) // cascade.go (once the DDL applied: a table it creates joins first)
	if schemaNeutral(q) {
		r.toolTrigger(schema, q, at)
		return nil
	}
	steps := slices.DeleteFunc(lifeSteps(schema, q), func(s lifeStep) bool {
		// (Dropped, renamed or truncated before it joined the stream.)
		return r.joinedLater(at, s.from, s.to)
	})
	for _, s := range steps {
		delete(r.tabs.unreadable, s.to)
	}
	r.leaves(steps, at)
	if err := r.ddl(schema, q, at); err != nil {
		return err
	}
	if err := r.joins(steps, at, q); err != nil {
		return err
	}
	r.rowsChanged(schema, q, at)
	for _, s := range steps {
		if s.kind == lifeDrop || s.kind == lifeRename {
			delete(r.tabs.toolCopies, s.from) // (the name is free again)
		}
	}
	return nil
}

// ptOscCopies returns the copies pt-online-schema-change's triggers on
// the server write into now (copy → table copied), whatever
// --new-table-name called them; none when they cannot be read. dbs, when
// not empty, are the only databases looked at (information_schema.TRIGGERS
// opens every table's triggers of the databases it reads).
func ptOscCopies(c *client.Conn, dbs ...string) map[connectors.TableRef]connectors.TableRef {
	q := `SELECT TRIGGER_NAME, EVENT_OBJECT_SCHEMA, EVENT_OBJECT_TABLE, ACTION_STATEMENT FROM information_schema.TRIGGERS WHERE TRIGGER_NAME LIKE 'pt\_osc\_%'`
	if len(dbs) > 0 {
		in := make([]string, len(dbs))
		for i, d := range dbs {
			in[i] = quoteString(d)
		}
		q += " AND TRIGGER_SCHEMA IN (" + strings.Join(in, ", ") + ")"
	}
	r, err := c.Execute(q)
	if err != nil {
		return nil
	}
	out := map[connectors.TableRef]connectors.TableRef{}
	for i := 0; i < r.RowNumber(); i++ {
		name, _ := r.GetString(i, 0)
		db, _ := r.GetString(i, 1)
		tb, _ := r.GetString(i, 2)
		body, _ := r.GetString(i, 3)
		q := "CREATE TRIGGER " + quoteIdent(name) + " AFTER INSERT ON " + quoteIdent(db) + "." + quoteIdent(tb) + " FOR EACH ROW " + body
		if base, cp, ok := parseToolTrigger(db, q); ok && base.DB == cp.DB && base != cp && !connectors.HelperTable(cp.Table) {
			out[cp] = base
		}
	}
	return out
}

// schemaNeutral reports whether q creates, changes or drops a trigger, a
// view, a stored routine, an event or an account: no table's columns
// change, even when its text names a table (a trigger's ON t, its body).
// pt-online-schema-change creates triggers on the table it copies.
func schemaNeutral(q string) bool {
	toks := sqlTokens(q)
	if len(toks) == 0 {
		return false
	}
	switch strings.ToLower(toks[0]) {
	case "create", "drop", "alter":
	default:
		return false
	}
	for _, tk := range toks[1:min(len(toks), 16)] {
		switch strings.ToLower(tk) {
		case "table", "index", "database", "schema", "(":
			return false
		case "trigger", "view", "procedure", "function", "event", "user", "role", "server":
			return true
		}
	}
	return false
}

// toolTrigger handles pt-online-schema-change's trigger statement q
// (parseToolTrigger), which names the tool's copy of a followed table
// whatever --new-table-name called it. A copy that a pattern took in at
// its CREATE (its name is not the tool's _t_new, connectors.HelperTable)
// leaves the stream without a truncate: the tool creates its triggers
// before it copies a row, so none of its rows was sent. Its schema stays
// followed as a shadow marked as the table's copy, which no pattern takes
// again (stream.wanted) and which the cut-over, RENAME TABLE t TO _t_old,
// copy TO t, gives the table read again (joins).
func (r *binlogReader) toolTrigger(db, q string, at binlogPos) {
	base, cp, ok := parseToolTrigger(db, q)
	if !ok || base == cp || base.DB != cp.DB || connectors.HelperTable(cp.Table) || r.tabs.byRef[base] == nil {
		return
	}
	if r.tabs.toolCopies == nil {
		r.tabs.toolCopies = map[connectors.TableRef]connectors.TableRef{}
	}
	r.tabs.toolCopies[cp] = base
	sh := r.tabs.shadows[cp]
	if ts := r.tabs.byRef[cp]; ts != nil && ts.cur.Stale == "" {
		sh = ts.cur.clone()
		if ts.bb != nil {
			r.flush(ts)
			ts.bb.release()
			ts.bb = nil
		}
		r.left(ts)
		delete(r.tabs.leftOut, cp)
		r.cfg.log.Info("table left the stream", "table", ts.key, "position", at.String(),
			"cause", "pt-online-schema-change's copy of "+base.String()+" (its triggers write into it)")
	}
	if sh == nil || sh.CopyOf == base.Table {
		return
	}
	sh.Shadow, sh.CopyOf = true, base.Table
	if r.tabs.shadows == nil {
		r.tabs.shadows = map[connectors.TableRef]*table{}
	}
	r.tabs.shadows[cp] = sh
	r.tabs.schemasDirty = true
	r.cfg.log.Info("online schema change: the tool's copy has a name of its own; its rows are not followed and the cut-over reads the table again",
		"table", base.String(), "copy", cp.String(), "position", at.String())
}

// leaves queues the truncate changes and makes the dropped and renamed
// tables leave the stream, in statement order.
func (r *binlogReader) leaves(steps []lifeStep, at binlogPos) {
	// The tables whose row copy takes their name in this statement: they
	// leave without a truncate, the copy replaces their rows (joins).
	swapped := map[connectors.TableRef]bool{}
	for i := range steps {
		s := &steps[i]
		if ts := r.tabs.byRef[s.from]; s.kind == lifeRename && ts != nil && ts.copyOf != "" && ts.cur.Stale == "" && len(s.alters) == 0 && s.to.DB == s.from.DB && ts.copyOf == s.to.Table {
			s.rowCopy = true
			swapped[s.to] = true
			if base := r.tabs.byRef[s.to]; base != nil {
				s.snapRows = [2]int64{base.rowsDone.Load(), base.rowsTotal.Load()}
			}
		}
	}
	// The tables another table replaces in this statement (not by its
	// row copy), when that one is snapshotted: the targets keep the old
	// rows until the new table's rows, read again, overwrite them.
	replaced := map[connectors.TableRef]*lifeStep{}
	for i := range steps {
		s := &steps[i]
		if s.kind != lifeRename || s.rowCopy || r.tabs.byRef[s.to] == nil {
			continue
		}
		if mode, ok := r.em.wanted(s.to); ok && mode != connectors.SnapshotNever {
			replaced[s.to] = s
		}
	}
	for i := range steps {
		s := &steps[i]
		if s.kind == lifeDropDB {
			for ref, ts := range r.tabs.byRef {
				if ref.DB == s.from.DB {
					r.leave(ts, at, "database dropped")
				}
			}
			continue
		}
		ts := r.tabs.byRef[s.from]
		if ts == nil {
			continue
		}
		switch s.kind {
		case lifeTruncate:
			if ts.mode != connectors.SnapshotOnly {
				r.truncate(ts, at)
				r.cfg.log.Info("table truncated", "table", ts.key, "position", at.String())
			}
		case lifeDrop:
			if ts.copyOf == ts.ref.Table {
				r.leaveRebuilding(ts)
			}
			if ts.copyOf != "" {
				// A tool's copy dropped (a migration given up): its rows
				// never reached a target but its own.
				r.leaveCopy(ts, at, "dropped")
				r.dropCopy(ts)
				continue
			}
			r.leave(ts, at, "dropped")
		case lifeRename:
			s.fromSchema = ts.cur
			for _, a := range s.alters {
				nt, err := r.applier().alter(s.fromSchema, a)
				if err != nil {
					s.fromSchema = nil // read from the server when it joins
					break
				}
				s.fromSchema = nt
			}
			if ts.copyOf == ts.ref.Table {
				r.leaveRebuilding(ts)
			}
			switch {
			case ts.copyOf != "":
				r.leaveCopy(ts, at, "renamed to "+s.to.String())
				if !s.rowCopy {
					r.dropCopy(ts)
				}
			case swapped[ts.ref]:
				r.leaveCopy(ts, at, "replaced by its row copy, renamed to "+s.to.String())
			case replaced[ts.ref] != nil && ts.mode != connectors.SnapshotOnly:
				j := replaced[ts.ref]
				j.older = r.em.takeVersions(1)
				r.leaveReplaced(ts, at, "renamed to "+s.to.String()+", replaced by "+j.from.String())
			default:
				r.leave(ts, at, "renamed to "+s.to.String())
			}
			if s.fromSchema != nil && s.fromSchema.Stale == "" && r.tabs.shadows[s.to] == nil {
				// Followed under its new name as a shadow: renamed back
				// later (while etlq streams, or is stopped), it joins
				// with the schema known at that position. (The schema
				// history, applied after leave, no longer finds it.)
				sh := s.fromSchema.clone()
				sh.Ref, sh.Shadow = s.to, true
				if r.tabs.shadows == nil {
					r.tabs.shadows = map[connectors.TableRef]*table{}
				}
				r.tabs.shadows[s.to] = sh
			}
		}
	}
}

// joins adds the tables the statement brings under a name the stream
// follows: created (empty, nothing to scan) or renamed in (snapshotted).
func (r *binlogReader) joins(steps []lifeStep, at binlogPos, q string) error {
	for _, s := range steps {
		if s.kind == lifeCreate {
			r.followCopy(s)
			r.startCopy(s.to, at)
		}
		if s.kind != lifeCreate && s.kind != lifeRename {
			continue
		}
		mode, ok := r.em.wanted(s.to)
		if !ok || r.tabs.byRef[s.to] != nil {
			continue
		}
		if s.kind == lifeRename && s.rowCopy && s.fromSchema != nil && s.fromSchema.Stale == "" {
			// The tool's copy, followed row by row since its CREATE,
			// takes the table's name: the targets swap in the rows they
			// kept apart for it. Nothing is read again. (The swap's
			// position is the statement's end: a stream past it has
			// made the swap.)
			r.em.queue(&exec.Batch{Record: emptyRecord(r.cfg.mem, s.fromSchema.streamSchema(r.cfg.req.Before)), DB: s.to.DB, Table: s.from.Table,
				RowCopy: &exec.RowCopy{Of: s.to.Table, Step: exec.RowCopySwap, At: r.cur.String()}})
			r.cfg.log.Info("online schema change cut-over: row copy: the tool's copy, followed in the binlog since its CREATE, replaces the table in the targets; nothing is read again", "table", s.to.String(), "from", s.from.String(), "position", at.String())
			t := s.fromSchema.clone()
			t.Ref = s.to
			if err := r.join(s.to, mode, t, false, at, "row copy of "+s.from.String(), ""); err != nil {
				return err
			}
			if ts := r.tabs.byRef[s.to]; ts != nil {
				ts.rowsDone.Store(s.snapRows[0])
				ts.rowsTotal.Store(s.snapRows[1])
				ts.estimated.Store(true)
			}
			continue
		}
		if s.kind == lifeRename {
			sh := r.tabs.shadows[s.to]
			toolCopy := connectors.HelperTable(s.from.Table) || sh != nil && sh.CopyOf == s.to.Table || r.tabs.toolCopies[s.from] == s.to
			if toolCopy {
				// gh-ost's or pt-online-schema-change's cut-over: the
				// tool's copy, whose rows etlq did not follow, takes the
				// table's name. Its rows are read again.
				why := "the tool's copy was not followed since its CREATE (etlq started or resumed after it, a pipeline reading the table cannot take a row copy, or a DDL on the copy could not be applied)"
				if s.rowCopy {
					why = "the copy's schema was lost"
				}
				r.cfg.log.Info("online schema change cut-over: re-snapshot: the new table is read again", "table", s.to.String(), "from", s.from.String(), "position", at.String(), "reason", why)
			}
			var t *table
			if s.fromSchema == nil && sh != nil && sh.Stale == "" {
				// The tool's copy, whose schema the history followed as
				// a shadow (created LIKE t, then altered).
				t = sh.clone()
			}
			if s.fromSchema != nil && s.fromSchema.Stale == "" {
				// Renamed within what the stream follows: the schema is
				// known at this position, not only today's.
				t = s.fromSchema.clone()
				t.Ref = s.to
			}
			stale := ""
			if t == nil && toolCopy {
				// A tool's copy whose schema the history lost (a DDL it
				// could not apply): today's schema would be a guess for
				// the rows logged since.
				stale = fmt.Sprintf("the DDL at %s (%q) gave it the schema of %s, which etlq lost track of", at, abbreviate(q, 200), s.from)
			}
			if err := r.join(s.to, mode, t, true, at, "renamed from "+s.from.String(), stale); err != nil {
				return err
			}
			if s.older > 0 {
				r.readInPlace(s.to, s.older, at)
			}
			continue
		}
		// Created by this statement: empty (CREATE … SELECT's rows follow
		// as row events), nothing to scan — but for the table a CONVERT
		// PARTITION makes, which has the partition's rows. Its schema comes from the
		// statement where it can, so that a later ALTER already in the
		// server's information_schema does not decode these rows.
		var t *table
		if c := s.create; c != nil {
			switch {
			case c.Like != nil:
				if lt := r.tabs.byRef[*c.Like]; lt != nil && lt.cur.Stale == "" {
					t = lt.cur.clone()
					t.Ref = s.to
				}
			case !c.AsSelect && c.Def != nil:
				if nt, err := r.applier().create(c); err == nil {
					t = nt
				}
			}
		}
		why, filled := "created", false
		if c := s.create; c != nil && c.Filled != "" {
			// Made with rows that no row event carries: read as a table
			// renamed in is.
			why, filled = c.Filled, true
		}
		if err := r.join(s.to, mode, t, filled, at, why, ""); err != nil {
			return err
		}
	}
	return nil
}

// followCopy keeps, as a shadow schema (ddl_binlog.go), the schema of an
// online schema-change tool's copy of a followed table created with its
// whole definition, as pt-online-schema-change does (CREATE TABLE _t_new
// (…) from SHOW CREATE TABLE t; a copy created LIKE t is the history's
// own business): the ALTERs that follow apply to it, and at the cut-over
// the table joins with it.
//
// A copy under a name of the user's is known by the tool's triggers the
// server has at the stream's start (ptOscCopies), which name the table
// they are on today: when the cut-over's RENAME TABLE t TO _t_old, t_copy
// TO t came before the start, _t_old, which the stream does not follow.
// Such a copy is kept all the same, without the table it copies: its
// trigger statements, further in the binlog, name t (toolTrigger). (Left
// out, the cut-over found no schema for t and its rows after the RENAME
// could not be decoded without the binlog's column metadata.)
func (r *binlogReader) followCopy(s lifeStep) {
	c := s.create
	name := s.to.Table
	base, named := r.tabs.toolCopies[s.to] // (pt-online-schema-change --new-table-name)
	if c == nil || c.Like != nil || c.AsSelect || c.Def == nil || !named && !connectors.HelperTable(name) || r.tabs.shadows[s.to] != nil {
		return
	}
	if !named {
		base = connectors.TableRef{DB: s.to.DB, Table: name[1 : len(name)-4]}
	}
	followed := false
	if ts := r.tabs.byRef[base]; ts != nil && ts.mode != connectors.SnapshotOnly {
		followed = true
	}
	if !followed && !named {
		return
	}
	nt, err := r.applier().create(c)
	if err != nil {
		return
	}
	nt.Shadow = true
	if followed && named {
		nt.CopyOf = base.Table
	}
	if r.tabs.shadows == nil {
		r.tabs.shadows = map[connectors.TableRef]*table{}
	}
	r.tabs.shadows[s.to] = nt
	r.tabs.schemasDirty = true
}

// startCopy follows, row by row, the copy an online schema-change tool
// makes of a table (gh-ost's _t_gho, pt-online-schema-change's _t_new),
// created at position at, when every pipeline reading the table can take
// it as a row copy (connectors.StreamTable.RowCopy): its rows go to the
// targets as the table's row copy, kept apart until the cut-over swaps it
// in (joins). Elsewhere the copy stays a shadow schema and the cut-over
// reads the new table again.
func (r *binlogReader) startCopy(ref connectors.TableRef, at binlogPos) {
	sh := r.tabs.shadows[ref]
	name := ref.Table
	if sh == nil || sh.Stale != "" || !connectors.HelperTable(name) || r.tabs.byRef[ref] != nil || len(name) < 6 || !strings.HasSuffix(name, "_gho") && !strings.HasSuffix(name, "_new") {
		return
	}
	base := r.tabs.byRef[connectors.TableRef{DB: ref.DB, Table: name[1 : len(name)-4]}]
	if base == nil || base.mode == connectors.SnapshotOnly || !r.rowCopyOK(base.ref) || r.cfg.opts.schemaChanges == "ignore" || r.cfg.opts.schemaChanges == "fail" {
		return
	}
	if base.copyOf == base.ref.Table {
		// The table's rebuild after a type change is under way (or
		// queued): its copy has the same name in the targets, and the
		// tool's would take its place there, then leave with the table
		// at the cut-over and fail it. The copy stays a shadow; the
		// cut-over reads the new table again.
		r.cfg.log.Info("online schema change: the table is being rebuilt after a type change: the tool's copy is not followed row by row; the cut-over reads the new table again", "table", base.key, "copy", ref.String(), "position", at.String())
		return
	}
	delete(r.tabs.shadows, ref)
	r.addCopy(sh, base)
	r.em.queue(&exec.Batch{Record: emptyRecord(r.cfg.mem, sh.streamSchema(r.cfg.req.Before)), DB: ref.DB, Table: ref.Table,
		RowCopy: &exec.RowCopy{Of: base.ref.Table, Step: exec.RowCopyStart}})
	r.cfg.log.Info("online schema change: following the tool's copy row by row (row copy)", "table", base.key, "copy", ref.String(), "position", at.String())
}

// rowCopyOK reports whether the request lets table ref take a row copy.
func (r *binlogReader) rowCopyOK(ref connectors.TableRef) bool {
	for _, rt := range r.cfg.req.Tables {
		if rt.Ref == ref {
			return rt.RowCopy
		}
	}
	return false
}

// rebuildOK reports whether ts can be rebuilt for its change to schema nt
// as its pipelines stand: every one takes a copy (rowCopyOK), or some do
// and the others read none of the columns whose type changed beyond a
// lossless widening (connectors.StreamTable.Rebuild): those go on with
// the table's changes. (nt is ts.cur when a rebuild under way resumes.)
func (r *binlogReader) rebuildOK(ts *tableState, nt *table) bool {
	for _, rt := range r.cfg.req.Tables {
		if rt.Ref != ts.ref {
			continue
		}
		if rt.RowCopy || !rt.Rebuild {
			return rt.RowCopy
		}
		for _, c := range nt.Cols {
			i := ts.cur.colIndex(c.Name)
			if i < 0 || !slices.Contains(rt.NoCopyColumns, c.Name) {
				continue
			}
			old := ts.cur.Cols[i]
			from, to := old.field().Type, c.field().Type
			if !arrow.TypeEqual(from, to) && !exec.Widens(from, to) && !(exec.Widens(to, from) && !roundsValues(old, c)) {
				return false
			}
		}
		return true
	}
	return false
}

// addCopy adds the copy sh of table base to the stream.
func (r *binlogReader) addCopy(sh *table, base *tableState) {
	t := sh.clone()
	t.Shadow, t.RowCopyOf = false, ""
	ts := &tableState{ref: t.Ref, mode: base.mode, key: t.Ref.String(), cur: t, out: t, copyOf: base.ref.Table, swapped: base.swapped}
	ts.snapDone.Store(true)
	r.tabs.tablesMu.Lock()
	r.tabs.tables = append(r.tabs.tables, ts)
	r.tabs.tablesMu.Unlock()
	r.tabs.byRef[t.Ref] = ts
	r.tabs.schemasDirty = true
}

// absentMsg is the INFO for a table of the checkpoint the server no longer has.
const absentMsg = "table of the checkpoint no longer on the server: followed with the checkpoint's schema until the binlog says what became of it"

// resumeAbsent takes up again, on resume, the tables the checkpoint
// streamed that match the stream's patterns but are no longer on the
// server (dropped, or renamed away, while etlq was stopped or after its
// last checkpoint): the planner, which lists today's tables, does not ask
// for them. They are followed with the checkpoint's schema until the
// binlog replay meets the statement that removed them, which makes them
// leave as while streaming — a truncate change at its position, so that
// upsert targets lose their rows. A snapshot of theirs that had not
// finished is not taken up again (there is nothing left to read; the
// rows it sent leave with the truncate).
func (st *stream) resumeAbsent(saved map[connectors.TableRef]*table) {
	refs := make([]connectors.TableRef, 0, len(saved))
	for ref := range saved {
		refs = append(refs, ref)
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	for _, ref := range refs {
		t := saved[ref]
		if st.byRef[ref] != nil || t.RowCopyOf != "" {
			continue
		}
		mode, ok := st.wanted(ref)
		if !ok {
			continue
		}
		if t.Rebuild {
			t = t.clone()
			t.Rebuild = false
		}
		ts := &tableState{ref: ref, mode: mode, key: ref.String(), cur: t, out: t, absent: true}
		st.tables = append(st.tables, ts)
		st.byRef[ref] = ts
		st.needBinlog = true
		st.log.Info(absentMsg, "table", ts.key)
	}
}

// resumeCopies takes up again, on resume, the tools' copies the checkpoint
// followed row by row. One whose table no longer takes a row copy (the
// file changed) stays a shadow schema: its cut-over reads the table again.
func (st *stream) resumeCopies(copies []*table) {
	for _, c := range copies {
		base := st.byRef[connectors.TableRef{DB: c.Ref.DB, Table: c.RowCopyOf}]
		ok := false
		for _, rt := range st.req.Tables {
			if base != nil && rt.Ref == base.ref {
				ok = rt.RowCopy
				if rt.CopySwapped {
					base.swapped = true
					st.log.Info("online schema change: the targets already hold the copy swapped in; the table's rows up to the cut-over are not sent again", "table", base.key, "copy", c.Ref.String())
				}
			}
		}
		if !ok || base.mode == connectors.SnapshotOnly {
			of := c.Ref.DB + "." + c.RowCopyOf
			c = c.clone()
			c.RowCopyOf = ""
			st.shadows[c.Ref] = c
			st.log.Warn("online schema change: the copy is no longer followed row by row; the cut-over will read the table again", "table", of, "copy", c.Ref.String())
			continue
		}
		t := c.clone()
		t.Shadow, t.RowCopyOf = false, ""
		ts := &tableState{ref: t.Ref, mode: base.mode, key: t.Ref.String(), cur: t, out: t, copyOf: base.ref.Table, swapped: base.swapped}
		ts.snapDone.Store(true)
		st.tables = append(st.tables, ts)
		st.byRef[t.Ref] = ts
	}
}

// dropCopy tells the targets, at this position, that the copy ts (which
// left the stream) will not be swapped in: they drop what they kept of
// it once every write before is acknowledged.
func (r *binlogReader) dropCopy(ts *tableState) {
	if ts.copyOf == "" || ts.swapped {
		return
	}
	r.em.queue(&exec.Batch{Record: emptyRecord(r.cfg.mem, ts.cur.streamSchema(r.cfg.req.Before)), DB: ts.ref.DB, Table: ts.ref.Table,
		RowCopy: &exec.RowCopy{Of: ts.copyOf, Step: exec.RowCopyDrop}})
}

// leaveRebuilding gives up the rebuild under way of ts, which leaves the
// stream (dropped, renamed away): its copy is dropped, and it leaves as
// any table (its rows leave upsert targets). Its schema that left keeps
// the pending rebuild (table.Rebuild, leftOut): renamed back, it is
// rebuilt then (join).
func (r *binlogReader) leaveRebuilding(ts *tableState) {
	r.dropCopy(ts)
	ts.copyOf = ""
}

// leaveCopy removes a tool's copy, or a table its copy replaces, from the
// stream without a truncate change.
func (r *binlogReader) leaveCopy(ts *tableState, at binlogPos, why string) {
	if ts.bb != nil {
		r.flush(ts)
		ts.bb.release()
		ts.bb = nil
	}
	r.snap.dropTable(ts)
	r.tabs.tablesMu.Lock()
	ts.gone = true
	r.tabs.tablesMu.Unlock()
	if ts.copyOf == "" {
		if r.tabs.leftOut == nil {
			r.tabs.leftOut = map[connectors.TableRef]*table{}
		}
		r.tabs.leftOut[ts.ref] = ts.out
	}
	delete(r.tabs.byRef, ts.ref)
	for id, m := range r.maps {
		if m.t.Ref == ts.ref {
			delete(r.maps, id)
		}
	}
	r.tabs.schemasDirty = true
	r.cfg.log.Info("table left the stream", "table", ts.key, "position", at.String(), "cause", why)
}

// wanted reports whether the stream follows a table named ref that is not
// in it, and with which snapshot mode: a table asked for by name (that
// left and comes back) or one matching a pattern. SNAPSHOT only tables do
// not come back: their scan is over.
func (st *stream) wanted(ref connectors.TableRef) (connectors.SnapshotMode, bool) {
	if mode, ok := st.requested[ref]; ok {
		return mode, mode != connectors.SnapshotOnly
	}
	if sh := st.shadows[ref]; sh != nil && sh.CopyOf != "" && sh.CopyOf != ref.Table {
		// A tool's copy under a name of its own (toolTrigger); renamed
		// onto its table at the cut-over, it is that table.
		return 0, false
	}
	if _, ok := st.toolCopies[ref]; ok {
		return 0, false
	}
	found := false
	var mode connectors.SnapshotMode
	for _, p := range st.req.Patterns {
		if p.Snapshot == connectors.SnapshotOnly || !connectors.MatchRef(connectors.TableRef{DB: p.DB, Table: p.Table}, ref) {
			continue
		}
		if !found || p.Snapshot == connectors.SnapshotInitial {
			mode = p.Snapshot
		}
		found = true
	}
	return mode, found
}

// join adds table ref to the stream at position at, with schema t (nil:
// as the server has it now); stale, when set, says that schema is not
// known (ddl_binlog.go's markStale). With snapshot (a table renamed in, or met in the
// binlog without its CREATE) its rows are read as a snapshot placed after
// at, unless its mode is never.
func (r *binlogReader) join(ref connectors.TableRef, mode connectors.SnapshotMode, t *table, snapshot bool, at binlogPos, why, stale string) error {
	if t == nil {
		c, err := r.cfg.src.connect(context.Background())
		if err != nil {
			return err
		}
		typ := tableType(c, ref)
		decl := ""
		if typ == "SYSTEM VERSIONED" {
			// One with the implicit period pair is captured
			// (versioned.go); declared or transaction-precise
			// period columns are not.
			if decl, err = periodDecl(c, ref); err != nil {
				decl = err.Error()
			}
		}
		if typ != "" && typ != "BASE TABLE" && (typ != "SYSTEM VERSIONED" || decl != "") {
			c.Close()
			// A SEQUENCE (NEXTVAL logs row events of it) or a
			// system-versioned table under a pattern that etlq does not
			// capture: no listing takes one (Source.Tables), and its rows
			// are no table's rows a target could hold; joined, the
			// pipeline stopped at its first row (a sequence's NULL id).
			if typ == "SYSTEM VERSIONED" {
				r.cfg.log.Warn("table not joined: a system-versioned table etlq does not capture", "table", ref.String(), "type", typ,
					"position", at.String(), "cause", why, "reason", versionedError{ref, decl}.Error())
			} else {
				r.cfg.log.Info("table not joined: it is no base table etlq captures", "table", ref.String(), "type", typ, "position", at.String(), "cause", why)
			}
			if r.tabs.unreadable == nil {
				r.tabs.unreadable = map[connectors.TableRef]bool{}
			}
			r.tabs.unreadable[ref] = true
			return nil
		}
		t, err = readTable(c, ref)
		c.Close()
		if err != nil {
			// Gone again already (dropped or renamed later in the binlog):
			// the statements that follow say what became of it.
			r.cfg.log.Warn("table not joined: it cannot be read", "table", ref.String(), "position", at.String(), "cause", why, "error", err.Error())
			if r.tabs.unreadable == nil {
				r.tabs.unreadable = map[connectors.TableRef]bool{}
			}
			r.tabs.unreadable[ref] = true
			return nil
		}
	}
	// Every column is new to the stream's targets: one a target lacks is
	// added there, not taken for a column dropped outside etlq.
	t = t.clone()
	t.Shadow, t.CopyOf = false, ""
	if t.Stale = stale; stale != "" {
		r.cfg.log.Warn("schema change etlq cannot apply: the table's rows need the binlog's column metadata from here on", "table", ref.String(), "position", at.String(), "cause", why)
	}
	if _, ok := r.tabs.shadows[ref]; ok {
		delete(r.tabs.shadows, ref) // streamed from here on
	}
	for _, c := range t.Cols {
		c.Added, c.Joined = true, true
	}
	ts := &tableState{ref: ref, mode: mode, key: ref.String(), cur: t, out: t}
	if old := r.tabs.leftOut[ref]; old != nil && !sameColumns(old, t) {
		// A table of this name left with other columns: to the targets
		// this is a schema change (an online schema change's cut-over).
		switch r.cfg.opts.schemaChanges {
		case "fail":
			return fmt.Errorf("schema change on %s at %s: it was replaced by a table with other columns (%s, schema_changes = 'fail')", ts.key, at, why)
		case "ignore":
			ts.out = old
		}
	}
	r.tabs.tablesMu.Lock()
	r.tabs.tables = append(r.tabs.tables, ts)
	r.tabs.tablesMu.Unlock()
	r.tabs.byRef[ref] = ts
	r.tabs.schemasDirty = true
	pending := t.Rebuild || r.tabs.leftOut[ref] != nil && r.tabs.leftOut[ref].Rebuild
	if snapshot && mode != connectors.SnapshotNever && pending && r.cfg.opts.schemaChanges != "ignore" && r.cfg.opts.schemaChanges != "fail" && r.cannotRebuild(ts, t) == "" {
		// It left (renamed away, dropped) while its rebuild after a type
		// change was pending: its targets still have the old type. Read
		// in place, its rows would meet it; it is rebuilt instead (read
		// into a copy with its types, swapped in: rebuild.go).
		r.cfg.log.Info("table joined the stream; it left while it was rebuilt after a type change: it is rebuilt now (read again into a copy with its types, swapped in)", "table", ts.key, "position", at.String(), "cause", why)
		queueRebuildStart(r.em, r.tabs, ts)
	} else if snapshot && mode != connectors.SnapshotNever {
		r.snap.addTable(ts)
		r.cfg.log.Info("table joined the stream; snapshotting it", "table", ts.key, "position", at.String(), "cause", why)
	} else {
		ts.snapDone.Store(true)
		r.cfg.log.Info("table joined the stream", "table", ts.key, "position", at.String(), "cause", why)
	}
	return nil
}

// readInPlace makes the snapshot of ref, which just joined in the place of
// a table of its name that left without a truncate (leaves, replaced), a
// re-read in place: every pipeline takes its rows, which overwrite the old
// table's by version, and at its end the keys whose live row is older than
// version leave upsert targets (engine: the ResnapshotEnd of no request).
// When ref could not be read (it is not in the stream), or is not
// snapshotted, the old rows leave at once, as for a plain RENAME away.
func (r *binlogReader) readInPlace(ref connectors.TableRef, version uint64, at binlogPos) {
	ts := r.tabs.byRef[ref]
	if ts != nil && ts.copyOf == ref.Table {
		// It joined to be rebuilt (the table it replaces left while its
		// rebuild was under way): its copy, read again whole, replaces
		// the targets' rows at the swap, the old table's with them.
		return
	}
	if ts == nil || ts.snap == nil || ts.snapDone.Load() {
		old := r.tabs.leftOut[ref]
		if old != nil {
			r.truncate(&tableState{ref: ref, key: ref.String(), out: old}, at)
		}
		return
	}
	r.snap.mu.Lock()
	ts.snap.Older = version
	ts.resnap = &resnapState{req: connectors.Resnapshot{Table: ref}, version: version, cutover: true}
	r.snap.mu.Unlock()
	r.cfg.log.Info("cut-over: the targets keep the old table's rows until the new table's rows, read again, overwrite them; the keys it does not have leave at the end of the read", "table", ts.key, "position", at.String())
}

// leave removes ts from the stream at position at: a truncate change first
// (upsert targets lose its rows), then its rows are no longer decoded.
func (r *binlogReader) leave(ts *tableState, at binlogPos, why string) {
	if ts.mode != connectors.SnapshotOnly {
		r.truncate(ts, at)
	}
	r.left(ts)
	r.cfg.log.Info("table left the stream; its rows leave upsert targets", "table", ts.key, "position", at.String(), "cause", why)
	if mode, ok := r.tabs.requested[ts.ref]; ok && mode != connectors.SnapshotOnly {
		r.cfg.log.Info("waiting for the table: it joins again when a table of its name is created or renamed in", "table", ts.key)
	}
}

// waitFor notes, on resume, a table read by name that had left the stream
// before the checkpoint (schema t, the one it left with) and that the
// server still does not have: the stream waits for it as before it
// stopped, and the checkpoints keep its schema for the next start's plan.
func (st *stream) waitFor(ref connectors.TableRef, t *table) {
	if st.leftOut == nil {
		st.leftOut = map[connectors.TableRef]*table{}
	}
	t = t.clone()
	t.Waiting = false
	st.leftOut[ref] = t
	st.needBinlog = true // its CREATE or RENAME is met there
	st.log.Info("waiting for the table: it left the stream before the checkpoint; it joins again when a table of its name is created or renamed in", "table", ref.String())
}

// waitingSchemas are the schemas a checkpoint keeps of the tables read by
// name that left the stream and did not come back (table.Waiting), sorted.
func (st *stream) waitingSchemas() []*table {
	var out []*table
	for ref, mode := range st.requested {
		t := st.leftOut[ref]
		if mode == connectors.SnapshotOnly || t == nil || st.byRef[ref] != nil {
			continue
		}
		t = t.clone()
		t.Waiting, t.Shadow, t.RowCopyOf, t.Rebuild = true, false, "", false
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Ref.String() < out[j].Ref.String() })
	return out
}

// leaveReplaced removes ts from the stream at position at without a
// truncate: a table of its name takes its place in the same statement and
// is read again in place (readInPlace).
func (r *binlogReader) leaveReplaced(ts *tableState, at binlogPos, why string) {
	if ts.bb != nil {
		r.flush(ts)
		ts.bb.release()
		ts.bb = nil
	}
	r.left(ts)
	r.cfg.log.Info("table left the stream; its rows stay in the targets until the table that replaces it is read again", "table", ts.key, "position", at.String(), "cause", why)
}

// left removes ts from the stream's tables.
func (r *binlogReader) left(ts *tableState) {
	r.snap.dropTable(ts)
	r.tabs.tablesMu.Lock()
	ts.gone = true
	r.tabs.tablesMu.Unlock()
	if r.tabs.leftOut == nil {
		r.tabs.leftOut = map[connectors.TableRef]*table{}
	}
	r.tabs.leftOut[ts.ref] = ts.out
	delete(r.tabs.byRef, ts.ref)
	for id, m := range r.maps {
		if m.t.Ref == ts.ref {
			delete(r.maps, id)
		}
	}
	r.tabs.schemasDirty = true
}

// truncate queues the change "ts was emptied at at": a batch of one row
// with op truncate, every table column NULL.
func (r *binlogReader) truncate(ts *tableState, at binlogPos) {
	if ts.bb != nil {
		r.flush(ts)
		ts.bb.release()
		ts.bb = nil
	}
	schema := ts.out.streamSchema(r.cfg.req.Before)
	n := len(ts.out.Cols)
	if r.cfg.req.Before {
		n *= 2
	}
	cols := make([]arrow.Array, 0, schema.NumFields())
	for i := range n {
		cols = append(cols, array.MakeArrayOfNull(r.cfg.mem, schema.Field(i).Type, 1))
	}
	cols = append(cols, metaArrays(r.cfg.mem, nil, ts.ref.DB, ts.ref.Table, []metaRun{{op: exec.OpTruncate, ts: r.trxTs, pos: at.String(), ver: r.em.takeVersions(1), n: 1}})...)
	rec := array.NewRecordBatch(schema, cols, 1)
	for _, a := range cols {
		a.Release()
	}
	// A binlog change like any other: the statement's server id and GTID
	// (debezium_json's source.server_id and gtid).
	r.em.queue(&exec.Batch{Record: rec, DB: ts.ref.DB, Table: ts.ref.Table, ServerID: r.trxServer, GTID: r.trxGTID, Thread: r.trxThread})
}
