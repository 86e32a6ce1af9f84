package file

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/format"
	"github.com/etlq/etlq/exec"
)

// parquetWriter writes a series of parquet files and acknowledges a file's
// batches once it is complete, synced and renamed into place.
type parquetWriter struct {
	c   *config
	now func() time.Time
	mem memory.Allocator

	mu      sync.Mutex // guards everything below
	cur     *pqFile
	seq     int
	gen     int // increments per file; a rotation timer only closes its own file
	err     error
	closed  bool
	timer   *time.Timer
	written []string // completed files, for tests and logs
}

// pqFile is the file being written.
type pqFile struct {
	tmp, final string
	f          *os.File
	pw         *format.ParquetWriter
	pending    []func(error)
}

var _ connectors.Writer = (*parquetWriter)(nil)

func (s *Sink) openParquet(c *config, t connectors.Target) (connectors.Writer, error) {
	if err := mkdirAll(filepath.Dir(c.path)); err != nil {
		return nil, fmt.Errorf("file %q: %w", c.path, err)
	}
	removeStaleTemps(c.path)
	now := s.Now
	if now == nil {
		now = time.Now
	}
	return &parquetWriter{c: c, now: now, mem: memory.DefaultAllocator}, nil
}

// Write appends b's rows to the current file and releases b; done is
// called when the file is complete. On an error it returns, done is not
// called.
func (w *parquetWriter) Write(ctx context.Context, b *exec.Batch, done func(error)) error {
	defer b.Release()
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return errClosed
	}
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	var acks []func(error)
	var ackErr error
	if b.NumRows() == 0 {
		if w.cur == nil {
			w.mu.Unlock()
			done(nil) // nothing is pending: acknowledging now keeps the order
			return nil
		}
		w.cur.pending = append(w.cur.pending, done)
		w.mu.Unlock()
		return nil
	}
	if w.cur != nil && !w.cur.pw.Accepts(b.Record.Schema()) {
		acks, ackErr = w.complete()
	}
	err := w.err
	if err == nil && w.cur == nil {
		err = w.start(b)
	}
	if err == nil {
		if err = w.cur.pw.Write(b); err != nil {
			err = fmt.Errorf("file %q: %w", w.cur.tmp, err)
			w.err = err
		}
	}
	if err == nil {
		w.cur.pending = append(w.cur.pending, done)
		if w.cur.pw.Rows() >= int64(w.c.rotateRows) {
			more, e := w.complete()
			acks, ackErr = append(acks, more...), firstErr(ackErr, e)
		}
	}
	w.mu.Unlock()
	for _, a := range acks {
		a(ackErr)
	}
	return err
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// start opens a new temporary file for b's schema. w.mu is held.
func (w *parquetWriter) start(b *exec.Batch) error {
	w.gen++
	dir, base := filepath.Split(w.c.path)
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	stamp := w.now().UTC().Format("20060102T150405Z")
	// The next number whose file does not exist: an earlier run may have
	// named files in this same second (apply --once back to back, a
	// restart), and its files hold acknowledged rows.
	var name, final string
	for {
		w.seq++
		name = fmt.Sprintf("%s-%s-%04d.parquet", stem, stamp, w.seq)
		final = filepath.Join(dir, name)
		if _, err := os.Lstat(final); err != nil {
			break
		}
	}
	tmp := filepath.Join(dir, "."+name+".tmp")
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, w.c.perm)
	if err != nil {
		w.err = fmt.Errorf("file %q: %w", tmp, err)
		return w.err
	}
	pw, err := format.NewParquetWriter(f, b.Record.Schema(), w.mem, format.Options{Mode: w.c.mode})
	if err != nil {
		f.Close()
		os.Remove(tmp)
		w.err = fmt.Errorf("file %q: %w", tmp, err)
		return w.err
	}
	w.cur = &pqFile{tmp: tmp, final: final, f: f, pw: pw}
	if w.c.rotateInterval > 0 {
		gen := w.gen
		w.timer = time.AfterFunc(w.c.rotateInterval, func() { w.rotateIf(gen) })
	}
	return nil
}

// rotateIf completes the current file if it is still file number gen.
func (w *parquetWriter) rotateIf(gen int) {
	w.mu.Lock()
	if w.cur == nil || w.gen != gen {
		w.mu.Unlock()
		return
	}
	acks, err := w.complete()
	w.mu.Unlock()
	for _, a := range acks {
		a(err)
	}
}

// complete writes the footer, syncs, closes and renames the current file,
// and returns its acknowledgements and their error. w.mu is held.
func (w *parquetWriter) complete() ([]func(error), error) {
	cur := w.cur
	if cur == nil {
		return nil, nil
	}
	w.cur = nil
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	err := cur.pw.Close()
	if err == nil {
		err = cur.f.Sync()
	}
	if cerr := cur.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = placeNew(cur.tmp, cur.final)
	}
	if err == nil {
		err = syncDir(filepath.Dir(cur.final))
	}
	if err != nil {
		err = fmt.Errorf("file %q: %w", cur.final, err)
		if w.err == nil {
			w.err = err
		}
		os.Remove(cur.tmp)
	} else {
		w.written = append(w.written, cur.final)
	}
	return cur.pending, err
}

// tempName matches the rest of a temporary file's name after ".<stem>-".
var tempName = regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9]{4,}\.parquet\.tmp$`)

// removeStaleTemps removes the temporary files of path's series that a
// killed run left: their rows were never acknowledged (the next run sends
// them again), and nothing else writes them (the path is claimed).
func removeStaleTemps(path string) {
	dir, base := filepath.Split(path)
	prefix := "." + strings.TrimSuffix(base, filepath.Ext(base)) + "-"
	entries, err := os.ReadDir(filepath.Clean(dir))
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if ok && e.Type().IsRegular() && tempName.MatchString(rest) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err == nil {
				slog.Info("file: removed the temporary file of a run that did not finish", "file", filepath.Join(dir, e.Name()))
			}
		}
	}
}

// placeNew moves the complete file tmp to final, unless final exists: a
// file is never replaced. A hard link does that atomically; where the file
// system has none, final is checked first, then tmp renamed.
func placeNew(tmp, final string) error {
	err := os.Link(tmp, final)
	if err == nil {
		return os.Remove(tmp)
	}
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%w: not replaced (another writer uses this directory?)", err)
	}
	if _, serr := os.Lstat(final); serr == nil {
		return fmt.Errorf("%s exists: not replaced (another writer uses this directory?)", final)
	}
	return os.Rename(tmp, final)
}

// Flush completes the current file, which acknowledges every earlier Write.
func (w *parquetWriter) Flush(ctx context.Context) error {
	w.mu.Lock()
	acks, err := w.complete()
	if err == nil {
		err = w.err
	}
	w.mu.Unlock()
	for _, a := range acks {
		a(err)
	}
	return err
}

// Close completes the current file and stops. It is idempotent.
func (w *parquetWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	acks, err := w.complete()
	if err == nil {
		err = w.err
	}
	w.mu.Unlock()
	for _, a := range acks {
		a(err)
	}
	unclaim(w.c.path)
	return err
}
