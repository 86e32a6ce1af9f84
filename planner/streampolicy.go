package planner

import (
	"fmt"
	"strings"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/lang"
)

// streamOption is a pipeline option that acts on the source's one binlog
// stream, which the pipelines of a source share (engine.streamRequest
// merges their options, the last pipeline's value winning): pipelines of
// one source that disagree on it are refused, naming both and their
// values, rather than one silently taking the other's.
type streamOption struct {
	name string
	// what the option is, in the error ("the policy").
	what string
	// applies says whether the option means anything to the pipeline
	// (start_at only to SNAPSHOT never, the snapshot's options not to it).
	applies func(*Pipeline) bool
	// def is the value of a pipeline that does not set it and whose
	// source does not either; nil: the source kind's default.
	def any
}

var streamOptions = []streamOption{
	// A 'fail' pipeline stopped an 'ignore' one at the first ALTER, or,
	// the other way round, a 'fail' pipeline followed the DDL without a
	// word.
	{name: "schema_changes", what: "the policy", applies: func(*Pipeline) bool { return true }, def: "evolve"},
	// The position the stream starts at without a checkpoint: one of two
	// SNAPSHOT never pipelines took the other's.
	{name: "start_at", what: "the position", applies: func(p *Pipeline) bool { return p.Snapshot == connectors.SnapshotNever }, def: "latest"},
	// The snapshot's connections and chunks: the stream's one snapshot
	// reads every table with the last pipeline's value.
	{name: "snapshot_parallelism", what: "the snapshot's connections", applies: func(p *Pipeline) bool { return p.Snapshot != connectors.SnapshotNever }},
	{name: "chunk_rows", what: "the snapshot's chunk size", applies: func(p *Pipeline) bool { return p.Snapshot != connectors.SnapshotNever }},
}

// checkStreamOptionsAgree refuses pipelines of one source whose values of
// a streamOption differ. A pipeline that does not set it has the source's
// value (its CREATE SOURCE … WITH), else the default.
func (b *builder) checkStreamOptionsAgree(f *lang.File) {
	for _, so := range streamOptions {
		b.checkStreamOptionAgrees(f, so)
	}
}

func (b *builder) checkStreamOptionAgrees(f *lang.File, so streamOption) {
	type first struct {
		pipeline string
		value    any
	}
	seen := map[string]first{}
	written := map[string]*lang.Option{}
	decl := map[string]*lang.CreatePipeline{}
	for _, st := range f.Statements {
		if p := st.Pipeline; p != nil {
			decl[strings.ToLower(p.Name.Name)] = p
			for _, o := range p.With {
				if strings.EqualFold(o.Name.Name, so.name) {
					written[strings.ToLower(p.Name.Name)] = o
				}
			}
		}
	}
	for _, pl := range b.plan.Pipelines {
		src := b.sources[strings.ToLower(pl.Source)]
		if src == nil || !so.applies(pl) {
			continue
		}
		value, ok := pl.Options[so.name]
		if !ok {
			value, ok = src.Options[so.name]
		}
		if !ok {
			value = so.def
			if value == nil {
				if spec, found := connectors.SourceSpec(src.Kind); found {
					if o, found := spec.Lookup(so.name); found {
						value = o.Default
					}
				}
			}
		}
		key := strings.ToLower(src.Name)
		prev, ok := seen[key]
		if !ok {
			seen[key] = first{pl.Name, value}
			continue
		}
		if fmt.Sprint(prev.value) == fmt.Sprint(value) {
			continue
		}
		var at lang.Node
		if o := written[strings.ToLower(pl.Name)]; o != nil {
			at = o
		} else if p := decl[strings.ToLower(pl.Name)]; p != nil {
			at = p.Name
		} else {
			continue
		}
		b.errs.add(at, "pipelines %s and %s of source %s disagree on %s (%s and %s): %s acts on the source's one binlog stream, which they share, so one would silently take the other's; give them the same %s, or set it once on CREATE SOURCE %s … WITH (%s = …)",
			prev.pipeline, pl.Name, src.Name, so.name, optionText(prev.value), optionText(value), so.what, so.name, src.Name, so.name)
	}
}

// optionText is an option value as written: a string quoted.
func optionText(v any) string {
	if s, ok := v.(string); ok {
		return "'" + s + "'"
	}
	return fmt.Sprint(v)
}
