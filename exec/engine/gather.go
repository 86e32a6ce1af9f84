package engine

import (
	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/exec/change"
)

func releaseAll(arrs []arrow.Array) {
	for _, a := range arrs {
		a.Release()
	}
}

func uint8Array(mem memory.Allocator, vals []uint8) arrow.Array { return change.Uint8Array(mem, vals) }

// takeRows returns a record of the given rows of rec.
func takeRows(mem memory.Allocator, rec arrow.RecordBatch, rows []int) (arrow.RecordBatch, error) {
	return change.Take(mem, rec, rows)
}
