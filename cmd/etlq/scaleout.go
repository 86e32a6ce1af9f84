package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/etlq/etlq/cmd/etlq/internal/etlfile"
	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec/engine"
)

// captureCmd publishes the sources of a file to a log (docs/scale-out.md).
type captureCmd struct {
	File       string        `arg:"" type:"existingfile" help:"The .etl file (the same as the workers')."`
	Log        string        `required:"" placeholder:"nats://HOST:PORT[/NAMESPACE]" help:"The NATS JetStream server holding the log."`
	Once       bool          `help:"Publish the snapshot and the binlog up to the position current at start, then exit."`
	Partitions int           `default:"8" help:"Key partitions of a new stream: at most this many workers share a source."`
	MaxBytes   byteSize      `default:"10GiB" help:"Bytes a new stream keeps before dropping its oldest messages (KiB, MiB, GiB, TiB; 0: no limit)."`
	MaxAge     time.Duration `default:"168h" help:"How long a new stream keeps messages (0: no limit). With --max-bytes, the buffer that outlives the source's binlog retention."`
	LogFormat  string        `default:"text" enum:"text,json" help:"Log format (text or json)."`
	// MetricsAddr serves apply's source metrics and what was published
	// (captureCollector).
	MetricsAddr string `help:"Serve Prometheus metrics on this address (e.g. 127.0.0.1:9465; :9465 listens on every interface)."`
}

func (c *captureCmd) Run(ctx context.Context) error {
	log := newLogger(c.LogFormat)
	slog.SetDefault(log)
	// The capture keeps no state directory: a table read by name that
	// left the source is planned from the log's position, which holds
	// its schema (engine.LogMarks).
	_, plan, err := etlfile.LoadPlanResuming(ctx, c.File, false, engine.LogMarks(ctx, c.Log, log))
	if err != nil {
		return err
	}
	stats := engine.NewStats()
	if c.MetricsAddr != "" {
		srv, err := serveMetrics(c.MetricsAddr, stats, captureCollector{stats})
		if err != nil {
			return err
		}
		defer srv.Close()
		log.Info("serving metrics", "addr", c.MetricsAddr, "path", "/metrics")
	}
	return engine.Capture(ctx, plan, engine.CaptureOptions{Log: c.Log, Once: c.Once, Partitions: c.Partitions,
		MaxBytes: int64(c.MaxBytes), MaxAge: c.MaxAge, Logger: log, Stats: stats,
		// No progress display: the snapshot's start and end are logged,
		// as apply's without a terminal.
		LogSnapshots: true})
}

var (
	captureMessagesDesc = prometheus.NewDesc("etlq_capture_messages_published_total",
		"Messages of the source's stream JetStream acknowledged, per source (etlq capture).", []string{"source"}, nil)
	captureRowsDesc = prometheus.NewDesc("etlq_capture_rows_published_total",
		"Rows of the source's stream JetStream acknowledged, per source (etlq capture).", []string{"source"}, nil)
	captureAckWaitDesc = prometheus.NewDesc("etlq_capture_ack_wait_seconds",
		"How long the publish under way has waited for JetStream's acknowledgement, retries included (0: none waits), per source (etlq capture).", []string{"source"}, nil)
)

// captureCollector exposes engine.Stats.Captures; the source's lag,
// reconnects, snapshot progress and purge clock are collector's.
type captureCollector struct{ stats *engine.Stats }

func (c captureCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- captureMessagesDesc
	ch <- captureRowsDesc
	ch <- captureAckWaitDesc
}

func (c captureCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats.Captures() {
		ch <- prometheus.MustNewConstMetric(captureMessagesDesc, prometheus.CounterValue, float64(s.Messages.Load()), s.Source)
		ch <- prometheus.MustNewConstMetric(captureRowsDesc, prometheus.CounterValue, float64(s.Rows.Load()), s.Source)
		ch <- prometheus.MustNewConstMetric(captureAckWaitDesc, prometheus.GaugeValue, s.AckWait(), s.Source)
	}
}

func newLogger(format string) *slog.Logger {
	// Secrets are hidden as in apply's logs (logOutput): the log URL's
	// password, a DSN's quoted in an error.
	return slog.New(logHandler(connectors.RedactingWriter(os.Stderr), format))
}

// statusCmd shows a state directory (without --log) or a log's partitions.
type statusCmd struct {
	File     string `arg:"" type:"existingfile" help:"The .etl file whose sources' checkpoints (or logs) to show."`
	StateDir string `default:"./.etlq" help:"Without --log: the state directory apply uses."`
	Log      string `placeholder:"nats://HOST:PORT[/NAMESPACE]" help:"Show the partitions of this NATS JetStream log instead (docs/scale-out.md)."`
	Group    string `default:"apply" help:"With --log: the workers' group."`
	Drop     bool   `help:"With --log: delete the sources' streams and lease buckets in the namespace (every group's position with them); refused while workers of the group are live."`
}

func (s *statusCmd) Run(ctx context.Context) error {
	_, plan, err := etlfile.LoadPlan(ctx, s.File, true)
	if err != nil {
		return err
	}
	if s.Log == "" {
		if s.Drop {
			return errors.New("--drop deletes a log's streams: it needs --log")
		}
		// A plain state directory: its lock, checkpoints and how far
		// behind the servers they are (docs/operations.md, "Status").
		out, err := engine.StateStatus(ctx, plan, s.StateDir)
		if err != nil {
			return err
		}
		_, err = fmt.Fprint(connectors.RedactingWriter(os.Stdout), out)
		return err
	}
	if s.Drop {
		out, err := engine.DropLog(plan, s.Log, s.Group)
		fmt.Print(out)
		return err
	}
	out, err := engine.LogStatus(plan, s.Log, s.Group)
	if err != nil {
		return err
	}
	fmt.Print(out)
	return nil
}

// byteSize is a size in bytes written with an optional binary unit:
// 512MiB, 10GiB, 1048576, 0.
type byteSize int64

func (b *byteSize) UnmarshalText(text []byte) error {
	n, err := parseByteSize(string(text))
	if err != nil {
		return err
	}
	*b = byteSize(n)
	return nil
}

func parseByteSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if v, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(v), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("size %q: want a whole number of bytes, KiB, MiB, GiB or TiB (0: no limit)", s)
	}
	return n * mult, nil
}
