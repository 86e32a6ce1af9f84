package planner

import (
	"path/filepath"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/lang"
)

// DeadLetterTarget is where a pipeline's dead letters go when its
// dead_letter option names a target: 'clickhouse [sink.]db.table',
// 'file PATH', 'http URL' or 'stdout'. Without it they go to
// <state-dir>/deadletter/<pipeline>.jsonl.
type DeadLetterTarget struct {
	Sink   string            // SinkDecl name
	Kind   string            // sink kind
	Target connectors.Target // Schema: DeadLetterSchema; Mode append
	// Text names the target for the log: the kind and the target, a URL
	// redacted.
	Text string
	// Pos and EndPos are where the option's value is written: errors
	// about the target point there.
	Pos, EndPos lang.Pos
}

// Dead-letter columns, in order: when the row was rejected, the pipeline,
// the source table ("db.table"), the source position, the change (_op), its
// _version, the column that failed ("WHERE" for the filter), the reason,
// and the source row as a JSON object of text values (NULLs as null,
// before.* and metadata columns included).
const (
	DLTime     = "time"
	DLPipeline = "pipeline"
	DLTable    = "table"
	DLPos      = "pos"
	DLOp       = "op"
	DLVersion  = "version"
	DLColumn   = "column"
	DLReason   = "reason"
	DLRow      = "row"
)

// DeadLetterSchema is the layout of the batches written to a dead-letter
// target: the dead-letter columns, then the system columns.
func DeadLetterSchema() *arrow.Schema {
	str := arrow.BinaryTypes.String
	fields := []arrow.Field{
		{Name: DLTime, Type: &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}},
		{Name: DLPipeline, Type: str},
		{Name: DLTable, Type: str},
		{Name: DLPos, Type: str},
		{Name: DLOp, Type: str},
		{Name: DLVersion, Type: arrow.PrimitiveTypes.Uint64},
		{Name: DLColumn, Type: str},
		{Name: DLReason, Type: str},
		{Name: DLRow, Type: str, Metadata: arrow.NewMetadata([]string{exec.MetaLogicalType, exec.MetaEmbedJSON}, []string{"json", "1"})},
	}
	return arrow.NewSchema(append(fields, exec.SysFields()...), nil)
}

// deadLetterTarget resolves the dead_letter option like an INTO clause.
func (b *builder) deadLetterTarget(p *lang.CreatePipeline, pl *Pipeline) {
	var opt *lang.Option
	for _, o := range p.With {
		if strings.EqualFold(o.Name.Name, "dead_letter") {
			opt = o
		}
	}
	text, ok := pl.Options["dead_letter"].(string)
	if opt == nil || !ok {
		return
	}
	if pl.OnError != exec.OnErrorDeadLetter {
		b.errs.add(opt.Name, "option \"dead_letter\" needs on_error = 'dead_letter'")
		return
	}
	kind, rest, _ := strings.Cut(strings.TrimSpace(text), " ")
	kind, rest = strings.ToLower(kind), strings.TrimSpace(rest)
	const want = "'clickhouse [sink.]database.table', 'file PATH', 'http URL' or 'stdout'"
	if _, ok := connectors.SinkSpec(kind); !ok || kind == "" {
		b.errs.add(opt.Value, "option \"dead_letter\" names an unknown sink kind %q%s: write %s", kind, suggest(kind, connectors.SinkKinds()), want)
		return
	}
	dl := &DeadLetterTarget{Kind: kind, Pos: opt.Value.Position(), EndPos: opt.Value.EndPosition(), Target: connectors.Target{
		Pipeline: pl.Name, Schema: DeadLetterSchema(), Mode: connectors.ModeAppend, Options: map[string]any{},
	}}
	switch kind {
	case "stdout", "file", "http":
		if (kind == "stdout") != (rest == "") {
			b.errs.add(opt.Value, "option \"dead_letter\": write %s", want)
			return
		}
		name := kind
		if rest != "" {
			name = kind + ":" + rest
		}
		d := b.sinks[strings.ToLower(name)]
		if d == nil {
			d = &SinkDecl{Name: name, Kind: kind, DSN: rest, Redacted: Redact(rest), Implicit: true, Options: map[string]any{}}
			b.sinks[strings.ToLower(name)] = d
			b.plan.Sinks = append(b.plan.Sinks, d)
		}
		dl.Sink, dl.Target.Name, dl.Text = d.Name, rest, strings.TrimSpace(kind+" "+d.Redacted)
		dl.Target.Format = "jsonl"
		if f, ok := fileExtensions[strings.ToLower(filepath.Ext(rest))]; ok && kind == "file" {
			dl.Target.Format = f
		}
	default:
		parts := strings.Split(rest, ".")
		var d *SinkDecl
		switch len(parts) {
		case 3:
			d = b.sinks[strings.ToLower(parts[0])]
			parts = parts[1:]
		case 1, 2:
			for _, s := range b.plan.Sinks {
				if s.Kind == kind && !s.Implicit {
					if d != nil {
						b.errs.add(opt.Value, "option \"dead_letter\": several %s sinks are declared: write sink.database.table", kind)
						return
					}
					d = s
				}
			}
			if len(parts) == 1 {
				// A table alone: the sink's database, as INTO takes it.
				if d == nil || kind != "clickhouse" {
					b.errs.add(opt.Value, "option \"dead_letter\": a %s target is written '%s [sink.]database.table'", kind, kind)
					return
				}
				parts = []string{sinkDatabase(d), parts[0]}
			}
		default:
			b.errs.add(opt.Value, "option \"dead_letter\": a %s target is written '%s [sink.]database.table'", kind, kind)
			return
		}
		if d == nil || d.Kind != kind || parts[0] == "" || parts[1] == "" {
			b.errs.add(opt.Value, "option \"dead_letter\": no %s sink is declared for %q: add CREATE SINK … INTO %s '…'", kind, rest, kind)
			return
		}
		dl.Sink, dl.Target.Name, dl.Text = d.Name, parts[0]+"."+parts[1], kind+" "+d.Name+"."+parts[0]+"."+parts[1]
	}
	pl.DeadLetter = dl
}
