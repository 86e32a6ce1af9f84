package planner

import (
	"strings"

	"github.com/etlq/etlq/lang"
)

// checkSchemaChangesAgree refuses pipelines of one source whose
// schema_changes policies differ. The option is written per pipeline, but
// the policy acts on the source's one binlog stream, which the pipelines
// of a source share (engine.streamRequest merges their options): the
// stream took the last pipeline's value for all of them, so a 'fail'
// pipeline stopped an 'ignore' one at the first ALTER, or, the other way
// round, a 'fail' pipeline followed the DDL without a word. A pipeline
// that does not set it has the source's value (its CREATE SOURCE … WITH),
// else 'evolve'.
func (b *builder) checkSchemaChangesAgree(f *lang.File) {
	type first struct{ pipeline, policy string }
	seen := map[string]first{}
	written := map[string]*lang.Option{}
	decl := map[string]*lang.CreatePipeline{}
	for _, st := range f.Statements {
		if p := st.Pipeline; p != nil {
			decl[strings.ToLower(p.Name.Name)] = p
			for _, o := range p.With {
				if strings.EqualFold(o.Name.Name, "schema_changes") {
					written[strings.ToLower(p.Name.Name)] = o
				}
			}
		}
	}
	for _, pl := range b.plan.Pipelines {
		src := b.sources[strings.ToLower(pl.Source)]
		if src == nil {
			continue
		}
		policy, _ := pl.Options["schema_changes"].(string)
		if policy == "" {
			policy, _ = src.Options["schema_changes"].(string)
		}
		if policy == "" {
			policy = "evolve"
		}
		key := strings.ToLower(src.Name)
		prev, ok := seen[key]
		if !ok {
			seen[key] = first{pl.Name, policy}
			continue
		}
		if prev.policy == policy {
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
		b.errs.add(at, "pipelines %s and %s of source %s disagree on schema_changes ('%s' and '%s'): the policy acts on the source's one binlog stream, which they share, so one would silently take the other's; give them the same schema_changes, or set it once on CREATE SOURCE %s … WITH (schema_changes = …)",
			prev.pipeline, pl.Name, src.Name, prev.policy, policy, src.Name)
	}
}
