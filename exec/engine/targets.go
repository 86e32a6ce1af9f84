package engine

import (
	"encoding/json"
	"path/filepath"
	"strings"

	"github.com/etlq/etlq/planner"
)

// keptTarget is a pipeline's target as the state directory keeps it
// (targets-<source>.json, pipeline → keptTarget).
type keptTarget struct {
	// Shown is targetOf: the sink's kind, its declared name and the
	// target in it, as notes show it.
	Shown string `json:"target"`
	// At is planner.Pipeline.TargetAt: the sink's connector, the server
	// or file it reaches and the target there — what the target is,
	// whatever the sink is named. "" in the state directory of an older
	// etlq, which kept Shown alone (a JSON string).
	At string `json:"at,omitempty"`
}

func (k *keptTarget) UnmarshalJSON(data []byte) error {
	var s string
	if json.Unmarshal(data, &s) == nil {
		*k = keptTarget{Shown: s}
		return nil
	}
	type plain keptTarget
	return json.Unmarshal(data, (*plain)(k))
}

// keep is what the state directory keeps of p's target.
func keep(p *planner.Pipeline) keptTarget {
	return keptTarget{Shown: targetOf(p), At: p.TargetAt}
}

// same reports whether p writes the target k kept: the same connector,
// server and target, whatever the sink is named now (a sink renamed in
// the file moves no row: before, the rename was taken for a new target,
// read in full into it — an append table got every row twice). k of an
// older etlq names the sink, not its server: it is the same target when
// p writes the same target through a sink of that name that reaches
// p's server, or when the file declares no sink of that name any more
// (renamed).
func (k keptTarget) same(p *planner.Pipeline, plan *planner.Plan) bool {
	if k.At != "" && p.TargetAt != "" {
		return k.At == p.TargetAt
	}
	now := targetOf(p)
	if k.Shown == now {
		return true
	}
	// "kind sink target" of a declared sink.
	rest, ok := strings.CutPrefix(k.Shown, p.SinkKind+" ")
	if !ok || p.Target.Name == "" || plan == nil {
		return false
	}
	sink, ok := strings.CutSuffix(rest, " "+p.Target.Name)
	if !ok || sink == "" || strings.Contains(sink, " ") {
		return false
	}
	was, declared := plan.SinkAt(sink)
	if !declared {
		return true
	}
	at, ok := plan.SinkAt(p.Sink)
	return ok && at == was
}

// renamedSink reports whether p writes the target k kept through a sink
// named otherwise than then (a note says so; nothing is read again).
func (k keptTarget) renamedSink(p *planner.Pipeline, plan *planner.Plan) bool {
	return k.Shown != "" && k.Shown != targetOf(p) && k.same(p, plan)
}

// moved names p's target and the one k kept, for a note that p writes
// into another target: their sinks' names and targets, and where they
// are when those read the same (a sink that now reaches another server).
func (k keptTarget) moved(p *planner.Pipeline) (now, was string) {
	now, was = targetOf(p), k.Shown
	if now == was && p.TargetAt != "" && k.At != "" {
		return now + " at " + p.TargetAt, was + " at " + k.At
	}
	return now, was
}

// targetOf names where p writes: the sink's kind, its declared name and
// the target inside it (INTO clickhouse dw.db.t, INTO file 'path', …).
// A pipeline whose target changed since the last run (keptTarget.same)
// reads its tables in full into the new one, as a new pipeline does:
// the new target has none of the rows written so far.
func targetOf(p *planner.Pipeline) string {
	s := p.SinkKind
	if p.Sink != "" && !strings.HasPrefix(p.Sink, p.SinkKind+":") {
		// (A declared sink's name; INTO file 'path' names its own.)
		s += " " + p.Sink
	}
	if p.Target.Name != "" {
		s += " " + p.Target.Name
	}
	return s
}

// targetsFile is where the targets of a source's pipelines of the last
// run are kept (pipeline → keptTarget).
func targetsFile(dir, source string) string {
	return filepath.Join(dir, "targets-"+source+".json")
}

// loadTargets reads the pipelines' targets the last run of source kept;
// none when it kept none (a state directory of an older etlq).
func loadTargets(dir, source string) (map[string]keptTarget, error) {
	return loadKept[map[string]keptTarget](targetsFile(dir, source), "the targets")
}

// saveTargets keeps the targets of pipes over those of the last run.
func saveTargets(dir, source string, pipes []*planner.Pipeline) error {
	targets, err := loadTargets(dir, source)
	if err != nil || targets == nil {
		targets = map[string]keptTarget{}
	}
	for _, p := range pipes {
		targets[p.Name] = keep(p)
	}
	data, err := json.MarshalIndent(targets, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(targetsFile(dir, source), data)
}

// saveTargets keeps the targets of this run's pipelines over those of the
// last run.
func (r *sourceRun) saveTargets() error {
	var pipes []*planner.Pipeline
	for _, pr := range r.runs {
		pipes = append(pipes, pr.p)
	}
	return saveTargets(r.opts.StateDir, r.decl.Name, pipes)
}
