package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/etlq/etlq/cmd/etlq/internal/etlfile"
	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec/engine"
	"github.com/etlq/etlq/lang"
	"github.com/etlq/etlq/planner"
)

// dlCmd groups the dead-letter commands (`etlq deadletter …`).
type dlCmd struct {
	Replay deadletterReplayCmd `cmd:"" help:"Run the dead letters of a pipeline through it again (after fixing its rule or the data)."`
}

// deadletterReplayCmd is `etlq deadletter replay FILE.etl PIPELINE`.
type deadletterReplayCmd struct {
	File     string `arg:"" type:"existingfile" help:"The .etl file."`
	Pipeline string `arg:"" help:"The pipeline whose dead letters to replay."`
	StateDir string `default:"./.etlq" help:"The state directory apply uses (its deadletter/<pipeline>.jsonl is read by default)."`
	From     string `type:"existingfile" help:"Read the dead letters from this JSON-lines file instead (a file target's, or a ClickHouse dead-letter table exported with FORMAT JSONEachRow)."`
}

func (c *deadletterReplayCmd) Run(ctx context.Context) error {
	log := slog.New(textHandler(os.Stderr))
	slog.SetDefault(log)
	// The state directory's lock before the plan, as apply takes it: a
	// replay while apply runs on the directory is refused before it
	// connects to a server (it planned against them first).
	var lock *engine.StateLock
	if _, err := os.Stat(c.StateDir); err == nil {
		if lock, err = engine.LockStateDir(c.StateDir); err != nil {
			return err
		}
		defer lock.Release()
	}
	_, plan, err := etlfile.LoadPlanAt(ctx, c.File, false, c.StateDir)
	if err != nil {
		return err
	}
	path := c.From
	if path == "" {
		path = engine.DeadLetterFile(c.StateDir, c.Pipeline)
	}
	moved := ""
	// Read (and moved aside) under the state directory's lock: a replay
	// refused because apply runs leaves them where they are.
	load := func() ([]engine.DeadLetter, error) {
		f, err := os.Open(path)
		if err != nil {
			if os.IsNotExist(err) && c.From == "" {
				return nil, fmt.Errorf("pipeline %s has no dead letters in %s", c.Pipeline, path)
			}
			return nil, err
		}
		letters, err := engine.ReadDeadLetters(f, path)
		f.Close()
		if err != nil {
			return nil, err
		}
		if c.From == "" {
			// Moved aside before the replay: a letter that fails again is
			// written to a fresh file, and a second replay does not run
			// these again.
			if moved, err = engine.MoveDeadLetterFile(path); err != nil {
				return nil, err
			}
		}
		return letters, nil
	}
	res, err := engine.ReplayFrom(ctx, plan, c.Pipeline, load, engine.Options{StateDir: c.StateDir, Log: log, Lock: lock})
	if err != nil {
		if moved != "" {
			return fmt.Errorf("%w (the dead letters read are in %s: replay them with --from)", err, moved)
		}
		return err
	}
	// Written counts what the target took, the removal of a key whose
	// row failed again (upsert) included: said, so that the two counts
	// are not read as parts of the letters.
	left := ""
	if res.LeftOut > 0 {
		left = fmt.Sprintf(", %d left out (their table was truncated, dropped, renamed away or read again after them, or the range of their row: the log says which)", res.LeftOut)
	}
	fmt.Printf("replayed %d dead letters of pipeline %s: %d rows written (the removals of keys whose row failed again included), %d failed again%s\n", res.Letters, c.Pipeline, res.Written, res.Dead, left)
	return nil
}

// planDeadLetterTargets asks the sink of each pipeline's dead_letter
// target whether it could write there (an http target that is not an
// http(s) URL, a ClickHouse table of another layout): check reports it,
// and apply refuses it, at the option's place in the file.
func planDeadLetterTargets(ctx context.Context, plan *planner.Plan) lang.Errors {
	var errs lang.Errors
	for _, p := range plan.Pipelines {
		dl := p.DeadLetter
		if dl == nil {
			continue
		}
		for _, d := range plan.Sinks {
			if d.Name != dl.Sink {
				continue
			}
			s, err := connectors.NewSink(d.Kind, d.Name, d.DSN, d.Options)
			if err == nil {
				_, _, err = s.Plan(ctx, dl.Target)
				s.Close()
			}
			if err != nil {
				errs = append(errs, &lang.Error{Pos: dl.Pos, EndPos: dl.EndPos, Msg: fmt.Sprintf("pipeline %s: dead letters to %s: %v", p.Name, dl.Text, err)})
			}
		}
	}
	return errs
}
