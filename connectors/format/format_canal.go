package format

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"

	"github.com/etlq/etlq/exec"
)

// canalEncoder writes Alibaba Canal's flat JSON messages (the FlatMessage
// layout canal's Kafka/RocketMQ producers write), keys in canal's order:
//
//	{"data":[{…}],"database":"shop","es":1700000000000,"id":1,"isDdl":false,
//	 "mysqlType":{"id":"int",…},"old":null,"pkNames":["id"],"sql":"",
//	 "sqlType":{"id":4,…},"table":"orders","ts":1700000000123,"type":"INSERT"}
//
// Canal sends one message per binlog rows event; here consecutive rows with
// the same op and source position share a message. Values are strings, as
// canal writes them (NULL is null; see text): dates and times in MySQL text
// form with the column's fractional digits (timestamps in UTC), decimals
// exact, binary as ISO-8859-1 text of the bytes. "old" holds, for
// each updated row, only the columns that changed, with their old values;
// it is null for inserts and deletes and when the before image is absent.
// Snapshot reads are INSERT. "es" is the commit time and "ts" the time the
// message was built, in milliseconds; "id" is the _version of the
// message's first row (see nextID).
// "mysqlType" is, as in canal, the source column's COLUMN_TYPE
// ("varchar(64)", "int(11)", "decimal(12,2)") for a column passed through
// (its exec.MetaSourceType), else a type derived from the Arrow type;
// "sqlType" its java.sql.Types code (see jdbcType).
type canalEncoder struct {
	opts Options
	lc   layoutCache
	id   int64
	meta []byte // mysqlType object of the current schema
	sqlT []byte // sqlType object
	pk   []byte // pkNames value
	fsp  []int  // per user column, sourceFSP of its field
	buf  []byte
	txt  []byte
	txt2 []byte
}

var _ MessageEncoder = (*canalEncoder)(nil)

func (e *canalEncoder) ContentType() string { return "application/x-ndjson" }

func (e *canalEncoder) Encode(dst []byte, b *exec.Batch) ([]byte, error) {
	err := e.Messages(b, func(msg []byte) error {
		dst = append(dst, msg...)
		dst = append(dst, '\n')
		return nil
	})
	return dst, err
}

func (e *canalEncoder) Messages(b *exec.Batch, fn func(msg []byte) error) error {
	if b.Record == nil {
		return nil
	}
	r := b.Record
	l, changed := e.lc.forBatch(b, &e.opts)
	if changed || e.meta == nil {
		e.schemaParts(l)
	}
	var rows []int
	flush := func() error {
		if len(rows) == 0 {
			return nil
		}
		msg, err := e.message(l, b, rows)
		if err != nil {
			return err
		}
		rows = rows[:0]
		return fn(msg)
	}
	var lastOp, lastPos string
	err := liveRows(b, func(i int) error {
		op, pos := l.opAt(r, i), l.posAt(r, i)
		if len(rows) > 0 && (canalType(op) != canalType(lastOp) || pos != lastPos) {
			if err := flush(); err != nil {
				return err
			}
		}
		lastOp, lastPos = op, pos
		rows = append(rows, i)
		return nil
	})
	if err != nil {
		return err
	}
	return flush()
}

func (e *canalEncoder) message(l *layout, b *exec.Batch, rows []int) ([]byte, error) {
	r := b.Record
	typ := canalType(l.opAt(r, rows[0]))
	e.id = e.nextID(l, r, rows[0])
	if typ == "TRUNCATE" {
		return e.truncateMessage(l, b, rows[0]), nil
	}
	buf := append(e.buf[:0], `{"data":[`...)
	var err error
	for n, i := range rows {
		if n > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '{')
		for k, c := range l.user {
			if k > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, l.keys[k]...)
			if buf, err = e.appendValue(buf, l, r, k, c, i); err != nil {
				return nil, RowError(b, i, err)
			}
		}
		buf = append(buf, '}')
	}
	buf = append(buf, `],"database":`...)
	buf = appendJSONString(buf, b.DB)
	buf = append(buf, `,"es":`...)
	buf = strconv.AppendInt(buf, l.tsAt(r, rows[0]).UnixMilli(), 10)
	buf = append(buf, `,"id":`...)
	buf = strconv.AppendInt(buf, e.id, 10)
	buf = append(buf, `,"isDdl":false,"mysqlType":`...)
	buf = append(buf, e.meta...)
	buf = append(buf, `,"old":`...)
	if typ == "UPDATE" && l.hasOld {
		buf = append(buf, '[')
		for n, i := range rows {
			if n > 0 {
				buf = append(buf, ',')
			}
			if buf, err = e.appendOld(buf, l, r, i); err != nil {
				return nil, RowError(b, i, err)
			}
		}
		buf = append(buf, ']')
	} else {
		buf = append(buf, "null"...)
	}
	buf = append(buf, `,"pkNames":`...)
	buf = append(buf, e.pk...)
	buf = append(buf, `,"sql":"","sqlType":`...)
	buf = append(buf, e.sqlT...)
	buf = append(buf, `,"table":`...)
	buf = appendJSONString(buf, b.Table)
	buf = append(buf, `,"ts":`...)
	buf = strconv.AppendInt(buf, e.opts.now().UnixMilli(), 10)
	buf = append(buf, `,"type":"`...)
	buf = append(buf, typ...)
	buf = append(buf, `"}`...)
	e.buf = buf
	return buf, nil
}

// nextID is the id of the message that begins with row i: the row's
// _version, which the checkpoint keeps and every change raises, so that ids
// go on rising across runs as canal's batch ids do when its meta is kept
// (ZooKeeper), and a change written again after a crash has the id it had
// (a consumer that drops ids it has seen drops the repeat); a counter from
// 1 when the batch has no __version column.
func (e *canalEncoder) nextID(l *layout, r arrow.RecordBatch, i int) int64 {
	if l.version >= 0 {
		if v, ok := r.Column(l.version).(*array.Uint64); ok && v.IsValid(i) && v.Value(i) <= math.MaxInt64 {
			return int64(v.Value(i))
		}
	}
	return e.id + 1
}

// truncateMessage is canal's message for a TRUNCATE TABLE at the source
// (row i of b): a DDL message without rows.
func (e *canalEncoder) truncateMessage(l *layout, b *exec.Batch, i int) []byte {
	r := b.Record
	buf := append(e.buf[:0], `{"data":null,"database":`...)
	buf = appendJSONString(buf, b.DB)
	buf = append(buf, `,"es":`...)
	buf = strconv.AppendInt(buf, l.tsAt(r, i).UnixMilli(), 10)
	buf = append(buf, `,"id":`...)
	buf = strconv.AppendInt(buf, e.id, 10)
	buf = append(buf, `,"isDdl":true,"mysqlType":null,"old":null,"pkNames":`...)
	buf = append(buf, e.pk...)
	buf = append(buf, `,"sql":`...)
	buf = appendJSONString(buf, "TRUNCATE TABLE `"+strings.ReplaceAll(b.DB, "`", "``")+"`.`"+strings.ReplaceAll(b.Table, "`", "``")+"`")
	buf = append(buf, `,"sqlType":null,"table":`...)
	buf = appendJSONString(buf, b.Table)
	buf = append(buf, `,"ts":`...)
	buf = strconv.AppendInt(buf, e.opts.now().UnixMilli(), 10)
	buf = append(buf, `,"type":"TRUNCATE"}`...)
	e.buf = buf
	return buf
}

// appendValue appends column c of row i as canal does: a string, or null.
func (e *canalEncoder) appendValue(dst []byte, l *layout, r arrow.RecordBatch, k, c, i int) ([]byte, error) {
	a := r.Column(c)
	if a.IsNull(i) {
		return append(dst, "null"...), nil
	}
	var err error
	e.txt, err = e.text(e.txt[:0], l, a, k, i)
	if err != nil {
		return dst, &columnError{l.names[k], err}
	}
	return appendJSONString(dst, string(e.txt)), nil
}

// text appends non-NULL a[i], of user column k, as canal's text of it:
// DATETIME(n), TIMESTAMP(n) and TIME(n) with exactly n fractional digits,
// YEAR with 4 digits ("0000" for YEAR 0), binary as ISO-8859-1 (one
// character U+0000…U+00FF per byte, what canal writes and its consumers
// read back with getBytes("ISO-8859-1")), else as appendText.
func (e *canalEncoder) text(dst []byte, l *layout, a arrow.Array, k, i int) ([]byte, error) {
	switch a := a.(type) {
	case *array.Binary, *array.LargeBinary, *array.FixedSizeBinary, *array.BinaryView:
		for _, b := range bytesAt(a, i) {
			dst = utf8.AppendRune(dst, rune(b))
		}
		return dst, nil
	}
	return appendColumnText(dst, a, i, textBase64, e.fsp[k], l.logical[k])
}

// appendOld appends the changed columns of updated row i with their old
// values.
func (e *canalEncoder) appendOld(dst []byte, l *layout, r arrow.RecordBatch, i int) ([]byte, error) {
	dst = append(dst, '{')
	first := true
	for k, c := range l.user {
		bc := l.before[k]
		if bc < 0 {
			continue
		}
		na, nb := r.Column(c).IsNull(i), r.Column(bc).IsNull(i)
		if na && nb {
			continue
		}
		if !na && !nb {
			var err error
			if e.txt, err = e.text(e.txt[:0], l, r.Column(c), k, i); err != nil {
				return dst, &columnError{l.names[k], err}
			}
			if e.txt2, err = e.text(e.txt2[:0], l, r.Column(bc), k, i); err != nil {
				return dst, &columnError{l.names[k], err}
			}
			if string(e.txt) == string(e.txt2) {
				continue
			}
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, l.keys[k]...)
		var err error
		if dst, err = e.appendValue(dst, l, r, k, bc, i); err != nil {
			return dst, err
		}
	}
	return append(dst, '}'), nil
}

// schemaParts builds the per-schema parts: mysqlType, sqlType, pkNames.
func (e *canalEncoder) schemaParts(l *layout) {
	e.meta = append(e.meta[:0], '{')
	e.sqlT = append(e.sqlT[:0], '{')
	e.fsp = e.fsp[:0]
	for k, c := range l.user {
		e.fsp = append(e.fsp, canalFSP(l.schema.Field(c)))
		if k > 0 {
			e.meta = append(e.meta, ',')
			e.sqlT = append(e.sqlT, ',')
		}
		f := l.schema.Field(c)
		mt := mysqlType(f)
		e.meta = append(e.meta, l.keys[k]...)
		e.meta = appendJSONString(e.meta, mt)
		e.sqlT = append(e.sqlT, l.keys[k]...)
		e.sqlT = strconv.AppendInt(e.sqlT, int64(jdbcType(mt)), 10)
	}
	e.meta = append(e.meta, '}')
	e.sqlT = append(e.sqlT, '}')
	keys := keyColumns(l, e.opts.Key)
	if len(keys) == 0 {
		e.pk = append(e.pk[:0], "null"...)
		return
	}
	e.pk = append(e.pk[:0], '[')
	for n, k := range keys {
		if n > 0 {
			e.pk = append(e.pk, ',')
		}
		e.pk = appendJSONString(e.pk, k)
	}
	e.pk = append(e.pk, ']')
}

// keyColumns returns the key columns: opts.Key, else the user columns with
// exec.MetaPrimaryKey metadata in key order.
func keyColumns(l *layout, key []string) []string {
	if len(key) > 0 {
		return key
	}
	if l.ownKey != nil {
		return l.ownKey // one table of a union (exec.Batch.Own)
	}
	type kc struct {
		pos  int
		name string
	}
	var ks []kc
	for k, c := range l.user {
		if v, ok := l.schema.Field(c).Metadata.GetValue(exec.MetaPrimaryKey); ok {
			p, err := strconv.Atoi(v)
			if err == nil {
				ks = append(ks, kc{p, l.names[k]})
			}
		}
	}
	sort.Slice(ks, func(a, b int) bool { return ks[a].pos < ks[b].pos })
	out := make([]string, len(ks))
	for n, k := range ks {
		out[n] = k.name
	}
	return out
}

func canalType(op string) string {
	switch op {
	case exec.OpUpdate:
		return "UPDATE"
	case exec.OpDelete:
		return "DELETE"
	case exec.OpTruncate:
		return "TRUNCATE"
	}
	return "INSERT"
}

// mysqlType returns the MySQL column type of a field: its source type when
// the source declared one, else one derived from the Arrow type.
func mysqlType(f arrow.Field) string {
	if st := sourceType(f); st != "" {
		return st
	}
	if logicalType(f) == "json" {
		return "json"
	}
	switch t := f.Type.(type) {
	case *arrow.Decimal128Type:
		return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)
	case *arrow.Decimal256Type:
		return fmt.Sprintf("decimal(%d,%d)", t.Precision, t.Scale)
	}
	switch f.Type.ID() {
	case arrow.BOOL:
		return "boolean"
	case arrow.INT8:
		return "tinyint"
	case arrow.INT16:
		return "smallint"
	case arrow.INT32:
		return "int"
	case arrow.INT64:
		return "bigint"
	case arrow.UINT8:
		return "tinyint unsigned"
	case arrow.UINT16:
		return "smallint unsigned"
	case arrow.UINT32:
		return "int unsigned"
	case arrow.UINT64:
		return "bigint unsigned"
	case arrow.FLOAT32:
		return "float"
	case arrow.FLOAT64:
		return "double"
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return "text"
	case arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW, arrow.FIXED_SIZE_BINARY:
		return "blob"
	case arrow.DATE32, arrow.DATE64:
		return "date"
	case arrow.TIMESTAMP:
		return "datetime(6)"
	case arrow.DURATION, arrow.TIME32, arrow.TIME64:
		return "time(6)"
	}
	return strings.ToLower(f.Type.String())
}

// canalFSP returns the fractional digits canal writes for a field: those
// its source column declares, else 6 for a timestamp or time the pipeline
// computed (_ts, now(), a CAST), whose mysqlType is datetime(6) or
// time(6) — with the fraction only when it had one, a consumer that parses
// the text by its mysqlType failed on every whole second.
func canalFSP(f arrow.Field) int {
	if fsp := sourceFSP(f); fsp >= 0 || sourceType(f) != "" {
		return fsp
	}
	switch f.Type.ID() {
	case arrow.TIMESTAMP, arrow.DURATION:
		return 6
	}
	return -1
}

// jdbcType maps a MySQL column type to the java.sql.Types code canal gives
// it: CHAR 1, VARCHAR (also JSON and YEAR) 12, TEXT types CLOB 2005, every
// binary type and GEOMETRY BLOB 2004, ENUM INTEGER 4, SET and BIT -7,
// DATETIME and TIMESTAMP 93. Canal moves an unsigned integer up one size
// when its value does not fit the signed type; here the column's code
// always does, so one code holds every value of the column.
func jdbcType(mt string) int {
	base := mt
	if i := strings.IndexAny(base, "( "); i >= 0 {
		base = base[:i]
	}
	unsigned := strings.Contains(mt, "unsigned")
	switch base {
	case "bit", "set":
		return -7
	case "boolean", "bool":
		return 16
	case "tinyint":
		if unsigned {
			return 5
		}
		return -6
	case "smallint":
		if unsigned {
			return 4
		}
		return 5
	case "mediumint", "int", "integer":
		if unsigned {
			return -5
		}
		return 4
	case "bigint":
		if unsigned {
			return 3
		}
		return -5
	case "float":
		return 7
	case "double", "real":
		return 8
	case "decimal", "numeric":
		return 3
	case "char":
		return 1
	case "varchar", "json", "year":
		return 12
	case "enum":
		return 4
	case "tinytext", "text", "mediumtext", "longtext":
		return 2005
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob",
		"geometry", "point", "linestring", "polygon", "multipoint", "multilinestring",
		"multipolygon", "geometrycollection":
		return 2004
	case "date":
		return 91
	case "time":
		return 92
	case "datetime", "timestamp":
		return 93
	}
	return 1111 // OTHER
}
