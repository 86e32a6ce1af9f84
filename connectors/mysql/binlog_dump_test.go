package mysql

import (
	"bytes"
	"testing"

	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/go-mysql-org/go-mysql/utils"
)

// The watermark table's rows are decoded by go-mysql, whose strings alias
// the event's packet (utils.ByteSliceToString). Rows events are parsed from
// pooled buffers (binlog_dump.go), reused once the event is handled: the
// tokens kept until the transaction ends must not change with the buffer.
func TestWatermarkTokensOutliveThePacket(t *testing.T) {
	w := &watermarks{run: "etlq:abc:"}
	pkt := []byte("etlq:abc:7:low")
	e := &replication.RowsEvent{Rows: [][]any{{int64(1), utils.ByteSliceToString(pkt)}}}
	got := w.tokens(e)
	copy(pkt, bytes.Repeat([]byte{'x'}, len(pkt))) // the buffer goes back to the pool and is reused
	if len(got) != 1 || got[0] != "etlq:abc:7:low" {
		t.Fatalf("tokens after the packet's buffer was reused: %q", got)
	}
}

// Only rows events, which the reader decodes and drops while handling them,
// are parsed from pooled buffers; the events whose parts are kept (table
// maps by the parser and the reader, queries for DDL, rotates, GTIDs, the
// format description) are not.
func TestPooledEventsAreRowsEventsOnly(t *testing.T) {
	for _, et := range []replication.EventType{
		replication.WRITE_ROWS_EVENTv2, replication.UPDATE_ROWS_EVENTv2, replication.DELETE_ROWS_EVENTv2,
		replication.WRITE_ROWS_EVENTv1, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1,
	} {
		if !pooledEvent(et) {
			t.Errorf("%s: not pooled", et)
		}
	}
	for _, et := range []replication.EventType{
		replication.TABLE_MAP_EVENT, replication.QUERY_EVENT, replication.ROTATE_EVENT,
		replication.FORMAT_DESCRIPTION_EVENT, replication.MARIADB_GTID_EVENT, replication.GTID_EVENT,
		replication.XID_EVENT, replication.TRANSACTION_PAYLOAD_EVENT, replication.MARIADB_ANNOTATE_ROWS_EVENT,
		replication.MARIADB_QUERY_COMPRESSED_EVENT, replication.ROWS_QUERY_EVENT, replication.HEARTBEAT_EVENT,
	} {
		if pooledEvent(et) {
			t.Errorf("%s: pooled, but parts of it are kept", et)
		}
	}
}
