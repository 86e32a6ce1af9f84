package file

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/format"
	"github.com/etlq/etlq/exec"
)

// streamWriter appends encoded batches to one file and acknowledges them
// after an fsync.
type streamWriter struct {
	path     string
	interval time.Duration

	syncMu sync.Mutex // serializes syncs, so Flush waits for one in progress

	mu       sync.Mutex // guards the fields below
	f        *os.File
	enc      format.Encoder
	buf      []byte
	pending  []func(error) // written, not yet synced
	err      error         // sticky: the first write or sync failure
	closed   bool
	lastSync time.Time

	kick chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

var _ connectors.Writer = (*streamWriter)(nil)

func openStream(c *config, t connectors.Target) (*streamWriter, error) {
	if err := mkdirAll(filepath.Dir(c.path)); err != nil {
		return nil, fmt.Errorf("file %q: %w", c.path, err)
	}
	_, statErr := os.Stat(c.path)
	f, err := os.OpenFile(c.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("file %q: %w", c.path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("file %q: %w", c.path, err)
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		if err := syncDir(filepath.Dir(c.path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("file %q: %w", c.path, err)
		}
	}
	var after []string
	if c.format == format.CSV && fi.Size() > 0 {
		// Appending: a header line only when the columns are not those of
		// the file's last one (a column added while etlq was stopped).
		if after, err = lastCSVHeader(c.path); err != nil {
			f.Close()
			return nil, fmt.Errorf("file %q: reading its last header line: %w", c.path, err)
		}
	}
	enc, err := format.New(c.format, format.Options{
		Pipeline:          t.Pipeline,
		Key:               t.Key,
		Mode:              t.Mode,
		AppendAfterHeader: after,
	})
	if err != nil {
		f.Close()
		return nil, err
	}
	if hw, ok := enc.(format.HeaderWriter); ok && fi.Size() == 0 && t.Schema != nil {
		// A new (or empty) csv file names its columns at once, also when
		// no row ever reaches it; the rows that come append below it.
		if _, err := f.Write(hw.Header(nil, t.Schema)); err != nil {
			f.Close()
			return nil, fmt.Errorf("file %q: %w", c.path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("file %q: fsync: %w", c.path, err)
		}
	}
	w := &streamWriter{
		path: c.path, interval: c.flushInterval, f: f, enc: enc,
		kick: make(chan struct{}, 1), stop: make(chan struct{}),
	}
	w.wg.Add(1)
	go w.syncLoop()
	return w, nil
}

// Write appends b to the file and releases it; done is called after the
// next fsync. On an error it returns, done is not called.
func (w *streamWriter) Write(ctx context.Context, b *exec.Batch, done func(error)) error {
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
	var err error
	w.buf, err = w.enc.Encode(w.buf[:0], b)
	if err != nil {
		w.mu.Unlock()
		return fmt.Errorf("file %q: %w", w.path, err)
	}
	if len(w.buf) > 0 {
		if _, err := w.f.Write(w.buf); err != nil {
			w.err = fmt.Errorf("file %q: %w", w.path, err)
			err = w.err
			w.mu.Unlock()
			return err
		}
	}
	if cap(w.buf) > 4<<20 {
		w.buf = nil
	}
	w.pending = append(w.pending, done)
	w.mu.Unlock()
	if w.interval <= 0 {
		w.sync()
		return nil
	}
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return nil
}

// syncLoop fsyncs after writes, at most once per interval.
func (w *streamWriter) syncLoop() {
	defer w.wg.Done()
	for {
		select {
		case <-w.stop:
			return
		case <-w.kick:
		}
		w.mu.Lock()
		wait := w.interval - time.Since(w.lastSync)
		w.mu.Unlock()
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-w.stop:
				t.Stop()
				return
			case <-t.C:
			}
		}
		w.sync()
	}
}

// sync fsyncs the file and acknowledges every write made before it.
func (w *streamWriter) sync() {
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	w.mu.Lock()
	pending := w.pending
	w.pending = nil
	f, stickyErr := w.f, w.err
	w.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	err := stickyErr
	if err == nil {
		if err = f.Sync(); err != nil {
			err = fmt.Errorf("file %q: fsync: %w", w.path, err)
		}
	}
	w.mu.Lock()
	w.lastSync = time.Now()
	if err != nil && w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	for _, done := range pending {
		done(err)
	}
}

// Flush fsyncs now and returns once every earlier Write has called done.
func (w *streamWriter) Flush(ctx context.Context) error {
	w.sync()
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Close flushes and closes the file. It is idempotent.
func (w *streamWriter) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	close(w.stop)
	w.wg.Wait()
	w.sync()
	w.mu.Lock()
	err := w.err
	cerr := w.f.Close()
	w.mu.Unlock()
	unclaim(w.path)
	if err == nil && cerr != nil {
		err = fmt.Errorf("file %q: %w", w.path, cerr)
	}
	return err
}

// lastCSVHeader returns the columns named by the last header line of a csv
// file etlq appends to: its first record, and after it each record whose
// number of fields differs from the one before it (etlq writes a header
// line where a pipeline's columns change, and a row has as many fields as
// its header). A header line that renamed columns without changing their
// number reads as a row: the header found is then an older one, and the
// next run writes its header line again — one line too many, never rows
// under the wrong names, unless the names went back to the older ones.
// It reads the whole file once, when the sink opens it.
func lastCSVHeader(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.ReuseRecord = true
	var header []string
	prev := -1
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// A last line cut by a crash: the header found so far
			// stands (the rows are written again after it).
			break
		}
		if len(rec) != prev {
			header = append(header[:0], rec...)
			prev = len(rec)
		}
	}
	if header == nil {
		header = []string{}
	}
	return header, nil
}
