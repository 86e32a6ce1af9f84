package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestStatusWithoutStateDirAsksNoServer: etlq status on a state directory
// that does not exist, or holds no checkpoint of the file's sources, says
// so at once — which directory (its absolute path when given relative,
// as the default ./.etlq is) and that nothing ran there yet — and asks
// no server: the source's DSN points at a listener that counts the
// connections it is offered, and at an address that never answers. No
// servers.
func TestStatusWithoutStateDirAsksNoServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var dialed atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			dialed.Add(1)
			c.Close()
		}
	}()
	dir := t.TempDir()
	file := filepath.Join(dir, "p.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql 'mysql://root@%s/';
CREATE SOURCE far FROM mysql 'mysql://root@10.255.255.1:3306/';
CREATE PIPELINE p FROM binlog s.db.t INTO stdout;
CREATE PIPELINE q FROM binlog far.db.t INTO stdout;
`, ln.Addr()))
	status := func(cwd string, args ...string) (string, error, time.Duration) {
		cmd := exec.Command(etlqBin, append([]string{"status"}, args...)...)
		cmd.Dir = cwd
		start := time.Now()
		out, err := cmd.CombinedOutput()
		return string(out), err, time.Since(start)
	}

	// The default ./.etlq, relative: named as given and absolute.
	out, err, took := status(dir, file)
	want := "state directory ./.etlq (" + filepath.Join(dir, ".etlq") + ") does not exist: nothing ran there yet"
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("status without a state directory: want an error with %q, got %v:\n%s", want, err, out)
	}
	if took > 5*time.Second {
		t.Errorf("status without a state directory took %s: it waited for something", took)
	}

	// An empty one: its lock is free, no checkpoint, nothing ran there.
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err, took = status(dir, "--state-dir", empty, file)
	if err != nil {
		t.Fatalf("status of an empty state directory: %v\n%s", err, out)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^state directory ` + regexp.QuoteMeta(empty) + `\n  no checkpoint of this file's sources: nothing ran there yet`),
		regexp.MustCompile(`(?m)^source s: no checkpoint yet`),
		regexp.MustCompile(`(?m)^source far: no checkpoint yet`),
	} {
		if !want.MatchString(out) {
			t.Errorf("status of an empty state directory: want %s in\n%s", want, out)
		}
	}
	if took > 5*time.Second {
		t.Errorf("status of an empty state directory took %s: it waited for something", took)
	}
	if n := dialed.Load(); n != 0 {
		t.Errorf("status connected %d times to the source's server", n)
	}
}

// TestStatusTimesInLocalZone: etlq status gives the times it shows — when
// the checkpoint was written, when the first change not taken was — in
// the local zone with its offset (RFC 3339), as the log lines and the
// other messages (the lock's holder) do; they said "… UTC". Under
// TZ=Europe/Berlin, on MariaDB A and B.
func TestStatusTimesInLocalZone(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("no zone data (CI=true, so this fails):", err)
		}
		t.Skip("no zone data:", err)
	}
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		myExec(t, s.my, "CREATE DATABASE "+s.db,
			"CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, v VARCHAR(10))",
			"INSERT INTO "+s.db+".t VALUES (1, 'a')")
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE PIPELINE p FROM binlog s.%s.t INTO file '%s';
`, myDSN, testServerID(), s.db, filepath.Join(dir, "out.jsonl")))
		env := append(os.Environ(), "TZ=Europe/Berlin")
		mustEtlqEnv(t, env, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		myExec(t, s.my, "INSERT INTO "+s.db+".t VALUES (2, 'b')")
		out := mustEtlqEnv(t, env, "status", "--state-dir", state, file)
		stamp := `(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[-+]\d\d:\d\d)`
		for what, re := range map[string]*regexp.Regexp{
			"checkpoint written": regexp.MustCompile(`(?m)^source s: checkpoint .*, written ` + stamp + ` \(.* ago\)$`),
			"first change":       regexp.MustCompile(`(?m)^  server: .* the first change not taken was written ` + stamp + ` \(lag about .*\)$`),
		} {
			m := re.FindStringSubmatch(out)
			if m == nil {
				t.Errorf("status: no %s time in the local zone (%s) in\n%s", what, re, out)
				continue
			}
			at, err := time.Parse(time.RFC3339, m[1])
			if err != nil {
				t.Errorf("%s: %v", what, err)
				continue
			}
			if _, off := at.Zone(); off != offsetIn(berlin, at) {
				t.Errorf("status: the %s time %s is not in Europe/Berlin's offset:\n%s", what, m[1], out)
			}
			if d := time.Since(at); d < -time.Minute || d > 10*time.Minute {
				t.Errorf("status: the %s time %s is %s from now:\n%s", what, m[1], d, out)
			}
		}
		if strings.Contains(out, "UTC") {
			t.Errorf("status still says UTC:\n%s", out)
		}
	})
}

// offsetIn is loc's offset in seconds at t.
func offsetIn(loc *time.Location, t time.Time) int {
	_, off := t.In(loc).Zone()
	return off
}
