package engine

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors/format"
	"github.com/etlq/etlq/exec"
)

// deadLetters keeps the rows a pipeline could not process, with the reason,
// as JSON lines in <state-dir>/deadletter/<pipeline>.jsonl.
type deadLetters struct {
	path string
	f    *os.File
	w    *bufio.Writer
}

func newDeadLetters(stateDir, pipeline string) *deadLetters {
	return &deadLetters{path: filepath.Join(stateDir, "deadletter", pipeline+".jsonl")}
}

type deadLetter struct {
	Time   time.Time         `json:"time"`
	Table  string            `json:"table"`
	Pos    string            `json:"pos,omitempty"`
	Column string            `json:"column,omitempty"`
	Reason string            `json:"reason"`
	Row    map[string]string `json:"row"`
}

// write appends the failed rows and syncs the file: a dead letter is durable
// before the batch it came from can be checkpointed.
func (d *deadLetters) write(b *exec.Batch, errs []exec.RowError) error {
	if d.f == nil {
		if err := os.MkdirAll(filepath.Dir(d.path), 0o755); err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
		f, err := os.OpenFile(d.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
		d.f, d.w = f, bufio.NewWriter(f)
	}
	rec := b.Record
	enc := json.NewEncoder(d.w)
	for _, e := range errs {
		row := map[string]string{}
		for c := 0; c < int(rec.NumCols()); c++ {
			col := rec.Column(c)
			if col.IsNull(e.Row) {
				continue
			}
			row[rec.ColumnName(c)] = valueText(col, e.Row)
		}
		dl := deadLetter{Time: time.Now().UTC(), Table: b.DB + "." + b.Table, Column: e.Column, Reason: e.Reason, Row: row}
		if i := rec.Schema().FieldIndices(exec.ColPos); len(i) == 1 {
			dl.Pos = valueText(rec.Column(i[0]), e.Row)
		}
		if err := enc.Encode(dl); err != nil {
			return fmt.Errorf("dead letters: %w", err)
		}
	}
	if err := d.w.Flush(); err != nil {
		return fmt.Errorf("dead letters: %w", err)
	}
	return d.f.Sync()
}

// valueText is the text of non-NULL a[i] as the formats write it: a
// decimal keeps its scale (DECIMAL(12,2) 2000.00 is "2000.00", never
// "2000"), dates and times read as MySQL writes them.
func valueText(a arrow.Array, i int) string {
	s, err := format.Text(a, i)
	if err != nil {
		return a.ValueStr(i)
	}
	return s
}

func (d *deadLetters) close() {
	if d.f != nil {
		d.w.Flush()
		d.f.Close()
	}
}
