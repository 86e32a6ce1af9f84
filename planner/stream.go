package planner

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
)

// streamKinds are the sinks that pass each change on (no table to keep a
// state in).
var streamKinds = map[string]bool{"stdout": true, "file": true, "http": true}

// checkStreamMode refuses MODE upsert on a stream sink: it keeps no
// current state per key, so it would run as append, which is not what the
// mode says. MODE changelog is fine there: the row formats write the
// columns of a ClickHouse changelog table (_op, _ts, _pos, _version,
// _before_<output>; connectors/format). It reports whether the mode is fine.
func (b *builder) checkStreamMode(p *lang.CreatePipeline, pl *Pipeline) bool {
	if !streamKinds[pl.SinkKind] {
		return true
	}
	switch pl.Target.Mode {
	case connectors.ModeUpsert:
		b.errs.add(p.Mode, "INTO %s cannot take MODE upsert: it passes each change on and keeps no current state per key; upsert needs a table target (INTO clickhouse …), or leave MODE out", pl.SinkKind)
		return false
	}
	return true
}

// fileExtensions are the extensions a file target without FORMAT may have,
// and the format each one means.
var fileExtensions = map[string]string{".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet"}

// checkFileExtension refuses a file target whose format its extension does
// not say (it would be written as jsonl without a word).
func (b *builder) checkFileExtension(target *lang.StringLit) {
	ext := strings.ToLower(filepath.Ext(target.Value))
	if _, ok := fileExtensions[ext]; ok {
		return
	}
	what := "has no extension"
	if ext != "" {
		what = "ends in " + ext
	}
	b.errs.add(target, "file %q %s, which says no format: add FORMAT (%s), or name it .jsonl, .csv or .parquet",
		target.Value, what, strings.Join(formatsByKind["file"], ", "))
}

// changeColumns are the metadata columns that describe the change rather
// than the row: a condition on them has no meaning "at the source".
var changeColumns = map[string]bool{"_op": true, "_ts": true, "_pos": true, "_version": true}

// checkUpsertWhere refuses, in upsert mode, a WHERE that depends on the
// change rather than on the row (changed(), before.*, _op, _ts, _pos,
// _version). The target of an upsert equals the source rows that pass
// WHERE: an update that leaves the condition false removes its key, so
// WHERE changed(status) deleted every row whose last update kept its
// status (new-user trial). Picking changes is append's or changelog's
// job.
func (b *builder) checkUpsertWhere(p *lang.CreatePipeline, pl *Pipeline, modeWritten bool) {
	if p.Where == nil || pl.Target.Mode != connectors.ModeUpsert {
		return
	}
	var at lang.Node
	var what string
	lang.Walk(p.Where, func(n lang.Node) bool {
		if at != nil {
			return false
		}
		switch x := n.(type) {
		case *lang.ColumnRef:
			if x.Before {
				at, what = x, "before."+x.Name.Name
			} else if !x.Name.Quoted && changeColumns[strings.ToLower(x.Name.Name)] {
				at, what = x, x.Name.Name
			}
		case *lang.Call:
			if strings.EqualFold(x.Name.Name, "changed") {
				at, what = x, "changed()"
			}
		}
		return at == nil
	})
	if at == nil {
		return
	}
	mode := "MODE upsert"
	if !modeWritten {
		mode = "MODE upsert (the default for a ClickHouse table with a key)"
	}
	b.errs.add(at, "WHERE uses %s, which describes the change, not the row: in %s the target holds the source rows that pass WHERE, so a change that does not pass it removes its key (WHERE changed(x) drops every row whose last update kept x); to pick changes, write MODE append or MODE changelog", what, mode)
}

// checkBeforeNames refuses, in changelog mode, an output named like the
// before column changelog adds for another output (status and amount AS
// _before_status): the table had the column twice, which ClickHouse
// refuses, and the row formats would write two values under one name.
func (b *builder) checkBeforeNames(p *lang.CreatePipeline, pl *Pipeline) {
	if pl.Target.Mode != connectors.ModeChangelog {
		return
	}
	names := map[string]bool{}
	for _, c := range pl.Output {
		names[strings.ToLower(c.Name)] = true
	}
	for _, c := range pl.Output {
		before := exec.TargetBeforePrefix + c.Name
		if !c.Before || !names[strings.ToLower(before)] {
			continue
		}
		var at lang.Node = p.Name
		for _, it := range p.Transform {
			if n, ok := outputName(it); ok && strings.EqualFold(n, before) {
				at = it
				break
			}
		}
		b.errs.add(at, "output column %q is the name of the column MODE changelog adds for the value of %s before an update: rename it with AS", before, c.Name)
	}
}

// checkSystemNames refuses an output named like a column the mode keeps
// for the change itself unless it is that metadata column: in upsert mode
// _version (the table is a ReplacingMergeTree(_version): amount AS
// _version made the amount the version that decides which row stays), in
// changelog mode _op, _ts, _pos and _version (status AS _op wrote the
// status where the change's operation belongs, and lost the operation).
func (b *builder) checkSystemNames(p *lang.CreatePipeline, pl *Pipeline) {
	var names []string
	switch pl.Target.Mode {
	case connectors.ModeUpsert:
		names = []string{"_version"}
	case connectors.ModeChangelog:
		names = []string{"_op", "_ts", "_pos", "_version"}
	default:
		return
	}
	isSys := func(n string) bool {
		return slices.ContainsFunc(names, func(s string) bool { return strings.EqualFold(s, n) })
	}
	if pl.Target.Mode == connectors.ModeUpsert && pl.SinkKind == "clickhouse" {
		// An upsert table marks deletes in _is_deleted: the sink refused
		// an output of that name at the INTO, naming the pipeline twice.
		for _, c := range pl.Output {
			if strings.EqualFold(c.Name, "_is_deleted") {
				var at lang.Node = p.Name
				for _, it := range p.Transform {
					if out, ok := outputName(it); (ok && strings.EqualFold(out, c.Name)) || (it.Star && at == p.Name) {
						at = it
					}
				}
				b.errs.add(at, "output column %q is reserved in MODE upsert: the table marks deleted rows in it; name this output otherwise (AS …)", c.Name)
			}
		}
	}
	for _, c := range pl.Output {
		if !isSys(c.Name) {
			continue
		}
		var item, star *lang.SelectItem
		for _, it := range p.Transform {
			if it.Star {
				star = it
			} else if out, ok := outputName(it); ok && strings.EqualFold(out, c.Name) {
				item = it
			}
		}
		if item == nil {
			// A column of the table of that name, through * (or no
			// TRANSFORM, which is *).
			var at lang.Node = p.Name
			if star != nil {
				at = star
			}
			b.errs.add(at, "the table's column %q takes the name of the change's own %s in MODE %s: leave it out with * EXCEPT (`%s`), or rename it (`%s` AS …)",
				c.Name, strings.ToLower(c.Name), pl.Target.Mode, c.Name, c.Name)
			continue
		}
		e := item.Expr
		for {
			par, ok := e.(*lang.Paren)
			if !ok {
				break
			}
			e = par.X
		}
		if r, ok := e.(*lang.ColumnRef); ok && !r.Before && !r.Name.Quoted && strings.EqualFold(r.Name.Name, c.Name) {
			continue
		}
		b.errs.add(item, "output column %q is the change's own %s in MODE %s: it can only be %s itself; name this output otherwise (AS …)", c.Name, strings.ToLower(c.Name), pl.Target.Mode, strings.ToLower(c.Name))
	}
}
