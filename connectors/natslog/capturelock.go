package natslog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// CaptureLease is how long a source's capture lock outlives a capture that
// stopped renewing it (killed -9, its machine gone): the TTL of the bucket
// <ns>_<source>_capture.
var CaptureLease = 10 * time.Second

const captureLockKey = "lock"

// captureHolder is the capture lock's value: who holds it.
type captureHolder struct {
	Host  string    `json:"host"`
	PID   int       `json:"pid"`
	Since time.Time `json:"since"`
}

// String names the holder and its start in the local zone, the zone of
// the log lines that show it (a holder is stored in UTC).
func (h captureHolder) String() string {
	return fmt.Sprintf("pid %d on %s, since %s", h.PID, h.Host, h.Since.Local().Format(time.RFC3339))
}

// captureBeatKey is the capture's heartbeat in the bucket
// <ns>_<source>_heartbeat, which has no TTL: it outlives a capture killed
// -9, so that etlq status and the workers can say since when none runs.
const captureBeatKey = "capture"

// CaptureBeat is a capture's last heartbeat: renewed with its lock (every
// quarter of CaptureLease), kept after it stopped or died.
type CaptureBeat struct {
	Host  string    `json:"host"`
	PID   int       `json:"pid"`
	Since time.Time `json:"since"` // the capture's start
	// Seen is when the capture wrote this heartbeat: a running capture
	// writes one every quarter of CaptureLease.
	Seen time.Time `json:"seen"`
	// Lag is how far behind its source the capture was at Seen, in
	// seconds (its stream's lag; 0 before the stream opened).
	Lag float64 `json:"lag"`
	// Stopped: the capture stopped (Ctrl-C, --once done, an error) at
	// Seen. A capture killed -9 leaves a heartbeat that only ages.
	Stopped bool `json:"stopped,omitempty"`
}

// Running reports whether the capture that wrote the heartbeat runs, as of
// now: it has not stopped and renewed the heartbeat within a lease.
func (b *CaptureBeat) Running(now time.Time) bool {
	return b != nil && !b.Stopped && now.Sub(b.Seen) <= CaptureLease
}

// Staleness is how far behind the source the log may be, in seconds, when
// no capture runs: the capture's lag at its last heartbeat plus the
// heartbeat's age — the source's changes since then are in no log. 0 while
// the capture runs (its messages' ages say the rest).
func (b *CaptureBeat) Staleness(now time.Time) float64 {
	if b == nil || b.Running(now) {
		return 0
	}
	return max(0, now.Sub(b.Seen).Seconds()+b.Lag)
}

func (b *CaptureBeat) holder() captureHolder {
	return captureHolder{Host: b.Host, PID: b.PID, Since: b.Since}
}

// CaptureLock is a source's capture lock, held while the capture runs.
type CaptureLock struct {
	// Lost is sent the reason once the lock is lost to another capture
	// (this one paused, or the server away, for longer than the lease):
	// the capture must stop.
	Lost   <-chan error
	stop   context.CancelFunc
	done   chan struct{}
	kv     nats.KeyValue
	rev    uint64
	source string
	val    []byte // this capture's holder value
	// beat is the heartbeat bucket (nil: it could not be made, the
	// capture runs without one); me the heartbeat's holder part; lag,
	// once the source's stream is open, its lag.
	beat nats.KeyValue
	me   captureHolder
	lag  atomic.Pointer[func() float64]
	log  *slog.Logger
	// lostLock: another capture took the lock (and writes the heartbeat).
	lostLock atomic.Bool
}

// SetLag gives the lock the capture's lag behind its source (the source
// stream's Lag), which every heartbeat carries.
func (c *CaptureLock) SetLag(lag func() float64) { c.lag.Store(&lag) }

// heartbeat writes the capture's heartbeat (stopped: its last). A failure
// is said at DEBUG and tried again at the next renewal: the heartbeat is
// for status and the workers' lag, never a reason to stop the capture.
func (c *CaptureLock) heartbeat(stopped bool, log *slog.Logger) {
	if c.beat == nil {
		return
	}
	b := CaptureBeat{Host: c.me.Host, PID: c.me.PID, Since: c.me.Since, Seen: time.Now().UTC(), Stopped: stopped}
	if f := c.lag.Load(); f != nil {
		b.Lag = (*f)()
	}
	val, _ := json.Marshal(b)
	if _, err := c.beat.Put(captureBeatKey, val); err != nil {
		log.Debug("log: the capture's heartbeat", "source", c.source, "error", err.Error())
	}
}

// CaptureBeat reads the last heartbeat of source's capture: nil when no
// capture has written one (none ran since etlq kept heartbeats).
func (l *Log) CaptureBeat(source string) (*CaptureBeat, error) {
	n := l.names(source)
	kv, err := l.keyValue(n.beat, nil)
	if errors.Is(err, nats.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("log: the capture's heartbeat: %w", err)
	}
	e, err := l.get(kv, captureBeatKey)
	if errors.Is(err, nats.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("log: the capture's heartbeat: %w", err)
	}
	var b CaptureBeat
	if err := json.Unmarshal(e.Value(), &b); err != nil {
		return nil, fmt.Errorf("log: the capture's heartbeat %q: %w", e.Value(), err)
	}
	return &b, nil
}

// LockCapture takes the capture lock of source: one capture per source
// and log. Two captures of one source (the same file started twice by
// mistake) would connect to the source with one server_id and take the
// binary log connection from each other, the first stopping after a few
// takeovers with advice about server_id. A lock held by a live capture
// refuses this one with an error naming it (host, pid); one left by a
// capture killed -9 is waited out (at most a lease; at once for a process
// of this host that is gone). The lock is renewed every quarter lease
// until Release.
func (l *Log) LockCapture(ctx context.Context, source string, log *slog.Logger) (*CaptureLock, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := l.names(source)
	kv, err := l.keyValue(n.capture, &nats.KeyValueConfig{Bucket: n.capture, History: 1, TTL: CaptureLease, Storage: nats.FileStorage,
		Description: "etlq capture lock of " + n.stream})
	if err != nil {
		return nil, fmt.Errorf("log: the capture lock: %w", err)
	}
	lease := CaptureLease
	st, err := waitFor(l, fmt.Sprintf("the status of the KV bucket %q", n.capture), kv.Status)
	if err != nil {
		return nil, fmt.Errorf("log: the capture lock: %w", err)
	}
	if st.TTL() > 0 {
		lease = st.TTL()
	}
	host, _ := os.Hostname()
	me := captureHolder{Host: host, PID: os.Getpid(), Since: time.Now().UTC()}
	val, _ := json.Marshal(me)
	rev, err := l.takeCaptureLock(ctx, kv, source, val, lease, log)
	if err != nil {
		return nil, err
	}
	lctx, stop := context.WithCancel(context.Background())
	lost := make(chan error, 1)
	c := &CaptureLock{Lost: lost, stop: stop, done: make(chan struct{}), kv: kv, rev: rev, source: source, val: val, me: me}
	// The heartbeat outlives the capture (no TTL): etlq status says since
	// when no capture runs, the workers count the time in their lag.
	if c.beat, err = l.keyValue(n.beat, &nats.KeyValueConfig{Bucket: n.beat, History: 1, Storage: nats.FileStorage,
		Description: "etlq capture heartbeat of " + n.stream}); err != nil {
		log.Warn("log: the capture's heartbeat bucket cannot be made; etlq status and the workers will not see whether this capture runs", "source", source, "error", err.Error())
		c.beat = nil
	}
	c.heartbeat(false, log)
	c.log = log
	go c.renew(lctx, val, lease, lost, log)
	return c, nil
}

// takeCaptureLock creates the lock, or says who holds it.
func (l *Log) takeCaptureLock(ctx context.Context, kv nats.KeyValue, source string, val []byte, lease time.Duration, log *slog.Logger) (uint64, error) {
	for waited := false; ; {
		rev, err := waitFor(l, fmt.Sprintf("taking key %q of the KV bucket %q", captureLockKey, kv.Bucket()), func() (uint64, error) {
			return kv.Create(captureLockKey, val)
		})
		if err == nil {
			return rev, nil
		}
		if !errors.Is(err, nats.ErrKeyExists) {
			return 0, fmt.Errorf("log: the capture lock of source %s: %w", source, err)
		}
		e, err := l.get(kv, captureLockKey)
		if errors.Is(err, nats.ErrKeyNotFound) {
			continue // expired meanwhile
		}
		if err != nil {
			return 0, fmt.Errorf("log: the capture lock of source %s: %w", source, err)
		}
		if bytes.Equal(e.Value(), val) {
			// This capture's own: a creation the server made but whose
			// answer came too late (a busy server), tried again.
			return e.Revision(), nil
		}
		var h captureHolder
		_ = json.Unmarshal(e.Value(), &h)
		if processGone(h.Host, h.PID) {
			log.Info("log: the capture lock was left by a capture of this host that is gone (killed); taking it", "source", source, "holder", h.String())
			if err := kv.Delete(captureLockKey, nats.LastRevision(e.Revision())); err != nil && !errors.Is(err, nats.ErrKeyNotFound) {
				log.Debug("log: removing a stale capture lock", "error", err.Error())
			}
			continue
		}
		if !waited {
			log.Info("log: another capture holds this source's lock; waiting to see whether it is live (a killed capture's lock expires within a lease)",
				"source", source, "holder", h.String(), "lease", lease.String())
			waited = true
		}
		renewed, err := l.renewedKey(ctx, kv, captureLockKey, e.Revision(), lease)
		if err != nil {
			return 0, err
		}
		if renewed {
			return 0, fmt.Errorf("log: another etlq capture of source %s is running (%s) and publishes to this log: one capture per source and log (a second one would fight it over the source's binary log connection, its server_id); stop it first, or wait for it to end",
				source, h.String())
		}
	}
}

// renewedKey waits until key's revision is no longer rev (true) or the key
// is gone (false), at most two leases (false).
func (l *Log) renewedKey(ctx context.Context, kv nats.KeyValue, key string, rev uint64, lease time.Duration) (bool, error) {
	deadline := time.Now().Add(2 * lease)
	for {
		e, err := kv.Get(key)
		switch {
		case errors.Is(err, nats.ErrKeyNotFound):
			return false, nil
		case err != nil && !transient(err):
			return false, err
		case err == nil && e.Revision() != rev:
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, context.Cause(ctx)
		case <-time.After(min(lease/10, 250*time.Millisecond)):
		}
	}
}

// renew keeps the lock every quarter lease until stopped. A renewal the
// server refuses because the lock is no longer this capture's (expired
// while this one was paused or cut off, and taken by another) loses it;
// one it expired without another taking it is taken again.
func (c *CaptureLock) renew(ctx context.Context, val []byte, lease time.Duration, lost chan<- error, log *slog.Logger) {
	defer close(c.done)
	tick := time.NewTicker(lease / 4)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		rev, err := c.kv.Update(captureLockKey, val, c.rev)
		if err == nil {
			c.rev = rev
			c.heartbeat(false, log)
			continue
		}
		if transient(err) {
			log.Warn("log: renewing the capture lock failed; trying again", "source", c.source, "error", err.Error())
			continue
		}
		e, gerr := c.kv.Get(captureLockKey)
		if errors.Is(gerr, nats.ErrKeyNotFound) {
			if rev, err := c.kv.Create(captureLockKey, val); err == nil {
				c.rev = rev
				c.heartbeat(false, log)
				continue
			}
			e, gerr = c.kv.Get(captureLockKey)
		}
		if gerr != nil {
			log.Warn("log: renewing the capture lock failed; trying again", "source", c.source, "error", gerr.Error())
			continue
		}
		if bytes.Equal(e.Value(), val) {
			// This capture's own value at a revision it does not know: a
			// renewal the server applied but whose answer was lost (the
			// client sent it again after reconnecting, once the request
			// had timed out). The lock is still this capture's.
			c.rev = e.Revision()
			c.heartbeat(false, log)
			continue
		}
		c.lostLock.Store(true)
		var h captureHolder
		_ = json.Unmarshal(e.Value(), &h)
		lost <- fmt.Errorf("log: another etlq capture of source %s (%s) took its capture lock while this one could not renew it (paused, or cut off from the NATS server for longer than %s): this one stops, one capture per source and log",
			c.source, h.String(), lease)
		return
	}
}

// Release stops renewing the lock and removes it, so that the next
// capture starts at once.
func (c *CaptureLock) Release() {
	c.stop()
	<-c.done
	if !c.lostLock.Load() {
		c.heartbeat(true, c.log)
	}
	_ = c.kv.Delete(captureLockKey, nats.LastRevision(c.rev))
}
