// Package format encodes sink batches (exec.Batch with user columns followed
// by the exec.Sys* system columns) into the text and binary formats of the
// stdout, file and http sinks: table, jsonl, csv, canal_json, debezium_json
// and parquet.
//
// The row formats (jsonl, csv, table, parquet) write exactly the
// pipeline's output columns (its TRANSFORM), plus what its mode defines:
// changelog adds _op, _ts, _pos, _version and _before_<col> (the columns of
// a ClickHouse changelog table), upsert adds _version and _is_deleted
// (those of a ClickHouse upsert table; the planner refuses upsert on the
// stream sinks, so only a direct caller asks for them); append adds
// nothing. The envelope
// formats (canal_json, debezium_json) carry the op, position and before
// image in their own fields. System columns (__op, __ts, …) are never shown
// under their own names.
//
// Encoders are stateful (a header once per schema, a message id) and not
// safe for concurrent use: give each writer its own.
package format

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// Format names, as written after FORMAT in a pipeline.
const (
	Table        = "table"
	JSONL        = "jsonl"
	CSV          = "csv"
	CanalJSON    = "canal_json"
	DebeziumJSON = "debezium_json"
	Parquet      = "parquet"
)

// Names lists every format, sorted.
func Names() []string {
	n := []string{Table, JSONL, CSV, CanalJSON, DebeziumJSON, Parquet}
	sort.Strings(n)
	return n
}

// StreamNames lists the formats an Encoder produces (every format but
// parquet, which needs a whole file), sorted.
func StreamNames() []string {
	n := []string{Table, JSONL, CSV, CanalJSON, DebeziumJSON}
	sort.Strings(n)
	return n
}

// Encoder turns sink batches into bytes. Only the live rows of a batch (its
// selection vector, when set) are encoded. An Encoder never retains or
// releases the batch it is given.
type Encoder interface {
	// Encode appends the encoding of b's live rows to dst and returns the
	// extended slice. Output of successive calls concatenates into one valid
	// stream (a header only when the schema changes, …).
	Encode(dst []byte, b *exec.Batch) ([]byte, error)
	// ContentType is the MIME type of the stream Encode produces.
	ContentType() string
}

// HeaderWriter is an Encoder whose stream starts with a header line (csv):
// Header appends it for batches of schema s before any batch arrives.
type HeaderWriter interface {
	Header(dst []byte, s *arrow.Schema) []byte
}

// MessageEncoder is an Encoder of JSON messages (jsonl, canal_json,
// debezium_json). Encode writes them as NDJSON (one message per line);
// Messages gives them one by one, for framings such as a JSON array.
type MessageEncoder interface {
	Encoder
	// Messages calls fn with each JSON message of b's live rows, in order.
	// msg is only valid during the call. An error from fn stops the walk and
	// is returned.
	Messages(b *exec.Batch, fn func(msg []byte) error) error
}

// Options configure an encoder.
type Options struct {
	// Color colours the op column of the table format (ANSI escapes).
	Color bool
	// Pipeline names the pipeline (debezium_json's source.name).
	Pipeline string
	// Key lists the key columns (canal_json's pkNames). When empty, the
	// fields' exec.MetaPrimaryKey metadata is used.
	Key []string
	// Now returns the time a message is built (canal_json's ts,
	// debezium_json's ts_ms); time.Now when nil.
	Now func() time.Time
	// AppendAfterHeader, when not nil, names the columns of the last header
	// line of the file the stream is appended to (csv): the first batch
	// writes a header line only when its columns are others.
	AppendAfterHeader []string
	// Mode is the pipeline's mode: the row formats add the columns it
	// defines (see the package doc).
	Mode connectors.Mode
	// OpColumn puts an "_op" column first in the row formats, unless one is
	// there already (the REPL's live queries show the op this way).
	OpColumn bool
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// New returns an encoder for a stream format (see StreamNames).
func New(name string, opts Options) (Encoder, error) {
	switch strings.ToLower(name) {
	case Table:
		return &tableEncoder{opts: opts}, nil
	case JSONL:
		return &jsonlEncoder{opts: opts}, nil
	case CSV:
		return &csvEncoder{opts: opts}, nil
	case CanalJSON:
		return &canalEncoder{opts: opts}, nil
	case DebeziumJSON:
		return &debeziumEncoder{opts: opts}, nil
	case Parquet:
		return nil, fmt.Errorf("format %q writes whole files and has no stream encoder", name)
	}
	return nil, fmt.Errorf("unknown format %q (want one of %s)", name, strings.Join(Names(), ", "))
}

// Valid reports whether name is a known format.
func Valid(name string) bool {
	for _, n := range Names() {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// layout locates the user and system columns of a sink schema.
type layout struct {
	schema  *arrow.Schema
	user    []int    // user column indices, in order
	names   []string // user column names
	keys    [][]byte // per user column, its JSON-quoted name and a colon
	logical []string // per user column, its exec.MetaLogicalType
	// dbzEpoch, per user column: for a MySQL DATETIME source column, the
	// microseconds per unit of Debezium's number for it (1000: epoch
	// milliseconds, io.debezium.time.Timestamp, DATETIME(0..3); 1: epoch
	// microseconds, MicroTimestamp, DATETIME(4..6)); 0 for any other.
	dbzEpoch []int64
	// dbzBits, per user column: n for a MySQL BIT(n) source column (Debezium
	// writes BIT(1) as a boolean, BIT(n) as n bits in little-endian bytes),
	// 0 for any other.
	dbzBits []int
	// dbzGeom, per user column: for a MySQL spatial source column (logical
	// type "geometry"), dbzGeometry, or dbzPoint for a POINT column; else 0.
	dbzGeom []int
	// dbzFSP, per user column: n for a MySQL TIMESTAMP(n) source column
	// (Debezium writes n fractional digits), else -1.
	dbzFSP []int
	// dbzNotNull, per user column: the column cannot be NULL (a NOT NULL
	// source column), so Debezium writes a zero date there as the epoch.
	dbzNotNull []bool
	before     []int // per user column, its __before.<name> column or -1
	hasOld     bool  // any __before.* column present
	op         int   // __op or -1
	ts         int   // __ts or -1
	pos        int   // __pos or -1
	version    int   // __version or -1
	deleted    int   // __deleted or -1
	opUser     int   // position in user of a user column named "_op", or -1
	// rows are the columns of the row formats: the user columns, then
	// (or, for OpColumn, first) the columns the mode adds.
	rows []rowCol
	// opRow is the position in rows of the "_op" column, or -1.
	opRow int
	// ownKey, on a layout restricted to one table's columns (restrict),
	// is the table's key (empty: none passed through); nil otherwise.
	ownKey []string
}

// rowCol is a column of the row formats.
type rowCol struct {
	name    string
	col     int    // record column
	key     []byte // JSON-quoted name and a colon
	logical string
	embed   bool // exec.MetaEmbedJSON: jsonl embeds the JSON document
	user    int  // position in layout.user, -1 for a column the mode adds
}

func newLayout(s *arrow.Schema, o *Options) *layout {
	l := &layout{schema: s, op: -1, ts: -1, pos: -1, version: -1, deleted: -1, opUser: -1, opRow: -1}
	byName := map[string]int{}
	for i, f := range s.Fields() {
		byName[f.Name] = i
		switch f.Name {
		case exec.SysOp:
			l.op = i
		case exec.SysTs:
			l.ts = i
		case exec.SysPos:
			l.pos = i
		case exec.SysVersion:
			l.version = i
		case exec.SysDeleted:
			l.deleted = i
		}
		if !exec.IsSystemColumn(f.Name) {
			if f.Name == exec.ColOp {
				l.opUser = len(l.user)
			}
			l.user = append(l.user, i)
			l.names = append(l.names, f.Name)
			l.keys = append(l.keys, append(appendJSONString(nil, f.Name), ':'))
			l.logical = append(l.logical, logicalType(f))
			l.dbzEpoch = append(l.dbzEpoch, debeziumEpochUnit(f))
			l.dbzBits = append(l.dbzBits, debeziumBits(f))
			l.dbzGeom = append(l.dbzGeom, debeziumGeometryKind(f))
			l.dbzFSP = append(l.dbzFSP, debeziumTimestampFSP(f))
			l.dbzNotNull = append(l.dbzNotNull, !f.Nullable)
		}
	}
	for _, i := range l.user {
		b, ok := byName[exec.SysBeforePrefix+s.Field(i).Name]
		if !ok {
			b = -1
		} else {
			l.hasOld = true
		}
		l.before = append(l.before, b)
	}
	l.rows = l.rowColumns(o)
	for j, c := range l.rows {
		if c.name == exec.ColOp {
			l.opRow = j
			break
		}
	}
	return l
}

// Names of the columns the modes add to the row formats (as ClickHouse's
// changelog and upsert tables name them).
const (
	colIsDeleted    = exec.TargetIsDeleted
	colBeforePrefix = exec.TargetBeforePrefix
)

// rowColumns lists the columns of the row formats for options o.
func (l *layout) rowColumns(o *Options) []rowCol {
	has := map[string]bool{}
	var user []rowCol
	for k, c := range l.user {
		has[l.names[k]] = true
		embed := l.schema.Field(c).Metadata.FindKey(exec.MetaEmbedJSON) >= 0
		user = append(user, rowCol{name: l.names[k], col: c, key: l.keys[k], logical: l.logical[k], embed: embed, user: k})
	}
	var extra []rowCol
	add := func(name string, col int) bool {
		if col < 0 || has[name] {
			return false
		}
		has[name] = true
		extra = append(extra, rowCol{name: name, col: col, key: append(appendJSONString(nil, name), ':'), user: -1})
		return true
	}
	var mode connectors.Mode
	if o != nil {
		mode = o.Mode
	}
	if o != nil && o.OpColumn && l.opUser < 0 {
		add(exec.ColOp, l.op)
		user = append(extra, user...)
		extra = nil
	}
	switch mode {
	case connectors.ModeChangelog:
		add(exec.ColOp, l.op)
		add(exec.ColTs, l.ts)
		add(exec.ColPos, l.pos)
		add(exec.ColVersion, l.version)
		for k, name := range l.names {
			if b := l.before[k]; b >= 0 && add(colBeforePrefix+name, b) {
				extra[len(extra)-1].logical = l.logical[k]
			}
		}
	case connectors.ModeUpsert:
		add(exec.ColVersion, l.version)
		add(colIsDeleted, l.deleted)
	}
	return append(user, extra...)
}

// layoutCache keeps the layout of the last schema seen, and of the last
// table's own columns in it (forBatch).
type layoutCache struct {
	l *layout
	// own is l restricted to ownOf's columns; last the layout forBatch
	// returned last.
	own   *layout
	ownOf *exec.OwnColumns
	last  *layout
}

// get returns the layout of s for options o and whether it differs from
// the previous one.
func (c *layoutCache) get(s *arrow.Schema, o *Options) (*layout, bool) {
	if c.l != nil && (c.l.schema == s || c.l.schema.Equal(s)) {
		return c.l, false
	}
	c.l = newLayout(s, o)
	c.own, c.ownOf = nil, nil
	return c.l, true
}

// forBatch returns the layout of b's record, restricted to the columns
// of b's table when b's pipeline reads several tables into one output
// (exec.Batch.Own), and whether it differs from the one returned before.
// Before, canal_json and debezium_json described every table's rows with
// the union's columns (a payment sent "rental_date":null, …) and no key.
func (c *layoutCache) forBatch(b *exec.Batch, o *Options) (*layout, bool) {
	l, _ := c.get(b.Record.Schema(), o)
	if b.Own != nil {
		if c.own == nil || c.ownOf != b.Own {
			c.own, c.ownOf = l.restrict(b.Own, o), b.Own
		}
		l = c.own
	}
	changed := l != c.last
	c.last = l
	return l, changed
}

// restrict returns l without the user columns own lacks, keyed by own's
// key.
func (l *layout) restrict(own *exec.OwnColumns, o *Options) *layout {
	lacks := map[string]bool{}
	for _, n := range own.Lacks {
		lacks[strings.ToLower(n)] = true
	}
	r := *l
	r.user, r.names, r.keys, r.logical = nil, nil, nil, nil
	r.dbzEpoch, r.dbzBits, r.dbzGeom, r.dbzFSP, r.dbzNotNull, r.before = nil, nil, nil, nil, nil, nil
	r.hasOld, r.opUser, r.opRow = false, -1, -1
	for k, c := range l.user {
		if lacks[strings.ToLower(l.names[k])] {
			continue
		}
		if k == l.opUser {
			r.opUser = len(r.user)
		}
		r.user = append(r.user, c)
		r.names = append(r.names, l.names[k])
		r.keys = append(r.keys, l.keys[k])
		r.logical = append(r.logical, l.logical[k])
		r.dbzEpoch = append(r.dbzEpoch, l.dbzEpoch[k])
		r.dbzBits = append(r.dbzBits, l.dbzBits[k])
		r.dbzGeom = append(r.dbzGeom, l.dbzGeom[k])
		r.dbzFSP = append(r.dbzFSP, l.dbzFSP[k])
		r.dbzNotNull = append(r.dbzNotNull, l.dbzNotNull[k])
		r.before = append(r.before, l.before[k])
		r.hasOld = r.hasOld || l.before[k] >= 0
	}
	r.ownKey = own.Key
	if r.ownKey == nil {
		r.ownKey = []string{}
	}
	r.rows = r.rowColumns(o)
	for j, c := range r.rows {
		if c.name == exec.ColOp {
			r.opRow = j
			break
		}
	}
	return &r
}

// liveRows calls fn with each live row index of b. A value fn cannot
// write (a columnError) is returned as an exec.RowError naming the row
// (RowError).
func liveRows(b *exec.Batch, fn func(i int) error) error {
	if b.Record == nil {
		return nil
	}
	if b.Sel != nil {
		for _, i := range b.Sel {
			if err := fn(int(i)); err != nil {
				return RowError(b, int(i), err)
			}
		}
		return nil
	}
	n := int(b.Record.NumRows())
	for i := 0; i < n; i++ {
		if err := fn(i); err != nil {
			return RowError(b, i, err)
		}
	}
	return nil
}

// columnError is a value of a column a format cannot write.
type columnError struct {
	name string
	err  error
}

func (e *columnError) Error() string { return fmt.Sprintf("column %q: %v", e.name, e.err) }
func (e *columnError) Unwrap() error { return e.err }

// RowError names the row of a sink batch b that err, a value of one of its
// columns (a columnError), failed on, as exec.RowError does: the source
// table, the source position (__pos) and operation (__op), the key values
// (the fields marked exec.MetaPrimaryKey; every user column's, shortened,
// when none is), the column, the value and the reason. Other errors are
// returned as they are.
func RowError(b *exec.Batch, row int, err error) error {
	var ce *columnError
	if !errors.As(err, &ce) {
		return err
	}
	rec := b.Record
	s := rec.Schema()
	text := func(c int) string {
		if rec.Column(c).IsNull(row) {
			return "NULL"
		}
		v, err := Text(rec.Column(c), row)
		if err != nil {
			return rec.Column(c).ValueStr(row)
		}
		return v
	}
	re := exec.RowError{Row: row, Column: ce.name, Reason: ce.err.Error(), Table: b.DB + "." + b.Table}
	var key, all []string
	for c := 0; c < s.NumFields(); c++ {
		f := s.Field(c)
		switch {
		case f.Name == exec.SysPos:
			re.Pos = text(c)
		case f.Name == exec.SysOp:
			re.Op = text(c)
		case exec.IsSystemColumn(f.Name):
		default:
			kv := f.Name + " = " + text(c)
			if _, ok := f.Metadata.GetValue(exec.MetaPrimaryKey); ok {
				key = append(key, kv)
			}
			all = append(all, kv)
			if f.Name == ce.name && !rec.Column(c).IsNull(row) {
				re.Value = exec.QuoteValue(text(c))
			}
		}
	}
	if len(key) > 0 {
		re.Key = strings.Join(key, ", ")
	} else {
		re.Key = exec.Shorten(strings.Join(all, ", "), exec.RowKeyLimit)
	}
	return re
}

// opAt returns the op of row i ("insert" when the batch has no __op).
func (l *layout) opAt(r arrow.RecordBatch, i int) string {
	if l.op < 0 {
		return exec.OpInsert
	}
	return stringAt(r.Column(l.op), i)
}

// tsAt returns the commit time of row i (zero when unknown).
func (l *layout) tsAt(r arrow.RecordBatch, i int) time.Time {
	if l.ts < 0 {
		return time.Time{}
	}
	a := r.Column(l.ts)
	if a.IsNull(i) {
		return time.Time{}
	}
	if t, ok := timeAt(a, i); ok {
		return t
	}
	return time.Time{}
}

// posAt returns the source position of row i ("" when unknown).
func (l *layout) posAt(r arrow.RecordBatch, i int) string {
	if l.pos < 0 {
		return ""
	}
	return stringAt(r.Column(l.pos), i)
}
