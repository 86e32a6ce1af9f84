package engine

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
	"github.com/etlq/etlq/planner"
)

// DeadLetterFile is where the dead letters of a pipeline live when its
// dead_letter option names no target.
func DeadLetterFile(stateDir, pipeline string) string {
	return filepath.Join(stateDir, "deadletter", pipeline+".jsonl")
}

// ReadDeadLetters reads dead letters as JSON lines: the state directory's
// file, a file target's, or a ClickHouse dead-letter table exported with
// FORMAT JSONEachRow (row as a JSON string, version quoted). name labels
// errors ("name:line: …").
func ReadDeadLetters(r io.Reader, name string) ([]DeadLetter, error) {
	var out []DeadLetter
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<20), 256<<20)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var raw struct {
			DeadLetter
			Version json.RawMessage `json:"version"`
			Row     json.RawMessage `json:"row"`
			Time    json.RawMessage `json:"time"`
		}
		if err := json.Unmarshal([]byte(text), &raw); err != nil {
			return nil, fmt.Errorf("%s:%d: not a dead letter: %v", name, line, err)
		}
		dl := raw.DeadLetter
		rowText := raw.Row
		var s string
		if json.Unmarshal(rowText, &s) == nil {
			rowText = json.RawMessage(s) // a ClickHouse String column
		}
		if err := json.Unmarshal(rowText, &dl.Row); err != nil || dl.Row == nil {
			return nil, fmt.Errorf("%s:%d: dead letter without its row of values", name, line)
		}
		if v := strings.Trim(string(raw.Version), `"`); v != "" && v != "null" {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: version %s: %v", name, line, raw.Version, err)
			}
			dl.Version = n
		}
		out = append(out, dl)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// ReplayResult counts what a replay did.
type ReplayResult struct {
	Letters int // dead letters of the pipeline read
	Written int // rows written to the pipeline's target (tombstones included)
	Dead    int // rows that failed again (dead letters anew)
}

// Replay runs dead letters through a pipeline again (after its rule, or
// the data, was fixed) and writes what comes out to its target, as apply
// would have: a row that fails again is a dead letter again. Each row
// keeps its _version, so a replayed change never overrides a later change
// of the same key in an upsert target. It holds the state directory's
// lock: it does not run beside apply on the same directory. Letters of
// other pipelines are left out.
func Replay(ctx context.Context, plan *planner.Plan, pipeline string, letters []DeadLetter, opts Options) (ReplayResult, error) {
	return ReplayFrom(ctx, plan, pipeline, func() ([]DeadLetter, error) { return letters, nil }, opts)
}

// ReplayFrom is Replay of the dead letters load returns, called once the
// state directory's lock is held: a replay refused because apply runs
// has not touched them (load may move their file aside).
func ReplayFrom(ctx context.Context, plan *planner.Plan, pipeline string, load func() ([]DeadLetter, error), opts Options) (ReplayResult, error) {
	var res ReplayResult
	var p *planner.Pipeline
	for _, x := range plan.Pipelines {
		if x.Name == pipeline {
			p = x
		}
	}
	if p == nil {
		var names []string
		for _, x := range plan.Pipelines {
			names = append(names, x.Name)
		}
		return res, fmt.Errorf("no pipeline %q in the file (it has %s)", pipeline, strings.Join(names, ", "))
	}
	if opts.Alloc == nil {
		opts.Alloc = memory.DefaultAllocator
	}
	if opts.Stats == nil {
		opts.Stats = NewStats()
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	lock, err := lockStateDir(opts.StateDir)
	if err != nil {
		return res, err
	}
	defer lock.release()
	letters, err := load()
	if err != nil {
		return res, err
	}

	opts.sinks = map[string]connectors.Sink{}
	defer func() {
		for _, s := range opts.sinks {
			s.Close()
		}
	}()
	for _, d := range plan.Sinks {
		if d.Name != p.Sink && (p.DeadLetter == nil || d.Name != p.DeadLetter.Sink) {
			continue
		}
		if s := opts.Sinks[d.Name]; s != nil {
			opts.sinks[d.Name] = s // (as Run: Options.Sinks)
			continue
		}
		s, err := connectors.NewSink(d.Kind, d.Name, d.DSN, d.Options)
		if err != nil {
			return res, connectors.Named("sink", d.Name, err)
		}
		opts.sinks[d.Name] = s
	}
	pr, err := newPipeRun(ctx, p, opts.sinks[p.Sink], opts)
	if err != nil {
		return res, err
	}
	defer pr.close()

	// One batch per run of letters of one table, in their order.
	var mine []DeadLetter
	for _, dl := range letters {
		if dl.Pipeline == "" || dl.Pipeline == pipeline {
			mine = append(mine, dl)
		}
	}
	res.Letters = len(mine)
	for i := 0; i < len(mine); {
		j := i + 1
		for j < len(mine) && mine[j].Table == mine[i].Table {
			j++
		}
		if err := pr.replay(ctx, mine[i:j]); err != nil {
			return res, err
		}
		i = j
	}
	if err := pr.writer.Flush(ctx); err != nil {
		return res, fmt.Errorf("pipeline %s: %w", p.Name, err)
	}
	res.Written = int(pr.stats.RowsOut.Load() + pr.stats.Tombstones.Load())
	res.Dead = int(pr.stats.RowErrors.Load())
	return res, nil
}

// replay runs letters of one table through the pipeline.
func (pr *pipeRun) replay(ctx context.Context, letters []DeadLetter) error {
	table := letters[0].Table
	tr := pr.tables[table]
	if tr == nil {
		return fmt.Errorf("pipeline %s does not read %s (any more)", pr.p.Name, table)
	}
	rec, err := rowsOf(pr.alloc, tr.plan.Input, letters)
	if err != nil {
		return err
	}
	defer rec.Release()
	db, tb, _ := strings.Cut(table, ".")
	b := &exec.Batch{Record: rec, DB: db, Table: tb}
	out, err := pr.process(ctx, b)
	if err != nil || out == nil {
		return err
	}
	n, tomb := out.NumRows(), tombstones(out)
	ack := make(chan error, 1)
	if err := pr.writer.Write(ctx, out, func(err error) { ack <- err }); err != nil {
		return fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
	}
	if err := pr.writer.Flush(ctx); err != nil {
		return fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
	}
	if err := <-ack; err != nil {
		return fmt.Errorf("pipeline %s: %w", pr.p.Name, err)
	}
	// (A letter its target refused again is a dead letter again, not
	// written: sinkRefused.)
	rows, tombs := pr.refusedRows.Swap(0), pr.refusedTombs.Swap(0)
	pr.stats.RowsOut.Add(int64(n-tomb) - rows)
	pr.stats.Tombstones.Add(int64(tomb) - tombs)
	return nil
}

// rowsOf makes a source batch of a table's input layout from the text
// values of dead letters (a column a letter lacks is NULL: the table may
// have gained it since).
func rowsOf(mem memory.Allocator, schema *arrow.Schema, letters []DeadLetter) (arrow.RecordBatch, error) {
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	for k, dl := range letters {
		for c, f := range schema.Fields() {
			v := dl.Row[f.Name]
			if v == nil {
				rb.Field(c).AppendNull()
				continue
			}
			if err := appendText(rb.Field(c), f.Type, *v); err != nil {
				return nil, fmt.Errorf("dead letter %d of %s (at %s): column %q: %q: %v", k+1, dl.Table, dl.Pos, f.Name, *v, err)
			}
		}
	}
	return rb.NewRecordBatch(), nil
}

// appendText appends a value written by valueText (format.Text) back.
func appendText(b array.Builder, dt arrow.DataType, s string) error {
	switch b := b.(type) {
	case *array.BooleanBuilder:
		v, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		b.Append(v)
	case *array.Decimal128Builder:
		t := dt.(*arrow.Decimal128Type)
		v, err := decimal128.FromString(s, t.Precision, t.Scale)
		if err != nil {
			return err
		}
		b.Append(v)
	case *array.Decimal256Builder:
		t := dt.(*arrow.Decimal256Type)
		v, err := decimal256.FromString(s, t.Precision, t.Scale)
		if err != nil {
			return err
		}
		b.Append(v)
	case *array.BinaryBuilder:
		v, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return err
		}
		b.Append(v)
	case *array.Date32Builder:
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return errors.New("not a date (a zero date cannot be replayed)")
		}
		b.Append(arrow.Date32FromTime(t))
	case *array.TimestampBuilder:
		t, err := time.Parse("2006-01-02 15:04:05.999999999", s)
		if err != nil {
			return errors.New("not a timestamp (a zero date cannot be replayed)")
		}
		v, err := arrow.TimestampFromTime(t, dt.(*arrow.TimestampType).Unit)
		if err != nil {
			return err
		}
		b.Append(v)
	case *array.DurationBuilder:
		us, err := clockMicros(s)
		if err != nil {
			return err
		}
		b.Append(arrow.Duration(us * durationPerMicro(dt.(*arrow.DurationType).Unit)))
	case *array.Time64Builder:
		us, err := clockMicros(s)
		if err != nil {
			return err
		}
		b.Append(arrow.Time64(us * durationPerMicro(dt.(*arrow.Time64Type).Unit)))
	case *array.StringBuilder:
		b.Append(s)
	default:
		return b.AppendValueFromString(s)
	}
	return nil
}

// clockMicros reads "[-]H…H:MM:SS[.ffffff]" as microseconds.
func clockMicros(s string) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return 0, errors.New("not a time")
	}
	h, err1 := strconv.ParseInt(parts[0], 10, 64)
	m, err2 := strconv.ParseInt(parts[1], 10, 64)
	sec, err3 := strconv.ParseFloat(parts[2], 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return 0, errors.New("not a time")
	}
	us := (h*3600+m*60)*1e6 + int64(sec*1e6+0.5)
	if neg {
		us = -us
	}
	return us, nil
}

func durationPerMicro(u arrow.TimeUnit) int64 {
	if u == arrow.Nanosecond {
		return 1000
	}
	return 1
}

// MoveDeadLetterFile moves a replayed dead-letter file aside (to
// <file>.replayed-<unix time>), so that a second replay does not run the
// same letters again and letters that fail anew start a fresh file. It
// returns the new name.
func MoveDeadLetterFile(path string) (string, error) {
	to := fmt.Sprintf("%s.replayed-%d", path, time.Now().Unix())
	if err := os.Rename(path, to); err != nil {
		return "", err
	}
	return to, nil
}
