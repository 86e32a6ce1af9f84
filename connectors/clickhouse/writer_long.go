package clickhouse

import (
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/ClickHouse/ch-go/proto"
	"github.com/apache/arrow-go/v18/arrow"
)

// Long inserts (insert_rows above batch_rows): while the stream is busy,
// one INSERT carries the blocks of several groups, so that ClickHouse
// writes one part where it wrote one per group (it squashes the blocks of
// an INSERT up to min_insert_block_size_rows, 1,048,576 rows by default,
// native.go's begin) and merges fewer.
//
// One goroutine, the inserter, takes the sealed groups in order (w.feed)
// and sends each group's block into the INSERT it keeps open, on one
// connection. A group sealed because it was full (batch_rows, batch_bytes)
// says the stream is busy: the INSERT stays open for the next one. So does
// a group of a snapshot that goes on (bulk: its last batch is a
// snapshot's and does not end its table's snapshot), full or not, and Idle
// leaves such groups alone: a snapshot's readers fall a few milliseconds
// behind the sink all the time, which is no sign that the rows are all
// there, and ending the INSERT at each made a 300-column table's snapshot
// 4–7 parts (each 300 column files, merged again) where it is one, and
// the plain 1M-row snapshot 9–16 parts where it is 4–5 (ClickHouse
// merging them while etlq still writes: its CPU 0.49 s where 0.37); while
// groups of it come within flush_interval of the last one sent, the
// INSERT stays open up to bulkSpan flush_intervals — and ends once it
// holds as many rows as the snapshot has still to read (the batches'
// exec.Batch.SnapshotLeft): ClickHouse writes an INSERT's part at its end,
// so the last INSERT's part is what it writes after the last row is read,
// and it shrinks towards the end (a 1M-row snapshot's INSERTs: ~250,000,
// 250,000, 250,000, then ~150,000, 50,000, 50,000 where the last held
// 250,000). Any
// other seal (idle_flush, flush_interval, Flush, Close, a schema change)
// ends it after that group, as do insert_rows, insert_bytes and an INSERT
// open for flush_interval, an Idle with nothing pending, and all the sink's
// insert connections in use when the next group is not there: freshness is
// as with one group per INSERT. Ending is the empty block and the wait for
// EndOfStream, on a goroutine of its own, while the inserter opens the next
// INSERT on another connection; only then are the groups acknowledged. A
// group's insert slot is given back once its block is sent.
//
// Every group is kept until its INSERT ended (released by the completer,
// as before): a failure anywhere (the connection cut, ClickHouse refusing
// a block or failing on the end) makes the INSERT again with all its
// groups, with the backoff of one group's, or fails them all with a data
// error; no group is acknowledged before ClickHouse has all of its
// INSERT. A sent group keeps its Arrow batches in memory while the open
// INSERT and the one being ended keep at most insert_memory together;
// past that its rows go to the INSERT's spill file and its batches are
// released (spill.go, retain), so an INSERT carries up to insert_rows
// rows and insert_bytes of Arrow without its retention costing memory:
// ClickHouse writes fewer parts of wide rows, and merges less.

// longInsert is the INSERT the inserter keeps open.
type longInsert struct {
	nc     *nativeConn
	info   proto.ColInfoInput // the table's columns, from the sample block
	cols   []*colSpec         // those of the first group
	groups []*group
	rows   int
	bytes  int64
	// kept: the bytes of its groups' batches in memory (the others are in
	// spill); unspilled: spilling failed, so it keeps them in memory and
	// ends after the group.
	kept      int64
	spill     *spillFile
	unspilled bool
	start     time.Time
}

// bulkSpan is how many flush_intervals an INSERT of a snapshot's groups
// stays open at most (while each comes within flush_interval of the last):
// long enough for one part of a 300-column table's snapshot of 50,000
// rows (1–2 s on a quiet machine), short enough that a slow snapshot's
// rows still show, and its chunks are checkpointed, every few seconds.
const bulkSpan = 10

// long reports whether inserts carry several groups.
func (w *writer) long() bool { return w.opts.insertRows > w.opts.batchRows }

// finishOpen asks the inserter to end the INSERT it keeps open once it has
// sent what is queued. It does not block.
func (w *writer) finishOpen() {
	if w.feed == nil {
		return
	}
	select {
	case w.poke <- struct{}{}:
	default:
	}
}

// inserter sends the sealed groups, in order, into long inserts.
func (w *writer) inserter() {
	defer w.wg.Done()
	var li *longInsert
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	end := func() {
		if li != nil {
			timer.Stop()
			w.longClosed()
			w.end(li)
			li = nil
		}
	}
	// poked: a poke came; the INSERT ends once the groups sealed before it
	// (in w.feed by then) are sent.
	poked := false
	for {
		var (
			g  *group
			ok bool
		)
		if poked && len(w.feed) == 0 {
			end()
			poked = false
		}
		if li != nil && len(w.feed) == 0 && w.s.connsFull() {
			// Every insert connection of the sink is in use: this one
			// does not wait idle for the next group while others may
			// wait for a connection (many busy tables).
			end()
		}
		if li == nil {
			select {
			case g, ok = <-w.feed:
			case <-w.poke:
				poked = true
				continue
			}
		} else {
			select {
			case g, ok = <-w.feed:
			case <-w.poke:
				poked = true
				continue
			case <-timer.C:
				end()
				continue
			case <-w.yield:
				// An ALTER of the table waits for this INSERT, and every
				// INSERT begun since waits for the ALTER (alterwatch.go).
				end()
				continue
			}
		}
		if !ok {
			end()
			return
		}
		if li != nil && g.rows > 0 && (!slices.Equal(li.cols, g.cols) || li.bytes+g.bytes > w.insertLimit(len(li.cols))) {
			end() // (another INSERT's columns, or it would carry more than insert_bytes)
		}
		if g.rows == 0 {
			// Position-only or empty batches: acknowledged with the
			// INSERT before them, or at once.
			<-w.slots
			if li == nil {
				close(g.finished)
				continue
			}
			li.groups = append(li.groups, g)
			if !g.full {
				end()
			}
			continue
		}
		if li == nil {
			li = &longInsert{cols: g.cols, start: time.Now()}
			timer.Reset(w.opts.flushInterval)
			select {
			case <-w.yield: // (about an INSERT that ended since)
			default:
			}
			w.longOpen()
		}
		if !w.sendLong(li, g) {
			w.longClosed()
			li = nil
			timer.Stop()
			continue
		}
		span := w.opts.flushInterval
		if g.bulk {
			span *= bulkSpan
			timer.Reset(w.opts.flushInterval) // (from the last group)
		}
		if !(g.full || g.bulk) || li.rows+w.opts.batchRows > w.opts.insertRows || li.bytes >= w.insertLimit(len(li.cols)) ||
			time.Since(li.start) >= span || li.unspilled || g.bulk && g.left > 0 && int64(li.rows) >= g.left {
			end()
		}
	}
}

// sendLong sends g's block into li, beginning the INSERT on a connection
// of the sink first if it is not yet. It gives g's insert slot back. When
// it returns false li is over: its groups, g among them, are being
// inserted again (or failed) on a goroutine of their own. A data error of
// g's rows fails g alone, before anything of it is sent.
func (w *writer) sendLong(li *longInsert, g *group) bool {
	defer func() { <-w.slots }()
	fail := func(err error) bool {
		li.groups = append(li.groups, g)
		li.rows += g.rows
		li.kept += g.bytes
		if li.nc != nil {
			w.s.release(li.nc, true)
			li.nc = nil
		}
		w.settleAsync(li, err)
		return false
	}
	if li.nc == nil {
		nc, err := w.s.nativeConn(w.ctx)
		if err != nil {
			return fail(err)
		}
		li.nc = nc
		if li.info, err = nc.begin(w.ctx, w.insertQuery(g), w.s.chOpts.ReadTimeout); err != nil {
			return fail(err)
		}
	}
	var release []arrow.Array
	defer func() {
		for _, a := range release {
			a.Release()
		}
	}()
	input, fast, err := w.fill(g, li.info, li.nc.serverContext(), &release)
	defer w.keepSpare(fast) // sent (or failed): the block's columns are free
	if err != nil {
		if retryable(err) {
			return fail(err)
		}
		// Nothing of g went out: the INSERT goes on without it.
		g.err = w.insertError(err)
		close(g.finished)
		return true
	}
	if err := li.nc.send(w.ctx, input); err != nil {
		return fail(err)
	}
	li.groups = append(li.groups, g)
	li.rows += g.rows
	li.bytes += g.bytes
	w.retain(li, g)
	w.blocks.Add(1) // (after retain: a test sees the group kept or spilled)
	return true
}

// retain keeps what a retry of li needs of g, a group just sent: its
// batches, in memory while li and the INSERT being ended keep at most
// insert_memory of them together, else its rows in li's spill file (made
// at the first group spilled). When spilling fails (a full disk) the
// batches stay in memory and li ends after g.
func (w *writer) retain(li *longInsert, g *group) {
	if li.unspilled || li.kept+w.endingKept.Load()+g.bytes <= w.opts.insertMemory {
		li.kept += g.bytes
		return
	}
	if li.spill == nil {
		f, err := newSpillFile()
		if err != nil {
			w.unspilled(li, g, err)
			return
		}
		li.spill = f
	}
	if err := spillGroup(li.spill, g); err != nil {
		w.unspilled(li, g, err)
		return
	}
	w.spilledGroups.Add(1)
}

// unspilled keeps g's batches in memory after spilling them failed, and
// makes li end after g.
func (w *writer) unspilled(li *longInsert, g *group, err error) {
	slog.Warn("clickhouse: cannot spill the batches of an insert to a temporary file; the insert ends early instead", "table", w.target, "dir", os.TempDir(), "error", err)
	li.unspilled = true
	li.kept += g.bytes
}

// end ends li's INSERT (the empty block, then EndOfStream) on a goroutine
// of its own, one at a time.
func (w *writer) end(li *longInsert) {
	if li.nc == nil { // only empty groups
		w.settleAsync(li, nil)
		return
	}
	w.settleAsync(li, errEnding)
}

// errEnding tells settle that li's INSERT is to be ended first.
var errEnding = fmt.Errorf("the insert is to be ended")

// settleAsync runs settle on a goroutine, waiting while an INSERT is
// being ended or made again.
func (w *writer) settleAsync(li *longInsert, err error) {
	w.ending <- struct{}{}
	w.endingKept.Store(li.kept)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { <-w.ending }()
		w.settle(li, err)
		li.spill.close()
		w.endingKept.Store(0) // (its batches are released once the completer has its groups)
	}()
}

// settle ends li's INSERT (err errEnding) or, after it failed with err,
// makes it again with all its groups, retrying while ClickHouse is
// unreachable as one group's insert does (run); then it finishes the
// groups.
func (w *writer) settle(li *longInsert, err error) {
	if err == errEnding {
		err = li.nc.end(w.ctx, w.s.chOpts.ReadTimeout)
		w.s.release(li.nc, err != nil)
		li.nc = nil
	}
	attempt := 0
	for ; err != nil; attempt++ {
		if w.ctx.Err() != nil {
			err = errClosed
			break
		}
		if !retryable(err) {
			err = w.insertError(err)
			break
		}
		w.retries.Add(1)
		d := backoff(attempt, w.opts.maxBackoff)
		slog.Warn("clickhouse: insert failed, retrying", "table", w.target, "rows", li.rows, "blocks", len(li.groups), "attempt", attempt+1, "in", d, "error", err)
		if sleep(w.ctx, d) != nil {
			err = errClosed
			break
		}
		err = w.insertGroups(w.ctx, li.groups)
	}
	if err == nil && li.rows > 0 {
		w.inserts.Add(1)
	}
	if err == nil && attempt > 0 {
		// The WARNs were the last word: say the target is back.
		slog.Info("clickhouse: insert written after retrying", "table", w.target, "rows", li.rows, "blocks", len(li.groups), "attempts", attempt+1)
	}
	for _, g := range li.groups {
		if g.err == nil {
			g.err = err
		}
		close(g.finished)
	}
}

// insertLimit is the Arrow bytes one INSERT of cols columns carries at
// most: insert_bytes, or by default 1 MiB a column between 32 and 256
// MiB. ClickHouse writes a file per column of each part, so a wide table
// gains from long INSERTs (a 300-column stream: 10 parts → 4–5, etlq's
// CPU 6.2 → 4.2 s), while a narrow one loses by them: ending an INSERT
// every 32 MiB lets ClickHouse finish it while the next is sent (the
// plain catch-up took ~1.2× its floor so and ~1.5× with 256 MiB INSERTs,
// docs/benchmarks.md).
func (w *writer) insertLimit(cols int) int64 {
	if w.opts.insertBytes > 0 {
		return w.opts.insertBytes
	}
	return min(max(int64(cols)<<20, 32<<20), 256<<20)
}
