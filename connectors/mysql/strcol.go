package mysql

import (
	"fmt"
	"math"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// strCol builds a string or binary column of the binlog decoder in plain
// Go slices, handed to Arrow as the array's buffers when the batch ends.
// Arrow's BinaryBuilder costs ~24 ns a value (a capacity check per
// buffer, the offset's overflow check, the validity bit through a method
// each); a catch-up row has three strings, and they were a tenth of its
// CPU. This is ~8 ns.
type strCol struct {
	typ   arrow.DataType // arrow.BinaryTypes.String or .Binary
	offs  []int32        // rows+1 offsets into data
	data  []byte
	valid []byte // validity bitmap, one bit a row
	nulls int
}

func newStrCol(typ arrow.DataType) *strCol {
	return &strCol{typ: typ, offs: []int32{0}}
}

func (s *strCol) len() int { return len(s.offs) - 1 }

// append appends one value. A batch never holds 2 GiB of one column's
// values (batches are cut at max_batch_bytes, a value is at most the
// server's max_allowed_packet): beyond, Arrow's 32-bit offsets cannot say
// where a value starts, and the decoder fails on it (decodeImage recovers).
func (s *strCol) append(v []byte) { appendStr(s, v) }

func (s *strCol) appendString(v string) { appendStr(s, v) }

func appendStr[T []byte | string](s *strCol, v T) {
	i := len(s.offs) - 1
	if i&7 == 0 {
		s.valid = append(s.valid, 0)
	}
	s.valid[i>>3] |= 1 << (i & 7)
	s.data = append(s.data, v...)
	if len(s.data) > math.MaxInt32 {
		panic(fmt.Sprintf("%d bytes of values in one column of a batch: over Arrow's 2 GiB", len(s.data)))
	}
	s.offs = append(s.offs, int32(len(s.data)))
}

func (s *strCol) appendNull() { s.appendNulls(1) }

func (s *strCol) appendNulls(n int) {
	end := int32(len(s.data))
	for range n {
		if (len(s.offs)-1)&7 == 0 {
			s.valid = append(s.valid, 0)
		}
		s.offs = append(s.offs, end)
	}
	s.nulls += n
}

// reserve makes room for rows more rows and bytes more bytes of values.
func (s *strCol) reserve(rows, bytes int) {
	if c := len(s.offs) + rows; c > cap(s.offs) {
		s.offs = append(make([]int32, 0, c), s.offs...)
	}
	if c := len(s.data) + bytes; c > cap(s.data) {
		s.data = append(make([]byte, 0, c), s.data...)
	}
	if c := (len(s.offs) + rows + 7) / 8; c > cap(s.valid) {
		s.valid = append(make([]byte, 0, c), s.valid...)
	}
}

// newArray returns the column built so far and starts a new one; the
// array owns the slices.
func (s *strCol) newArray() arrow.Array {
	rows := s.len()
	var valid *memory.Buffer
	if s.nulls > 0 {
		valid = memory.NewBufferBytes(s.valid)
	}
	offs := memory.NewBufferBytes(arrow.Int32Traits.CastToBytes(s.offs))
	data := array.NewData(s.typ, rows, []*memory.Buffer{valid, offs, memory.NewBufferBytes(s.data)}, nil, s.nulls, 0)
	a := array.MakeFromData(data)
	data.Release()
	s.offs, s.data, s.valid, s.nulls = []int32{0}, nil, nil, 0
	return a
}
