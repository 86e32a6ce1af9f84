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
	table, change string
	pipelines     []string
}

// add notes that pipeline planned table again for change.
func (l *replanLog) add(table, change, pipeline string) {
	for i := range l.entries {
		if e := &l.entries[i]; e.table == table && e.change == change {
			e.pipelines = append(e.pipelines, pipeline)
			return
		}
	}
	l.entries = append(l.entries, replanEntry{table: table, change: change, pipelines: []string{pipeline}})
}

// flush logs what add gathered, one line per table and change.
func (l *replanLog) flush() {
	for _, e := range l.entries {
		sort.Strings(e.pipelines)
		l.log.Info("schema change: pipeline planned again", "table", e.table, "change", e.change, "pipelines", strings.Join(e.pipelines, ", "))
	}
	l.entries = l.entries[:0]
}

// replanned notes that the pipeline planned table again for change: into
// the source run's replanLog, or logged at once where there is none
// (verify, a dead-letter replay).
func (pr *pipeRun) replanned(table, change string) {
	if pr.replans != nil {
		pr.replans.add(table, change, pr.p.Name)
		return
	}
	pr.log.Info("schema change: pipeline planned again", "table", table, "change", change, "pipelines", pr.p.Name)
}

// layoutChange describes how a table's layout went from from to to, for
// the log: the columns added (with their source type), dropped, retyped
// and moved, or the primary key lost; else the columns declared otherwise.
func layoutChange(from, to *arrow.Schema) string {
	typeOf := func(f arrow.Field) string {
		if st, ok := f.Metadata.GetValue(exec.MetaSourceType); ok && st != "" {
			return st
		}
		return f.Type.String()
	}
	from, to = tableColumns(from), tableColumns(to)
	var parts, declared []string
	for _, f := range to.Fields() {
		idx := from.FieldIndices(f.Name)
		if len(idx) == 0 {
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
