package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// sourceState is what the state directory keeps per source: the last mark
// whose data every sink acknowledged.
type sourceState struct {
	Format    int             `json:"format"`
	Source    string          `json:"source"`
	Mark      json.RawMessage `json:"mark"`
	Pipelines []string        `json:"pipelines"`
	Updated   time.Time       `json:"updated"`
}

const stateFormat = 1

// Store keeps checkpoints as files in a directory, each written atomically
// (temporary file, fsync, rename, fsync of the directory).
type Store struct {
	Dir string
}

func (s *Store) path(source string) string {
	return filepath.Join(s.Dir, "source-"+source+".json")
}

// Load returns the saved mark state of a source, or nil when there is none.
func (s *Store) Load(source string) (*sourceState, error) {
	data, err := os.ReadFile(s.path(source))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	var st sourceState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("checkpoint %s is damaged: %v", s.path(source), err)
	}
	if st.Format != stateFormat {
		return nil, fmt.Errorf("checkpoint %s has format %d, this etlq reads %d", s.path(source), st.Format, stateFormat)
	}
	return &st, nil
}

// Save writes the state of a source atomically.
func (s *Store) Save(st *sourceState) error {
	st.Format = stateFormat
	st.Updated = time.Now().UTC()
	data, err := st.encode()
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path(st.Source), data)
}

// encode is json.MarshalIndent(st, "", "  ") but for the mark, which is
// written as the source made it (compact JSON) instead of being validated
// and indented anew: with 1,000 tables a mark is ~1 MiB (their schemas),
// and re-indenting it at every checkpoint took 8% of etlq's CPU.
func (st *sourceState) encode() ([]byte, error) {
	mark := []byte(st.Mark)
	if len(mark) == 0 {
		mark = []byte("null")
	} else if !json.Valid(mark) {
		return nil, fmt.Errorf("checkpoint of %s: the mark is not JSON", st.Source)
	}
	head, err := json.MarshalIndent(struct {
		Format int    `json:"format"`
		Source string `json:"source"`
	}{st.Format, st.Source}, "", "  ")
	if err != nil {
		return nil, err
	}
	tail, err := json.MarshalIndent(struct {
		Pipelines []string  `json:"pipelines"`
		Updated   time.Time `json:"updated"`
	}{st.Pipelines, st.Updated}, "", "  ")
	if err != nil {
		return nil, err
	}
	// head ends "\n}", tail starts "{\n".
	out := make([]byte, 0, len(head)+len(mark)+len(tail)+16)
	out = append(out, head[:len(head)-2]...)
	out = append(out, ",\n  \"mark\": "...)
	out = append(out, mark...)
	out = append(out, ',')
	out = append(out, tail[1:]...)
	return out, nil
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	f, err := os.CreateTemp(dir, tempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync checkpoint: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	return syncDir(dir)
}

// syncDir makes the entries of a directory durable (a file renamed into
// it or removed from it).
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync state directory: %w", err)
	}
	return nil
}

// ResumeMark returns the mark state pipeline resumes from in the state
// directory dir (nil when none): its own checkpoint when it stopped alone
// (stop.go), else its source's. A planner asks it for the schemas the
// stream will decode with (connectors.MarkSchemas).
func ResumeMark(dir, source, pipeline string) (json.RawMessage, error) {
	store := &Store{Dir: dir}
	for _, name := range []string{aloneName(source, pipeline), source} {
		st, err := store.Load(name)
		if err != nil || st != nil {
			if st == nil || WorkerMark(st.Mark) {
				return nil, err
			}
			return st.Mark, nil
		}
	}
	return nil, nil
}

// WorkerMark reports whether a checkpoint's mark was written by an
// `apply --log` worker (connectors/natslog): a count of the log messages
// it acknowledged, a JSON number, not a source position.
func WorkerMark(m json.RawMessage) bool {
	var n json.Number
	return len(m) > 0 && json.Unmarshal(m, &n) == nil
}

// WorkerStateNote says why verify cannot tell a difference from lag with
// a worker's state directory.
func WorkerStateNote(dir string) string {
	return fmt.Sprintf("state directory %s is an apply --log worker's: its checkpoints count log messages, not source positions, "+
		"so a difference cannot be told from lag here; verify with --log nats://HOST:PORT[/NS], which reads how far the workers have applied from the log", dir)
}

// CheckpointMarks returns the marks the state directory dir keeps for
// source: its checkpoint and those of its pipelines stopped alone. A
// planner asks them for the tables the server no longer has
// (connectors.CheckpointDescriber). Unreadable files are left out: the
// run that loads them says why.
func CheckpointMarks(dir, source string) [][]byte {
	s := &Store{Dir: dir}
	names := []string{source}
	alone, _ := filepath.Glob(filepath.Join(dir, "source-"+aloneName(source, "*")+".json"))
	sort.Strings(alone)
	for _, p := range alone {
		names = append(names, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(p), "source-"), ".json"))
	}
	var out [][]byte
	for _, n := range names {
		if st, err := s.Load(n); err == nil && st != nil && len(st.Mark) > 0 {
			out = append(out, st.Mark)
		}
	}
	return out
}
