package natslog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

// heartbeat is the value of a worker's heartbeat key in the lease bucket
// (<group>.w.<id>): when it was last renewed, where the worker runs and
// what its file makes of the source's pipelines, so that a worker started
// with another file than the group's live workers can tell
// (engine.RunWorkers refuses it; a running worker warns of it). An etlq
// before this wrote the time alone (RFC 3339 text).
type heartbeat struct {
	At   time.Time `json:"at"`
	Host string    `json:"host,omitempty"`
	PID  int       `json:"pid,omitempty"`
	// Pipelines are, by name, the digests of the worker's pipelines
	// reading the source (WorkerOptions.Pipelines).
	Pipelines map[string]string `json:"pipelines,omitempty"`
}

// GroupWorker is a worker of a group whose heartbeat is in the lease
// bucket: live, or killed and not yet expired (Log.Renewed tells).
type GroupWorker struct {
	ID   string
	Host string // "" and PID 0: an etlq that did not say
	PID  int
	// Pipelines is what the worker's heartbeat says of its pipelines
	// (WorkerOptions.Pipelines); nil for an etlq that did not say.
	Pipelines map[string]string
	key       string
	rev       uint64
}

// GroupWorkers lists the workers of a group of source whose heartbeat is
// in the lease bucket (none when the bucket does not exist yet).
func (l *Log) GroupWorkers(source, group string) ([]GroupWorker, error) {
	n := l.names(source)
	kv, err := l.keyValue(n.leases, nil)
	if errors.Is(err, nats.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	keys, err := l.keys(kv)
	if err != nil {
		return nil, err
	}
	prefix := token(group) + ".w."
	var out []GroupWorker
	for _, k := range keys {
		id, ok := strings.CutPrefix(k, prefix)
		if !ok {
			continue
		}
		e, err := l.get(kv, k)
		if errors.Is(err, nats.ErrKeyNotFound) {
			continue // gone meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, groupWorker(k, id, e))
	}
	return out, nil
}

func groupWorker(key, id string, e nats.KeyValueEntry) GroupWorker {
	w := GroupWorker{ID: id, key: key, rev: e.Revision()}
	var hb heartbeat
	if json.Unmarshal(e.Value(), &hb) == nil {
		w.Host, w.PID, w.Pipelines = hb.Host, hb.PID, hb.Pipelines
		if w.Pipelines == nil && hb.Host != "" {
			w.Pipelines = map[string]string{} // a worker of no pipeline of the source
		}
	}
	return w
}

// Renewed says whether a worker listed by GroupWorkers is alive: true as
// soon as it renews its heartbeat (every quarter of a lease), false once
// the heartbeat expires — a worker killed -9 leaves it behind for up to
// a lease — or at once for a worker of this host whose process is gone.
// It waits at most two leases, saying so first through waiting.
func (l *Log) Renewed(ctx context.Context, source string, w GroupWorker, lease time.Duration, waiting func()) (bool, error) {
	if processGone(w.Host, w.PID) {
		return false, nil
	}
	kv, err := l.keyValue(l.names(source).leases, nil)
	if err != nil {
		return false, err
	}
	if waiting != nil {
		waiting()
	}
	deadline := time.Now().Add(2 * lease)
	for {
		e, err := l.get(kv, w.key)
		switch {
		case errors.Is(err, nats.ErrKeyNotFound):
			return false, nil
		case err != nil:
			return false, err
		case e.Revision() != w.rev:
			return true, nil
		}
		if time.Now().After(deadline) {
			return false, nil
		}
		select {
		case <-ctx.Done():
			return false, context.Cause(ctx)
		case <-time.After(min(lease/10, 250*time.Millisecond)):
		}
	}
}

// processGone says whether host is this machine and pid no process on it:
// a killed worker's (or capture's) key that has not expired yet.
func processGone(host string, pid int) bool {
	if host == "" || pid <= 0 {
		return false
	}
	if h, err := os.Hostname(); err != nil || h != host {
		return false
	}
	if pid == os.Getpid() {
		return false
	}
	p, err := os.FindProcess(pid)
	if err != nil {
		return true
	}
	return errors.Is(p.Signal(syscall.Signal(0)), os.ErrProcessDone)
}

// heartbeatValue is this worker's heartbeat.
func (w *workerStream) heartbeatValue() []byte {
	host, _ := os.Hostname()
	b, _ := json.Marshal(heartbeat{At: time.Now().UTC(), Host: host, PID: os.Getpid(), Pipelines: w.o.Pipelines})
	return b
}

// warnPeers warns, once per worker, of each other live worker of the
// group whose heartbeat says it runs the source's pipelines otherwise
// than this one (another file): started at the same moment as this one,
// or by an etlq that does not refuse it. The partitions it holds are
// written with its file's pipelines. A worker counts as live once its
// heartbeat was renewed since this one first saw it: one killed -9
// leaves its heartbeat behind for up to a lease.
func (w *workerStream) warnPeers(keys []string) {
	if w.o.Pipelines == nil {
		return
	}
	listed := map[string]bool{}
	for _, k := range keys {
		id, ok := strings.CutPrefix(k, w.prefix+"w.")
		if !ok || k == w.wkey {
			continue
		}
		listed[id] = true
		rev, seen := w.peers[id]
		if seen && rev == 0 {
			continue // compared already
		}
		e, err := w.kv.Get(k)
		if err != nil {
			continue // gone, or the server away: looked at again next round
		}
		if !seen || e.Revision() == rev {
			w.peers[id] = e.Revision() // not renewed yet: live?
			continue
		}
		w.peers[id] = 0
		p := groupWorker(k, id, e)
		if p.Pipelines == nil {
			continue
		}
		if diff := DiffPipelines(w.o.Pipelines, p.Pipelines); len(diff) > 0 {
			w.o.Log.Warn("log: another worker of the group runs another definition of the source's pipelines: the partitions it holds are written with its file's; start every worker of a group with the same file, or stop them all to roll out an edit",
				"group", w.o.Group, "other", id, "host", p.Host, "pid", p.PID, "pipelines", strings.Join(diff, "; "))
		}
	}
	for id := range w.peers {
		if !listed[id] {
			delete(w.peers, id)
		}
	}
}

// DiffPipelines names each pipeline that mine and theirs (digests by name,
// WorkerOptions.Pipelines) have otherwise, and how, sorted by name.
func DiffPipelines(mine, theirs map[string]string) []string {
	names := map[string]bool{}
	for n := range mine {
		names[n] = true
	}
	for n := range theirs {
		names[n] = true
	}
	var out []string
	for _, n := range sortedKeys(names) {
		a, inMine := mine[n]
		b, inTheirs := theirs[n]
		switch {
		case !inTheirs:
			out = append(out, n+" (only in this file)")
		case !inMine:
			out = append(out, n+" (only in theirs: this file lacks it)")
		case a != b:
			out = append(out, n+" ("+digestDiff(a, b)+")")
		}
	}
	return out
}

// PipelineDigest is what a worker's heartbeat says of a pipeline: a
// digest of its WHERE, TRANSFORM, MODE and KEY and one of where it reads
// and writes (FROM, INTO), so that a difference can be told apart.
func PipelineDigest(definition, io string) string {
	return shortHash(definition) + "." + shortHash(io)
}

func digestDiff(a, b string) string {
	ad, aio, _ := strings.Cut(a, ".")
	bd, bio, _ := strings.Cut(b, ".")
	switch {
	case ad != bd && aio != bio:
		return "its WHERE, TRANSFORM, MODE or KEY and its FROM or INTO differ"
	case aio != bio:
		return "its FROM or INTO differ"
	}
	return "its WHERE, TRANSFORM, MODE or KEY differ"
}

func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:6])
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
