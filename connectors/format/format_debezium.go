package format

import (
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// debeziumEncoder writes one Debezium change event per row: the value
// payload of Debezium's MySQL connector (2.6 and later: ts_us and ts_ns
// beside each ts_ms) with the JSON converter's schemas.enable=false, its
// fields in Debezium's order:
//
//	{"before":null,"after":{…},"source":{"version":"<etlq's version>",
//	 "connector":"mysql","name":"<pipeline>","ts_ms":…,"snapshot":"false",
//	 "db":"shop","sequence":null,"ts_us":…,"ts_ns":…,"table":"orders",
//	 "server_id":1,"gtid":"0-1-42","file":"binlog.000042","pos":1337,"row":0,
//	 "thread":7,"query":null},"transaction":null,"op":"c","ts_ms":…,
//	 "ts_us":…,"ts_ns":…}
//
// source.version is etlq's (connectors.Version); source.ts_* are the
// commit time (the binlog's, in whole seconds; a snapshot row's read
// time), the top-level ts_* the time the event was built. source.thread
// is the session that ran the transaction, from its BEGIN event
// (exec.Batch.Thread), null for snapshot rows and where the binlog does
// not say (MariaDB); source.query is null (Debezium's include.query off)
// and sequence null (a MySQL connector's), and transaction null
// (provide.transaction.metadata off, Debezium's default).
// op is c (insert), u (update), d (delete) or r (snapshot read); an update
// that changes the key (keyColumns) is, as Debezium's, a d event for the old
// key followed by a c event for the new one. "before" is
// the __before.* image for updates (null when absent) and the row itself for
// deletes; "after" is null for deletes. source.file/pos come from a
// "file:pos" position. For binlog rows source.server_id and source.gtid are
// those of the transaction (exec.Batch.ServerID and GTID; gtid null without
// one); snapshot rows have server_id 0 and gtid null. source.snapshot is
// as in Debezium 2 (see debeziumSnapshot; exec.Batch.SnapshotStart and
// SnapshotEnd say which rows begin and end a snapshot). BIT(1) columns
// are booleans and wider BITs base64 of their little-endian bytes
// (io.debezium.data.Bits), spatial columns the struct
// io.debezium.data.geometry.Geometry (Point for a POINT column; see
// appendDebeziumGeometry). Other values use Debezium's
// default encodings with decimal.handling.mode=string: integers and floats
// are numbers, DECIMAL a string, DATE days since the epoch, TIME
// microseconds, a DATETIME source column a number since the epoch
// (milliseconds up to DATETIME(3), io.debezium.time.Timestamp;
// microseconds beyond, MicroTimestamp), other timestamps ISO 8601 strings
// in UTC (io.debezium.time.ZonedTimestamp; a TIMESTAMP(n) column with
// exactly n fractional digits, others with 6), binary base64, JSON columns
// strings. A zero or invalid date is null in a column that may be NULL and
// the epoch in a NOT NULL one, as Debezium's MySQL connector writes them.
type debeziumEncoder struct {
	opts Options
	lc   layoutCache
	buf  []byte
	// keys are the user columns of the key (keyColumns) that have a
	// before column, for the current layout; nil when any has none.
	keys      []int
	txt, txt2 []byte
	rows      []int32 // eventRows' room, reused
}

var _ MessageEncoder = (*debeziumEncoder)(nil)

func (e *debeziumEncoder) ContentType() string { return "application/x-ndjson" }

func (e *debeziumEncoder) Encode(dst []byte, b *exec.Batch) ([]byte, error) {
	err := e.Messages(b, func(msg []byte) error {
		dst = append(dst, msg...)
		dst = append(dst, '\n')
		return nil
	})
	return dst, err
}

func (e *debeziumEncoder) Messages(b *exec.Batch, fn func(msg []byte) error) error {
	if b.Record == nil {
		return nil
	}
	r := b.Record
	l, changed := e.lc.forBatch(b, &e.opts)
	if changed || e.keys == nil {
		e.keys = debeziumKeys(l, e.opts.Key)
	}
	// Each row's place among the rows of its binlog event: the batch's
	// (a batch cut in the middle of an event, rows its WHERE left out),
	// else counted over every row of the record from its first — not its
	// live rows alone: an http request of a batch's later rows began
	// again at 0, so that (file, pos, row) named two rows.
	eventRows := b.EventRows
	if eventRows == nil && !b.Snapshot {
		eventRows = exec.CountEventRows(e.rows[:0], int(r.NumRows()), func(i int) string { return l.posAt(r, i) })
		e.rows = eventRows
	}
	// The batch's first and last live rows may begin or end the snapshot.
	first, last := -1, -1
	if n := b.NumRows(); n > 0 {
		first, last = 0, n-1
		if b.Sel != nil {
			first, last = int(b.Sel[0]), int(b.Sel[n-1])
		}
	}
	return liveRows(b, func(i int) error {
		op := l.opAt(r, i)
		pos := l.posAt(r, i)
		// row: the row's place among the rows of its binlog event; 0 for
		// a snapshot record, as in Debezium, whose snapshot rows share
		// their chunk's position or have none (SNAPSHOT only).
		row := 0
		if op != exec.OpRead && i < len(eventRows) {
			row = int(eventRows[i])
		}
		snap := debeziumSnapshot(op, b, i == first, i == last)
		if op == exec.OpUpdate && l.hasOld {
			moved, err := e.keyChanged(l, r, i)
			if err != nil {
				return err
			}
			if moved {
				// As Debezium: a delete event for the old key, then a
				// create event for the new one.
				if err := e.event(l, b, i, exec.OpDelete, "d", pos, row, snap, fn); err != nil {
					return err
				}
				return e.event(l, b, i, exec.OpInsert, "c", pos, row, snap, fn)
			}
		}
		return e.event(l, b, i, op, debeziumOp(op), pos, row, snap, fn)
	})
}

// event writes one event for row i of b, as a change of op (which picks
// the before and after images; a delete's before image is the update's
// before image when the row is an update) with Debezium op code dop.
func (e *debeziumEncoder) event(l *layout, b *exec.Batch, i int, op, dop, pos string, row int, snap string, fn func([]byte) error) error {
	r := b.Record
	update := l.opAt(r, i) == exec.OpUpdate
	buf := append(e.buf[:0], `{"before":`...)
	var err error
	switch {
	case op == exec.OpDelete && update:
		buf, err = appendJSONRow(buf, l, r, i, true, true)
	case op == exec.OpDelete:
		buf, err = appendJSONRow(buf, l, r, i, false, true)
	case op == exec.OpUpdate && l.hasOld:
		buf, err = appendJSONRow(buf, l, r, i, true, true)
	default:
		buf = append(buf, "null"...)
	}
	if err != nil {
		return err
	}
	buf = append(buf, `,"after":`...)
	if op == exec.OpDelete || op == exec.OpTruncate {
		buf = append(buf, "null"...)
	} else if buf, err = appendJSONRow(buf, l, r, i, false, true); err != nil {
		return err
	}
	buf = append(buf, `,"source":{"version":`...)
	buf = appendJSONString(buf, connectors.Version)
	buf = append(buf, `,"connector":"mysql","name":`...)
	buf = appendJSONString(buf, e.opts.Pipeline)
	ts := l.tsAt(r, i)
	buf = append(buf, `,"ts_ms":`...)
	buf = strconv.AppendInt(buf, ts.UnixMilli(), 10)
	buf = append(buf, `,"snapshot":`...)
	buf = append(buf, snap...)
	buf = append(buf, `,"db":`...)
	buf = appendJSONString(buf, b.DB)
	buf = append(buf, `,"sequence":null`...)
	buf = appendTimes(buf, ts)
	buf = append(buf, `,"table":`...)
	buf = appendJSONString(buf, b.Table)
	buf = append(buf, `,"server_id":`...)
	serverID := uint32(0) // snapshot rows: 0, as Debezium's
	if op != exec.OpRead {
		serverID = b.ServerID
	}
	buf = strconv.AppendUint(buf, uint64(serverID), 10)
	buf = append(buf, `,"gtid":`...)
	file, off, isFile := splitPos(pos)
	switch {
	case b.GTID != "" && op != exec.OpRead:
		buf = appendJSONString(buf, b.GTID)
	case isFile || pos == "":
		buf = append(buf, "null"...)
	default:
		buf = appendJSONString(buf, pos)
	}
	buf = append(buf, `,"file":`...)
	buf = appendJSONString(buf, file)
	buf = append(buf, `,"pos":`...)
	buf = strconv.AppendInt(buf, off, 10)
	buf = append(buf, `,"row":`...)
	buf = strconv.AppendInt(buf, int64(row), 10)
	buf = append(buf, `,"thread":`...)
	if b.Thread != 0 && op != exec.OpRead {
		buf = strconv.AppendUint(buf, uint64(b.Thread), 10)
	} else {
		buf = append(buf, "null"...) // snapshot rows, MariaDB: not known
	}
	buf = append(buf, `,"query":null},"transaction":null,"op":"`...)
	buf = append(buf, dop...)
	now := e.opts.now()
	buf = append(buf, `","ts_ms":`...)
	buf = strconv.AppendInt(buf, now.UnixMilli(), 10)
	buf = appendTimes(buf, now)
	buf = append(buf, '}')
	e.buf = buf
	return fn(buf)
}

// appendTimes appends Debezium's ts_us and ts_ns fields of t.
func appendTimes(buf []byte, t time.Time) []byte {
	buf = append(buf, `,"ts_us":`...)
	buf = strconv.AppendInt(buf, t.UnixMicro(), 10)
	buf = append(buf, `,"ts_ns":`...)
	return strconv.AppendInt(buf, t.UnixNano(), 10)
}

// debeziumKeys returns the user columns of the key that have a before
// column; an empty, non-nil slice when there is no key or a key column has
// none (an update's key change cannot be seen then).
func debeziumKeys(l *layout, key []string) []int {
	out := []int{}
	for _, name := range keyColumns(l, key) {
		k := -1
		for j, n := range l.names {
			if n == name {
				k = j
			}
		}
		if k < 0 || l.before[k] < 0 {
			return []int{}
		}
		out = append(out, k)
	}
	return out
}

// keyChanged reports whether updated row i has another key after than
// before.
func (e *debeziumEncoder) keyChanged(l *layout, r arrow.RecordBatch, i int) (bool, error) {
	for _, k := range e.keys {
		a, bc := r.Column(l.user[k]), r.Column(l.before[k])
		na, nb := a.IsNull(i), bc.IsNull(i)
		if na || nb {
			if na != nb {
				return true, nil
			}
			continue
		}
		var err error
		if e.txt, err = appendJSON(e.txt[:0], a, i, true, false); err != nil {
			return false, &columnError{l.names[k], err}
		}
		if e.txt2, err = appendJSON(e.txt2[:0], bc, i, true, false); err != nil {
			return false, &columnError{l.names[k], err}
		}
		if string(e.txt) != string(e.txt2) {
			return true, nil
		}
	}
	return false, nil
}

// splitPos splits "binlog.000042:1337" into its file and offset.
func splitPos(pos string) (file string, off int64, ok bool) {
	i := strings.LastIndexByte(pos, ':')
	if i <= 0 {
		return "", 0, false
	}
	n, err := strconv.ParseInt(pos[i+1:], 10, 64)
	file = pos[:i]
	dot := strings.LastIndexByte(file, '.')
	if err != nil || dot < 0 || dot == len(file)-1 || strings.Trim(file[dot+1:], "0123456789") != "" {
		return "", 0, false // a GTID: "uuid:n" or "domain-server-seq"
	}
	return file, n, true
}

// debeziumSnapshot is source.snapshot of a row with op op of b, which may
// be b's first or last live row: "false" for binlog rows, "true" for
// snapshot rows, but "first" and "last" for the rows that begin and end the
// whole snapshot, "first_in_data_collection" and "last_in_data_collection"
// for those of a table (a last mark wins over a first one).
func debeziumSnapshot(op string, b *exec.Batch, first, last bool) string {
	switch {
	case op != exec.OpRead:
		return `"false"`
	case last && b.SnapshotEnd == exec.SnapshotEdgeAll:
		return `"last"`
	case last && b.SnapshotEnd == exec.SnapshotEdgeTable:
		return `"last_in_data_collection"`
	case first && b.SnapshotStart == exec.SnapshotEdgeAll:
		return `"first"`
	case first && b.SnapshotStart == exec.SnapshotEdgeTable:
		return `"first_in_data_collection"`
	}
	return `"true"`
}

func debeziumOp(op string) string {
	switch op {
	case exec.OpUpdate:
		return "u"
	case exec.OpDelete:
		return "d"
	case exec.OpRead:
		return "r"
	case exec.OpTruncate:
		return "t"
	}
	return "c"
}
