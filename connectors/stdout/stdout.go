// Package stdout is the "stdout" sink: it prints each batch as it arrives,
// as an aligned table on a terminal and as jsonl otherwise, with the
// columns the format and mode define (package format).
//
// Acknowledgement: a Write prints its batch before it returns and calls
// done once the print has returned; Flush has nothing to wait for. Batches
// of every writer of one sink (and of every sink printing to os.Stdout) are
// printed whole, never interleaved.
package stdout

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/format"
	"github.com/etlq/etlq/exec"
)

// Kind is the sink kind in the language: INTO stdout.
const Kind = "stdout"

// Spec describes the stdout sink.
var Spec = connectors.Spec{
	Kind: Kind,
	Doc: "Prints changes to standard output: FORMAT table (the default on a terminal), " +
		"jsonl (the default otherwise), csv, canal_json or debezium_json.",
	TargetOptions: []connectors.Option{
		{Name: "color", Type: connectors.OptBool, Doc: "colour the _op column of the table format, when the output has one (default: when stdout is a terminal)"},
	},
}

func init() {
	connectors.RegisterSink(Spec, func(name, dsn string, opts map[string]any) (connectors.Sink, error) {
		if dsn != "" {
			return nil, fmt.Errorf("sink %q: stdout takes no target, got %q", name, dsn)
		}
		return New(os.Stdout, IsTerminal(os.Stdout)), nil
	})
}

// stdoutMu serializes every print to os.Stdout.
var stdoutMu sync.Mutex

// Sink prints batches to an io.Writer.
type Sink struct {
	// OpColumn puts an "_op" column first in the row formats (the REPL's
	// live queries), unless the output has one.
	OpColumn bool

	w   io.Writer
	tty bool
	mu  *sync.Mutex
}

var _ connectors.Sink = (*Sink)(nil)

// New returns a sink printing to w. tty says whether w is a terminal: it
// picks the default format (table, else jsonl) and colours.
func New(w io.Writer, tty bool) *Sink {
	mu := new(sync.Mutex)
	if w == io.Writer(os.Stdout) {
		mu = &stdoutMu
	}
	return &Sink{w: w, tty: tty, mu: mu}
}

// IsTerminal reports whether f is a character device (a terminal).
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func (s *Sink) formatOf(t connectors.Target) string {
	if t.Format != "" {
		return t.Format
	}
	if s.tty {
		return format.Table
	}
	return format.JSONL
}

// Plan refuses an unusable format or option, as Open does; stdout has no
// DDL.
func (s *Sink) Plan(ctx context.Context, t connectors.Target) ([]string, []connectors.Problem, error) {
	if _, err := s.encoder(t); err != nil {
		return nil, nil, err
	}
	return nil, nil, nil
}

func (s *Sink) encoder(t connectors.Target) (format.Encoder, error) {
	// color's default is the sink's: whether stdout is a terminal.
	opts, err := connectors.ParseOptions(Spec.TargetOptions, t.Options, map[string]any{"color": s.tty})
	if err != nil {
		return nil, err
	}
	color := opts.Bool("color")
	return format.New(s.formatOf(t), format.Options{Color: color, Pipeline: t.Pipeline, Key: t.Key, Mode: t.Mode, OpColumn: s.OpColumn})
}

// Open returns a writer printing t's batches.
func (s *Sink) Open(ctx context.Context, t connectors.Target) (connectors.Writer, error) {
	enc, err := s.encoder(t)
	if err != nil {
		return nil, fmt.Errorf("stdout: %w", err)
	}
	return &writer{s: s, enc: enc}, nil
}

// Close does nothing: the sink holds no resources. It is idempotent.
func (s *Sink) Close() error { return nil }

type writer struct {
	s      *Sink
	mu     sync.Mutex // guards enc, buf, closed
	enc    format.Encoder
	buf    []byte
	closed bool
}

var errClosed = errors.New("stdout: write on a closed writer")

// Write prints b, then calls done. On an error it returns, done is not
// called. It releases b.
func (w *writer) Write(ctx context.Context, b *exec.Batch, done func(error)) error {
	defer b.Release()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return errClosed
	}
	var err error
	w.buf, err = w.enc.Encode(w.buf[:0], b)
	if err == nil && len(w.buf) > 0 {
		w.s.mu.Lock()
		_, err = w.s.w.Write(w.buf)
		w.s.mu.Unlock()
	}
	if cap(w.buf) > 1<<20 {
		w.buf = nil // do not keep a huge buffer after a huge batch
	}
	w.mu.Unlock()
	if err != nil {
		return fmt.Errorf("stdout: %w", err)
	}
	done(nil)
	return nil
}

// Flush returns at once: every Write has already called done.
func (w *writer) Flush(ctx context.Context) error { return nil }

// Close stops the writer; it is idempotent.
func (w *writer) Close() error {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	return nil
}
