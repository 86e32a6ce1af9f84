package format

import (
	"strconv"
	"strings"

	"github.com/etlq/etlq/exec"
)

// debeziumEncoder writes one Debezium change event per row: the value
// payload of Debezium's MySQL connector with the JSON converter's
// schemas.enable=false:
//
//	{"before":null,"after":{…},"source":{"version":"etlq","connector":"mysql",
//	 "name":"<pipeline>","ts_ms":…,"snapshot":"false","db":"shop","table":"orders",
//	 "server_id":1,"gtid":"0-1-42","file":"binlog.000042","pos":1337,"row":0,
//	 "thread":null,"query":null},"op":"c","ts_ms":…,"transaction":null}
//
// op is c (insert), u (update), d (delete) or r (snapshot read). "before" is
// the __before.* image for updates (null when absent) and the row itself for
// deletes; "after" is null for deletes. source.file/pos come from a
// "file:pos" position. For binlog rows source.server_id and source.gtid are
// those of the transaction (exec.Batch.ServerID and GTID; gtid null without
// one); snapshot rows have server_id 0 and gtid null. source.snapshot is
// "false" for binlog rows and "true" for snapshot rows, but "last" for the
// last row of the whole snapshot and "last_in_data_collection" for the last
// of a table's (exec.Batch.SnapshotEnd), as in Debezium 2. BIT(1) columns
// are booleans and wider BITs base64 of their little-endian bytes
// (io.debezium.data.Bits). Other values use Debezium's
// default encodings with decimal.handling.mode=string: integers and floats
// are numbers, DECIMAL a string, DATE days since the epoch, TIME
// microseconds, a DATETIME source column a number since the epoch
// (milliseconds up to DATETIME(3), io.debezium.time.Timestamp;
// microseconds beyond, MicroTimestamp), other timestamps ISO 8601 strings
// in UTC (io.debezium.time.ZonedTimestamp), binary base64, JSON columns
// strings.
type debeziumEncoder struct {
	opts Options
	lc   layoutCache
	buf  []byte
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
	l, _ := e.lc.get(r.Schema(), &e.opts)
	var lastPos string
	row := 0
	last := -1 // the batch's last live row: it may end the snapshot
	if b.SnapshotEnd != exec.SnapshotGoesOn {
		if b.Sel != nil && len(b.Sel) > 0 {
			last = int(b.Sel[len(b.Sel)-1])
		} else if b.Sel == nil {
			last = int(r.NumRows()) - 1
		}
	}
	return liveRows(b, func(i int) error {
		op := l.opAt(r, i)
		pos := l.posAt(r, i)
		if pos == lastPos {
			row++
		} else {
			row = 0
		}
		lastPos = pos
		buf := append(e.buf[:0], `{"before":`...)
		var err error
		switch {
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
		if op == exec.OpDelete {
			buf = append(buf, "null"...)
		} else if buf, err = appendJSONRow(buf, l, r, i, false, true); err != nil {
			return err
		}
		buf = append(buf, `,"source":{"version":"etlq","connector":"mysql","name":`...)
		buf = appendJSONString(buf, e.opts.Pipeline)
		buf = append(buf, `,"ts_ms":`...)
		buf = strconv.AppendInt(buf, l.tsAt(r, i).UnixMilli(), 10)
		switch {
		case op != exec.OpRead:
			buf = append(buf, `,"snapshot":"false"`...)
		case i == last && b.SnapshotEnd == exec.SnapshotEndsAll:
			buf = append(buf, `,"snapshot":"last"`...)
		case i == last:
			buf = append(buf, `,"snapshot":"last_in_data_collection"`...)
		default:
			buf = append(buf, `,"snapshot":"true"`...)
		}
		buf = append(buf, `,"db":`...)
		buf = appendJSONString(buf, b.DB)
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
		buf = append(buf, `,"thread":null,"query":null},"op":"`...)
		buf = append(buf, debeziumOp(op)...)
		buf = append(buf, `","ts_ms":`...)
		buf = strconv.AppendInt(buf, e.opts.now().UnixMilli(), 10)
		buf = append(buf, `,"transaction":null}`...)
		e.buf = buf
		return fn(buf)
	})
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

func debeziumOp(op string) string {
	switch op {
	case exec.OpUpdate:
		return "u"
	case exec.OpDelete:
		return "d"
	case exec.OpRead:
		return "r"
	}
	return "c"
}
