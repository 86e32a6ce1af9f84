package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/mysql"
	"github.com/etlq/etlq/planner"
)

// The binlog-loss guard: a checkpoint is only good while the server still
// has its binary log. check, plan and apply warn when it may soon be
// purged, or when a snapshot would take longer than the server keeps its
// binary logs; apply exports the time left as a metric
// (docs/operations.md, "Binary log retention").

// expirer is a source that can say when its binary log at a checkpoint may
// be purged (mysql.Source).
type expirer interface {
	BinlogExpiry(ctx context.Context, state []byte) (*mysql.Expiry, error)
}

// placer is a source that says whether another server's checkpoint can
// be placed in its binary log, as apply's resume places it (mysql.Source).
type placer interface {
	CheckpointPlace(ctx context.Context, state []byte) error
}

// rowCounter is a source that estimates its tables' rows (mysql.Source).
type rowCounter interface {
	TableRows(ctx context.Context, refs []connectors.TableRef) (int64, error)
}

// SnapshotRate is the snapshot speed the guard assumes, in rows per
// second: below what a 2-core machine reads (docs/benchmarks.md).
const SnapshotRate = 200_000

// BinlogWarnings returns the guard's warnings for plan's sources, with the
// checkpoints in stateDir: a checkpoint whose binary log is purged, or may
// be purged within the source's binlog_expiry_warning; without a
// checkpoint, a snapshot estimated to take longer than the retention.
// A source that cannot say is a warning too. gaps are the sources whose
// checkpoint's binary log is purged while their on_binlog_gap is 'fail':
// apply refuses to start from there (check reports them as errors).
func BinlogWarnings(ctx context.Context, plan *planner.Plan, stateDir string) (out []string, gaps []BinlogGap) {
	store := &Store{Dir: stateDir}
	for _, d := range plan.Sources {
		var tables []connectors.TableRef
		follows := false
		for _, p := range plan.Pipelines {
			if p.Source != d.Name {
				continue
			}
			follows = follows || p.Snapshot != connectors.SnapshotOnly
			if p.Snapshot != connectors.SnapshotNever {
				for _, t := range p.Tables {
					tables = append(tables, t.Ref)
				}
			}
		}
		if !follows {
			continue
		}
		src, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options)
		if err != nil {
			continue
		}
		ex, ok := src.(expirer)
		if !ok {
			src.Close()
			continue
		}
		st, err := store.Load(d.Name)
		if err != nil {
			out = append(out, fmt.Sprintf("source %s: %v", d.Name, err))
			src.Close()
			continue
		}
		var mark []byte
		if st != nil {
			mark = st.Mark
		}
		e, err := ex.BinlogExpiry(ctx, mark)
		switch {
		case err != nil:
			out = append(out, fmt.Sprintf("source %s: cannot read the binary log retention: %v", d.Name, err))
		case st != nil:
			resnap := GapResnapshots(d, plan.Pipelines)
			if w := expiryWarning(d.Name, e, time.Now(), resnap); w != "" && e.Purged && !resnap {
				gaps = append(gaps, BinlogGap{Source: d, Text: w})
			} else if w != "" {
				out = append(out, w)
			}
			// Another server's checkpoint (after a failover) that apply
			// cannot place by its GTID: check said ok, apply refused it
			// (failover trial). A gap: check fails on it, plan warns.
			if pl, ok := src.(placer); ok && e.OtherServer {
				if err := pl.CheckpointPlace(ctx, st.Mark); errors.Is(err, connectors.ErrPositionLost) {
					msg := connectors.RedactSecrets(err.Error())
					if resnap {
						out = append(out, fmt.Sprintf("source %s: %s; apply takes a new snapshot of the tables read with SNAPSHOT initial (on_binlog_gap = 'resnapshot')", d.Name, gapReason(err)))
					} else {
						gaps = append(gaps, BinlogGap{Source: d, Text: fmt.Sprintf("source %s: %s", d.Name, msg)})
					}
				}
			}
		default:
			if rc, ok := src.(rowCounter); ok && len(tables) > 0 {
				if rows, err := rc.TableRows(ctx, tables); err == nil {
					if w := snapshotWarning(d.Name, rows, e); w != "" {
						out = append(out, w)
					}
				}
			}
		}
		src.Close()
	}
	return out, gaps
}

// BinlogGap is a source whose checkpoint's binary log the server purged,
// with on_binlog_gap = 'fail': apply stops before moving any data.
type BinlogGap struct {
	Source *planner.SourceDecl
	Text   string
}

// GapResnapshots says whether a binlog gap of source d is re-snapshotted:
// on_binlog_gap (or its old name snapshot_on_purge) as the source's stream
// reads it, the pipelines' WITH over the source's.
func GapResnapshots(d *planner.SourceDecl, pipes []*planner.Pipeline) bool {
	opts := map[string]any{}
	for k, v := range d.Options {
		opts[k] = v
	}
	for _, p := range pipes {
		if p.Source == d.Name {
			for k, v := range p.Options {
				opts[k] = v
			}
		}
	}
	if v, ok := opts["on_binlog_gap"].(string); ok {
		return strings.EqualFold(v, "resnapshot")
	}
	on, _ := opts["snapshot_on_purge"].(bool)
	return on
}

// expiryWarning is the warning for a checkpoint at e, or "". resnap says
// a gap is re-snapshotted (on_binlog_gap = 'resnapshot').
func expiryWarning(source string, e *mysql.Expiry, now time.Time, resnap bool) string {
	switch {
	case e.Purged && resnap:
		return fmt.Sprintf("source %s: the checkpoint's binary log %s was purged on the server (the oldest is %s, started %s): apply takes a new snapshot of the tables read with SNAPSHOT initial (on_binlog_gap = 'resnapshot')",
			source, e.File, e.Oldest, localTime(e.OldestAt))
	case e.Purged:
		return fmt.Sprintf("source %s: the checkpoint's binary log %s was purged on the server (the oldest is %s, started %s): apply fails, unless on_binlog_gap = 'resnapshot'",
			source, e.File, e.Oldest, localTime(e.OldestAt))
	case e.PurgeAt.IsZero():
		return ""
	}
	left := e.PurgeAt.Sub(now)
	if left >= e.WarnWithin {
		return ""
	}
	return fmt.Sprintf("source %s: the checkpoint's binary log %s may be purged in %s (at %s, %s): run apply before then, or raise the retention",
		source, e.File, roundDuration(left), localTime(e.PurgeAt), e.Setting)
}

// snapshotWarning is the warning for a snapshot of rows rows under e's
// retention, or "".
func snapshotWarning(source string, rows int64, e *mysql.Expiry) string {
	est := time.Duration(float64(rows) / SnapshotRate * float64(time.Second))
	if e.Retention == 0 || est <= e.Retention {
		return ""
	}
	return fmt.Sprintf("source %s: the snapshot of about %d rows takes about %s at %d rows/s, longer than the server keeps binary logs (%s): the position it starts from may be purged before it is done; raise the retention",
		source, rows, roundDuration(est), SnapshotRate, e.Setting)
}

func roundDuration(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	if d > time.Hour {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

// purgeClock answers the metric of the seconds left until a source's
// checkpoint may be purged, asking the server at most once a minute (the
// status lines and the metrics ask it). With warn set, it also logs, once
// per file, that the checkpoint's binary log was purged while the run
// goes on.
type purgeClock struct {
	ex expirer
	// mark is the source's checkpoint position (nil: none yet): apply's
	// state store (storeMark), the capture's last position in the log.
	mark func() ([]byte, error)
	// warn logs that the checkpoint's binary log file was purged (nil:
	// nothing is logged); warned is the file it was logged for.
	warn   func(e *mysql.Expiry)
	warned string

	mu     sync.Mutex
	at     time.Time
	left   float64
	known  bool
	asking bool
}

// secondsLeft returns the last answer and, when it is older than a
// minute, asks again in the background.
func (p *purgeClock) secondsLeft() (float64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.at) > purgeClockEvery && !p.asking {
		p.asking = true
		go p.ask()
	}
	return p.left, p.known
}

// purgeClockEvery is how often a purgeClock asks the server: a minute, or
// the test-only ETLQ_TEST_PURGE_CHECK.
var purgeClockEvery = func() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("ETLQ_TEST_PURGE_CHECK")); err == nil && d > 0 {
		return d
	}
	return time.Minute
}()

// purgedWhileRunning returns the warn of a purgeClock of apply's source
// d: its checkpoint's binary log was purged while the run goes on.
func purgedWhileRunning(log *slog.Logger, d *planner.SourceDecl, pipes []*planner.Pipeline) func(e *mysql.Expiry) {
	return func(e *mysql.Expiry) {
		then := "apply fails there, unless on_binlog_gap = 'resnapshot'"
		if GapResnapshots(d, pipes) {
			then = "apply takes a new snapshot there (on_binlog_gap = 'resnapshot')"
		}
		log.Warn(fmt.Sprintf("source %s: the checkpoint's binary log %s was purged on the server while apply runs (the oldest is %s): apply goes on while its binlog connection holds, and its next checkpoint is past the gap; but if it stops, or loses the connection, before that checkpoint, it cannot resume there: %s. The checkpoint moves on when the sinks acknowledge what they hold (are they slow, or unreachable?)",
			d.Name, e.File, e.Oldest, then))
	}
}

// storeMark is the checkpoint position of a source in a state store.
func storeMark(store *Store, name string) func() ([]byte, error) {
	return func() ([]byte, error) {
		st, err := store.Load(name)
		if err != nil || st == nil {
			return nil, err
		}
		return st.Mark, nil
	}
}

func (p *purgeClock) ask() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	left, known := 0.0, false
	m, err := p.mark()
	if err == nil && m == nil {
		// No checkpoint yet (the first one comes soon): ask again at
		// the next scrape rather than a minute later.
		p.mu.Lock()
		p.asking = false
		p.mu.Unlock()
		return
	}
	if err == nil {
		if e, err := p.ex.BinlogExpiry(ctx, m); err == nil {
			switch {
			case e.Purged:
				known = true
				if p.warn != nil && p.warned != e.File {
					p.warned = e.File // (only ask runs it: one at a time)
					p.warn(e)
				}
			case !e.PurgeAt.IsZero():
				left, known = max(0, time.Until(e.PurgeAt).Seconds()), true
			}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.at, p.left, p.known, p.asking = time.Now(), left, known, false
}

// gapReason is what a lost position lost, without its advice (the
// source's GapReason), or its whole text.
func gapReason(err error) string {
	var g interface{ GapReason() string }
	if errors.As(err, &g) {
		return connectors.RedactSecrets(g.GapReason())
	}
	return connectors.RedactSecrets(err.Error())
}
