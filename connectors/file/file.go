// Package file is the "file" sink: INTO file 'out/orders.jsonl' appends the
// pipeline's changes to a local file.
//
// Formats: jsonl (the default), csv, table, canal_json, debezium_json are
// appended to the file; parquet writes whole files (see below). Without a
// FORMAT clause the extension picks it: .csv is csv, .parquet is parquet,
// anything else jsonl (the planner refuses a pipeline whose file has
// another extension than .jsonl, .ndjson, .json, .csv or .parquet and no
// FORMAT).
//
// Durability and acknowledgement: a Write appends the encoded batch with
// write(2) before it returns; done is called once the data is fsync'ed. The
// fsyncs are batched: at most one per flush_interval (default 1s; 0 syncs
// on every write), and one on Flush and Close. A crash (or a full disk)
// may leave a partial last line of unacknowledged data; the next open
// removes it (to the end of the last whole line, or csv record), and
// at-least-once delivery writes those rows again.
//
// Parquet: the target path names a series of files. Rows go to a hidden
// temporary file ".<stem>-<UTC time>-<n>.parquet.tmp" in the same
// directory; when the file is complete it is fsync'ed and renamed to
// "<stem>-<UTC time>-<n>.parquet", and only then are its batches
// acknowledged. A file is complete after rotate_rows rows (default
// 1,000,000), rotate_interval since its first row (default 5m), on Flush
// and on Close, and when the schema changes. Readers never see a partial
// parquet file.
//
// The directory is created when missing. A path may be open in one writer
// at a time per process.
package file

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/format"
)

// Kind is the sink kind in the language: INTO file 'path'.
const Kind = "file"

// DefaultRotateRows is rotate_rows' default; the others are in Spec.
const DefaultRotateRows = 1_000_000

// Spec describes the file sink.
var Spec = connectors.Spec{
	Kind: Kind,
	Doc: "Appends changes to a local file (jsonl, csv, table, canal_json, debezium_json), " +
		"or writes a series of parquet files (INTO file 'dir/orders.parquet' writes dir/orders-<UTC time>-0001.parquet, -0002, …, " +
		"each visible once complete (until then a hidden .<name>.tmp, which the next run removes when a run was killed: its rows were not acknowledged and are sent again); a number already taken, by an earlier run in the same second, is skipped, never replaced); batches are acknowledged once fsync'ed. " +
		"A run stopped while writing (kill -9, a full disk) may leave a last line cut short; the next run removes it before it writes those rows again. " +
		"A file that holds rows of another format (FORMAT changed after a run: jsonl to csv, say) is refused by check, plan and apply, at the FORMAT clause (or INTO, the format coming from the path's extension), rather than appended to in the new format: move or rename the existing file, or write to a new path; " +
		"the file's format is told from its first lines (a JSON object: canal_json and debezium_json by their fields, else jsonl; a header line over a rule of dashes: table; else csv). " +
		"A CREATE SINK of this kind may give a base directory as its target: a pipeline names the sink, INTO name 'path', to write under it.",
	TargetOptions: []connectors.Option{
		{Name: "flush_interval", Type: connectors.OptDuration, Default: "1s",
			Doc: "at most one fsync (and acknowledgement) per interval; '0s' syncs every write"},
		{Name: "rotate_rows", Type: connectors.OptInt, Default: int64(DefaultRotateRows), Min: 1, Max: math.MaxInt64,
			Doc: "parquet: rows per file (a file ends with the batch that reaches it)"},
		{Name: "rotate_interval", Type: connectors.OptDuration, Default: "5m",
			Doc: "parquet: longest time a file stays open (its rows are acknowledged when it closes)"},
	},
}

func init() {
	connectors.RegisterSink(Spec, func(name, dsn string, opts map[string]any) (connectors.Sink, error) {
		return New(dsn), nil
	})
}

// Sink writes targets under a base directory.
type Sink struct {
	base string
	// Now is the clock parquet file names use; time.Now when nil.
	Now func() time.Time
}

var _ connectors.Sink = (*Sink)(nil)

// New returns a file sink. Relative target paths are taken relative to
// base ("" is the working directory), unless the target is base itself.
func New(base string) *Sink { return &Sink{base: base} }

// Path returns the file a target writes (for parquet, the name the series
// of files is derived from). An implicit sink (INTO file 'p') has the
// target as its DSN too: the path is then not joined to itself.
func (s *Sink) Path(t connectors.Target) string {
	p := filepath.Clean(t.Name)
	if s.base != "" && !filepath.IsAbs(p) && p != filepath.Clean(s.base) {
		p = filepath.Join(s.base, p)
	}
	return p
}

// FormatOf returns the format a target writes: its FORMAT, else one chosen
// by the file extension.
func FormatOf(t connectors.Target) string {
	if t.Format != "" {
		return strings.ToLower(t.Format)
	}
	switch strings.ToLower(filepath.Ext(t.Name)) {
	case ".csv":
		return format.CSV
	case ".parquet":
		return format.Parquet
	}
	return format.JSONL
}

type config struct {
	path           string
	format         string
	mode           connectors.Mode // chooses the columns of the row formats
	flushInterval  time.Duration
	rotateRows     int
	rotateInterval time.Duration
	perm           os.FileMode // of a file created: 0600 for a Private target, else 0644
}

func (s *Sink) config(t connectors.Target) (*config, error) {
	if strings.TrimSpace(t.Name) == "" {
		return nil, errors.New("file sink needs a path: INTO file 'out/orders.jsonl'")
	}
	c := &config{path: s.Path(t), format: FormatOf(t), mode: t.Mode, perm: 0o644}
	if t.Private {
		c.perm = 0o600
	}
	if !format.Valid(c.format) {
		return nil, fmt.Errorf("unknown format %q (want one of %s)", c.format, strings.Join(format.Names(), ", "))
	}
	opts, err := connectors.ParseOptions(Spec.TargetOptions, t.Options)
	if err != nil {
		return nil, err
	}
	c.flushInterval, c.rotateInterval = opts.Duration("flush_interval"), opts.Duration("rotate_interval")
	c.rotateRows = int(opts.Int("rotate_rows"))
	return c, nil
}

// Plan checks the target; the file sink runs no DDL. A target Open would
// refuse (an unknown format, a bad option) is an error, not a problem.
func (s *Sink) Plan(ctx context.Context, t connectors.Target) ([]string, []connectors.Problem, error) {
	c, err := s.config(t)
	if err != nil {
		return nil, nil, fmt.Errorf("file %q: %w", t.Name, err)
	}
	if err := checkExisting(c); err != nil {
		return nil, nil, err
	}
	return nil, nil, nil
}

// Open creates the directory and opens (appends to) the file.
func (s *Sink) Open(ctx context.Context, t connectors.Target) (connectors.Writer, error) {
	c, err := s.config(t)
	if err != nil {
		return nil, fmt.Errorf("file %q: %w", t.Name, err)
	}
	if err := checkExisting(c); err != nil {
		return nil, err
	}
	if err := claim(c.path); err != nil {
		return nil, err
	}
	var w connectors.Writer
	if c.format == format.Parquet {
		w, err = s.openParquet(c, t)
	} else {
		w, err = openStream(c, t)
	}
	if err != nil {
		unclaim(c.path)
		return nil, err
	}
	return w, nil
}

// Close does nothing; writers own their files. It is idempotent.
func (s *Sink) Close() error { return nil }

var (
	openMu    sync.Mutex
	openPaths = map[string]bool{}
)

// claim marks path as open in this process.
func claim(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	openMu.Lock()
	defer openMu.Unlock()
	if openPaths[abs] {
		return fmt.Errorf("file %q is already being written by another pipeline", path)
	}
	openPaths[abs] = true
	return nil
}

func unclaim(path string) {
	abs, _ := filepath.Abs(path)
	openMu.Lock()
	delete(openPaths, abs)
	openMu.Unlock()
}

// syncDir fsyncs a directory, so a new or renamed entry in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return err
	}
	return nil
}

// mkdirAll creates dir and its missing parents, and fsyncs the directory
// holding each one it created.
func mkdirAll(dir string) error {
	var created []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(created) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, d := range created {
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

var errClosed = errors.New("file: write on a closed writer")
