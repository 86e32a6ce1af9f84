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
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/decimal128"
	"github.com/apache/arrow-go/v18/arrow/decimal256"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/mysql"
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
	// LeftOut counts the letters not replayed: their table left the
	// upsert target wholesale after them (truncated, dropped, renamed
	// away, read again: deadletter_cleared.go), a change since that wins.
	LeftOut int
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
	lock, err := opts.Lock.take(opts.StateDir)
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
	if p.Target.Mode == connectors.ModeUpsert {
		cleared, err := readCleared(opts.StateDir, pipeline)
		if err != nil {
			return res, err
		}
		var src connectors.Source
		defer func() {
			if src != nil && opts.Sources[p.Source] == nil {
				src.Close()
			}
		}()
		inRange := func(table, where string, letters []DeadLetter) ([]bool, error) {
			if src == nil {
				if src, err = replaySource(plan, p, opts); err != nil {
					return nil, err
				}
			}
			return lettersInRange(ctx, src, pr, table, where, letters)
		}
		if mine, err = leaveOutCleared(mine, cleared, p.Name, inRange, opts.Log); err != nil {
			return res, err
		}
		res.LeftOut = res.Letters - len(mine)
	}
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

// leaveOutCleared returns the letters whose table did not leave the
// target wholesale after them (cleared): a letter older than its table's
// TRUNCATE, DROP, RENAME away or read again is superseded by it, as by a
// later change of its key — replayed, it brought back a row the source no
// longer has, since the event removed only the keys live in the target.
// So is a letter older than a read again of a range of its table (etlq
// resnapshot --where) whose row is in the range, which inRange (the
// source's server) tells. A letter without a version (an old one) is
// kept. It logs, per table and range, how many were left out and why.
func leaveOutCleared(letters []DeadLetter, cleared map[string]clearedTable, pipeline string,
	inRange func(table, where string, letters []DeadLetter) ([]bool, error), log *slog.Logger) ([]DeadLetter, error) {
	if len(cleared) == 0 {
		return letters, nil
	}
	gone := make([]bool, len(letters))
	out := map[string]int{}
	var tables []string
	for i, dl := range letters {
		c, ok := cleared[dl.Table]
		if !ok || dl.Version == 0 || dl.Version > c.Version {
			continue
		}
		gone[i] = true
		if out[dl.Table] == 0 {
			tables = append(tables, dl.Table)
		}
		out[dl.Table]++
	}
	for _, t := range tables {
		c := cleared[t]
		log.Warn("dead letters left out: their table was "+c.Event+" after them, a change that wins over the replay (their rows would come back)",
			"pipeline", pipeline, "table", t, "letters", out[t], "at_version", c.Version, "position", c.Pos)
	}
	for _, t := range slices.Sorted(maps.Keys(cleared)) {
		for _, r := range cleared[t].Ranges {
			var idx []int
			var ls []DeadLetter
			for i, dl := range letters {
				if !gone[i] && dl.Table == t && dl.Version != 0 && dl.Version <= r.Version {
					idx, ls = append(idx, i), append(ls, dl)
				}
			}
			if len(ls) == 0 {
				continue
			}
			in, err := inRange(t, r.Where, ls)
			if err != nil {
				return nil, fmt.Errorf("pipeline %s: %d dead letters of %s are older than a read again of its rows WHERE %s (etlq resnapshot --where), and whether their rows are in that range is not known (none was replayed): %w",
					pipeline, len(ls), t, r.Where, err)
			}
			n := 0
			for k, i := range idx {
				if in[k] {
					gone[i] = true
					n++
				}
			}
			if n > 0 {
				log.Warn("dead letters left out: their row is in a range of their table read again after them (etlq resnapshot --where), which removed the keys of the range it did not find: a change that wins over the replay (their rows would come back)",
					"pipeline", pipeline, "table", t, "where", r.Where, "letters", n, "at_version", r.Version)
			}
		}
	}
	kept := letters[:0:0]
	for i, dl := range letters {
		if !gone[i] {
			kept = append(kept, dl)
		}
	}
	return kept, nil
}

// replaySource opens the source of p, to ask its server which letters'
// rows are in a range read again (lettersInRange).
func replaySource(plan *planner.Plan, p *planner.Pipeline, opts Options) (connectors.Source, error) {
	if s := opts.Sources[p.Source]; s != nil {
		return s, nil
	}
	for _, d := range plan.Sources {
		if d.Name == p.Source {
			s, err := connectors.NewSource(d.Kind, d.Name, d.DSN, d.Options)
			if err != nil {
				return nil, connectors.Named("source", d.Name, err)
			}
			return s, nil
		}
	}
	return nil, fmt.Errorf("no source %q in the file", p.Source)
}

// lettersInRange asks src's server which of letters (of table) have a row
// that where selects, over the table's columns as pr reads them.
func lettersInRange(ctx context.Context, src connectors.Source, pr *pipeRun, table, where string, letters []DeadLetter) ([]bool, error) {
	m, ok := src.(connectors.WhereMatcher)
	if !ok {
		return nil, fmt.Errorf("source %s cannot evaluate a WHERE", pr.p.Source)
	}
	tr := pr.tables[table]
	if tr == nil {
		return nil, fmt.Errorf("pipeline %s does not read %s (any more)", pr.p.Name, table)
	}
	lay, err := exec.LayoutOf(tr.plan.Input)
	if err != nil {
		return nil, err
	}
	cols := tr.plan.Input.Fields()[:lay.Columns]
	rows := make([]map[string]*string, len(letters))
	for i, dl := range letters {
		rows[i] = dl.Row
	}
	return m.MatchWhere(ctx, tr.plan.Ref, cols, where, rows)
}

// replay runs letters of one table through the pipeline.
func (pr *pipeRun) replay(ctx context.Context, letters []DeadLetter) error {
	table := letters[0].Table
	tr := pr.tables[table]
	if tr == nil {
		return fmt.Errorf("pipeline %s does not read %s (any more)", pr.p.Name, table)
	}
	pr.warnSinkRows(table, tr.plan.Input, letters)
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
	// The rows the sink cannot take (a zero date into a ClickHouse Date)
	// go by on_error, as apply's do (engine.go): under 'dead_letter' a
	// letter that fails there again is a dead letter anew. It failed the
	// whole replay at the insert instead.
	if err := pr.sinkRowErrors(ctx, out, b); err != nil {
		out.Release()
		return err
	}
	n, tomb := out.NumRows(), tombstones(out)
	ack := make(chan error, 1)
	origin := pr.keepOrigin(out, b)
	defer pr.forgetOrigin(origin)
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

// warnSinkRows warns of the letters that hold a sink row, not a source
// row (an earlier etlq's letters of a value the target could not take, or
// of a row an endpoint refused: the outputs and __version, __pos, …):
// the table's columns they lack are NULL in their replay, an output
// computed from them (amount * 100 AS cents) with them.
func (pr *pipeRun) warnSinkRows(table string, input *arrow.Schema, letters []DeadLetter) {
	m, err := exec.LayoutOf(input)
	if err != nil {
		return
	}
	n, lacking := 0, map[string]bool{}
	for _, dl := range letters {
		if _, sink := dl.Row[exec.SysVersion]; !sink {
			continue
		}
		n++
		for c := 0; c < m.Columns; c++ {
			if _, ok := dl.Row[input.Field(c).Name]; !ok {
				lacking[input.Field(c).Name] = true
			}
		}
	}
	if n == 0 || len(lacking) == 0 {
		return
	}
	cols := make([]string, 0, len(lacking))
	for c := range lacking {
		cols = append(cols, c)
	}
	slices.Sort(cols)
	pr.log.Warn("dead letters hold the row the target refused (its outputs), not the source row (written by an earlier etlq): the source columns they lack are replayed as NULL",
		"pipeline", pr.p.Name, "table", table, "letters", n, "columns", strings.Join(cols, ", "))
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
				v = letterMeta(dl, f.Name)
			}
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

// letterMeta is a source metadata column (_op, _ts, _pos, _version, _db,
// _table) of a letter whose row does not hold it: a row the sink could not
// take (a zero date into a ClickHouse Date) is kept with the sink batch's
// system columns (__op, __ts, __pos, __version) instead, and replayed
// without them its _version was NULL — lost, against "each replayed row
// keeps its _version" — and a letter failing again said "at NULL (NULL, …)".
func letterMeta(dl DeadLetter, name string) *string {
	str := func(s string) *string {
		if s == "" || s == "NULL" {
			return nil
		}
		return &s
	}
	switch name {
	case exec.ColOp:
		if v := dl.Row[exec.SysOp]; v != nil {
			return v
		}
		return str(dl.Op)
	case exec.ColTs:
		return dl.Row[exec.SysTs]
	case exec.ColPos:
		if v := dl.Row[exec.SysPos]; v != nil {
			return v
		}
		return str(dl.Pos)
	case exec.ColVersion:
		if v := dl.Row[exec.SysVersion]; v != nil {
			return v
		}
		if dl.Version != 0 {
			return str(strconv.FormatUint(dl.Version, 10))
		}
	case exec.ColDB, exec.ColTable:
		db, tb, ok := strings.Cut(dl.Table, ".")
		if !ok {
			return nil
		}
		if name == exec.ColDB {
			return str(db)
		}
		return str(tb)
	}
	return nil
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
			// A MySQL zero or invalid date ('0000-00-00', '2024-02-00'),
			// written as the source gives it: its sentinel
			// (docs/types.md). A ClickHouse Date cannot take one, so such
			// letters are the very rows a zero-date column dead-letters;
			// replay refused them all ("a zero date cannot be replayed").
			y, m, d, rest, ok := mysqlYMD(s)
			if !ok || rest != "" {
				return errors.New("not a date")
			}
			b.Append(arrow.Date32(mysql.EncodeDate(y, m, d)))
			return nil
		}
		b.Append(arrow.Date32FromTime(t))
	case *array.TimestampBuilder:
		t, err := time.Parse("2006-01-02 15:04:05.999999999", s)
		if err != nil {
			unit := dt.(*arrow.TimestampType).Unit
			us, ok := mysqlDatetime(s)
			if !ok || unit != arrow.Microsecond {
				return errors.New("not a timestamp")
			}
			b.Append(arrow.Timestamp(us))
			return nil
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

// mysqlYMD reads the "YYYY-MM-DD" start of a MySQL date, a zero month or
// day included (zero and invalid dates), and what follows it.
func mysqlYMD(s string) (y, m, d int, rest string, ok bool) {
	if len(s) < 10 || s[4] != '-' || s[7] != '-' {
		return 0, 0, 0, "", false
	}
	var e1, e2, e3 error
	y, e1 = strconv.Atoi(s[:4])
	m, e2 = strconv.Atoi(s[5:7])
	d, e3 = strconv.Atoi(s[8:10])
	if errors.Join(e1, e2, e3) != nil || y < 0 || m < 0 || m > 12 || d < 0 || d > 31 {
		return 0, 0, 0, "", false
	}
	return y, m, d, s[10:], true
}

// mysqlDatetime reads a MySQL DATETIME or TIMESTAMP text, "YYYY-MM-DD[
// HH:MM:SS[.ffffff]]", zero and invalid dates included, as its
// Timestamp(µs) value (mysql.EncodeDatetime).
func mysqlDatetime(s string) (int64, bool) {
	y, mo, d, rest, ok := mysqlYMD(s)
	if !ok {
		return 0, false
	}
	var tod int64
	if rest != "" {
		if rest[0] != ' ' && rest[0] != 'T' {
			return 0, false
		}
		us, err := clockMicros(rest[1:])
		if err != nil || us < 0 || us >= 24*3600e6 {
			return 0, false
		}
		tod = us
	}
	return mysql.EncodeDatetime(y, mo, d, int(tod/3600e6), int(tod/60e6%60), int(tod/1e6%60), int(tod%1e6)), true
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
