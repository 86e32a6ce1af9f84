package mysql

import (
	"fmt"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// A binlog gap: the checkpoint's position is purged on the server, or is
// another server's and cannot be placed in this one's binlog. The changes
// between it and now are gone. on_binlog_gap = 'fail' (the default) stops
// with the error; 'resnapshot' (snapshot_on_purge = true is its old name)
// takes again the snapshot of the tables whose changes were lost, and only
// of those: the tables the stream follows with SNAPSHOT initial. A
// SNAPSHOT only table does not follow the binlog and lost nothing; a
// SNAPSHOT never table wants no snapshot, so its lost changes are named in
// an error — also when another pipeline reads it with SNAPSHOT initial
// (StreamTable.Never), whose new snapshot is none of the never one's.

// gapMode parses on_binlog_gap and its alias snapshot_on_purge into
// whether a gap is re-snapshotted.
func gapMode(get func(string) (any, bool)) (bool, error) {
	old, hasOld := get("snapshot_on_purge")
	oldOn, _ := old.(bool)
	v, ok := get("on_binlog_gap")
	if !ok {
		return hasOld && oldOn, nil
	}
	s, _ := v.(string)
	var on bool
	switch strings.ToLower(s) {
	case "fail":
	case "resnapshot":
		on = true
	default:
		return false, fmt.Errorf("option \"on_binlog_gap\": want 'fail' or 'resnapshot', got %v", v)
	}
	if hasOld && oldOn != on {
		return false, fmt.Errorf("options \"on_binlog_gap\" = '%s' and \"snapshot_on_purge\" = %v disagree: snapshot_on_purge is the old name of on_binlog_gap = 'resnapshot'; keep one", s, oldOn)
	}
	return on, nil
}

// resnapshotGap sets the stream up to recover from a gap at the current
// position at: the SNAPSHOT initial tables get a new snapshot, preceded by
// a truncate change so that an upsert target also loses the rows deleted
// in the gap, which no snapshot brings back. It returns the SNAPSHOT
// never tables, whose changes in the gap are lost.
func (st *stream) resnapshotGap(c *client.Conn, at binlogPos) ([]string, error) {
	var never []string
	for _, ts := range st.tables {
		switch ts.mode {
		case connectors.SnapshotOnly:
			continue // reads no binlog: lost nothing
		case connectors.SnapshotNever:
			never = append(never, ts.key)
		default:
			if ts.never {
				// Another pipeline reads it with SNAPSHOT initial: its
				// snapshot rows are none of this one's.
				never = append(never, ts.key)
			}
		}
		var err error
		if ts.cur, err = readTable(c, ts.ref); err != nil {
			return nil, err
		}
		ts.out = ts.cur
		if ts.mode == connectors.SnapshotInitial {
			ts.snap = &snapState{}
			ts.snapDone.Store(false)
			st.out = append(st.out, st.truncateBatch(ts, at))
		}
	}
	return never, nil
}

// truncateBatch is the change "ts was emptied at at" (exec.OpTruncate):
// one row, every table column NULL.
func (st *stream) truncateBatch(ts *tableState, at binlogPos) *exec.Batch {
	schema := ts.out.streamSchema(st.req.Before)
	n := len(ts.out.Cols)
	if st.req.Before {
		n *= 2
	}
	cols := make([]arrow.Array, 0, schema.NumFields())
	for i := range n {
		cols = append(cols, array.MakeArrayOfNull(st.mem, schema.Field(i).Type, 1))
	}
	cols = append(cols, metaArrays(st.mem, nil, ts.ref.DB, ts.ref.Table,
		[]metaRun{{op: exec.OpTruncate, ts: time.Now().UnixMicro(), pos: at.String(), ver: st.version, n: 1}})...)
	st.version++
	rec := array.NewRecordBatch(schema, cols, 1)
	for _, a := range cols {
		a.Release()
	}
	return &exec.Batch{Record: rec, DB: ts.ref.DB, Table: ts.ref.Table, Gap: true}
}
