package http_test

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	nethttp "net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/etlq/etlq/connectors"
)

// rowIDs returns the ids of the rows a request body holds, whatever the
// FORMAT: a JSON array or NDJSON of jsonl ({"id":…}), debezium_json
// ({"after":{"id":…}}) or canal_json ({"data":[{"id":"…"},…]}: several
// rows a message) messages, or csv (a header line, then id first).
func rowIDs(t *testing.T, contentType string, body []byte) []int {
	t.Helper()
	if strings.HasPrefix(contentType, "text/csv") {
		recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
		if err != nil || len(recs) == 0 || recs[0][0] != "id" {
			t.Fatalf("csv body %q: %v", body, err)
		}
		var ids []int
		for _, rec := range recs[1:] {
			id, err := strconv.Atoi(rec[0])
			if err != nil {
				t.Fatalf("csv body %q: %v", body, err)
			}
			ids = append(ids, id)
		}
		return ids
	}
	var msgs []json.RawMessage
	if bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
		if err := json.Unmarshal(body, &msgs); err != nil {
			t.Fatalf("body %q: %v", body, err)
		}
	} else {
		sc := bufio.NewScanner(bytes.NewReader(body))
		sc.Buffer(nil, 1<<24)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) > 0 {
				msgs = append(msgs, json.RawMessage(slices.Clone(sc.Bytes())))
			}
		}
	}
	var ids []int
	for _, m := range msgs {
		var msg struct {
			ID    *int `json:"id"`
			After *struct {
				ID int `json:"id"`
			} `json:"after"`
			Data []struct {
				ID string `json:"id"`
			} `json:"data"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal(m, &msg); err != nil {
			t.Fatalf("message %s: %v", m, err)
		}
		switch {
		case msg.Type != "": // canal_json ("id" is the message's)
			for _, d := range msg.Data {
				id, err := strconv.Atoi(d.ID)
				if err != nil {
					t.Fatalf("message %s: %v", m, err)
				}
				ids = append(ids, id)
			}
		case msg.After != nil:
			ids = append(ids, msg.After.ID)
		case msg.ID != nil:
			ids = append(ids, *msg.ID)
		default:
			t.Fatalf("message %s holds no row id", m)
		}
	}
	return ids
}

// marking is an endpoint that refuses, with status, every request that
// holds one of the marked rows, and keeps the ids of the rows of the
// requests it takes.
type marking struct {
	t      *testing.T
	marked map[int]bool
	status int

	mu       sync.Mutex
	taken    []int
	requests int
}

func (m *marking) ServeHTTP(w nethttp.ResponseWriter, r *nethttp.Request) {
	body, _ := io.ReadAll(r.Body)
	ids := rowIDs(m.t, r.Header.Get("Content-Type"), body)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests++
	for _, id := range ids {
		if m.marked[id] {
			nethttp.Error(w, fmt.Sprintf("row %d is not welcome", id), m.status)
			return
		}
	}
	m.taken = append(m.taken, ids...)
	w.WriteHeader(nethttp.StatusNoContent)
}

func seq(from, to int) []int {
	var ids []int
	for i := from; i <= to; i++ {
		ids = append(ids, i)
	}
	return ids
}

// ceilLog2 is ⌈log2 n⌉.
func ceilLog2(n int) int { return bits.Len(uint(n - 1)) }

// A request refused for its rows (400, 409, 422) under on_error = 'skip'
// or 'dead_letter' is sent again in halves, each refused half in halves
// again, so that only the rows the endpoint refuses alone are handed to
// the handler; every other row reaches the endpoint once, in order, in
// every FORMAT (canal_json groups rows in a message, csv bodies carry a
// header, batch_rows splits the batch first). Before, the handler got
// every row of the refused request: a whole batch of good rows
// dead-lettered for one bad row. The extra requests stay within
// 2·(refused rows)·⌈log2 N⌉. Under on_error = 'fail' nothing is sent again.
func TestRefusedRequestBisected(t *testing.T) {
	const n = 200
	marked := []int{17, 120, 121, 200}
	statuses := []int{nethttp.StatusBadRequest, nethttp.StatusConflict, nethttp.StatusUnprocessableEntity}
	for i, tc := range []struct {
		name   string
		format string
		opts   map[string]any
		per    int // rows a request (batch_rows)
	}{
		{"jsonl", "", nil, n},
		{"jsonl ndjson", "", map[string]any{"body": "ndjson"}, n},
		{"debezium_json", "debezium_json", nil, n},
		{"canal_json", "canal_json", nil, n},
		{"canal_json ndjson", "canal_json", map[string]any{"body": "ndjson"}, n},
		{"csv", "csv", nil, n},
		{"batch_rows", "", map[string]any{"batch_rows": int64(64)}, 64},
	} {
		status := statuses[i%len(statuses)]
		t.Run(tc.name, func(t *testing.T) {
			for _, handled := range []bool{true, false} {
				ep := &marking{t: t, marked: map[int]bool{}, status: status}
				for _, id := range marked {
					ep.marked[id] = true
				}
				opts := map[string]any{}
				for k, v := range tc.opts {
					opts[k] = v
				}
				h := open(t, &recorder{}, connectors.Target{Format: tc.format, Options: opts})
				h.srv.Config.Handler = ep
				rf := &refusals{}
				if handled {
					h.w.(connectors.RowRefuser).OnRefused(rf.handle)
				}
				err := wait(t, h.write(seq(1, n)...))
				ep.mu.Lock()
				requests, taken := ep.requests, slices.Clone(ep.taken)
				ep.mu.Unlock()
				if !handled {
					if err == nil || !connectors.IsDataError(err) {
						t.Errorf("on_error = 'fail': want the data error, got %v", err)
					}
					if requests != 1 {
						t.Errorf("on_error = 'fail': %d requests, want 1 (no bisection)", requests)
					}
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(rf.ids, marked) {
					t.Errorf("handler got rows %v, want exactly the marked %v", rf.ids, marked)
				}
				want := slices.DeleteFunc(seq(1, n), func(id int) bool { return ep.marked[id] })
				if !slices.Equal(taken, want) {
					t.Errorf("endpoint took %v,\nwant every other row once, in order: %v", taken, want)
				}
				wantReason := fmt.Sprintf("%d %s: row", status, nethttp.StatusText(status))
				for i, r := range rf.reasons {
					if !strings.Contains(r, wantReason) || !strings.Contains(r, fmt.Sprintf("row %d is not welcome", rf.ids[i])) {
						t.Errorf("reason %q: want the status and the endpoint's answer to that row alone", r)
					}
				}
				reqs := (n + tc.per - 1) / tc.per
				if bound := 2 * len(marked) * ceilLog2(tc.per); requests-reqs > bound {
					t.Errorf("%d extra requests, want at most %d", requests-reqs, bound)
				}
				t.Logf("%d requests for %d rows, %d refused", requests, n, len(marked))
			}
		})
	}
}

// The requests bisection sends are bounded: at most 64 more for a batch.
// Past that, a refused request is handed to the handler whole, its reason
// saying so; every row is still either taken by the endpoint (once, in
// order) or handed to the handler (once, in order), never both.
func TestRefusedBisectCapped(t *testing.T) {
	const n = 300
	ep := &marking{t: t, marked: map[int]bool{}, status: nethttp.StatusUnprocessableEntity}
	for id := 3; id <= n; id += 3 {
		ep.marked[id] = true
	}
	h := open(t, &recorder{}, connectors.Target{})
	h.srv.Config.Handler = ep
	rf := &refusals{}
	h.w.(connectors.RowRefuser).OnRefused(rf.handle)
	if err := wait(t, h.write(seq(1, n)...)); err != nil {
		t.Fatal(err)
	}
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.requests > 1+64 {
		t.Errorf("%d requests for one batch, want at most 1 + 64", ep.requests)
	}
	all := append(slices.Clone(ep.taken), rf.ids...)
	slices.Sort(all)
	if !slices.Equal(all, seq(1, n)) {
		t.Fatalf("taken %v and handed %v: want each row in exactly one", ep.taken, rf.ids)
	}
	if !slices.IsSorted(ep.taken) || !slices.IsSorted(rf.ids) {
		t.Errorf("taken %v, handed %v: want both in order", ep.taken, rf.ids)
	}
	for id := range ep.marked {
		if !slices.Contains(rf.ids, id) {
			t.Errorf("marked row %d not handed to the handler", id)
		}
	}
	alone, whole := 0, 0
	for i, r := range rf.reasons {
		switch {
		case strings.Contains(r, "422 Unprocessable Entity: row") && !strings.Contains(r, "rows"):
			alone++
			if !ep.marked[rf.ids[i]] {
				t.Errorf("good row %d handed alone: %q", rf.ids[i], r)
			}
		case strings.Contains(r, "not sent again") && strings.Contains(r, "64"):
			whole++
		default:
			t.Errorf("row %d: reason %q says neither", rf.ids[i], r)
		}
	}
	if alone == 0 || whole == 0 || len(ep.taken) == 0 {
		t.Errorf("%d rows refused alone, %d handed whole past the cap, %d taken: want some of each", alone, whole, len(ep.taken))
	}
	t.Logf("%d requests; %d rows taken, %d refused alone, %d handed whole", ep.requests, len(ep.taken), alone, whole)
}

// bisect_max sets the requests a batch may send again to find its refused
// rows (default 64; 0: none, a refused request's rows set aside together),
// and a batch that reaches it logs, at WARN, how many of its rows were set
// aside (on_error) without the endpoint refusing them alone: good rows may
// be among them. A bisect_max large enough finds every refused row alone
// and logs no such line. Before, the cap was a constant 64 and the line,
// logged at the first capped request, said nothing of the rows.
func TestRefusedBisectMaxOption(t *testing.T) {
	const n = 300
	for _, tc := range []struct {
		name     string
		max      any // bisect_max (nil: the default)
		cap      int
		complete bool // every refused row found alone
	}{
		{"default", nil, 64, false},
		{"8", int64(8), 8, false},
		{"none", int64(0), 0, false},
		{"enough", int64(4096), 4096, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logged bytes.Buffer
			var mu sync.Mutex
			prev := slog.Default()
			slog.SetDefault(slog.New(slog.NewTextHandler(lockedWriter{&mu, &logged}, nil)))
			t.Cleanup(func() { slog.SetDefault(prev) })
			ep := &marking{t: t, marked: map[int]bool{}, status: nethttp.StatusUnprocessableEntity}
			for id := 3; id <= n; id += 3 {
				ep.marked[id] = true
			}
			opts := map[string]any{}
			if tc.max != nil {
				opts["bisect_max"] = tc.max
			}
			h := open(t, &recorder{}, connectors.Target{Options: opts})
			h.srv.Config.Handler = ep
			rf := &refusals{}
			h.w.(connectors.RowRefuser).OnRefused(rf.handle)
			if err := wait(t, h.write(seq(1, n)...)); err != nil {
				t.Fatal(err)
			}
			ep.mu.Lock()
			requests, taken := ep.requests, slices.Clone(ep.taken)
			ep.mu.Unlock()
			if requests > 1+tc.cap {
				t.Errorf("%d requests, want at most 1 + %d", requests, tc.cap)
			}
			all := append(slices.Clone(taken), rf.ids...)
			slices.Sort(all)
			if !slices.Equal(all, seq(1, n)) {
				t.Fatalf("taken %v and handed %v: want each row in exactly one", taken, rf.ids)
			}
			unproven := 0
			for _, r := range rf.reasons {
				if strings.Contains(r, "not sent again") {
					unproven++
					if !strings.Contains(r, "bisect_max") {
						t.Errorf("reason %q does not name bisect_max", r)
					}
				}
			}
			mu.Lock()
			out := logged.String()
			mu.Unlock()
			if tc.complete {
				if unproven != 0 || len(rf.ids) != n/3 || strings.Contains(out, "without being refused alone") {
					t.Errorf("bisect_max %v: %d rows handed (%d not refused alone), want the %d refused alone and no WARN:\n%s", tc.max, len(rf.ids), unproven, n/3, out)
				}
				return
			}
			want := fmt.Sprintf("rows_not_refused_alone=%d ", unproven)
			if unproven == 0 || !strings.Contains(out, "level=WARN") || !strings.Contains(out, "without being refused alone") ||
				!strings.Contains(out, want) || !strings.Contains(out, fmt.Sprintf("bisect_max=%d", tc.cap)) {
				t.Errorf("want a WARN with %s and bisect_max=%d (%d rows not refused alone):\n%s", want, tc.cap, unproven, out)
			}
			if tc.cap == 0 && (requests != 1 || unproven != n) {
				t.Errorf("bisect_max = 0: %d requests and %d rows set aside together, want 1 and %d", requests, unproven, n)
			}
		})
	}
}
