package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/etlq/etlq/cmd/etlq/internal/etlfile"
	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec/engine"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

type checkCmd struct {
	File    string `arg:"" type:"existingfile" help:"The .etl file."`
	Offline bool   `help:"Check syntax and names without connecting to any server."`
	Strict  bool   `help:"Treat warnings (values a target cannot hold exactly, a pipeline apply will stop at a schema change made while etlq was stopped) as errors."`
	// StateDir holds the checkpoints the binlog-loss guard looks at.
	StateDir string `default:"./.etlq" help:"The state directory apply uses: its checkpoints are checked against the server's binary log retention, and a table read by name that the server no longer has is planned from them, as apply does."`
}

func (c *checkCmd) Run(ctx context.Context) error {
	// Every independent error of the file in one run: the errors of the
	// declarations, names, types and connections (BuildPartial), then —
	// online — those of the targets, the binary log, the grants and the
	// checkpoints, for the pipelines that have no error of their own and
	// whose source and sink answered (an error that depends on an earlier
	// one, such as the target of a pipeline whose source is unknown, is
	// not looked for). A file that does not parse stops at its syntax
	// errors, one per statement (lang.ParseFile): nothing after them has
	// a meaning yet.
	l, pp, err := etlfile.LoadPartialAt(ctx, c.File, c.Offline, c.StateDir)
	if err != nil {
		return err
	}
	plan := pp.Plan
	errs := pp.Errs
	sound := pp.Sound()
	for _, w := range insecureWarnings(sound) {
		fmt.Fprintln(os.Stderr, "warning: "+connectors.RedactSecrets(w))
	}
	if warns := lang.UnexpandedRefs(l.File); len(warns) > 0 {
		fmt.Fprint(os.Stderr, "warning: "+strings.ReplaceAll(warns.Format(l.Shown()), "\n"+l.Path, "\nwarning: "+l.Path))
	}
	printPipelineChanges(plan, c.StateDir)
	printNotes(l, snapshotNotes(plan, c.StateDir, c.File))
	renameErrs, renameWarns, notes := sourceRenames(ctx, plan, c.StateDir, !c.Offline)
	for _, n := range notes {
		fmt.Fprintln(os.Stderr, "note: "+n)
	}
	errs = append(errs, renameErrs...)
	if c.Offline && len(renameWarns) > 0 {
		fmt.Fprint(os.Stderr, "warning: "+strings.ReplaceAll(renameWarns.Format(l.Shown()), "\n"+l.Path, "\nwarning: "+l.Path))
	}
	if !c.Offline {
		// errs are what apply would refuse before moving data; warns are
		// values a target cannot hold exactly.
		_, terrs, warns, err := planTargets(ctx, sound)
		if err != nil {
			return err
		}
		errs = append(errs, terrs...)
		warns = append(warns, renameWarns...)
		warns = append(warns, staleWarnings(sound)...)
		warns = append(warns, fkWarnings(ctx, sound)...)
		errs = append(errs, checkStreams(ctx, sound)...)
		// A stream refused for missing privileges names them as
		// checkGrants does: each once.
		errs = withoutRepeats(append(errs, checkGrants(ctx, sound)...))
		errs = append(errs, checkMismatches(ctx, c.File, sound)...)
		binlogWarns, gaps := engine.BinlogWarnings(ctx, sound, c.StateDir)
		for _, w := range withoutGrantEchoes(binlogWarns, errs) {
			fmt.Fprintln(os.Stderr, "warning: "+connectors.RedactSecrets(w))
		}
		for _, g := range gaps {
			// apply stops there before moving any data.
			errs = append(errs, &lang.Error{Pos: g.Source.DSNPos, EndPos: g.Source.DSNEnd, Msg: g.Text})
		}
		if c.Strict {
			errs = append(errs, warns...)
			warns = nil
		}
		if len(warns) > 0 {
			// A value the target cannot hold fails loudly when it comes,
			// and a pipeline apply stops at a DDL keeps its checkpoint
			// there, so these are warnings unless --strict.
			sort.SliceStable(warns, func(i, j int) bool { return warns[i].Pos.Offset < warns[j].Pos.Offset })
			fmt.Fprint(os.Stderr, "warning: "+strings.ReplaceAll(warns.Format(l.Shown()), "\n"+l.Path, "\nwarning: "+l.Path))
		}
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Pos.Offset < errs[j].Pos.Offset })
		return etlfile.Error{Text: errs.Format(l.Shown())}
	}
	mode := "against live schemas"
	if c.Offline {
		mode = "offline"
	}
	fmt.Printf("%s: ok (%s, %s, %s checked %s)\n", c.File, etlfile.Plural(len(plan.Sources), "source"),
		etlfile.Plural(etlfile.CountDeclared(plan), "sink"), etlfile.Plural(len(plan.Pipelines), "pipeline"), mode)
	return nil
}

// printPipelineChanges prints, as notes, what apply will do about the
// pipelines added, edited or removed in the file since the state
// directory's last run (engine.PipelineChanges): before, check said ok
// and plan showed the dataflow with no word of the tables apply was
// about to read again, or of a target no pipeline writes any more.
func printPipelineChanges(plan *planner.Plan, stateDir string) {
	for _, n := range engine.PipelineChanges(plan, stateDir) {
		fmt.Fprintln(os.Stderr, "note: "+n)
	}
}

// snapshotNotes places engine.SnapshotEdits in the file, at each
// pipeline's SNAPSHOT mode (at its name when the clause is no longer
// written): an edit of SNAPSHOT after a pipeline's first run reads no
// target again, and check, plan and apply said nothing of it.
func snapshotNotes(plan *planner.Plan, stateDir, file string) lang.Errors {
	var notes lang.Errors
	for _, e := range engine.SnapshotEdits(plan, stateDir, file) {
		pos, end := e.Pipeline.SnapshotPos, e.Pipeline.SnapshotEnd
		if pos.Line == 0 {
			pos, end = e.Pipeline.Pos, e.Pipeline.Pos
		}
		notes = append(notes, &lang.Error{Pos: pos, EndPos: end, Msg: e.Text})
	}
	return notes
}

// printNotes prints notes placed in the file, as check prints warnings.
func printNotes(l *etlfile.Loaded, notes lang.Errors) {
	if len(notes) > 0 {
		fmt.Fprint(os.Stderr, "note: "+strings.ReplaceAll(notes.Format(l.Shown()), "\n"+l.Path, "\nnote: "+l.Path))
	}
}

// sourceRenames places engine.SourceRenames in the file: a checkpoint of
// the state directory of a source the file no longer declares, beside a
// source of the file that has none (renamed?), at that source's CREATE
// SOURCE — an error when it was taken on the server that source
// connects to (apply refuses to start it as a first run), else a
// warning; a note when every source of the file has a
// checkpoint of its own. Before, check and plan said ok and apply
// started the renamed source afresh, losing the changes made while etlq
// was stopped (new-user trial).
func sourceRenames(ctx context.Context, plan *planner.Plan, stateDir string, online bool) (errs, warns lang.Errors, notes []string) {
	for _, r := range engine.SourceRenames(ctx, plan, stateDir, online) {
		switch {
		case r.Decl == nil:
			notes = append(notes, r.Text)
		case r.Refuse:
			errs = append(errs, &lang.Error{Pos: r.Decl.Pos, EndPos: r.Decl.Pos, Msg: r.Text})
		default:
			warns = append(warns, &lang.Error{Pos: r.Decl.Pos, EndPos: r.Decl.Pos, Msg: r.Text})
		}
	}
	return errs, warns, notes
}

// planTargets asks each pipeline's sink what it would do with the target
// (without changing anything): the DDL per pipeline, the errors (a target
// Open would refuse) and the warnings (values the target cannot hold
// exactly), each at the pipeline's INTO. The warnings apply acts on itself
// (connectors.Problem.ApplyActs) are among them for check;
// applyTargetWarnings leaves them out.
func planTargets(ctx context.Context, plan *planner.Plan) (map[string][]string, lang.Errors, lang.Errors, error) {
	ddl, errs, warns, _, err := planTargetsActs(ctx, plan)
	return ddl, errs, warns, err
}

// planTargetsActs is planTargets with, for each warning, whether apply
// acts on it itself (acts[i] for warns[i]).
func planTargetsActs(ctx context.Context, plan *planner.Plan) (ddl map[string][]string, errs, warns lang.Errors, acts []bool, err error) {
	ddl = map[string][]string{}
	err = etlfile.ForEachTarget(ctx, plan, func(p *planner.Pipeline, s connectors.Sink) error {
		stmts, problems, err := s.Plan(ctx, p.Target)
		if err != nil {
			pos, end := p.IntoPos, p.IntoEnd
			var fe *connectors.FormatErr
			if errors.As(err, &fe) && p.FormatPos.Line > 0 {
				pos, end = p.FormatPos, p.FormatEnd // (without FORMAT: the path's extension, at INTO)
			}
			errs = append(errs, &lang.Error{Pos: pos, EndPos: end, Msg: fmt.Sprintf("pipeline %s: %v", p.Name, err)})
			return nil
		}
		ddl[p.Name] = stmts
		for _, pr := range problems {
			pos, end := problemAt(p, pr.Msg)
			warns = append(warns, &lang.Error{Pos: pos, EndPos: end, Msg: fmt.Sprintf("pipeline %s: %s", p.Name, pr.Msg)})
			acts = append(acts, pr.ApplyActs)
		}
		return nil
	})
	errs = append(errs, planDeadLetterTargets(ctx, plan)...)
	return ddl, errs, warns, acts, err
}

// problemAt returns where a target's problem is written in the file: a
// problem of one output column (`column "day": …`) at the TRANSFORM item
// that gives it, any other (or a column no item is written for) at INTO.
func problemAt(p *planner.Pipeline, msg string) (lang.Pos, lang.Pos) {
	if rest, ok := strings.CutPrefix(msg, "column "); ok {
		if q, err := strconv.QuotedPrefix(rest); err == nil {
			name, _ := strconv.Unquote(q)
			for _, c := range p.Output {
				if strings.EqualFold(c.Name, name) && c.Pos.Line > 0 {
					return c.Pos, c.EndPos
				}
			}
		}
	}
	return p.IntoPos, p.IntoEnd
}

// staleWarnings reports, at each place in the file, the pipelines that do
// not bind to a table as the server has it now and were planned as the
// state directory's checkpoint has it (planner.Pipeline.Stale): a column
// they read was dropped or renamed (or changed type) while etlq was
// stopped. apply takes the changes up to that DDL and stops the pipeline
// there — the other pipelines go on, and nothing is refused at the start
// — so these are warnings.
func staleWarnings(plan *planner.Plan) lang.Errors {
	var warns lang.Errors
	for _, p := range plan.Pipelines {
		for _, st := range p.Stale {
			table := st.Ref.String()
			for _, e := range st.Errs {
				what := fmt.Sprintf("it does not bind to %s as the source has it now (%s), but binds to the table the state directory's checkpoint has", table, e.Msg)
				for _, c := range st.Gone {
					if strings.HasPrefix(e.Msg, "unknown column "+strconv.Quote(c)+" ") {
						what = fmt.Sprintf("column %q of %s no longer exists at the source (dropped or renamed since the checkpoint), but the table the state directory's checkpoint has still has it", c, table)
						break
					}
				}
				warns = append(warns, &lang.Error{Pos: e.Pos, EndPos: e.EndPos, Msg: fmt.Sprintf(
					"pipeline %s: %s: apply plans the pipeline as the checkpoint has the table, takes the changes up to that DDL and stops pipeline %s there (\"pipeline %s stopped: %s changed while streaming: … %s\"); the other pipelines of the source go on. To go on past the DDL, edit the pipeline so that it reads the table's columns now, then run apply: the pipeline resumes from its own checkpoint",
					p.Name, what, p.Name, p.Name, table, e.Msg)})
			}
		}
	}
	return warns
}

// checkMismatches reports the existing targets with a column whose type
// the pipeline's output cannot be written into (connectors.
// TargetMismatcher), with the step that rebuilds them. (apply does not
// refuse them: the pipeline stops alone when such a batch comes.)
func checkMismatches(ctx context.Context, file string, plan *planner.Plan) lang.Errors {
	var errs lang.Errors
	etlfile.ForEachTarget(ctx, plan, func(p *planner.Pipeline, s connectors.Sink) error {
		m, ok := s.(connectors.TargetMismatcher)
		if !ok {
			return nil
		}
		msgs, err := m.Mismatches(ctx, p.Target)
		if err != nil {
			return nil // (planTargets reports the target's errors)
		}
		for _, msg := range msgs {
			fix := fmt.Sprintf("etlq resnapshot %s %s", file, p.Name)
			if len(p.Tables) == 1 {
				fix += " " + p.Tables[0].Ref.String()
			}
			errs = append(errs, &lang.Error{Pos: p.IntoPos, EndPos: p.IntoEnd,
				Msg: fmt.Sprintf("pipeline %s: %s; apply stops this pipeline when its rows of that type come: rebuild the target with %s", p.Name, msg, fix)})
		}
		return nil
	})
	return errs
}

// refuseTargets returns the errors of planTargets and checkStreams,
// formatted, so that apply refuses a target it could never write, or a
// binlog it could not follow, with check's words and places before any
// data moves. Otherwise it returns check's warnings of the file
// (fileWarnings), for apply to log.
func refuseTargets(ctx context.Context, l *etlfile.Loaded, plan *planner.Plan) (lang.Errors, error) {
	_, errs, all, acts, err := planTargetsActs(ctx, plan)
	if err != nil {
		return nil, err
	}
	// What apply acts on itself when it opens the target (and logs then) is
	// not logged as a warning before it.
	var warns lang.Errors
	for i, w := range all {
		if !acts[i] {
			warns = append(warns, w)
		}
	}
	errs = append(errs, checkStreams(ctx, plan)...)
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Pos.Offset < errs[j].Pos.Offset })
		return nil, etlfile.Error{Text: errs.Format(l.Shown())}
	}
	warns = append(warns, fkWarnings(ctx, plan)...)
	return fileWarnings(l, plan, warns), nil
}

// fileWarnings are check's warnings placed in the file, in its order:
// ${NAME} inside an expression (lang.UnexpandedRefs), targetWarns (values
// a target cannot hold exactly, planTargets) and the pipelines planned as
// the checkpoint has a table that changed while etlq was stopped
// (staleWarnings). check prints them; apply logs them at its start, with
// the same text, for an operator who runs only apply.
func fileWarnings(l *etlfile.Loaded, plan *planner.Plan, targetWarns lang.Errors) lang.Errors {
	warns := append(lang.UnexpandedRefs(l.File), targetWarns...)
	warns = append(warns, staleWarnings(plan)...)
	sort.SliceStable(warns, func(i, j int) bool { return warns[i].Pos.Offset < warns[j].Pos.Offset })
	return warns
}

// checkStreams asks each source whether it could open the stream its
// pipelines need (a MySQL source reads the binlog for SNAPSHOT initial and
// never, and the server must log one etlq can follow). apply refuses such a
// source the same way when it opens the stream, before any data moves.
func checkStreams(ctx context.Context, plan *planner.Plan) lang.Errors {
	var errs lang.Errors
	for _, d := range plan.Sources {
		var req connectors.StreamRequest
		var names []string
		for _, p := range plan.Pipelines {
			if p.Source != d.Name {
				continue
			}
			for _, t := range p.Tables {
				req.Tables = append(req.Tables, connectors.StreamTable{Ref: t.Ref, Snapshot: p.Snapshot})
			}
			if p.Snapshot != connectors.SnapshotOnly {
				names = append(names, p.Name)
			}
		}
		if len(req.Tables) == 0 {
			continue
		}
		src, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options)
		if err != nil {
			errs = append(errs, &lang.Error{Pos: d.Pos, EndPos: d.Pos, Msg: fmt.Sprintf("source %s: %v", d.Name, err)})
			continue
		}
		if sc, ok := src.(connectors.StreamChecker); ok {
			if err := sc.CheckStream(ctx, req); err != nil {
				var mg *connectors.MissingGrantsError
				if errors.As(err, &mg) {
					// Each as checkGrants says it (check drops the
					// repeats): apply stops here naming them all.
					for _, g := range mg.Grants {
						errs = append(errs, &lang.Error{Pos: d.Pos, EndPos: d.Pos, Msg: fmt.Sprintf("source %s: %s", d.Name, g)})
					}
					src.Close()
					continue
				}
				what := "its pipelines read"
				if len(names) == 1 {
					what = "pipeline " + names[0] + " reads"
				} else if len(names) > 1 {
					what = "pipelines " + strings.Join(names, ", ") + " read"
				}
				errs = append(errs, &lang.Error{Pos: d.Pos, EndPos: d.Pos,
					Msg: fmt.Sprintf("source %s: %s its binlog (SNAPSHOT initial or never), but %v", d.Name, what, err)})
			}
		}
		src.Close()
	}
	return errs
}

type planCmd struct {
	File    string `arg:"" type:"existingfile" help:"The .etl file."`
	Offline bool   `help:"Plan without connecting: each pipeline's source, the tables it reads as written (patterns unexpanded), its filter, its TRANSFORM outputs with the types the file declares (CAST, a function's RETURNS, metadata columns; ? for the others), sink, mode and options. The table's columns, their types and the DDL need the source's schemas."`
	// StateDir holds the checkpoints the binlog-loss guard looks at.
	StateDir string `default:"./.etlq" help:"The state directory apply uses: its checkpoints are checked against the server's binary log retention, and a table read by name that the server no longer has is planned from them, as apply does."`
}

func (c *planCmd) Run(ctx context.Context) error {
	l, plan, err := etlfile.LoadPlanAt(ctx, c.File, c.Offline, c.StateDir)
	if err != nil {
		return err
	}
	ddl := map[string][]string{}
	var warns lang.Errors
	if !c.Offline {
		// The same errors as check, at the same places.
		var errs lang.Errors
		ddl, errs, warns, err = planTargets(ctx, plan)
		if err != nil {
			return err
		}
		errs = append(errs, checkStreams(ctx, plan)...)
		if len(errs) > 0 {
			sort.SliceStable(errs, func(i, j int) bool { return errs[i].Pos.Offset < errs[j].Pos.Offset })
			return etlfile.Error{Text: errs.Format(l.Shown())}
		}
	}
	planner.Explain(connectors.RedactingWriter(os.Stdout), plan, ddl)
	printPipelineChanges(plan, c.StateDir)
	printNotes(l, snapshotNotes(plan, c.StateDir, c.File))
	// What apply refuses (a renamed source's checkpoint) is a warning
	// here, as a binlog gap is.
	renameErrs, renameWarns, notes := sourceRenames(ctx, plan, c.StateDir, !c.Offline)
	for _, n := range notes {
		fmt.Fprintln(os.Stderr, "note: "+n)
	}
	warns = append(warns, renameErrs...)
	warns = append(warns, renameWarns...)
	if len(warns) > 0 {
		// As check prints them: a column the target keeps that the
		// pipeline no longer writes, a value it cannot hold exactly.
		sort.SliceStable(warns, func(i, j int) bool { return warns[i].Pos.Offset < warns[j].Pos.Offset })
		fmt.Fprint(os.Stderr, "warning: "+strings.ReplaceAll(warns.Format(l.Shown()), "\n"+l.Path, "\nwarning: "+l.Path))
	}
	for _, w := range insecureWarnings(plan) {
		fmt.Fprintln(os.Stderr, "warning: "+connectors.RedactSecrets(w))
	}
	if !c.Offline {
		warns, gaps := engine.BinlogWarnings(ctx, plan, c.StateDir)
		for _, g := range gaps {
			warns = append(warns, g.Text)
		}
		for _, w := range warns {
			fmt.Fprintln(os.Stderr, "warning: "+connectors.RedactSecrets(w))
		}
	}
	return nil
}

type fmtCmd struct {
	File  string `arg:"" type:"existingfile" help:"The .etl file."`
	Write bool   `short:"w" help:"Rewrite the file instead of printing it."`
}

func (c *fmtCmd) Run() error {
	src, err := os.ReadFile(c.File)
	if err != nil {
		return err
	}
	f, err := lang.ParseFile(c.File, src)
	if err != nil {
		return etlfile.FormatErr(err, src)
	}
	out := lang.Format(f)
	if !c.Write {
		_, err := os.Stdout.Write(out)
		return err
	}
	if string(out) == string(src) {
		return nil
	}
	st, err := os.Stat(c.File)
	if err != nil {
		return err
	}
	return os.WriteFile(c.File, out, st.Mode())
}

// withoutRepeats drops an error said already, at the same place in the
// same words.
func withoutRepeats(errs lang.Errors) lang.Errors {
	seen := map[string]bool{}
	out := errs[:0]
	for _, e := range errs {
		k := fmt.Sprint(e.Pos.Offset, "\x00", e.Msg)
		if !seen[k] {
			seen[k] = true
			out = append(out, e)
		}
	}
	return out
}

// withoutGrantEchoes leaves out the warnings that a source's binary log
// retention cannot be read when errs already name the privilege its user
// lacks ("source s: user … lacks …"): the server's "ERROR 1227 … Access
// denied; you need … BINLOG MONITOR" beside the GRANT lines said the same
// thing again, in the server's words (a security trial).
func withoutGrantEchoes(warns []string, errs lang.Errors) []string {
	var out []string
	for _, w := range warns {
		name, rest, ok := strings.Cut(strings.TrimPrefix(w, "source "), ": ")
		if ok && strings.HasPrefix(w, "source ") && strings.HasPrefix(rest, "cannot read the binary log retention") && lacksGrant(errs, name) {
			continue
		}
		out = append(out, w)
	}
	return out
}

// lacksGrant reports whether errs name a privilege source's user lacks.
func lacksGrant(errs lang.Errors, source string) bool {
	for _, e := range errs {
		if strings.HasPrefix(e.Msg, "source "+source+": user ") && strings.Contains(e.Msg, " lacks ") {
			return true
		}
	}
	return false
}
