package engine

import (
	"fmt"
	"sort"
	"strings"

	"github.com/etlq/etlq/planner"
)

// gonePipeline is a pipeline of a source's last run (named in its
// checkpoint) that the file no longer has.
type gonePipeline struct {
	name string
	// target is where it wrote (targetOf), "" when the state directory
	// does not say (an older etlq's).
	target string
	// writers are the file's pipelines that write that target now: the
	// pipeline was renamed, most likely.
	writers []string
}

// gonePipelines returns the pipelines of st, the checkpoint of source,
// that plan (the whole file, not one run's pipelines) has not, by name;
// targets is the last run's pipeline → target (loadTargets). A pipeline
// of the file that runs apart from the source's stream (stopped on its
// own error, catching up with its own checkpoint: rejoin.go) is in the
// file, so not gone.
func gonePipelines(plan *planner.Plan, source string, st *sourceState, targets map[string]keptTarget) []gonePipeline {
	if st == nil {
		return nil
	}
	inFile := map[string]bool{}
	for _, p := range plan.Pipelines {
		if p.Source == source {
			inFile[p.Name] = true
		}
	}
	var out []gonePipeline
	for _, n := range st.Pipelines {
		if inFile[n] {
			continue
		}
		kept := targets[n]
		g := gonePipeline{name: n, target: kept.Shown}
		for _, p := range plan.Pipelines {
			if g.target != "" && p.Source == source && kept.same(p, plan) {
				g.writers = append(g.writers, p.Name)
			}
		}
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// note is what check and plan say of g, a pipeline of source's last run.
func (g gonePipeline) note(source string) string {
	switch {
	case len(g.writers) > 0:
		// Renamed in the file (the same target): the target is still
		// written, and the new name's own note says what apply does
		// about it.
		return fmt.Sprintf("pipeline %s of the last run of source %s is no longer in the file: its target (%s) is written by pipeline %s of the file (renamed?), as that pipeline's note says", g.name, source, g.target, strings.Join(g.writers, ", "))
	case g.target != "":
		return fmt.Sprintf("pipeline %s of the last run of source %s is no longer in the file: apply no longer writes its target (%s), which keeps its rows as they are (drop it by hand if it is no longer wanted), nor keeps it in the checkpoint: added back later, it is a new pipeline again (its tables read in full into its target)", g.name, source, g.target)
	}
	return fmt.Sprintf("pipeline %s of the last run of source %s is no longer in the file: apply no longer writes its target, which keeps its rows as they are (drop it by hand if it is no longer wanted), nor keeps it in the checkpoint: added back later, it is a new pipeline again (its tables read in full into its target)", g.name, source)
}

// logGonePipelines logs at INFO, once per pipeline when apply starts, the
// pipelines of the source's checkpoint that the file no longer has, as
// check and plan note them (PipelineChanges): the run does not write
// their targets, and its first checkpoint no longer names them. It logged
// nothing: an operator who ran only apply was not told that a target had
// stopped being written (trust-tools trial).
func logGonePipelines(plan *planner.Plan, src *planner.SourceDecl, store *Store, opts Options) {
	st, err := store.Load(src.Name)
	if err != nil || st == nil {
		// (A damaged checkpoint is the run's own error, said there.)
		return
	}
	targets, _ := loadTargets(opts.StateDir, src.Name)
	for _, g := range gonePipelines(plan, src.Name, st, targets) {
		if len(g.writers) > 0 {
			opts.Log.Info("a pipeline of the last run is no longer in the file: its target is written by another pipeline of the file (renamed?), which reads its tables as a new pipeline",
				"source", src.Name, "pipeline", g.name, "target", g.target, "written_by", strings.Join(g.writers, ", "))
			continue
		}
		args := []any{"source", src.Name, "pipeline", g.name}
		if g.target != "" {
			args = append(args, "target", g.target)
		}
		opts.Log.Info("a pipeline of the last run is no longer in the file: apply no longer writes its target, which keeps its rows as they are (drop it by hand if it is no longer wanted), and the checkpoint no longer names it: added back later, it is a new pipeline again (its tables read in full into its target)",
			args...)
	}
}
