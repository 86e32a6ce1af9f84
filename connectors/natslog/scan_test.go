package natslog

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/nats-io/nats.go"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/connectors/testenv"
	"github.com/etlq/etlq/exec"
)

// TestScanKeepsThePosition: an own scan's batches go into the log for
// their pipeline alone (Only, Etlq-Scan) and carry no position: the
// capture resumes where its own stream stopped, not at the scan's marks.
// Each mark is checkpointed once its batch is in the log; a scan replayed
// from the same checkpoint stores nothing twice, a scan asked again (its
// own id) is stored.
func TestScanKeepsThePosition(t *testing.T) {
	url := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
	lg, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	defer lg.DeleteSource("s")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	main := &fakeSource{batches: func() []*exec.Batch {
		return []*exec.Batch{batch([]int64{1, 2, 3}, exec.OpInsert, `{"pos":1}`), batch([]int64{4}, exec.OpUpdate, `{"pos":2}`)}
	}}
	if err := lg.Capture(ctx, "s", main, connectors.StreamRequest{Once: true, Resume: []byte(`{"pos":0}`)}, CaptureOptions{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	n := lg.names("s")
	before, err := lg.streamInfo(n)
	if err != nil {
		t.Fatal(err)
	}
	scan := &fakeSource{batches: func() []*exec.Batch {
		position := &exec.Batch{Mark: &exec.Mark{Source: "s", State: []byte(`{"scan":3}`)}} // (no rows)
		return []*exec.Batch{batch([]int64{1, 2, 3, 4, 5, 6}, exec.OpInsert, `{"scan":1}`), batch([]int64{7, 8}, exec.OpInsert, `{"scan":2}`), position}
	}}
	var marks []string
	o := ScanOptions{ID: "one", Checkpoint: func(mark []byte) error { marks = append(marks, string(mark)); return nil }}
	if err := lg.Scan(ctx, "s", "b", scan, connectors.StreamRequest{}, o); err != nil {
		t.Fatal(err)
	}
	if strings.Join(marks, " ") != `{"scan":1} {"scan":2} {"scan":3}` {
		t.Errorf("checkpoints %v, want each mark in order", marks)
	}
	if resume, err := lg.lastResume(n); err != nil || string(resume) != `{"pos":2}` {
		t.Errorf("the capture resumes at %s (%v), want its own {\"pos\":2}", resume, err)
	}
	after, _ := lg.streamInfo(n)
	if after.State.Msgs <= before.State.Msgs {
		t.Fatalf("the scan stored nothing (%d messages before, %d after)", before.State.Msgs, after.State.Msgs)
	}
	rows := 0
	for seq := before.State.LastSeq + 1; seq <= after.State.LastSeq; seq++ {
		m, err := lg.msg(n, seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Header.Get(hdrScan) != "b" || m.Header.Get(hdrResume) != "" || !strings.HasPrefix(m.Subject, n.prefix+".t.") {
			t.Errorf("scan message %d: subject %s, Etlq-Scan %q, Etlq-Resume %q", seq, m.Subject, m.Header.Get(hdrScan), m.Header.Get(hdrResume))
		}
		b, err := lg.decode(n, &nats.Msg{Subject: m.Subject, Header: m.Header, Data: m.Data}, memory.DefaultAllocator)
		if err != nil {
			t.Fatal(err)
		}
		if b.Only != "b" {
			t.Errorf("scan message %d is for %q, want b alone", seq, b.Only)
		}
		rows += b.NumRows()
		b.Release()
	}
	if rows != 8 {
		t.Errorf("the scan's messages hold %d rows, want 8", rows)
	}
	// Replayed from the start with the same id: nothing stored again.
	if err := lg.Scan(ctx, "s", "b", scan, connectors.StreamRequest{}, o); err != nil {
		t.Fatal(err)
	}
	if again, _ := lg.streamInfo(n); again.State.Msgs != after.State.Msgs {
		t.Errorf("a scan replayed: %d messages, want %d", again.State.Msgs, after.State.Msgs)
	}
	// Asked again (another id): stored.
	o.ID = "two"
	if err := lg.Scan(ctx, "s", "b", scan, connectors.StreamRequest{}, o); err != nil {
		t.Fatal(err)
	}
	if again, _ := lg.streamInfo(n); again.State.Msgs <= after.State.Msgs {
		t.Errorf("a scan asked again stored nothing (%d messages)", again.State.Msgs)
	}
}

// TestScanRecordReplaced: a scan's checkpoint moves its record only while
// the record is the one it read; a record put in its place (the scan
// asked again) makes it give way.
func TestScanRecordReplaced(t *testing.T) {
	url := testenv.NATSURL(t) + "/" + testenv.UniqueName(t)
	lg, err := Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer lg.Close()
	defer lg.DeleteSource("s")
	if err := lg.PutScan("s", "b", []byte(`{"id":"one"}`)); err != nil {
		t.Fatal(err)
	}
	scans, err := lg.Scans("s")
	if err != nil || scans["b"].Revision == 0 {
		t.Fatalf("scans %v, %v", scans, err)
	}
	rev, err := lg.UpdateScan("s", "b", []byte(`{"id":"one","mark":1}`), scans["b"].Revision)
	if err != nil {
		t.Fatal(err)
	}
	// The same update again (its answer lost): taken as done.
	if again, err := lg.UpdateScan("s", "b", []byte(`{"id":"one","mark":1}`), scans["b"].Revision); err != nil || again != rev {
		t.Errorf("an update tried again: revision %d, %v; want %d", again, err, rev)
	}
	if err := lg.PutScan("s", "b", []byte(`{"id":"two"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := lg.UpdateScan("s", "b", []byte(`{"id":"one","mark":2}`), rev); !errors.Is(err, ErrScanReplaced) {
		t.Errorf("a checkpoint over a record put in its place: %v, want ErrScanReplaced", err)
	}
	if scans, _ := lg.Scans("s"); string(scans["b"].Value) != `{"id":"two"}` {
		t.Errorf("the record is %s, want the new one", scans["b"].Value)
	}
	if reqs, _, err := lg.ResnapshotRequests("s"); err != nil || len(reqs) != 0 {
		t.Errorf("a scan's record taken for a resnapshot request: %v, %v", reqs, err)
	}
}
