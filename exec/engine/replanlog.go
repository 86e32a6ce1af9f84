package engine

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/exec"
)

// replanLog gathers, while one batch is dispatched, the pipelines it made
// plan their table again, so that one DDL is logged once — naming the
// table, the change and every pipeline that followed it — and not once per
// pipeline (sourceRun.dispatch flushes it after each batch).
type replanLog struct {
	log     *slog.Logger
	entries []replanEntry
}

type replanEntry struct {
	msg, table, change string
	pipelines          []string
}

// Messages of the replan log: a DDL the stream met, and the changes from
// before a DDL made while etlq was stopped, which the stream replays with
// the table as its checkpoint has it (older than the plan made from the
// server's table of now).
const (
	replanMsgDDL    = "schema change: pipeline planned again"
	replanMsgBefore = "pipeline planned as the checkpoint has the table: the changes before a DDL made while etlq was stopped"
)

// add notes that pipeline planned table again for change.
func (l *replanLog) add(msg, table, change, pipeline string) {
	for i := range l.entries {
		if e := &l.entries[i]; e.msg == msg && e.table == table && e.change == change {
			e.pipelines = append(e.pipelines, pipeline)
			return
		}
	}
	l.entries = append(l.entries, replanEntry{msg: msg, table: table, change: change, pipelines: []string{pipeline}})
}

// flush logs what add gathered, one line per table and change.
func (l *replanLog) flush() {
	for _, e := range l.entries {
		sort.Strings(e.pipelines)
		l.log.Info(e.msg, "table", e.table, "change", e.change, "pipelines", strings.Join(e.pipelines, ", "))
	}
	l.entries = l.entries[:0]
}

// replanned notes that the pipeline planned table again for change
// (layoutChange; before: the batch is older than the plan): into the
// source run's replanLog, or logged at once where there is none (verify,
// a dead-letter replay).
func (pr *pipeRun) replanned(table, change string, before bool) {
	msg := replanMsgDDL
	if before {
		msg = replanMsgBefore
	}
	if pr.replans != nil {
		pr.replans.add(msg, table, change, pr.p.Name)
		return
	}
	pr.log.Info(msg, "table", table, "change", change, "pipelines", pr.p.Name)
}

// layoutChange describes how a table's layout went from from to to, for
// the log: the columns added (with their source type), dropped, retyped
// and moved, or the primary key lost; else the columns declared otherwise.
// A column to has and from has not, which no DDL of the stream added
// (exec.MetaAddedByDDL, which every ADD COLUMN the stream reads sets), is
// no added column: the batch is older than the plan — a restart planned
// the table as the server has it now, and the stream replays the changes
// before a DDL made while etlq was stopped (a DROP COLUMN) with the table
// as its checkpoint has it. before says so, and the change then names the
// columns the checkpoint's table has ("with last_name varchar(16)"), not
// "added last_name" at what is a DROP COLUMN. startPlan (from is the
// run's plan, made from the server's table of now, and to is the first
// layout the stream gives the table) says so too, whatever the
// difference: a column added or retyped while etlq was stopped made the
// replay's first batch read as "dropped channel" or "id bigint → int", a
// schema change counted in etlq_schema_changes_total, before the stream
// met the ADD COLUMN (or MODIFY) that made it.
func layoutChange(from, to *arrow.Schema, startPlan bool) (change string, before bool) {
	typeOf := func(f arrow.Field) string {
		if st, ok := f.Metadata.GetValue(exec.MetaSourceType); ok && st != "" {
			return st
		}
		return f.Type.String()
	}
	from, to = tableColumns(from), tableColumns(to)
	if startPlan && !addedByStreamDDL(to) {
		// (A layout with a column an ADD COLUMN of the stream marked is
		// that DDL's own batch, met again in the binlog: a DDL, below.)
		if change := olderLayout(from, to, typeOf); change != "" {
			return change, true
		}
	}
	var parts, declared, older []string
	for _, f := range to.Fields() {
		idx := from.FieldIndices(f.Name)
		if len(idx) == 0 {
			if _, ok := f.Metadata.GetValue(exec.MetaAddedByDDL); !ok {
				older = append(older, f.Name+" "+typeOf(f))
				continue
			}
			parts = append(parts, "added "+f.Name+" "+typeOf(f))
			continue
		}
		g := from.Field(idx[0])
		if !arrow.TypeEqual(g.Type, f.Type) {
			parts = append(parts, fmt.Sprintf("%s %s → %s", f.Name, typeOf(g), typeOf(f)))
			continue
		}
		if typeOf(g) != typeOf(f) {
			// The same Arrow type, declared otherwise (sameDeclaredTypes):
			// named when nothing else changed. (At a restart the plan is
			// made from the table as it is now; a column the replayed DDL
			// adds comes with the older declared types of the others,
			// which that DDL did not change.)
			declared = append(declared, fmt.Sprintf("%s %s → %s", f.Name, typeOf(g), typeOf(f)))
		}
		// A column the plan has, which the batch marks as added by a DDL:
		// planned from the table as it is now (a restart), met again in
		// the binlog since the checkpoint. (Not a column of a table that
		// joined the stream, AddedByJoin: an online schema change's
		// cut-over marks every column of the new table so, those the old
		// one had too.)
		mark, _ := f.Metadata.GetValue(exec.MetaAddedByDDL)
		if had, _ := g.Metadata.GetValue(exec.MetaAddedByDDL); mark != "" && mark != exec.AddedByJoin && had == "" {
			parts = append(parts, "added "+f.Name+" "+typeOf(f))
		}
	}
	if len(older) > 0 {
		// The checkpoint's table: its columns the plan has not, and
		// those the plan has that it has not (a column added while
		// etlq was stopped, after the DDL the stream is still before).
		var without []string
		for _, f := range from.Fields() {
			if len(to.FieldIndices(f.Name)) == 0 {
				without = append(without, f.Name)
			}
		}
		change = "with " + strings.Join(older, ", ")
		if len(without) > 0 {
			change += "; without " + strings.Join(without, ", ")
		}
		return change, true
	}
	for _, f := range from.Fields() {
		if len(to.FieldIndices(f.Name)) == 0 {
			parts = append(parts, "dropped "+f.Name)
		}
	}
	if len(parts) == 0 {
		// Same columns: their order, or what a DDL says of them.
		var old, now []string
		for _, f := range from.Fields() {
			old = append(old, f.Name)
		}
		for _, f := range to.Fields() {
			now = append(now, f.Name)
		}
		switch {
		case strings.Join(old, ",") != strings.Join(now, ","):
			parts = append(parts, "columns reordered: "+strings.Join(now, ", "))
		case hasPrimaryKey(from) && !hasPrimaryKey(to):
			parts = append(parts, "primary key dropped")
		case len(declared) > 0:
			parts = declared
		default:
			parts = append(parts, "column metadata changed")
		}
	}
	return strings.Join(parts, "; "), false
}

// addedByStreamDDL reports whether a column of the layout was added by an
// ADD COLUMN the stream read (exec.MetaAddedByDDL, not a joining table's).
func addedByStreamDDL(s *arrow.Schema) bool {
	for _, f := range s.Fields() {
		if mark, ok := f.Metadata.GetValue(exec.MetaAddedByDDL); ok && mark != "" && mark != exec.AddedByJoin {
			return true
		}
	}
	return false
}

// olderLayout describes the checkpoint's layout of a table, to, against
// the run's plan, from, made from the server's table of now: the columns
// it has that the plan has not, or of another declared type ("with
// last_name varchar(16)"), those it has not ("without channel"), or the
// order of its columns. "" when they are alike but for field metadata.
func olderLayout(from, to *arrow.Schema, typeOf func(arrow.Field) string) string {
	var with, without []string
	for _, f := range to.Fields() {
		idx := from.FieldIndices(f.Name)
		if len(idx) == 0 || !arrow.TypeEqual(from.Field(idx[0]).Type, f.Type) || typeOf(from.Field(idx[0])) != typeOf(f) {
			with = append(with, f.Name+" "+typeOf(f))
		}
	}
	for _, f := range from.Fields() {
		if len(to.FieldIndices(f.Name)) == 0 {
			without = append(without, f.Name)
		}
	}
	var parts []string
	if len(with) > 0 {
		parts = append(parts, "with "+strings.Join(with, ", "))
	}
	if len(without) > 0 {
		parts = append(parts, "without "+strings.Join(without, ", "))
	}
	if len(parts) == 0 {
		var old, now []string
		for _, f := range to.Fields() {
			old = append(old, f.Name)
		}
		for _, f := range from.Fields() {
			now = append(now, f.Name)
		}
		if strings.Join(old, ",") != strings.Join(now, ",") {
			parts = append(parts, "columns in the order "+strings.Join(old, ", "))
		}
	}
	return strings.Join(parts, "; ")
}

// tableColumns is the table's own columns of a source batch layout: the
// columns before its before.* copies and its metadata columns
// (exec.MetaFields), which the source adds after them.
func tableColumns(s *arrow.Schema) *arrow.Schema {
	n := s.NumFields() - len(exec.MetaFields())
	var out []arrow.Field
	for i := 0; i < n; i++ {
		f := s.Field(i)
		if strings.HasPrefix(f.Name, exec.BeforePrefix) {
			break
		}
		out = append(out, f)
	}
	return arrow.NewSchema(out, nil)
}
