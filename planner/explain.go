package planner

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/lang"
)

// secretOption reports whether the sink kind's option name is marked
// secret.
func secretOption(kind, name string) bool {
	spec, ok := connectors.SinkSpec(kind)
	if !ok {
		return false
	}
	o, ok := spec.Lookup(name)
	return ok && o.Secret
}

// Explain writes the dataflow of every pipeline: source, tables, filter,
// projection with output types, sink, options and (when given) the DDL the
// sink would run. DSNs appear redacted. A pipeline planned without its
// tables (offline) shows what the file says instead (Pipeline.Unbound):
// the tables as written, the filter, the outputs with the types known
// without the table, "?" for the others.
func Explain(w io.Writer, plan *Plan, ddl map[string][]string) {
	srcs := map[string]*SourceDecl{}
	for _, s := range plan.Sources {
		srcs[s.Name] = s
	}
	sinks := map[string]*SinkDecl{}
	for _, s := range plan.Sinks {
		sinks[s.Name] = s
	}
	for i, p := range plan.Pipelines {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "pipeline %s\n", p.Name)
		if s := srcs[p.Source]; s != nil {
			fmt.Fprintf(w, "  source     %s %s (%s)\n", s.Kind, s.Name, s.Redacted)
		}
		snap := [...]string{"initial", "never", "only"}[p.Snapshot]
		for _, t := range p.Tables {
			fmt.Fprintf(w, "  scan       binlog %s  snapshot %s\n", t.Ref, snap)
		}
		if len(p.Tables) == 0 && p.Unbound != nil {
			explainUnbound(w, p.Unbound, snap)
		}
		if len(p.Tables) > 0 {
			t := p.Tables[0]
			if t.Where != nil {
				fmt.Fprintf(w, "  filter     %s\n", t.Where)
			}
			fmt.Fprintf(w, "  project\n")
			for j, c := range p.Output {
				fmt.Fprintf(w, "    %-24s %-16s = %s\n", c.Name, c.Source, t.Outputs[j])
			}
		}
		target := p.Target.Name
		if d := sinks[p.Sink]; d != nil && !d.Implicit {
			target = declaredTarget(p.SinkKind, target, d)
		} else if d != nil {
			target = d.Redacted
		}
		line := fmt.Sprintf("  sink       %s %s  mode %s", p.SinkKind, target, p.ModeText())
		if len(p.Target.Key) > 0 {
			line += "  key (" + strings.Join(p.Target.Key, ", ") + ")"
		}
		if p.Target.Format != "" {
			line += "  format " + p.Target.Format
		}
		fmt.Fprintln(w, line)
		if len(p.Options) > 0 {
			var opts []string
			for k, v := range p.Options {
				w, written := p.Written[k]
				if written {
					v = w // a ${VAR} may be a secret: shown as written
				} else if secretOption(p.SinkKind, k) {
					v = "'" + connectors.Mask + "'"
				}
				// A secret written inline (headers, signing_secret) is masked.
				opts = append(opts, lang.ShowMasked(string(lang.MaskSecrets([]byte(fmt.Sprintf("%s = %v", k, v))))))
			}
			sort.Strings(opts)
			fmt.Fprintf(w, "  options    %s\n", strings.Join(opts, ", "))
		}
		if stmts := ddl[p.Name]; len(stmts) > 0 {
			fmt.Fprintf(w, "  ddl\n")
			for _, s := range stmts {
				fmt.Fprintf(w, "    %s;\n", strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    "))
			}
		}
	}
}

// explainUnbound writes the scan, filter and projection of a pipeline
// planned without its tables, as far as the file says them.
func explainUnbound(w io.Writer, u *Unbound, snap string) {
	for _, t := range u.From {
		note := ""
		if connectors.IsPattern(t.DB) || connectors.IsPattern(t.Table) {
			note = "  (a pattern: the tables it matches are not known offline)"
		}
		fmt.Fprintf(w, "  scan       binlog %s  snapshot %s%s\n", t, snap, note)
	}
	if u.Where != "" {
		fmt.Fprintf(w, "  filter     %s\n", u.Where)
	}
	if u.Items == nil {
		fmt.Fprintf(w, "  project    every column of the table (not known offline: the source's schema tells them and their types)\n")
		return
	}
	fmt.Fprintf(w, "  project    (offline: the table's columns are not known; ? is a type that depends on them)\n")
	for _, it := range u.Items {
		if it.Expr == "" {
			fmt.Fprintf(w, "    %-24s %-16s = every column of the table\n", it.Name, "?")
			continue
		}
		typ := it.Type
		if typ == "" {
			typ = "?"
		}
		fmt.Fprintf(w, "    %-24s %-16s = %s\n", it.Name, typ, it.Expr)
	}
}

// declaredTarget shows where a pipeline writing into a declared sink
// sends its rows: a ClickHouse table as sink.database.table; for INTO
// name ['target'], the path under a file sink's base directory (as the
// file sink resolves it), the URL of an http sink (its own when the
// pipeline gives none), followed by the sink's name.
func declaredTarget(kind, target string, d *SinkDecl) string {
	switch kind {
	case "file":
		if !filepath.IsAbs(target) && filepath.Clean(target) != filepath.Clean(d.Redacted) {
			target = filepath.Join(d.Redacted, target)
		}
	case "http":
		if target == "" {
			target = d.Redacted
		} else {
			target = Redact(target)
		}
	case "stdout":
		return "(sink " + d.Name + ")"
	default:
		return d.Name + "." + target
	}
	return target + " (sink " + d.Name + ")"
}
