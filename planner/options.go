package planner

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/lang"
)

// PipelineOptions are the WITH options every pipeline accepts, whatever its
// source and sink; connectors add their own through their Spec.
var PipelineOptions = []connectors.Option{
	{Name: "on_error", Type: connectors.OptString, Default: "fail", Enum: []string{"fail", "skip", "dead_letter"},
		Doc: "what a row that fails a cast or a function, or that the target refuses (a ClickHouse value out of range; rows an http endpoint refuses with 400, 409, 413 or 422), does: stop the pipeline, be dropped and counted, or be kept as a dead letter with the reason"},
	{Name: "dead_letter", Type: connectors.OptString,
		Doc: "with on_error = 'dead_letter': where dead letters go, written like an INTO target: 'clickhouse [sink.]db.table', 'file PATH', 'http URL' or 'stdout' (default: <state-dir>/deadletter/<pipeline>.jsonl)"},
	{Name: "batch_rows", Type: connectors.OptInt, Min: 0, Max: math.MaxInt64, Doc: "rows per batch written to the sink"},
	{Name: "flush_interval", Type: connectors.OptDuration, Doc: "longest time a row waits in a sink buffer"},
	{Name: "schema_changes", Type: connectors.OptString, Default: "evolve", Enum: []string{"evolve", "ignore", "fail"},
		Doc: "what an ALTER TABLE of a source table does to the pipeline; it acts on the source's one binlog stream, so the pipelines of a source must agree on it (unset: the source's value, else evolve)"},
	{Name: "snapshot_parallelism", Type: connectors.OptInt, Min: 1, Max: 1024, Doc: "snapshot chunks read at once"},
	{Name: "chunk_rows", Type: connectors.OptInt, Min: 1, Max: math.MaxInt64, Doc: "rows per snapshot chunk"},
	{Name: "start_at", Type: connectors.OptString, Doc: "with SNAPSHOT never and no checkpoint: 'earliest', 'latest', 'file:pos', a GTID set or a timestamp"},
	{Name: "key_unique_across_tables", Type: connectors.OptBool, Default: false,
		Doc: "MODE upsert over several tables (a list or a pattern) with a KEY that names no _table: the user vouches that the key is unique across the tables (shards with disjoint ids); without it check refuses such a KEY"},
}

// bindOptions checks a WITH clause against the allowed options and returns
// the typed values (int64, bool, string, time.Duration).
func (b *builder) bindOptions(opts []*lang.Option, what string, allowed ...[]connectors.Option) map[string]any {
	out := map[string]any{}
	var names []string
	find := func(name string) (connectors.Option, bool) {
		for _, list := range allowed {
			for _, o := range list {
				if o.Name == name {
					return o, true
				}
			}
		}
		return connectors.Option{}, false
	}
	for _, list := range allowed {
		for _, o := range list {
			names = append(names, o.Name)
		}
	}
	for _, o := range opts {
		name := strings.ToLower(o.Name.Name)
		spec, ok := find(name)
		if !ok {
			b.errs.add(o.Name, "unknown option %q for %s%s", name, what, suggest(name, names))
			continue
		}
		if _, dup := out[name]; dup {
			b.errs.add(o.Name, "option %q is given twice", name)
			continue
		}
		lit, ok := o.Value.(*lang.Literal)
		if u, neg := o.Value.(*lang.Unary); neg && u.Op == "-" {
			if l, isLit := u.X.(*lang.Literal); isLit && (l.Kind == lang.LitInt || l.Kind == lang.LitFloat) {
				cp := *l
				cp.Value, cp.Raw = "-"+l.Value, "-"+l.Raw
				lit, ok = &cp, true
			}
		}
		if !ok {
			b.errs.add(o.Value, "option %q takes a literal value", name)
			continue
		}
		v, ok := optionValue(spec, lit)
		if !ok {
			got := lit.Raw
			if lit.Kind == lang.LitString && strings.Contains(lit.Raw, "${") && !spec.Secret {
				got += " (" + strconv.Quote(lit.Value) + " from the environment)"
			}
			b.errs.add(o.Value, "option %q takes %s, got %s", name, spec.Type.Phrase(), got)
			continue
		}
		if n, isInt := v.(int64); isInt {
			if bad := outOfRange(name, n, allowed); bad != "" {
				b.errs.add(o.Value, "option %q must be %s, got %s", name, bad, lit.Raw)
				continue
			}
		}
		if len(spec.Enum) > 0 {
			s, _ := v.(string)
			if e, ok := spec.InEnum(s); !ok || e != s { // exactly as the spec spells it
				b.errs.add(o.Value, "option %q must be one of %s, got %s", name, quoteList(spec.Enum), lit.Raw)
				continue
			}
		}
		if s, ok := v.(string); ok && spec.Check != nil {
			if err := spec.Check(s); err != nil {
				b.errs.add(o.Value, "option %q: %v", name, err)
				continue
			}
		}
		if s, ok := v.(string); ok && spec.Secret {
			// Hidden from every message and log from now on, and so is
			// each part from ${NAME} or ${file:PATH} ('X-Api: ${KEY}'
			// of headers: KEY's value alone, where an endpoint quotes
			// it back). (The connector hides the credentials of a
			// value written inline: headers', by their names.)
			connectors.RegisterSecret(s)
			for _, r := range lit.Refs {
				connectors.RegisterSecret(r)
			}
		}
		out[name] = v
	}
	return out
}

func optionValue(spec connectors.Option, lit *lang.Literal) (any, bool) {
	// A string that names the environment ('${BATCH_ROWS}') gives an
	// integer or boolean option its value once expanded: options from
	// the environment were refused as "takes an integer". A string
	// written out ('5000') stays an error: the literal has a type.
	fromEnv := lit.Kind == lang.LitString && strings.Contains(lit.Raw, "${")
	switch spec.Type {
	case connectors.OptInt:
		if lit.Kind != lang.LitInt && !fromEnv {
			return nil, false
		}
		n, err := strconv.ParseInt(strings.TrimSpace(lit.Value), 10, 64)
		return n, err == nil
	case connectors.OptBool:
		if fromEnv {
			b, err := strconv.ParseBool(strings.TrimSpace(lit.Value))
			return b, err == nil
		}
		if lit.Kind != lang.LitBool {
			return nil, false
		}
		return strings.EqualFold(lit.Value, "true"), true
	case connectors.OptDuration:
		if lit.Kind != lang.LitString {
			return nil, false
		}
		d, err := time.ParseDuration(lit.Value)
		return d, err == nil && d >= 0
	default:
		if lit.Kind != lang.LitString {
			return nil, false
		}
		return lit.Value, true
	}
}

func quoteList(list []string) string {
	q := make([]string, len(list))
	for i, s := range list {
		q[i] = "'" + s + "'"
	}
	return strings.Join(q, ", ")
}

// outOfRange says the range n is outside of for every spec of option name
// in allowed that bounds it (a pipeline option and the sink's own of the
// same name both hold), or "".
func outOfRange(name string, n int64, allowed [][]connectors.Option) string {
	for _, list := range allowed {
		for _, o := range list {
			if o.Name == name {
				if r := o.OutOfRange(n); r != "" {
					return r
				}
			}
		}
	}
	return ""
}
