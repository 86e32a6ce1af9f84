package planner

import (
	"path/filepath"
	"strings"

	"github.com/etlq/etlq/connectors"
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
