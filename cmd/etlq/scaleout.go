package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/etlq/etlq/cmd/etlq/internal/etlfile"
	"github.com/etlq/etlq/exec/engine"
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
	_, plan, err := etlfile.LoadPlan(ctx, c.File, false)
	if err != nil {
		return err
	}
	return engine.Capture(ctx, plan, engine.CaptureOptions{Log: c.Log, Once: c.Once, Partitions: c.Partitions,
		MaxBytes: c.MaxBytes, MaxAge: c.MaxAge, Logger: log})
}

func newLogger(format string) *slog.Logger {
	var h slog.Handler = slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})
	if format == "json" {
		h = slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: jsonDurations})
	}
	return slog.New(h)
}

// statusCmd shows a log's partitions: owner, lag, retention headroom.
type statusCmd struct {
	File  string `arg:"" type:"existingfile" help:"The .etl file whose sources' logs to show."`
	Log   string `required:"" placeholder:"nats://HOST:PORT[/NAMESPACE]" help:"The NATS JetStream server holding the log."`
	Group string `default:"apply" help:"The workers' group."`
}

func (s *statusCmd) Run(ctx context.Context) error {
	_, plan, err := etlfile.LoadPlan(ctx, s.File, true)
	if err != nil {
		return err
	}
	out, err := engine.LogStatus(plan, s.Log, s.Group)
	if err != nil {
		return err
	}
	fmt.Print(out)
	return nil
}
