package engine

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/etlq/etlq/connectors"
)

// Stats are the live counters of a run, read by the progress display and
// the metrics endpoint.
type Stats struct {
	mu        sync.Mutex
	pipelines map[string]*PipelineStats
	streams   map[string]connectors.Stream
	purges    map[string]*purgeClock // guard.go
	trackers  map[string]*tracker
	captures  map[string]*CaptureStats // etlq capture (scaleout.go)
	Commits   atomic.Int64
}

// CaptureStats count what etlq capture published of one source to the log
// (docs/scale-out.md).
type CaptureStats struct {
	Source   string
	Messages atomic.Int64 // messages JetStream acknowledged
	Rows     atomic.Int64 // rows of the batches JetStream acknowledged
	// Waiting is when the publish waiting for JetStream's acknowledgement
	// started, in Unix nanoseconds (0: none waits).
	Waiting atomic.Int64
}

// AckWait is how long the publish under way has waited for JetStream's
// acknowledgement, retries included (0 when none waits).
func (c *CaptureStats) AckWait() float64 {
	if w := c.Waiting.Load(); w != 0 {
		return max(0, time.Since(time.Unix(0, w)).Seconds())
	}
	return 0
}

func (s *Stats) capture(source string) *CaptureStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.captures == nil {
		s.captures = map[string]*CaptureStats{}
	}
	c := s.captures[source]
	if c == nil {
		c = &CaptureStats{Source: source}
		s.captures[source] = c
	}
	return c
}

// Captures returns the capture counters of every source, by source.
func (s *Stats) Captures() []*CaptureStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*CaptureStats, 0, len(s.captures))
	for _, c := range s.captures {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}

// PipelineStats counts one pipeline's rows.
type PipelineStats struct {
	Source  string       // the pipeline's source; set when created, never changed
	RowsIn  atomic.Int64 // rows read from the source (deletes and truncates included)
	RowsOut atomic.Int64 // rows acknowledged by the sink, tombstones not counted
	// Tombstones counts the tombstones an upsert target acknowledged:
	// the keys it removes (a source delete, an update WHERE no longer
	// passes or that failed under on_error skip/dead_letter, a changed
	// key's old key). They are no rows out.
	Tombstones atomic.Int64
	// RowsFiltered counts the source rows WHERE left out (in an upsert
	// pipeline an update among them also removes its key: a tombstone).
	RowsFiltered atomic.Int64
	RowErrors    atomic.Int64 // rows that failed a cast, a function or a rule, or that the sink cannot take
	DeadLetters  atomic.Int64
	Batches      atomic.Int64 // batches acknowledged by the sink
	// SchemaChanges counts the source schema changes (DDL) the pipeline
	// was planned again for.
	SchemaChanges atomic.Int64

	// WriteFailures counts batches the sink failed to write for good.
	WriteFailures atomic.Int64
	// Unacknowledged counts the rows handed to the sink that it has not
	// acknowledged: yet (held: what a stop waits for), or ever (a write
	// that failed, a writer closed when a stop's drain time ran out).
	Unacknowledged atomic.Int64
	// Stopped is set when the pipeline stopped by an error of its own
	// (stop.go), whether or not the others of its source went on.
	Stopped atomic.Bool

	retrier atomic.Value // connectors.Retrier of the pipeline's writer
}

// WriteRetries returns the write attempts the pipeline's sink made again
// after a failure (0 for a sink that does not retry by itself).
func (p *PipelineStats) WriteRetries() int64 {
	if r, ok := p.retrier.Load().(connectors.Retrier); ok {
		return r.Retries()
	}
	return 0
}

// NewStats returns empty stats.
func NewStats() *Stats {
	return &Stats{pipelines: map[string]*PipelineStats{}, streams: map[string]connectors.Stream{}}
}

func (s *Stats) pipeline(name, source string) *PipelineStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pipelines[name]
	if p == nil {
		p = &PipelineStats{Source: source}
		s.pipelines[name] = p
	}
	return p
}

func (s *Stats) setPurgeClock(source string, p *purgeClock) {
	s.mu.Lock()
	if s.purges == nil {
		s.purges = map[string]*purgeClock{}
	}
	s.purges[source] = p
	s.mu.Unlock()
}

func (s *Stats) setStream(source string, st connectors.Stream) {
	s.mu.Lock()
	s.streams[source] = st
	s.mu.Unlock()
}

func (s *Stats) setTracker(source string, t *tracker) {
	s.mu.Lock()
	if s.trackers == nil {
		s.trackers = map[string]*tracker{}
	}
	s.trackers[source] = t
	s.mu.Unlock()
}

// Pipelines returns the pipeline names, sorted, and their stats.
func (s *Stats) Pipelines() ([]string, map[string]*PipelineStats) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.pipelines))
	m := make(map[string]*PipelineStats, len(s.pipelines))
	for k, v := range s.pipelines {
		names = append(names, k)
		m[k] = v
	}
	sort.Strings(names)
	return names, m
}

// SourceStatus is the snapshot progress, lag and reconnects of a source.
type SourceStatus struct {
	Source string
	// Lag is how far the targets are behind the source, in seconds: the
	// stream's own lag (connectors.Stream.Lag), or, when more, how long
	// the oldest change read has waited for its sinks' acknowledgement
	// (rows held for a larger insert count).
	Lag        float64
	Progress   []connectors.Progress
	Reconnects int64 // connections to the source made again after a loss
	// PurgeIn is the seconds until the server may purge the binary log of
	// the source's checkpoint (0: purged), when PurgeKnown (a MySQL source
	// whose server purges by age).
	PurgeIn    float64
	PurgeKnown bool
}

// Sources returns the status of every open stream.
func (s *Stats) Sources() []SourceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SourceStatus
	for name, st := range s.streams {
		ss := SourceStatus{Source: name, Lag: st.Lag(), Progress: st.Progress()}
		if t := s.trackers[name]; t != nil {
			ss.Lag = max(ss.Lag, t.age().Seconds())
		}
		if r, ok := st.(connectors.Reconnecter); ok {
			ss.Reconnects = r.Reconnects()
		}
		if p := s.purges[name]; p != nil {
			ss.PurgeIn, ss.PurgeKnown = p.secondsLeft()
		}
		out = append(out, ss)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}

// dropStream forgets a stream that ended before the run (a stopped
// pipeline's catch-up, rejoin.go): its lag is no source's any more.
func (s *Stats) dropStream(source string) {
	s.mu.Lock()
	delete(s.streams, source)
	delete(s.trackers, source)
	s.mu.Unlock()
}
