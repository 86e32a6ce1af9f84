package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/natslog"
	"github.com/etlq/etlq/exec/engine"
	"github.com/etlq/etlq/planner"
)

// captureCmd publishes the sources of a file to a log (docs/scale-out.md).
type captureCmd struct {
	File       string        `arg:"" type:"existingfile" help:"The .etl file (the same as the workers')."`
	Log        string        `required:"" placeholder:"nats://HOST:PORT[/NAMESPACE]" help:"The NATS JetStream server holding the log."`
	Once       bool          `help:"Publish the snapshot and the binlog up to the position current at start, then exit."`
	Partitions int           `default:"8" help:"Key partitions of a new stream: at most this many workers share a source."`
	MaxBytes   int64         `default:"0" help:"Bytes a new stream keeps before dropping its oldest messages (0: no limit)."`
	MaxAge     time.Duration `default:"0s" help:"How long a new stream keeps messages (0: no limit). With --max-bytes, the buffer that outlives the source's binlog retention."`
	LogFormat  string        `default:"text" enum:"text,json" help:"Log format (text or json)."`
}

func (c *captureCmd) Run(ctx context.Context) error {
	log := newLogger(c.LogFormat)
	slog.SetDefault(log)
	_, plan, err := loadPlan(ctx, c.File, false)
	if err != nil {
		return err
	}
	lg, err := natslog.Open(c.Log)
	if err != nil {
		return err
	}
	defer lg.Close()
	reqs := engine.StreamRequests(plan, c.Once)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	errs := make(chan error, len(reqs))
	for _, d := range plan.Sources {
		req, ok := reqs[d.Name]
		if !ok {
			continue
		}
		src, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options)
		if err != nil {
			return fmt.Errorf("source %s: %w", d.Name, err)
		}
		defer src.Close()
		host, _ := os.Hostname()
		req.Instance = host + ":capture:" + lgName(c.Log)
		var published atomic.Int64
		wg.Add(1)
		go func() {
			defer wg.Done()
			log.Info("capturing", "source", d.Name, "log", c.Log)
			err := lg.Capture(ctx, d.Name, src, req, natslog.CaptureOptions{Partitions: c.Partitions, Log: log,
				Retention: natslog.Retention{MaxBytes: c.MaxBytes, MaxAge: c.MaxAge}, Published: &published})
			log.Info("capture stopped", "source", d.Name, "messages", published.Load())
			if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
				cancel(err)
				errs <- fmt.Errorf("capture %s: %w", d.Name, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	var all []error
	for e := range errs {
		all = append(all, e)
	}
	return errors.Join(all...)
}

// lgName is the log URL without credentials, for ids.
func lgName(raw string) string {
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		return raw[i+1:]
	}
	return strings.TrimPrefix(raw, "nats://")
}

func newLogger(format string) *slog.Logger {
	var h slog.Handler = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
	if format == "json" {
		h = slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: jsonDurations})
	}
	return slog.New(h)
}

// runWorkers runs apply's --log mode: n workers in this process, each a
// normal engine run whose sources read this worker's share of the log.
// They share the process's counters: its metrics are the sum of its
// workers'.
func (a *applyCmd) runWorkers(ctx context.Context, opts engine.Options, plan *planner.Plan, log *slog.Logger) error {
	lg, err := natslog.Open(a.Log)
	if err != nil {
		return err
	}
	defer lg.Close()
	n := max(a.Workers, 1)
	var wg sync.WaitGroup
	errs := make([]error, n)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	for i := range n {
		o := opts
		if n > 1 {
			o.StateDir = filepath.Join(opts.StateDir, fmt.Sprintf("worker-%d", i))
			if err := os.MkdirAll(o.StateDir, 0o755); err != nil {
				return err
			}
		}
		o.Sources = map[string]connectors.Source{}
		for _, d := range plan.Sources {
			inner, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options)
			if err != nil {
				return fmt.Errorf("source %s: %w", d.Name, err)
			}
			wo := natslog.WorkerOptions{Group: a.Group, Lease: a.Lease, Log: log.With("worker", i)}
			if ws := a.owned[d.Name]; i < len(ws) {
				wo.Owned = ws[i]
			}
			o.Sources[d.Name] = lg.Source(d.Name, inner, wo)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = engine.Run(ctx, plan, o)
			if errs[i] != nil && ctx.Err() == nil {
				cancel(errs[i])
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// statusCmd shows a log's partitions: owner, lag, retention headroom.
type statusCmd struct {
	File  string `arg:"" type:"existingfile" help:"The .etl file whose sources' logs to show."`
	Log   string `required:"" placeholder:"nats://HOST:PORT[/NAMESPACE]" help:"The NATS JetStream server holding the log."`
	Group string `default:"apply" help:"The workers' group."`
}

func (s *statusCmd) Run(ctx context.Context) error {
	_, plan, err := loadPlan(ctx, s.File, true)
	if err != nil {
		return err
	}
	lg, err := natslog.Open(s.Log)
	if err != nil {
		return err
	}
	defer lg.Close()
	for _, d := range plan.Sources {
		st, err := lg.Status(d.Name, s.Group)
		if err != nil {
			return err
		}
		fmt.Print(st.String())
	}
	return nil
}
