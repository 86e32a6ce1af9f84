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
	Pipeline string          `json:"pipeline"`
	Tables   []string        `json:"tables"`
	Mark     json.RawMessage `json:"mark,omitempty"`
	Started  time.Time       `json:"started"`
	Updated  time.Time       `json:"updated,omitzero"`
}

// logScans returns the own scans recorded in the log of source, by
// pipeline.
func logScans(lg *natslog.Log, source string) (map[string]*logScan, error) {
	raw, err := lg.Scans(source)
	if err != nil {
		return nil, err
	}
	out := map[string]*logScan{}
	for key, b := range raw {
		var s logScan
		if err := json.Unmarshal(b, &s); err != nil || s.Pipeline == "" {
			return nil, fmt.Errorf("log: the own scan record %s of source %s is damaged: %v", key, source, err)
		}
		out[s.Pipeline] = &s
	}
	return out, nil
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
		if p.Snapshot != connectors.SnapshotOnly || known[p.Name] || scans[p.Name] != nil {
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
			continue // the log's stream snapshots its tables, as any pipeline's
		}
		sort.Strings(tables)
		b, err := json.Marshal(&logScan{Pipeline: p.Name, Tables: tables, Started: time.Now().UTC()})
		if err != nil {
			return err
		}
		if err := lg.PutScan(source, p.Name, b); err != nil {
			return err
		}
		log.Info("a SNAPSHOT only pipeline new to the log reads a table whose snapshot the log holds already: the capture reads those tables for it with a scan of its own, published into the log for it alone",
			"source", source, "pipeline", p.Name, "tables", tables)
	}
	return nil
}

// scanRunner runs the own scans recorded in the log of one source beside
// the capture's stream.
type scanRunner struct {
	lg      *natslog.Log
	plan    *planner.Plan
	decl    *planner.SourceDecl
	once    bool
	log     *slog.Logger
	cs      *CaptureStats
	logURL  string
	snapLog bool
	fail    func(error)

	wg sync.WaitGroup
}

// start starts every own scan recorded for the source whose pipeline the
// capture's file has as SNAPSHOT only.
func (sr *scanRunner) start(ctx context.Context, instance string) error {
	scans, err := logScans(sr.lg, sr.decl.Name)
	if err != nil {
		return err
	}
	names := make([]string, 0, len(scans))
	for n := range scans {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		rec := scans[name]
		var p *planner.Pipeline
		for _, q := range sr.plan.Pipelines {
			if q.Source == sr.decl.Name && q.Name == name {
				p = q
			}
		}
		if p == nil || p.Snapshot != connectors.SnapshotOnly {
			sr.log.Warn("the log holds an own scan under way for a pipeline the capture's file lacks or does not read SNAPSHOT only: left as it is (a capture with a file that has it resumes it)",
				"source", sr.decl.Name, "pipeline", name)
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
		req.Instance = instance
		req.Alone = p.Name
		req.LogSnapshots = sr.snapLog
		if len(rec.Mark) > 0 {
			req.Resume = rec.Mark
			sr.log.Info("resuming the own scan of a SNAPSHOT only pipeline from its checkpoint in the log", "source", sr.decl.Name, "pipeline", p.Name,
				"updated", rec.Updated)
		} else {
			sr.log.Info("the own scan of a SNAPSHOT only pipeline starts", "source", sr.decl.Name, "pipeline", p.Name, "tables", rec.Tables)
		}
		sr.wg.Add(1)
		go func() {
			defer sr.wg.Done()
			if err := sr.run(ctx, rec, req, len(only.Tables) == 0); err != nil {
				if ctx.Err() != nil && errors.Is(err, context.Canceled) {
					return
				}
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
		err = sr.lg.Scan(ctx, source, rec.Pipeline, src, req, natslog.ScanOptions{Log: sr.log,
			Published: &sr.cs.Messages, Rows: &sr.cs.Rows, Waiting: &sr.cs.Waiting,
			Checkpoint: func(mark []byte) error {
				rec.Mark = json.RawMessage(mark)
				rec.Updated = time.Now().UTC()
				b, err := json.Marshal(rec)
				if err != nil {
					return err
				}
				return sr.lg.PutScan(source, rec.Pipeline, b)
			}})
		if err != nil {
			return err
		}
	}
	if err := sr.lg.ScanDone(source, rec.Pipeline); err != nil {
		return err
	}
	sr.log.Info("the own scan of a SNAPSHOT only pipeline ended: its rows are in the log, and later captures read none of its tables again",
		"source", source, "pipeline", rec.Pipeline)
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
