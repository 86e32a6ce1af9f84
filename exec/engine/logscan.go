package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/natslog"
	"github.com/etlq/etlq/planner"
)

// The own scan of a SNAPSHOT only pipeline through the log
// (docs/scale-out.md, "A pipeline added to the file later"): the log's
// counterpart of ownscan.go. A SNAPSHOT only pipeline new to the log
// (the capture did not publish for it) over a table whose snapshot the
// log's position has started or ended gets nothing of that table from the
// log's one stream: a resnapshot is placed in the changes, which it does
// not follow. So the capture, which holds the log's checkpoint, reads
// those tables for it with a scan of its own — a second stream of the
// source opened for the pipeline alone, SNAPSHOT only, no binlog — and
// publishes the scan's batches into the log for that pipeline only
// (natslog.Log.Scan): the workers hand them to it as they read their
// partitions, acknowledge them once written, and hand a killed worker's
// unacknowledged ones to the next owner as any message. The scan's
// checkpoint is its record in the log (natslog.Log.PutScan: the mark of
// the last batch JetStream acknowledged, never ahead of the log), made
// before the capture records the pipeline as published for; a capture
// killed in the middle resumes the scan from it, and deletes it once the
// scan's last batch is in the log: later captures read nothing again. The
// workers are not involved beyond their usual reading: the scan is the
// capture's, as the log's stream is. Tables of the pipeline that the
// log's position never read are snapshotted by the log's stream as usual
// (once), as for any pipeline.

// logScan is an own scan's record in the log.
type logScan struct {
	// ID names this scan: a record put again in its place (asked again
	// by a group, groupNewScans) is another scan, which the one under way
	// gives way to.
	ID       string          `json:"id"`
	Pipeline string          `json:"pipeline"`
	Tables   []string        `json:"tables"`
	Mark     json.RawMessage `json:"mark,omitempty"`
	Started  time.Time       `json:"started"`
	Updated  time.Time       `json:"updated,omitzero"`
	// By says who asked: the capture, or a group of workers.
	By string `json:"by,omitempty"`
	// Since is the log's last sequence when the capture first published
	// for the pipeline: a group that acknowledged messages after it while
	// its workers lacked the pipeline asks the scan again (groupNewScans).
	Since uint64 `json:"since"`
	// Ended: the scan's last batch is in the log. The record stays, for
	// Since; no capture reads the scan again.
	Ended bool `json:"ended,omitempty"`

	rev uint64 // the record's revision in the log
}

// logScans returns the own scans recorded in the log of source, by
// pipeline.
func logScans(lg *natslog.Log, source string) (map[string]*logScan, error) {
	raw, err := lg.Scans(source)
	if err != nil {
		return nil, err
	}
	out := map[string]*logScan{}
	for key, e := range raw {
		var s logScan
		if err := json.Unmarshal(e.Value, &s); err != nil || s.Pipeline == "" {
			return nil, fmt.Errorf("log: the own scan record %s of source %s is damaged: %v", key, source, err)
		}
		s.rev = e.Revision
		out[s.Pipeline] = &s
	}
	return out, nil
}

// putLogScan records a new own scan of p's tables, in place of any.
func putLogScan(lg *natslog.Log, source string, p *planner.Pipeline, tables []string, by string) error {
	now := time.Now().UTC()
	since, err := lg.LastSeq(source)
	if err != nil {
		return err
	}
	b, err := json.Marshal(&logScan{ID: by + "-" + now.Format("20060102T150405.000000000"), Pipeline: p.Name, Tables: tables, Started: now, By: by, Since: since})
	if err != nil {
		return err
	}
	return lg.PutScan(source, p.Name, b)
}

// newLogScans records an own scan for each SNAPSHOT only pipeline of pipes
// new to the log (known: those the capture published for) of which the
// log's position (resume) has started or ended a table's snapshot: those
// tables are its scan's. A pipeline whose scan is recorded already (a
// capture killed before it recorded the pipelines) keeps its record.
func newLogScans(lg *natslog.Log, source string, pipes []*planner.Pipeline, known map[string]bool, sm connectors.SnapshotMarker, resume []byte, log *slog.Logger) error {
	scans, err := logScans(lg, source)
	if err != nil {
		return err
	}
	for _, p := range pipes {
		if p.Snapshot != connectors.SnapshotOnly || known[p.Name] || scans[p.Name] != nil && !scans[p.Name].Ended {
			continue // (a scan under way: a capture killed before it recorded the pipelines)
		}
		var tables []string
		for _, t := range p.Tables {
			started, err := sm.SnapshotStarted(resume, t.Ref)
			if err != nil {
				return err
			}
			if started {
				tables = append(tables, t.Ref.String())
			}
		}
		if len(tables) == 0 {
			continue // the log's stream snapshots its tables, as any pipeline's
		}
		sort.Strings(tables)
		if err := putLogScan(lg, source, p, tables, "capture"); err != nil {
			return err
		}
		log.Info("a SNAPSHOT only pipeline new to the log reads a table whose snapshot the log holds already: the capture reads those tables for it with a scan of its own, published into the log for it alone",
			"source", source, "pipeline", p.Name, "tables", tables)
	}
	return nil
}

// scanRunner runs the own scans recorded in the log of one source beside
// the capture's stream: those recorded when it starts, and those a group
// of workers asks later (poll).
type scanRunner struct {
	lg       *natslog.Log
	plan     *planner.Plan
	decl     *planner.SourceDecl
	once     bool
	log      *slog.Logger
	cs       *CaptureStats
	instance string
	snapLog  bool
	fail     func(error)

	wg      sync.WaitGroup
	mu      sync.Mutex
	running map[string]bool // by pipeline
	warned  map[string]bool
}

// poll starts the scans of the log until ctx ends (ResnapshotPoll apart);
// scans run with run, which ends them when the capture ends.
func (sr *scanRunner) poll(ctx, run context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(ResnapshotPoll):
		}
		if err := sr.start(run); err != nil && ctx.Err() == nil {
			sr.log.Warn("own scans cannot be read from the log", "source", sr.decl.Name, "error", err)
		}
	}
}

// start starts every own scan recorded for the source whose pipeline the
// capture's file has as SNAPSHOT only, and that does not run yet.
func (sr *scanRunner) start(ctx context.Context) error {
	scans, err := logScans(sr.lg, sr.decl.Name)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(scans))
	for n := range scans {
		names = append(names, n)
	}
	sort.Strings(names)
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if sr.running == nil {
		sr.running, sr.warned = map[string]bool{}, map[string]bool{}
	}
	for _, name := range names {
		rec := scans[name]
		if rec.Ended {
			continue
		}
		if sr.running[name] {
			continue // (a record put again in its place: it gives way at its next checkpoint, then this one starts)
		}
		var p *planner.Pipeline
		for _, q := range sr.plan.Pipelines {
			if q.Source == sr.decl.Name && q.Name == name {
				p = q
			}
		}
		if p == nil || p.Snapshot != connectors.SnapshotOnly {
			if !sr.warned[rec.ID] {
				sr.warned[rec.ID] = true
				sr.log.Warn("the log holds an own scan under way for a pipeline the capture's file lacks or does not read SNAPSHOT only: left as it is (a capture with a file that has it resumes it)",
					"source", sr.decl.Name, "pipeline", name)
			}
			continue
		}
		only := *p
		only.Tables = nil
		only.Patterns = nil
		for _, t := range p.Tables {
			if slices.Contains(rec.Tables, t.Ref.String()) {
				only.Tables = append(only.Tables, t)
			}
		}
		req, _ := streamRequest([]*planner.Pipeline{&only}, sr.once)
		req.Instance = sr.instance
		req.Alone = p.Name
		req.LogSnapshots = sr.snapLog
		if len(rec.Mark) > 0 {
			req.Resume = rec.Mark
			sr.log.Info("resuming the own scan of a SNAPSHOT only pipeline from its checkpoint in the log", "source", sr.decl.Name, "pipeline", p.Name,
				"updated", rec.Updated)
		} else {
			sr.log.Info("the own scan of a SNAPSHOT only pipeline starts", "source", sr.decl.Name, "pipeline", p.Name, "tables", rec.Tables, "asked_by", rec.By)
		}
		sr.running[name] = true
		sr.wg.Add(1)
		go func() {
			defer sr.wg.Done()
			err := sr.run(ctx, rec, req, len(only.Tables) == 0)
			sr.mu.Lock()
			delete(sr.running, name)
			sr.mu.Unlock()
			switch {
			case errors.Is(err, natslog.ErrScanReplaced):
				sr.log.Info("the own scan of a SNAPSHOT only pipeline was asked again meanwhile (by a group of workers that ran without the pipeline): it gives way to the new one, which reads its tables from their start",
					"source", sr.decl.Name, "pipeline", name)
			case err == nil, ctx.Err() != nil && errors.Is(err, context.Canceled):
			default:
				sr.fail(fmt.Errorf("pipeline %s: its own scan through the log (the next capture resumes it): %w", rec.Pipeline, err))
			}
		}()
	}
	return nil
}

// run runs one own scan to its end, then deletes its record.
func (sr *scanRunner) run(ctx context.Context, rec *logScan, req connectors.StreamRequest, none bool) error {
	source := sr.decl.Name
	if !none {
		src, err := connectors.NewSource(sr.decl.Kind, sr.decl.Name, sr.decl.DSN, sr.decl.Options)
		if err != nil {
			return connectors.Named("source", source, err)
		}
		defer src.Close()
		err = sr.lg.Scan(ctx, source, rec.Pipeline, src, req, natslog.ScanOptions{Log: sr.log, ID: rec.ID,
			Published: &sr.cs.Messages, Rows: &sr.cs.Rows, Waiting: &sr.cs.Waiting,
			Checkpoint: func(mark []byte) error {
				rec.Mark = json.RawMessage(mark)
				rec.Updated = time.Now().UTC()
				b, err := json.Marshal(rec)
				if err != nil {
					return err
				}
				rec.rev, err = sr.lg.UpdateScan(source, rec.Pipeline, b, rec.rev)
				return err
			}})
		if err != nil {
			return err
		}
	}
	rec.Ended, rec.Mark, rec.Updated = true, nil, time.Now().UTC()
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if rec.rev, err = sr.lg.UpdateScan(source, rec.Pipeline, b, rec.rev); err != nil {
		return err
	}
	sr.log.Info("the own scan of a SNAPSHOT only pipeline ended: its rows are in the log, and later captures read none of its tables again",
		"source", source, "pipeline", rec.Pipeline)
	return nil
}

// groupNewScans asks the capture again for the own scan of each SNAPSHOT
// only pipeline of the workers' file that the capture publishes for but
// that the group's workers did not have when they last started, if they
// acknowledged messages published since the capture first published for
// it (logScan.Since; a group stopped meanwhile reads it all now): the
// workers that ran before
// without it (the capture started with the new file while they ran on
// with the old one) acknowledged the rows the log holds for it — its own
// scan's, or the log's snapshot of a table it alone reads — without
// writing them, and a SNAPSHOT only pipeline takes no resnapshot. The
// scan reads each of its tables whose snapshot the log's position has
// started, in place of a scan under way (which gives way to it), as
// groupNewPipelines asks a resnapshot for a SNAPSHOT initial pipeline.
func groupNewScans(lg *natslog.Log, decl *planner.SourceDecl, group string, pipes []*planner.Pipeline, inLog, inGroup map[string]bool, log *slog.Logger) error {
	var scans map[string]*logScan
	var sm connectors.SnapshotMarker
	var resume []byte
	for _, p := range pipes {
		if p.Snapshot != connectors.SnapshotOnly || !inLog[p.Name] || inGroup[p.Name] {
			continue
		}
		if scans == nil {
			var err error
			if scans, err = logScans(lg, decl.Name); err != nil {
				return err
			}
			if resume, err = lg.LastResume(decl.Name); err != nil {
				return err
			}
			src, err := connectors.NewSource(decl.Kind, decl.Name, decl.DSN, decl.Options)
			if err != nil {
				return connectors.Named("source", decl.Name, err)
			}
			defer src.Close()
			sm, _ = src.(connectors.SnapshotMarker)
		}
		rec := scans[p.Name]
		if rec == nil || sm == nil || resume == nil {
			continue // no scan through the log (its tables were new to it)
		}
		if acked, err := lg.GroupAckedAfter(decl.Name, group, rec.Since); err != nil || !acked {
			// The group's workers read nothing since the capture first
			// published for the pipeline: they write all of it now.
			if err != nil {
				return err
			}
			continue
		}
		var tables []string
		for _, t := range p.Tables {
			started, err := sm.SnapshotStarted(resume, t.Ref)
			if err != nil {
				return err
			}
			if started {
				tables = append(tables, t.Ref.String())
			}
		}
		if len(tables) == 0 {
			continue
		}
		sort.Strings(tables)
		if err := putLogScan(lg, decl.Name, p, tables, "group "+group); err != nil {
			return err
		}
		log.Info("a SNAPSHOT only pipeline new to the group, that the capture publishes for: the group's workers that ran without it acknowledged the rows the log holds for it without writing them; the capture reads its tables again with a scan of its own",
			"source", decl.Name, "group", group, "pipeline", p.Name, "tables", tables)
	}
	return nil
}

// errList collects errors of goroutines.
type errList struct {
	sync.Mutex
	errs []error
}

func (l *errList) add(err error) {
	l.Lock()
	defer l.Unlock()
	l.errs = append(l.errs, err)
}

// has reports whether err is (wraps) one of the list's.
func (l *errList) has(err error) bool {
	l.Lock()
	defer l.Unlock()
	for _, e := range l.errs {
		if errors.Is(e, err) || errors.Is(err, e) {
			return true
		}
	}
	return false
}
