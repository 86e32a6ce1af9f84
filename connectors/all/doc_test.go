package all_test

import (
	"flag"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors"
	_ "github.com/etlq/etlq/connectors/all"
	"github.com/etlq/etlq/connectors/format"
	"github.com/etlq/etlq/planner"
)

var update = flag.Bool("update", false, "rewrite docs/connectors.md and connectors/specstest/specs_gen.go")

// TestConnectorsDoc keeps docs/connectors.md equal to what the registered
// specs say (go test ./connectors/all -update rewrites it).
func TestConnectorsDoc(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Connectors and their options\n\n")
	b.WriteString("Generated from the connectors' registered specs by `go test ./connectors/all -update`; `etlq check` validates WITH clauses against the same specs.\n")
	b.WriteString("Options of a source or sink go in its `CREATE SOURCE`/`CREATE SINK … WITH (…)`; pipeline options go in `CREATE PIPELINE … WITH (…)`.\n")
	b.WriteString("A sink's pipeline options may also be given on its `CREATE SINK … WITH (…)`: they are then defaults for every pipeline writing to it, which a pipeline's own WITH overrides (`etlq plan` shows the value each pipeline takes).\n")
	section := func(kind, role string, spec *connectors.Spec) {
		fmt.Fprintf(&b, "\n## %s (%s)\n\n%s\n", kind, role, spec.Doc)
		table := func(title string, opts []connectors.Option) {
			if len(opts) == 0 {
				return
			}
			fmt.Fprintf(&b, "\n%s\n\n| option | type | default | meaning |\n|---|---|---|---|\n", title)
			for _, o := range opts {
				def := ""
				if o.Default != nil {
					def = fmt.Sprintf("`%v`", o.Default)
				}
				typ := o.Type.String()
				if len(o.Enum) > 0 {
					typ = "'" + strings.Join(o.Enum, "' \\| '") + "'"
				}
				switch {
				case o.Max > o.Min && o.Max == math.MaxInt64:
					typ += fmt.Sprintf(" ≥ %d", o.Min)
				case o.Max > o.Min:
					typ += fmt.Sprintf(" %d..%d", o.Min, o.Max)
				}
				doc := o.Doc
				if o.Secret {
					doc += " (a secret: never printed)"
				}
				fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", o.Name, typ, def, strings.ReplaceAll(doc, "|", "\\|"))
			}
		}
		table("Options:", spec.Options)
		title := "Pipeline options (in `CREATE PIPELINE … WITH`):"
		if role == "sink" {
			title = "Pipeline options (in `CREATE PIPELINE … WITH`, or in `CREATE SINK … WITH` as defaults for its pipelines):"
		}
		table(title, spec.TargetOptions)
	}
	section("every pipeline", "options of CREATE PIPELINE", &connectors.Spec{Doc: "Whatever its source and sink.", TargetOptions: planner.PipelineOptions})
	for _, k := range connectors.SourceKinds() {
		s, _ := connectors.SourceSpec(k)
		section(k, "source", s)
	}
	for _, k := range connectors.SinkKinds() {
		s, _ := connectors.SinkSpec(k)
		section(k, "sink", s)
	}
	b.WriteString("\n## Formats (stdout, file, http)\n\n")
	for _, d := range format.Docs() {
		fmt.Fprintf(&b, "- `%s`: %s\n", d.Name, d.Text)
	}
	b.WriteString("\n" + format.ColumnsDoc + "\n")
	const path = "../../docs/connectors.md"
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(path)
	if err != nil || string(have) != b.String() {
		t.Errorf("docs/connectors.md is not what the specs say: run go test ./connectors/all -update")
	}
}
