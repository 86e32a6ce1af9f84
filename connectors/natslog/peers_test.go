package natslog

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors"
)

// TestWorkerWarnsOtherFile: a running worker warns of another live worker
// of its group whose heartbeat says it runs the source's pipelines
// otherwise (two workers started at once with different files, which the
// start's check cannot tell apart), naming the pipelines and how; a
// heartbeat left behind and never renewed (a killed worker) is not warned
// of. GroupWorkers lists both, Renewed tells them apart.
func TestWorkerWarnsOtherFile(t *testing.T) {
	lg, ctx := testLog(t)
	publishIDs(ctx, t, lg, 1, []int64{1})
	logs := &logLines{}
	mine := map[string]string{"p": PipelineDigest("WHERE a\n", "FROM d.t\nINTO dw d.p"), "q": PipelineDigest("", "FROM d.t\nINTO dw d.q")}
	st, err := lg.Source("s", nil, WorkerOptions{ID: "a", Lease: time.Second, Log: slog.New(slog.NewTextHandler(logs, nil)), Pipelines: mine}).Open(ctx, connectors.StreamRequest{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	kv, err := lg.js.KeyValue(lg.names("s").leases)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	other := map[string]string{"p": PipelineDigest("", "FROM d.t\nINTO dw d.p"), "r": "x.y"}
	put := func(id string, pid int) {
		b, _ := json.Marshal(heartbeat{At: time.Now(), Host: host + "-elsewhere", PID: pid, Pipelines: other})
		if _, err := kv.Put("apply.w."+id, b); err != nil {
			t.Fatal(err)
		}
	}
	put("dead", 1)
	put("live", 2)
	var dead GroupWorker
	ws, err := lg.GroupWorkers("s", "apply")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, w := range ws {
		if w.ID == "dead" {
			dead = w
		}
		got[w.ID] = w.Pipelines != nil
	}
	if !got["dead"] || !got["live"] {
		t.Errorf("GroupWorkers: %v", got)
	}
	ctx2, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for !strings.Contains(logs.String(), "other=live") && ctx2.Err() == nil {
		put("live", 2)
		time.Sleep(100 * time.Millisecond)
	}
	out := logs.String()
	if !strings.Contains(out, `another worker of the group runs another definition`) ||
		!strings.Contains(out, `pipelines="p (its WHERE, TRANSFORM, MODE or KEY differ); q (only in this file); r (only in theirs: this file lacks it)"`) {
		t.Fatalf("no warning of the live worker's other file:\n%s", out)
	}
	if strings.Contains(out, "other=dead") {
		t.Errorf("a heartbeat never renewed was warned of:\n%s", out)
	}
	if live, err := lg.Renewed(ctx, "s", dead, time.Second, nil); err != nil || live {
		t.Errorf("Renewed(dead) = %v, %v; want false", live, err)
	}
}
