package clickhouse

import (
	"context"
	"log/slog"
	"time"

	"github.com/etlq/etlq/connectors"
)

// retrying runs do until it succeeds, fails with a refusal or ctx ends.
// A failure retryable calls connection-level (ClickHouse unreachable, the
// connection cut, a timeout) is tried again after the inserts' back-off,
// logged as "clickhouse: <what> failed, retrying": the schema changes and
// table maintenance of a rebuild, a row copy, a re-key wait for
// ClickHouse as the inserts do, instead of stopping the run. do must be
// safe to run again after an attempt whose outcome is unknown (read the
// state first, then change it).
func retrying(ctx context.Context, what, table string, maxBackoff time.Duration, do func() error) error {
	for attempt := 0; ; attempt++ {
		err := do()
		if err == nil || !retryable(err) || ctx.Err() != nil {
			return err
		}
		d := backoff(attempt, maxBackoff)
		slog.Warn("clickhouse: "+what+" failed, retrying", "table", table, "attempt", attempt+1, "in", d, "error", err)
		if err := sleep(ctx, d); err != nil {
			return err
		}
	}
}

// wrapf is s.errorf that keeps cause for retryable.
func (s *Sink) wrapf(cause error, format string, args ...any) error {
	return &ddlError{msg: s.errorf(format, args...).Error(), cause: cause}
}

// maxBackoff is the max_backoff of target t (the sink's when t's options
// do not resolve: their error is reported where they are used).
func (s *Sink) maxBackoff(t connectors.Target) time.Duration {
	o, err := resolveTargetOptions(t.Options, s.opts)
	if err != nil {
		return 0
	}
	return o.maxBackoff
}
