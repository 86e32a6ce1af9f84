package natslog

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
)

// Status is a source log's state for `etlq status --log`.
type Status struct {
	Source, Stream, Group string
	Messages, Bytes       uint64
	MaxBytes              int64         // -1: no limit
	MaxAge                time.Duration // 0: no limit
	Oldest                time.Time     // the oldest message kept
	Workers               []string      // live workers of the group
	Partitions            []PartStatus
	// Floor and Lift are the group's version floor and lift (floor.go;
	// 0: none).
	Floor, Lift uint64
	// Resnapshots are the requests of etlq resnapshot --log the capture
	// has not yet put in the log; Failed those it could not carry out,
	// with the reason.
	Resnapshots int
	Failed      map[string]string
	// Capture is the capture's last heartbeat (nil: none in the log);
	// CaptureHolder who holds the capture lock ("" when none does: no
	// capture runs); Stale how far behind the source the log is, in
	// seconds, when none runs (CaptureBeat.Staleness), counted in every
	// partition's lag; End, when set, describes the last position in the
	// log (the engine sets it, with the source's words).
	Capture       *CaptureBeat
	CaptureHolder string
	Stale         float64
	End           string
	at            time.Time
}

// CaptureRunning reports whether a capture of the source runs: it holds
// the capture lock, or renewed its heartbeat within a lease.
func (s *Status) CaptureRunning() bool {
	return s.CaptureHolder != "" || s.Capture.Running(s.at)
}

// PartStatus is one partition's owner and lag.
type PartStatus struct {
	Partition  int
	Owner      string    // "" when no worker holds it
	Pending    uint64    // messages not yet acknowledged by the group
	LagSeconds float64   // age of the oldest such message
	AckedUpTo  uint64    // stream sequence of the last acknowledged message
	AckedAt    time.Time // when it was acknowledged
}

// Status reads a source log's state.
func (l *Log) Status(source, group string) (*Status, error) {
	if group == "" {
		group = "apply"
	}
	parts, info, err := l.partitions(source)
	if err != nil {
		return nil, err
	}
	n := l.names(source)
	st := &Status{Source: source, Stream: n.stream, Group: group, Messages: info.State.Msgs, Bytes: info.State.Bytes,
		MaxBytes: info.Config.MaxBytes, MaxAge: info.Config.MaxAge, Oldest: info.State.FirstTime}
	// Every lookup waits for a server that does not answer, and fails
	// rather than show less: a lease bucket read as empty because the
	// server was slow to answer showed no live worker, and status --drop
	// deleted the stream under them.
	owners := map[string]string{}
	kv, err := l.keyValue(n.leases, nil)
	switch {
	case errors.Is(err, nats.ErrBucketNotFound):
	case err != nil:
		return nil, fmt.Errorf("log: the partition leases: %w", err)
	default:
		keys, err := l.keys(kv)
		if err != nil {
			return nil, fmt.Errorf("log: the partition leases: %w", err)
		}
		prefix := token(group) + "."
		for _, k := range keys {
			rest, ok := strings.CutPrefix(k, prefix)
			if !ok {
				continue
			}
			if w, ok := strings.CutPrefix(rest, "w."); ok {
				st.Workers = append(st.Workers, w)
				continue
			}
			e, err := l.get(kv, k)
			switch {
			case errors.Is(err, nats.ErrKeyNotFound):
			case err != nil:
				return nil, fmt.Errorf("log: the partition leases: %w", err)
			default:
				owners[rest] = string(e.Value())
			}
		}
	}
	kv, err = l.keyValue(n.groups, nil)
	switch {
	case errors.Is(err, nats.ErrBucketNotFound):
	case err != nil:
		return nil, fmt.Errorf("log: group %s's version floor: %w", group, err)
	default:
		e, err := l.get(kv, token(group))
		switch {
		case errors.Is(err, nats.ErrKeyNotFound):
		case err != nil:
			return nil, fmt.Errorf("log: group %s's version floor: %w", group, err)
		default:
			var g groupFloor
			if json.Unmarshal(e.Value(), &g) == nil && g.Created.Equal(info.Created) {
				st.Floor, st.Lift = g.Floor, g.Lift
			}
		}
	}
	// Whether a capture runs, and since when none does: its lock, and
	// its heartbeat, which outlives it. Before, status showed a capture
	// killed -9 nowhere, and every partition at lag 0 while the targets
	// fell behind the source (a scale-out trial).
	st.at = time.Now()
	if st.Capture, err = l.CaptureBeat(source); err != nil {
		return nil, err
	}
	kv, err = l.keyValue(n.capture, nil)
	switch {
	case errors.Is(err, nats.ErrBucketNotFound):
	case err != nil:
		return nil, fmt.Errorf("log: the capture lock: %w", err)
	default:
		e, err := l.get(kv, captureLockKey)
		switch {
		case errors.Is(err, nats.ErrKeyNotFound):
		case err != nil:
			return nil, fmt.Errorf("log: the capture lock: %w", err)
		default:
			var h captureHolder
			_ = json.Unmarshal(e.Value(), &h)
			st.CaptureHolder = h.String()
		}
	}
	if !st.CaptureRunning() {
		st.Stale = st.Capture.Staleness(st.at)
	}
	pending, failed, err := l.ResnapshotRequests(source)
	if err != nil {
		return nil, err
	}
	st.Resnapshots, st.Failed = len(pending), failed
	for p := 0; p < parts; p++ {
		ps := PartStatus{Partition: p, Owner: owners[fmt.Sprintf("p.%d", p)]}
		cis, err := l.waitConsumers(n, group, p)
		if err != nil {
			return nil, fmt.Errorf("log: %w", err)
		}
		var ci *nats.ConsumerInfo
		start := uint64(1)
		if len(cis) > 0 {
			ci = cis[len(cis)-1]
			ps.AckedUpTo = ackedUpTo(ci)
			if ci.AckFloor.Last != nil {
				ps.AckedAt = *ci.AckFloor.Last
			}
			ps.Pending = ci.NumPending + uint64(ci.NumAckPending)
			start = ps.AckedUpTo + 1
		}
		// The oldest message not acknowledged: its age is the lag.
		m, err := l.msg(n, start, nats.DirectGetNext(n.partFilter(p)))
		switch {
		case errors.Is(err, nats.ErrMsgNotFound):
		case err != nil:
			return nil, fmt.Errorf("log: partition %d: %w", p, err)
		default:
			ps.LagSeconds = time.Since(m.Time).Seconds()
			if ci == nil {
				ps.Pending = info.State.LastSeq - m.Sequence + 1 // an upper bound: no worker ever read it
			}
		}
		ps.LagSeconds = max(ps.LagSeconds, st.Stale)
		st.Partitions = append(st.Partitions, ps)
	}
	return st, nil
}

// String renders the status as a table.
func (s *Status) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "source %s: stream %s, %d messages, %s", s.Source, s.Stream, s.Messages, size(s.Bytes))
	if s.MaxBytes > 0 {
		fmt.Fprintf(&b, " of %s (%.0f%% headroom)", size(uint64(s.MaxBytes)), 100*(1-float64(s.Bytes)/float64(s.MaxBytes)))
	} else {
		b.WriteString(" (no size limit)")
	}
	if !s.Oldest.IsZero() && s.Messages > 0 {
		age := time.Since(s.Oldest).Round(time.Second)
		fmt.Fprintf(&b, "; oldest message %s old", age)
		if s.MaxAge > 0 {
			fmt.Fprintf(&b, " of %s kept (%s headroom)", s.MaxAge, (s.MaxAge - age).Round(time.Second))
		}
	}
	if s.MaxAge <= 0 {
		b.WriteString("; no age limit")
	}
	b.WriteString("\n" + s.captureLine())
	fmt.Fprintf(&b, "\ngroup %s: %d live worker(s)", s.Group, len(s.Workers))
	if s.Floor > 0 {
		fmt.Fprintf(&b, "; versions lifted by %d above the targets' floor %d", s.Lift, s.Floor)
	}
	if s.Resnapshots > 0 {
		fmt.Fprintf(&b, "; %d resnapshot(s) requested, not yet in the log", s.Resnapshots)
	}
	b.WriteString("\n")
	ids := make([]string, 0, len(s.Failed))
	for id := range s.Failed {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		fmt.Fprintf(&b, "resnapshot %s failed: %s\n", id, s.Failed[id])
	}
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "partition\towner\tlag (messages)\tlag (seconds)\tacknowledged up to")
	for _, p := range s.Partitions {
		owner := p.Owner
		if owner == "" {
			owner = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%.1f\t%d\n", p.Partition, owner, p.Pending, p.LagSeconds, p.AckedUpTo)
	}
	tw.Flush()
	return b.String()
}

func size(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// captureLine says whether a capture runs, or since when none does and
// where the log ends.
func (s *Status) captureLine() string {
	end := ""
	if s.End != "" {
		end = "; the log ends at " + s.End
	}
	c := s.Capture
	switch {
	case s.CaptureRunning() && s.CaptureHolder != "":
		line := "capture: running (" + s.CaptureHolder + ")"
		if c.Running(s.at) && c.Lag > 0 {
			line += fmt.Sprintf(", %.1f s behind the source", c.Lag)
		}
		return line
	case s.CaptureRunning():
		return "capture: running (" + c.holder().String() + ")"
	case c == nil:
		return "capture: none running, and none has left a heartbeat in the log (none ran, or an etlq older than this one)" + end
	}
	how := "killed, or cut off from the NATS server: its heartbeat stopped"
	if c.Stopped {
		how = "stopped"
	}
	return fmt.Sprintf("capture: NONE RUNNING since %s (%s ago; the last one, %s, %s)%s: the source's changes since are not in the log, and the lag (seconds) below counts them — start etlq capture",
		c.Seen.Local().Format(time.RFC3339), s.at.Sub(c.Seen).Round(time.Second), c.holder().String(), how, end)
}
