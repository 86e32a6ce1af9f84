package natslog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/nats-io/nats.go"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// DefaultLease is how long a partition stays with a worker that stopped
// renewing its lease (a worker killed -9): another takes it over then.
const DefaultLease = 10 * time.Second

// WorkerOptions configure an apply worker reading the log.
type WorkerOptions struct {
	// Group names the workers that share the partitions (one durable
	// consumer per partition and group): "apply" by default. Two groups
	// read the same log independently, e.g. into different targets.
	Group string
	// Lease is the partition lease's time to live (0: DefaultLease).
	Lease time.Duration
	// ID names this worker in the leases (default: host, pid and a random
	// suffix).
	ID    string
	Log   *slog.Logger
	Alloc memory.Allocator
	// Owned, when set, is kept at the number of partitions held.
	Owned *atomic.Int64
	// Stats, when set, is kept up to date with the worker's progress and
	// lag (the per-worker metrics of apply --log --workers N).
	Stats *WorkerStats
	// Pipelines are, by name, the digests (PipelineDigest) of the
	// pipelines of the worker's file reading the source: its heartbeat
	// carries them, so that a worker started with another file than the
	// group's live workers is refused (engine.RunWorkers), and a running
	// worker warns of another that runs another file (peers.go). Nil: not
	// said, nor compared.
	Pipelines map[string]string
}

// WorkerStats are one worker's figures, for its metrics.
type WorkerStats struct {
	ID       atomic.Pointer[string] // the worker's id in the leases (etlq status)
	Owned    atomic.Int64           // partitions held
	Handed   atomic.Int64           // messages handed to the engine
	Acked    atomic.Int64           // messages acknowledged (their rows written)
	Pending  atomic.Int64           // messages left in the held partitions, as of the last one handed over
	lagMicro atomic.Int64
	lag      atomic.Pointer[func() float64] // the worker's Lag, once it runs
}

// Lag is how far behind the log the worker's targets are, in seconds
// (workerStream.Lag); 0 when caught up.
func (s *WorkerStats) Lag() float64 {
	if f := s.lag.Load(); f != nil {
		return (*f)()
	}
	return float64(s.lagMicro.Load()) / 1e6
}

func (o *WorkerOptions) defaults() {
	if o.Group == "" {
		o.Group = "apply"
	}
	if o.Lease <= 0 {
		o.Lease = DefaultLease
	}
	if o.ID == "" {
		host, _ := os.Hostname()
		o.ID = fmt.Sprintf("%s-%d-%04x", host, os.Getpid(), rand.IntN(1<<16))
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Alloc == nil {
		o.Alloc = memory.DefaultAllocator
	}
}

// Source returns a source whose stream is this worker's share of the
// source's log; Tables and Describe still ask inner, the source itself
// (new tables join a pipeline as they would without the log).
func (l *Log) Source(name string, inner connectors.Source, o WorkerOptions) connectors.Source {
	o.defaults()
	return &logSource{Source: inner, log: l, name: name, o: o}
}

type logSource struct {
	connectors.Source
	log  *Log
	name string
	o    WorkerOptions
}

// DescribeMark says where a worker's checkpoint is, in an error that
// names it: a worker's marks number the log messages handed over in this
// run (the inner source's DescribeMark read them as its own positions,
// "checkpoint stays at 4"); what its group acknowledged stays so in the
// log, the rest comes again.
func (s *logSource) DescribeMark(mark []byte) string {
	return fmt.Sprintf("the last log message group %q acknowledged (message %s handed over in this run; the log gives the ones after it again)", s.o.Group, mark)
}

func (s *logSource) Open(ctx context.Context, req connectors.StreamRequest) (connectors.Stream, error) {
	// A worker may start before the capture made the stream: wait.
	parts, info, err := s.log.partitions(s.name)
	for waited := false; errors.Is(err, nats.ErrStreamNotFound); waited = true {
		if !waited {
			s.o.Log.Info("log: waiting for etlq capture to create the stream", "stream", s.log.names(s.name).stream)
		}
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-time.After(500 * time.Millisecond):
		}
		parts, info, err = s.log.partitions(s.name)
	}
	if err != nil {
		return nil, err
	}
	n := s.log.names(s.name)
	gf, err := s.log.groupFloor(ctx, n, s.o.Group, parts, info.Created, req.VersionFloor, s.o.Log.Info)
	if err != nil {
		return nil, err
	}
	kv, err := s.log.leaseBucket(n, s.o.Lease)
	if err != nil {
		return nil, err
	}
	lctx, cancel := context.WithCancel(context.Background())
	w := &workerStream{log: s.log, n: n, name: s.name, o: s.o, kv: kv, nparts: parts,
		out: make(chan item, 8), owned: map[int]*part{}, left: map[int]uint64{}, seen: map[int]seenLease{}, peers: map[string]uint64{}, cancel: cancel, loopDone: make(chan struct{}), floor: gf, created: info.Created}
	if s.o.Stats != nil {
		id := s.o.ID
		s.o.Stats.ID.Store(&id)
		lag := w.Lag
		s.o.Stats.lag.Store(&lag)
	}
	w.prefix = token(s.o.Group) + "."
	w.wkey = w.prefix + "w." + token(s.o.ID)
	go w.leaseLoop(lctx)
	return w, nil
}

// leaseBucket opens (or creates) the KV bucket of a source's leases; its
// TTL is the lease: an entry not renewed within it disappears.
func (l *Log) leaseBucket(n names, lease time.Duration) (nats.KeyValue, error) {
	kv, err := l.keyValue(n.leases, &nats.KeyValueConfig{Bucket: n.leases, History: 1, TTL: lease, Storage: nats.FileStorage,
		Description: "etlq partition leases of " + n.stream})
	if err != nil {
		return nil, fmt.Errorf("log: the partition leases: %w", err)
	}
	st, err := waitFor(l, fmt.Sprintf("the status of the KV bucket %q", n.leases), kv.Status)
	if err != nil {
		return nil, fmt.Errorf("log: the partition leases: %w", err)
	}
	if st.TTL() != lease {
		return nil, fmt.Errorf("log: lease bucket %s has a lease of %s, not %s: every worker of a log uses the same --lease", n.leases, st.TTL(), lease)
	}
	return kv, nil
}

// part is a partition this worker holds.
type part struct {
	id       int
	rev      uint64    // the lease entry's revision
	renewed  time.Time // last successful renewal
	sub      *nats.Subscription
	stop     context.CancelFunc
	done     chan struct{} // the fetcher ended
	start    func()        // starts the fetcher (balance, once the round took its partitions)
	lost     atomic.Bool   // its messages are dropped, never acknowledged
	draining bool          // released once its delivered messages are acknowledged
	resync   atomic.Bool   // messages went missing: read again from the acknowledged
	inflight atomic.Int64  // fetched, not yet handed to the engine
	next     uint64        // the consumer sequence the next message must have (fetcher)
	sent     atomic.Uint64 // the stream sequence of the last message put into the worker's queue (order.go)
	unseen   uint64        // delivered by the server, never received: seen at the last idle fetch (fetcher)
	pending  []pend        // handed to the engine, not yet acknowledged (workerStream.mu)
}

type pend struct {
	d  uint64
	m  *nats.Msg
	ts time.Time // when the capture published it
}

type item struct {
	p   *part
	m   *nats.Msg
	b   *exec.Batch
	err error
}

// workerStream is a connectors.Stream over the partitions the worker holds.
type workerStream struct {
	log    *Log
	n      names
	name   string
	o      WorkerOptions
	kv     nats.KeyValue
	nparts int
	prefix string // "<group>."
	wkey   string // this worker's heartbeat key
	floor  groupFloor
	// created is when the stream was made: a stream gone or made again
	// under the worker stops it (Log.gone).
	created time.Time

	out      chan item
	cancel   context.CancelFunc
	loopDone chan struct{}
	fatal    atomic.Pointer[error]

	mu    sync.Mutex
	owned map[int]*part
	d     uint64 // delivery counter: the Mark of each batch handed over
	lag   float64
	left  map[int]uint64 // per partition: messages after the last one handed over
	// unowned is when the oldest message not acknowledged by the group
	// of the partitions without a live lease was published (zero: none);
	// seen the revision of each other worker's lease and when this worker
	// first saw it (balance, measureUnowned).
	unowned  time.Time
	measured time.Time // the last measureUnowned (balance's goroutine)
	seen     map[int]seenLease
	// capture is the capture's last heartbeat read (nil: none),
	// captureDown whether it was said not to run, beatKV and lockKV the
	// buckets of the heartbeat and the capture lock (readCaptureBeat,
	// balance's goroutine).
	capture       *CaptureBeat
	captureLocked bool // a capture held the capture lock at that read
	captureDown   bool
	beatKV        nats.KeyValue
	lockKV        nats.KeyValue
	// peers are the other workers of the group whose heartbeat this one
	// saw: the revision it first saw, 0 once compared with its pipelines
	// (warnPeers, balance's goroutine).
	peers map[string]uint64

	// layouts keeps, per table, the schema of the messages last put into
	// the queue (order.go).
	layouts layoutOrder
}

type seenLease struct {
	rev uint64
	at  time.Time
}

// setOwned keeps the counts of partitions held.
func (w *workerStream) setOwned(n int) {
	if w.o.Owned != nil {
		w.o.Owned.Store(int64(n))
	}
	if w.o.Stats != nil {
		w.o.Stats.Owned.Store(int64(n))
	}
}

func (w *workerStream) leaseKey(p int) string { return w.prefix + "p." + strconv.Itoa(p) }

// Next hands over the next batch of an owned partition; its Mark is the
// delivery's number, which Acked turns back into acknowledgements.
func (w *workerStream) Next(ctx context.Context) (*exec.Batch, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		case <-w.loopDone:
			if e := w.fatal.Load(); e != nil {
				return nil, *e
			}
			return nil, errors.New("log: the lease loop stopped")
		case it := <-w.out:
			it.p.inflight.Add(-1)
			if it.p.lost.Load() {
				it.b.Release()
				continue
			}
			if it.err != nil {
				return nil, it.err
			}
			w.mu.Lock()
			w.d++
			d := w.d
			pd := pend{d: d, m: it.m}
			if md, err := it.m.Metadata(); err == nil {
				pd.ts = md.Timestamp
				w.lag = 0
				if md.NumPending > 0 {
					w.lag = time.Since(md.Timestamp).Seconds()
				}
				w.left[it.p.id] = md.NumPending
			}
			it.p.pending = append(it.p.pending, pd)
			if st := w.o.Stats; st != nil {
				st.Handed.Add(1)
				st.lagMicro.Store(int64(w.lag * 1e6))
				var left uint64
				for id, n := range w.left {
					if w.owned[id] != nil {
						left += n
					}
				}
				st.Pending.Store(int64(left))
			}
			w.mu.Unlock()
			it.b.Mark = &exec.Mark{Source: w.name, State: []byte(strconv.FormatUint(d, 10))}
			return it.b, nil
		}
	}
}

// Acked acknowledges, in each partition, the last message handed over at
// or before m (the consumers acknowledge all messages before it with it).
func (w *workerStream) Acked(m *exec.Mark) {
	d, err := strconv.ParseUint(string(m.State), 10, 64)
	if err != nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, p := range w.owned {
		i := sort.Search(len(p.pending), func(i int) bool { return p.pending[i].d > d })
		if i == 0 {
			continue
		}
		if !p.lost.Load() {
			if err := p.pending[i-1].m.Ack(); err != nil {
				w.o.Log.Warn("log: acknowledgement failed (the messages come again)", "partition", p.id, "error", err.Error())
			} else if w.o.Stats != nil {
				w.o.Stats.Acked.Add(int64(i))
			}
		}
		p.pending = p.pending[i:]
	}
}

func (w *workerStream) Progress() []connectors.Progress { return nil }

// SnapshotFloor is the group's version floor (floor.go): every version
// handed over is above it, every row its targets held before the group
// first read the stream below (connectors.SnapshotFloorer).
func (w *workerStream) SnapshotFloor() uint64 { return w.floor.Floor }

// Lag is how far behind the log the worker's targets are: the age of the
// oldest message handed over and not yet acknowledged (its rows not yet
// written by the sinks), of the last one handed over while its partition
// had more to read, or of the oldest message not acknowledged by the
// group in a partition no live worker holds (no lease, or one its owner
// stopped renewing: measureUnowned), whichever is largest; 0 when caught
// up. Before, it was the second alone: a worker whose sinks were minutes
// behind (ClickHouse refusing inserts) showed 0 while it kept fetching;
// and partitions nobody held yet (workers restarted) were nobody's lag.
func (w *workerStream) Lag() float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	lag := max(w.lag, w.unackedAge())
	if !w.unowned.IsZero() {
		lag = max(lag, time.Since(w.unowned).Seconds())
	}
	// No capture runs: the source's changes since its last heartbeat are
	// in no log, and the targets are behind them whatever the partitions
	// say (readCaptureBeat).
	if w.captureLocked {
		return lag // (a capture holds the lock: it runs, whatever the clocks say)
	}
	return max(lag, w.capture.Staleness(time.Now()))
}

// readCaptureBeat reads the capture's heartbeat (a balance round, every
// quarter of a lease), for Lag, and says when the capture stops running
// or runs again. A read that fails keeps the last one; a log without a
// heartbeat (no capture since etlq kept them) counts nothing.
// Before, a worker whose capture was killed -9 showed a lag of 0 while
// the targets fell behind the source (a scale-out trial).
func (w *workerStream) readCaptureBeat() {
	if w.beatKV == nil {
		kv, err := w.log.js.KeyValue(w.n.beat)
		if err != nil {
			return
		}
		w.beatKV = kv
	}
	e, err := w.beatKV.Get(captureBeatKey)
	if err != nil {
		return
	}
	var b CaptureBeat
	if json.Unmarshal(e.Value(), &b) != nil {
		return
	}
	// A capture that holds its lock runs: the lock expires on the
	// server's clock, the heartbeat's age is read on this host's (a
	// capture host whose clock is behind must not look dead).
	locked := false
	if running := b.Running(time.Now()); !running {
		if w.lockKV == nil {
			w.lockKV, _ = w.log.js.KeyValue(w.n.capture)
		}
		if w.lockKV != nil {
			_, err := w.lockKV.Get(captureLockKey)
			locked = err == nil
		}
	}
	now := time.Now()
	switch running := locked || b.Running(now); {
	case !running && !w.captureDown:
		w.captureDown = true
		how := "its heartbeat stopped (killed, or cut off from the NATS server)"
		if b.Stopped {
			how = "it stopped"
		}
		w.o.Log.Warn("log: no etlq capture of the source runs: the source's changes since are not in the log, and the lag counts them until a capture runs again",
			"source", w.name, "since", b.Seen.Local().Format(time.RFC3339), "how", how, "capture", b.holder().String())
	case running && w.captureDown:
		w.captureDown = false
		w.o.Log.Info("log: an etlq capture of the source runs again", "source", w.name, "capture", b.holder().String())
	}
	w.mu.Lock()
	w.capture, w.captureLocked = &b, locked
	w.mu.Unlock()
}

// measureUnowned finds, after a balance round, the partitions of the
// group no live worker holds — without a lease, or whose lease has kept
// its revision for more than half a lease (its owner, killed, no longer
// renews it every quarter) — and when the oldest message of theirs the
// group has not acknowledged was published: until a worker takes them,
// every worker of the group counts it in its lag. keys are the lease
// bucket's keys listed in the round.
func (w *workerStream) measureUnowned(keys []string) {
	held := make(map[string]bool, len(keys))
	for _, k := range keys {
		held[k] = true
	}
	now := time.Now()
	var free []int
	for id := 0; id < w.nparts; id++ {
		w.mu.Lock()
		_, mine := w.owned[id]
		w.mu.Unlock()
		if mine {
			delete(w.seen, id)
			continue
		}
		if !held[w.leaseKey(id)] {
			delete(w.seen, id)
			free = append(free, id)
			continue
		}
		e, err := w.kv.Get(w.leaseKey(id))
		switch {
		case errors.Is(err, nats.ErrKeyNotFound):
			delete(w.seen, id)
			free = append(free, id)
		case err != nil:
		case w.seen[id].rev != e.Revision():
			w.seen[id] = seenLease{rev: e.Revision(), at: now}
		case now.Sub(w.seen[id].at) > w.o.Lease/2:
			free = append(free, id)
		}
	}
	var oldest time.Time
	for _, id := range free {
		cis, err := w.log.partConsumers(w.n, w.o.Group, id)
		if err != nil {
			return // keep the last measure
		}
		start := uint64(1)
		for _, ci := range cis {
			start = max(start, ackedUpTo(ci)+1)
		}
		m, err := w.log.js.GetMsg(w.n.stream, start, nats.DirectGetNext(w.n.partFilter(id)))
		if err == nil && (oldest.IsZero() || m.Time.Before(oldest)) {
			oldest = m.Time
		}
	}
	w.mu.Lock()
	w.unowned = oldest
	w.mu.Unlock()
}

// unackedAge is the age of the oldest message handed over and not yet
// acknowledged, in seconds (w.mu held).
func (w *workerStream) unackedAge() float64 {
	var oldest time.Time
	for _, p := range w.owned {
		if len(p.pending) > 0 && !p.pending[0].ts.IsZero() && (oldest.IsZero() || p.pending[0].ts.Before(oldest)) {
			oldest = p.pending[0].ts
		}
	}
	if oldest.IsZero() {
		return 0
	}
	return max(0, time.Since(oldest).Seconds())
}

// Close stops fetching and gives the leases back (after the engine's last
// acknowledgements), so that other workers take the partitions at once.
func (w *workerStream) Close() error {
	w.cancel()
	<-w.loopDone
	return nil
}

// leaseLoop renews, balances and acquires leases every quarter of a lease
// until the stream closes.
func (w *workerStream) leaseLoop(ctx context.Context) {
	defer close(w.loopDone)
	defer w.releaseAll()
	for {
		settled, err := w.balance(ctx)
		if err != nil {
			w.fatal.Store(&err)
			return
		}
		// Until the worker holds its share (partitions given back by
		// others are released once acknowledged, its own once theirs
		// are), it looks again soon: workers started together, joining or
		// leaving are spread in a few rounds, not a few quarters of a lease.
		wait := w.o.Lease / 4
		if !settled {
			wait = max(w.o.Lease/20, 50*time.Millisecond)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// share is how many partitions this worker holds, given keys, the lease
// bucket's keys: the live workers of its group (their heartbeats), sorted
// by id, split the partitions evenly — each ⌊partitions / workers⌋, the
// first partitions mod workers of them one more — so that no two differ
// by more than one and the shares add up to the partitions. Before, each
// took up to ⌈partitions / workers⌉: five workers over eight partitions
// held 2, 2, 2, 2 and 0.
func (w *workerStream) share(keys []string) int {
	ids := []string{w.o.ID}
	for _, k := range keys {
		if id, ok := strings.CutPrefix(k, w.prefix+"w."); ok && k != w.wkey {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	rank := sort.SearchStrings(ids, w.o.ID)
	share := w.nparts / len(ids)
	if rank < w.nparts%len(ids) {
		share++
	}
	return share
}

// balance is one round: heartbeat, renew, give back what is above this
// worker's share, take free partitions up to it.
func (w *workerStream) balance(ctx context.Context) (settled bool, err error) {
	if err := w.log.gone(w.n, w.created, "start the workers again once etlq capture runs again (it makes a new stream, beginning with a snapshot)"); err != nil {
		return false, err
	}
	if _, err := w.kv.Put(w.wkey, w.heartbeatValue()); err != nil {
		w.o.Log.Warn("log: heartbeat failed", "error", err.Error())
	}
	keys, err := w.kv.Keys()
	listed := err == nil || errors.Is(err, nats.ErrNoKeysFound)
	if !listed {
		w.o.Log.Warn("log: listing workers failed", "error", err.Error())
	}
	if listed {
		// (Measured each quarter of a lease: rounds come faster while
		// the worker is not settled.)
		if time.Since(w.measured) >= w.o.Lease/4 {
			w.measured = time.Now()
			defer w.measureUnowned(keys)
			w.readCaptureBeat()
		}
		w.warnPeers(keys)
	}
	share := w.share(keys)

	w.mu.Lock()
	parts := make([]*part, 0, len(w.owned))
	for _, p := range w.owned {
		parts = append(parts, p)
	}
	w.mu.Unlock()
	sort.Slice(parts, func(i, j int) bool { return parts[i].id < parts[j].id })
	active := 0
	for _, p := range parts {
		rev, err := w.kv.Update(w.leaseKey(p.id), []byte(w.o.ID), p.rev)
		switch {
		case err == nil:
			p.rev, p.renewed = rev, time.Now()
		case time.Since(p.renewed) > w.o.Lease || !transient(err):
			w.o.Log.Warn("log: partition lease lost", "partition", p.id, "error", err.Error())
			w.drop(p)
			continue
		}
		if !p.draining {
			active++
		}
	}
	// Above the share: give back the highest partitions, once what was
	// handed over from them is acknowledged.
	for i := len(parts) - 1; i >= 0 && active > share; i-- {
		if p := parts[i]; !p.draining && !p.lost.Load() {
			p.draining = true
			p.stop()
			active--
			w.o.Log.Info("log: giving a partition back", "partition", p.id, "share", share)
		}
	}
	for _, p := range parts {
		if p.resync.Load() && !p.draining {
			p.draining = true // given back and taken again: a new consumer
			active--
		}
		if p.draining && !p.lost.Load() {
			w.tryRelease(p)
		}
	}
	draining := false
	for _, p := range parts {
		draining = draining || p.draining && !p.lost.Load()
	}
	if active >= share || ctx.Err() != nil {
		return listed && active == share && !draining, nil
	}
	// Below the share: take free partitions, starting at a place of this
	// worker's own so that workers starting together spread out. Their
	// fetchers start together once the round took them: one started
	// before the others were taken could queue a table's messages past a
	// schema change before the others queued theirs from before it, and
	// the engine would plan the table again at each flip (order.go).
	var taken []*part
	defer func() {
		for _, p := range taken {
			p.start()
		}
	}()
	off := rand.IntN(w.nparts)
	for i := 0; i < w.nparts && active < share; i++ {
		id := (off + i) % w.nparts
		w.mu.Lock()
		_, mine := w.owned[id]
		w.mu.Unlock()
		if mine {
			continue
		}
		rev, err := w.kv.Create(w.leaseKey(id), []byte(w.o.ID))
		if err != nil {
			continue // held by another worker, or the server is away
		}
		p, err := w.acquire(ctx, id, rev)
		if err != nil {
			w.o.Log.Warn("log: taking a partition failed", "partition", id, "error", err.Error())
			_ = w.kv.Delete(w.leaseKey(id), nats.LastRevision(rev))
			if !transient(err) {
				return false, err
			}
			continue
		}
		taken = append(taken, p)
		active++
	}
	return false, nil
}

// acquire starts reading partition id through a durable consumer of its
// own (named after the lease's revision), made from the first message not
// acknowledged: messages a previous owner had fetched come again at once
// and in order (waiting for their redelivery would let later ones pass
// them), and a previous owner that has not noticed yet that its lease is
// gone reads from a consumer that no longer exists, never from this one.
func (w *workerStream) acquire(ctx context.Context, id int, rev uint64) (*part, error) {
	js := w.log.js
	old, err := w.log.partConsumers(w.n, w.o.Group, id)
	if err != nil {
		return nil, err
	}
	start := uint64(1)
	for _, ci := range old {
		start = max(start, ackedUpTo(ci)+1)
	}
	durable := consumer(w.o.Group, id) + "_" + strconv.FormatUint(rev, 10)
	cfg := &nats.ConsumerConfig{Durable: durable, FilterSubject: w.n.partFilter(id), AckPolicy: nats.AckAllPolicy,
		AckWait: time.Hour, MaxAckPending: 100000, DeliverPolicy: nats.DeliverAllPolicy,
		Description: "etlq workers of group " + w.o.Group + ", partition " + strconv.Itoa(id)}
	if start > 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = nats.DeliverByStartSequencePolicy, start
	}
	// The new consumer first, the old ones after: the acknowledgement
	// floor is in the consumers, and deleting them before a creation that
	// failed (the server away) lost it, the next owner reading the
	// partition from its start.
	if err := addConsumer(js, w.n.stream, cfg); err != nil {
		return nil, err
	}
	for _, ci := range old {
		if err := js.DeleteConsumer(w.n.stream, ci.Name); err != nil && !errors.Is(err, nats.ErrConsumerNotFound) {
			return nil, err
		}
	}
	sub, err := js.PullSubscribe(cfg.FilterSubject, durable, nats.Bind(w.n.stream, durable))
	if err != nil {
		return nil, err
	}
	fctx, stop := context.WithCancel(ctx)
	p := &part{id: id, rev: rev, renewed: time.Now(), sub: sub, stop: stop, done: make(chan struct{}), next: 1}
	p.sent.Store(start - 1)
	w.mu.Lock()
	w.owned[id] = p
	n := len(w.owned)
	w.mu.Unlock()
	w.setOwned(n)
	w.o.Log.Info("log: partition taken", "partition", id, "from_seq", max(start, 1), "id", w.o.ID)
	// What the previous consumers read: up to their acknowledgement
	// floor, and up to where they scanned the stream when nothing they
	// were delivered waits for an acknowledgement (a filtered consumer's
	// delivered stream sequence passes the other partitions' messages).
	read := start - 1
	for _, ci := range old {
		if ci.NumAckPending == 0 {
			read = max(read, ci.Delivered.Stream)
		}
	}
	w.warnDropped(id, read+1)
	p.start = func() { go w.fetch(fctx, p) }
	return p, nil
}

// warnDropped warns when the stream no longer holds the messages a
// partition taken needs from start (the first its group has not read): its retention (--max-bytes,
// --max-age) dropped them before the group read them, so the changes of
// the partition among them are lost for the group's targets
// (docs/scale-out.md, Retention). Before, the worker went on from the
// stream's first message without a word.
func (w *workerStream) warnDropped(id int, start uint64) {
	info, err := w.log.js.StreamInfo(w.n.stream)
	if err != nil || info.State.FirstSeq <= start {
		return
	}
	w.o.Log.Warn("log: the stream's retention dropped messages this group had not read: the partition's changes among them are lost for its targets; read the tables again (etlq resnapshot --log) and size --max-bytes/--max-age for the longest outage",
		"partition", id, "group", w.o.Group, "needed_from_seq", start, "stream_first_seq", info.State.FirstSeq)
}

// fetch reads a partition's messages into the stream until stopped.
func (w *workerStream) fetch(ctx context.Context, p *part) {
	defer close(p.done)
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		// At most 16 MiB a fetch: the client drops messages beyond a
		// subscription's 64 MiB of pending ones (a slow consumer).
		msgs, err := p.sub.Fetch(64, nats.Context(fctx), nats.PullMaxBytes(16<<20))
		cancel()
		if n, _ := p.sub.Dropped(); n > 0 {
			// The client dropped messages of this subscription (a slow
			// consumer): whatever comes after them must not be handed over.
			w.o.Log.Warn("log: the client dropped messages of a partition; reading it again from the last acknowledged",
				"partition", p.id, "dropped", n)
			p.resync.Store(true)
			return
		}
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
				w.o.Log.Warn("log: fetch failed", "partition", p.id, "error", err.Error())
				if _, ierr := p.sub.ConsumerInfo(); errors.Is(ierr, nats.ErrConsumerNotFound) {
					// Deleted under this worker (an owner that had not yet
					// seen its lease expire took the partition over while
					// it acquired it): renewing the lease would keep the
					// partition stalled for good.
					w.o.Log.Warn("log: a partition's consumer is gone; reading it again from the last acknowledged", "partition", p.id)
					p.resync.Store(true)
					return
				}
				select {
				case <-ctx.Done():
				case <-time.After(500 * time.Millisecond):
				}
			} else if ctx.Err() == nil && w.unreceived(p) {
				p.resync.Store(true)
				return
			}
			continue
		}
		p.unseen = 0
		for _, m := range msgs {
			// A consumer delivers its messages numbered 1, 2, 3 …: a gap
			// is a message the client lost (a slow consumer). Nothing after
			// it may be handed over, or its acknowledgement would cover
			// the lost one: the partition is read again from the last
			// acknowledged message.
			var seq uint64
			if md, err := m.Metadata(); err == nil {
				if md.Sequence.Consumer != p.next && p.next != 0 || md.NumDelivered > 1 {
					w.o.Log.Warn("log: messages of a partition went missing on the way; reading it again from the last acknowledged",
						"partition", p.id, "expected", p.next, "got", md.Sequence.Consumer, "delivered", md.NumDelivered)
					p.resync.Store(true)
					return
				}
				p.next = md.Sequence.Consumer + 1
				seq = md.Sequence.Stream
			}
			b, err := w.log.decode(w.n, m, w.o.Alloc)
			table, schema := "", ""
			if err == nil && m.Header.Get(hdrScan) != "" {
				// A message of a SNAPSHOT only pipeline's own scan
				// (scan.go), for that pipeline alone: outside the order
				// of the table's layouts, which are the main stream's
				// (its schema, read by the scan, may differ from theirs
				// in metadata only, and would flip the table's layout at
				// each of its messages).
				liftVersions(b, w.floor.Lift, w.o.Alloc)
			} else if err == nil {
				liftVersions(b, w.floor.Lift, w.o.Alloc)
				table, schema = b.DB+"."+b.Table, m.Header.Get(hdrSchema)
				// A table's first message of a schema new to the queue
				// waits for the worker's other partitions to pass it.
				if !w.inOrder(ctx, p, b.DB, b.Table, schema, seq) {
					b.Release()
					return
				}
			}
			p.inflight.Add(1)
			select {
			case w.out <- item{p: p, m: m, b: b, err: err}:
			case <-ctx.Done():
				p.inflight.Add(-1)
				b.Release()
				return
			}
			w.queued(p, table, schema, seq)
		}
	}
}

// unreceived says, after a fetch that got nothing, whether the consumer
// delivered messages this fetcher never received — lost on the way (a
// connection cut, a server restart, a client's slow-consumer drop). The gap
// check sees such a loss only when a later message comes; at the end of
// what a partition holds none comes, and the lost messages would stay
// unacknowledged, the partition stalled, until the consumer's AckWait (an
// hour) redelivers them. Messages may still be on the way when a fetch
// gives up, so it takes two idle fetches in a row seeing the same
// deliveries missing.
func (w *workerStream) unreceived(p *part) bool {
	if n, _, err := p.sub.Pending(); err != nil || n > 0 {
		p.unseen = 0
		return false
	}
	ci, err := p.sub.ConsumerInfo()
	if err != nil || ci.Delivered.Consumer < p.next {
		p.unseen = 0
		return false
	}
	if p.unseen != ci.Delivered.Consumer {
		p.unseen = ci.Delivered.Consumer
		return false
	}
	w.o.Log.Warn("log: messages of a partition were delivered but never received; reading it again from the last acknowledged",
		"partition", p.id, "received_up_to", p.next-1, "delivered_up_to", ci.Delivered.Consumer)
	return true
}

// drop forgets a partition whose lease is gone: its messages in flight are
// dropped and never acknowledged (the new owner reads them again).
func (w *workerStream) drop(p *part) {
	p.lost.Store(true)
	p.stop()
	<-p.done
	_ = p.sub.Unsubscribe()
	w.mu.Lock()
	delete(w.owned, p.id)
	p.pending = nil
	n := len(w.owned)
	w.mu.Unlock()
	w.setOwned(n)
}

// tryRelease gives a draining partition's lease back once everything
// handed over from it is acknowledged.
func (w *workerStream) tryRelease(p *part) {
	select {
	case <-p.done:
	default:
		return
	}
	w.mu.Lock()
	busy := len(p.pending) > 0 || p.inflight.Load() > 0
	w.mu.Unlock()
	if busy {
		return
	}
	// The acknowledgements must be at the server before another worker
	// reads the consumer's floor.
	if err := w.log.nc.FlushTimeout(5 * time.Second); err != nil {
		return
	}
	if err := w.kv.Delete(w.leaseKey(p.id), nats.LastRevision(p.rev)); err != nil {
		w.o.Log.Warn("log: giving a lease back failed", "partition", p.id, "error", err.Error())
	}
	w.drop(p)
}

// releaseAll gives every lease back when the stream closes.
func (w *workerStream) releaseAll() {
	w.mu.Lock()
	parts := make([]*part, 0, len(w.owned))
	for _, p := range w.owned {
		parts = append(parts, p)
	}
	w.mu.Unlock()
	for _, p := range parts {
		p.stop()
		<-p.done
	}
	// Drain what the fetchers left in the channel.
	for {
		select {
		case it := <-w.out:
			it.p.inflight.Add(-1)
			it.b.Release()
			continue
		default:
		}
		break
	}
	_ = w.log.nc.FlushTimeout(5 * time.Second)
	for _, p := range parts {
		if err := w.kv.Delete(w.leaseKey(p.id), nats.LastRevision(p.rev)); err != nil {
			w.o.Log.Warn("log: giving a lease back failed", "partition", p.id, "error", err.Error())
		}
		w.drop(p)
	}
	_ = w.kv.Delete(w.wkey)
}

// addConsumer creates a partition's consumer (a variable: a test makes it
// fail as a server going away would).
var addConsumer = func(js nats.JetStreamContext, stream string, cfg *nats.ConsumerConfig) error {
	_, err := js.AddConsumer(stream, cfg)
	return err
}

// ackedUpTo is the stream sequence up to which a partition's consumer has
// its messages acknowledged. A consumer made at a start sequence (every
// message before it acknowledged through an earlier consumer) reports an
// acknowledgement floor of 0 until it acknowledges one: taken as is, the
// next owner of a partition whose owner acknowledged nothing before it
// crashed or gave the partition back read the whole partition again.
func ackedUpTo(ci *nats.ConsumerInfo) uint64 {
	floor := ci.AckFloor.Stream
	if ci.Config.DeliverPolicy == nats.DeliverByStartSequencePolicy && ci.Config.OptStartSeq > 0 {
		floor = max(floor, ci.Config.OptStartSeq-1)
	}
	return floor
}

// partConsumers lists the consumers of a group's partition, newest last.
// It asks the JetStream API itself: the client's own listing drops errors,
// and a listing cut short would start a new consumer at the stream's start.
func (l *Log) partConsumers(n names, group string, part int) ([]*nats.ConsumerInfo, error) {
	return l.consumers(n, consumer(group, part)+"_")
}

// waitConsumers is partConsumers tried again while the server does not
// answer (a worker's start; the running paths try again themselves).
func (l *Log) waitConsumers(n names, group string, part int) ([]*nats.ConsumerInfo, error) {
	return waitFor(l, fmt.Sprintf("the consumers of partition %d of the JetStream stream %q", part, n.stream), func() ([]*nats.ConsumerInfo, error) {
		return l.partConsumers(n, group, part)
	})
}

// groupAcked returns, for each of the stream's parts partitions, the
// stream sequence up to which group's consumers acknowledged it (one
// listing of the consumers for them all).
func (l *Log) groupAcked(n names, group string, parts int) ([]uint64, error) {
	prefix := token(group) + "_p"
	cs, err := l.consumers(n, prefix)
	if err != nil {
		return nil, err
	}
	acked := make([]uint64, parts)
	for _, ci := range cs {
		num, _, ok := strings.Cut(strings.TrimPrefix(ci.Name, prefix), "_")
		p, err := strconv.Atoi(num)
		if !ok || err != nil || p < 0 || p >= parts {
			continue
		}
		acked[p] = max(acked[p], ackedUpTo(ci))
	}
	return acked, nil
}

// consumers lists the stream's consumers whose names start with prefix,
// newest last.
func (l *Log) consumers(n names, prefix string) ([]*nats.ConsumerInfo, error) {
	var out []*nats.ConsumerInfo
	for offset := 0; ; {
		req, _ := json.Marshal(map[string]int{"offset": offset})
		m, err := l.nc.Request("$JS.API.CONSUMER.LIST."+n.stream, req, 5*time.Second)
		if err != nil {
			return nil, fmt.Errorf("log: listing the consumers of %s: %w", n.stream, err)
		}
		page, listed, total, err := consumerPage(m.Data, prefix)
		if err != nil {
			return nil, fmt.Errorf("log: listing the consumers of %s: %w", n.stream, err)
		}
		out = append(out, page...)
		offset += listed
		if listed == 0 || offset >= total {
			break
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// consumerPage reads one page of a $JS.API.CONSUMER.LIST answer: the
// consumers whose names start with prefix, how many the page listed and
// how many the stream has.
func consumerPage(data []byte, prefix string) (match []*nats.ConsumerInfo, listed, total int, err error) {
	var resp struct {
		Total     int                  `json:"total"`
		Consumers []*nats.ConsumerInfo `json:"consumers"`
		Error     *nats.APIError       `json:"error"`
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, 0, 0, err
	}
	if resp.Error != nil {
		return nil, 0, 0, resp.Error
	}
	for _, ci := range resp.Consumers {
		// A consumer deleted while the server lists them (another worker
		// dropping a partition's old consumers) is null in nats-server
		// 2.9's answer: it is gone, so it holds no floor.
		if ci != nil && strings.HasPrefix(ci.Name, prefix) {
			match = append(match, ci)
		}
	}
	return match, len(resp.Consumers), resp.Total, nil
}
