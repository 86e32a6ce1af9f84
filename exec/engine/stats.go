package engine

import (
	"sort"
	"sync"
	"sync/atomic"

	"github.com/etlq/etlq/connectors"
)

// Stats are the live counters of a run, read by the progress display and
// the metrics endpoint.
type Stats struct {
	mu        sync.Mutex
	pipelines map[string]*PipelineStats
	streams   map[string]connectors.Stream
	Commits   atomic.Int64
}

// PipelineStats counts one pipeline's rows.
type PipelineStats struct {
	RowsIn      atomic.Int64 // rows read from the source
	RowsOut     atomic.Int64 // rows acknowledged by the sink
	RowErrors   atomic.Int64 // rows that failed a cast or a function
	DeadLetters atomic.Int64
	Batches     atomic.Int64 // batches acknowledged by the sink
	// SchemaChanges counts the source schema changes (DDL) the pipeline
	// was planned again for.
	SchemaChanges atomic.Int64
}

// NewStats returns empty stats.
func NewStats() *Stats {
	return &Stats{pipelines: map[string]*PipelineStats{}, streams: map[string]connectors.Stream{}}
}

func (s *Stats) pipeline(name string) *PipelineStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pipelines[name]
	if p == nil {
		p = &PipelineStats{}
		s.pipelines[name] = p
	}
	return p
}

func (s *Stats) setStream(source string, st connectors.Stream) {
	s.mu.Lock()
	s.streams[source] = st
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

// SourceStatus is the snapshot progress and lag of a source.
type SourceStatus struct {
	Source   string
	Lag      float64
	Progress []connectors.Progress
}

// Sources returns the status of every open stream.
func (s *Stats) Sources() []SourceStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []SourceStatus
	for name, st := range s.streams {
		out = append(out, SourceStatus{Source: name, Lag: st.Lag(), Progress: st.Progress()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Source < out[j].Source })
	return out
}
