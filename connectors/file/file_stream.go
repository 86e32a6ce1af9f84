package file

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
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
	f, err := os.OpenFile(c.path, os.O_CREATE|os.O_RDWR|os.O_APPEND, c.perm)
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
	if fi.Size() > 0 {
		// Appending. A run stopped in the middle of a write (kill -9, a
		// full disk) left a last line cut short: rows not acknowledged,
		// which this run writes again. Appended after it, the first of
		// them would fuse with it into one line no reader can parse (the
		// row was as good as lost), so the cut line goes first.
		var end int64
		if c.format == format.CSV {
			// A header line only when the columns are not those of the
			// file's last one (a column added while etlq was stopped).
			after, end, err = lastCSVHeader(c.path)
		} else {
			end, err = lastLineEnd(f, fi.Size())
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("file %q: reading its last line: %w", c.path, err)
		}
		if end < fi.Size() {
			if err := f.Truncate(end); err != nil {
				f.Close()
				return nil, fmt.Errorf("file %q: removing a last line cut by an earlier run: %w", c.path, err)
			}
			if err := f.Sync(); err != nil {
				f.Close()
				return nil, fmt.Errorf("file %q: fsync: %w", c.path, err)
			}
			slog.Warn("file: removed a last line an earlier run had cut short (stopped while writing it: kill -9, a full disk); its rows are written again",
				"file", c.path, "bytes", fi.Size()-end)
			if fi, err = f.Stat(); err != nil {
				f.Close()
				return nil, fmt.Errorf("file %q: %w", c.path, err)
			}
			if fi.Size() == 0 {
				after = nil // a new file: its header line is written below
			}
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

// lastLineEnd returns the offset just past the file's last newline (0
// when it has none): where the lines etlq wrote whole end. It reads the
// file backwards from size, 64 KiB at a time, until it finds one.
func lastLineEnd(f *os.File, size int64) (int64, error) {
	buf := make([]byte, 64<<10)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		b := buf[:end-start]
		if _, err := f.ReadAt(b, start); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

// lastCSVHeader returns the columns named by the last header line of a csv
// file etlq appends to, and the offset where its last whole record ends
// (past its line end). The header is its first record, and after it each
// record whose number of fields differs from the one before it (etlq
// writes a header line where a pipeline's columns change, and a row has
// as many fields as its header). A header line that renamed columns
// without changing their number reads as a row: the header found is then
// an older one, and the next run writes its header line again — one line
// too many, never rows under the wrong names, unless the names went back
// to the older ones. A last record cut by a crash (inside a quoted field,
// or without its line end) is not counted: the caller removes it. It
// reads the whole file once, when the sink opens it.
func lastCSVHeader(path string) ([]string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	r := csv.NewReader(bufio.NewReaderSize(f, 1<<20))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.ReuseRecord = true
	type state struct {
		header []string // never changed once set: states share it
		fields int
		end    int64
	}
	// cur: as of the last record read; whole: as of the one before it,
	// which ended with its line end since a record followed it.
	var whole, cur state
	cur.fields = -1
	for {
		rec, err := r.Read()
		if err == io.EOF {
			// The last record may have been cut before its line end.
			if cur.end > 0 {
				b := []byte{0}
				if _, err := f.ReadAt(b, cur.end-1); err != nil {
					return nil, 0, err
				}
				if b[0] != '\n' {
					cur = whole
				}
			}
			break
		}
		if err != nil {
			// A last record cut by a crash inside a quoted field: the
			// records before it are whole.
			break
		}
		whole = cur
		if len(rec) != cur.fields {
			cur.header = append([]string(nil), rec...)
			cur.fields = len(rec)
		}
		cur.end = r.InputOffset()
	}
	if cur.header == nil {
		cur.header = []string{}
	}
	return cur.header, cur.end, nil
}
