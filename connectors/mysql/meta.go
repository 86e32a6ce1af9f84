package mysql

import (
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// The metadata columns (_op, _ts, _db, _table, _pos, _version) repeat:
// _db and _table are constant in a batch, _op, _ts and _pos change per
// event (per chunk in a snapshot), _version counts up. They are built in
// bulk from runs of rows, with offsets arithmetic and one bytes buffer per
// string column, instead of row by row through builders.

// metaRun is a run of consecutive rows sharing _op, _ts and _pos, whose
// versions count up from ver.
type metaRun struct {
	op  string
	ts  int64
	pos string
	ver uint64
	n   int
}

// addMeta appends one row's metadata to runs, extending the last run
// when the row continues it.
func addMeta(runs []metaRun, op string, ts int64, pos string, ver uint64) []metaRun {
	if k := len(runs) - 1; k >= 0 {
		r := &runs[k]
		if r.ver+uint64(r.n) == ver && r.ts == ts && r.op == op && r.pos == pos {
			r.n++
			return runs
		}
	}
	return append(runs, metaRun{op: op, ts: ts, pos: pos, ver: ver, n: 1})
}

// metaArrays returns the metadata columns of runs, in metaFields order.
// Constant columns come from cache (nil: none).
func metaArrays(mem memory.Allocator, cache *constStrings, db, tbl string, runs []metaRun) []arrow.Array {
	rows := 0
	for _, r := range runs {
		rows += r.n
	}
	op := runs[0].op
	for _, r := range runs[1:] {
		if r.op != op {
			op = ""
			break
		}
	}
	var ops arrow.Array
	if op != "" {
		ops = cache.get(mem, op, rows)
	} else {
		ops = stringRuns(mem, len(runs), func(i int) (string, int) { return runs[i].op, runs[i].n })
	}
	ts := fixedArray(mem, metaFields[1].Type, rows, 8, func(b []byte) {
		v := arrow.Int64Traits.CastFromBytes(b)
		k := 0
		for _, r := range runs {
			for j := 0; j < r.n; j++ {
				v[k] = r.ts
				k++
			}
		}
	})
	ver := fixedArray(mem, metaFields[5].Type, rows, 8, func(b []byte) {
		v := arrow.Uint64Traits.CastFromBytes(b)
		k := 0
		for _, r := range runs {
			for j := 0; j < r.n; j++ {
				v[k] = r.ver + uint64(j)
				k++
			}
		}
	})
	return []arrow.Array{
		ops,
		ts,
		cache.get(mem, db, rows),
		cache.get(mem, tbl, rows),
		stringRuns(mem, len(runs), func(i int) (string, int) { return runs[i].pos, runs[i].n }),
		ver,
	}
}

// fixedArray makes a fixed-width array without nulls of n values of
// width bytes, filled by fill.
func fixedArray(mem memory.Allocator, dt arrow.DataType, n, width int, fill func([]byte)) arrow.Array {
	buf := memory.NewResizableBuffer(mem)
	buf.Resize(n * width)
	fill(buf.Bytes())
	data := array.NewData(dt, n, []*memory.Buffer{nil, buf}, nil, 0, 0)
	buf.Release()
	a := array.MakeFromData(data)
	data.Release()
	return a
}

// stringRuns makes a string array of nruns runs: run i is a string
// repeated a number of times.
func stringRuns(mem memory.Allocator, nruns int, run func(i int) (string, int)) arrow.Array {
	rows, size := 0, 0
	for i := 0; i < nruns; i++ {
		s, n := run(i)
		rows += n
		size += len(s) * n
	}
	// Values all of one width (a constant _db, _table or _op; the _pos
	// of a batch's events, mostly) share their offsets with every array
	// of that width: a batch of a 1,000-table stream allocated them anew,
	// 4 bytes a row for each of _table and _pos (docs/benchmarks.md,
	// session 20).
	width := -1
	for i := 0; i < nruns; i++ {
		if s, _ := run(i); width == -1 {
			width = len(s)
		} else if len(s) != width {
			width = -1
			break
		}
	}
	var o []int32
	offs := evenOffsets(width, rows)
	if offs == nil {
		offs = memory.NewResizableBuffer(mem)
		offs.Resize((rows + 1) * 4)
		o = arrow.Int32Traits.CastFromBytes(offs.Bytes())
	}
	vals := memory.NewResizableBuffer(mem)
	vals.Resize(size)
	d := vals.Bytes()
	at, k := 0, 0
	for i := 0; i < nruns; i++ {
		s, n := run(i)
		start := at
		if o == nil {
			at += n * len(s)
		} else {
			for j := 0; j < n; j++ {
				o[k] = int32(at)
				k++
				at += len(s)
			}
		}
		// One copy of s, then doubling copies of what is there.
		if end := at; end > start {
			copy(d[start:end], s)
			for filled := len(s); start+filled < end; filled *= 2 {
				copy(d[start+filled:end], d[start:start+filled])
			}
		}
	}
	if o != nil {
		o[rows] = int32(at)
	}
	data := array.NewData(arrow.BinaryTypes.String, rows, []*memory.Buffer{nil, offs, vals}, nil, 0, 0)
	offs.Release()
	vals.Release()
	a := array.MakeFromData(data)
	data.Release()
	return a
}

// evenOffsets returns the offsets of rows string values of width bytes
// each (0, width, 2·width, …) as a buffer over memory that every caller
// shares (nil for a mixed width, rows above evenMaxRows or a width above
// evenMaxWidth: then the array makes its own). Arrays are immutable: no
// one writes into their offsets. The memory is the Go heap's, not the
// allocator's, kept for the process (at most evenMaxRows+1 offsets per
// width met).
func evenOffsets(width, rows int) *memory.Buffer {
	if width < 0 || width > evenMaxWidth || rows > evenMaxRows {
		return nil
	}
	need := (rows + 1) * 4
	even.mu.Lock()
	defer even.mu.Unlock()
	o := even.by[width]
	if len(o) < need {
		// A new slice, never grown in place: arrays made before read
		// the old one.
		n := min(max(need, 2*len(o), 64*4), (evenMaxRows+1)*4)
		o = make([]byte, n)
		v := arrow.Int32Traits.CastFromBytes(o)
		for i := range v {
			v[i] = int32(i * width)
		}
		if even.by == nil {
			even.by = map[int][]byte{}
		}
		even.by[width] = o
	}
	return memory.NewBufferBytes(o[:need:need])
}

const (
	evenMaxRows  = 1 << 14
	evenMaxWidth = 255
)

var even struct {
	mu sync.Mutex
	by map[int][]byte
}

// constStrings keeps a few constant string arrays (a _db, _table or _op
// value repeated), so that batches of the same length share one instead of
// each building its own: arrays are immutable and reference counted. It
// holds at most constSlots arrays, the most recently made.
type constStrings struct {
	mu    sync.Mutex
	slots [constSlots]arrow.Array
	vals  [constSlots]string
	next  int
}

const constSlots = 8

// get returns s repeated n times (to be released by the caller).
func (c *constStrings) get(mem memory.Allocator, s string, n int) arrow.Array {
	if c == nil {
		return stringRuns(mem, 1, func(int) (string, int) { return s, n })
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, a := range c.slots {
		if a != nil && a.Len() == n && c.vals[i] == s {
			a.Retain()
			return a
		}
	}
	a := stringRuns(mem, 1, func(int) (string, int) { return s, n })
	if old := c.slots[c.next]; old != nil {
		old.Release()
	}
	a.Retain()
	c.slots[c.next], c.vals[c.next] = a, s
	c.next = (c.next + 1) % constSlots
	return a
}

// release drops the kept arrays.
func (c *constStrings) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, a := range c.slots {
		if a != nil {
			a.Release()
			c.slots[i] = nil
		}
	}
}

// emptyRecord returns a record of schema with no rows.
func emptyRecord(mem memory.Allocator, schema *arrow.Schema) arrow.RecordBatch {
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	return rb.NewRecordBatch()
}
