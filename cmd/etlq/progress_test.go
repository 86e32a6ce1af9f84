package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestApplyProgressBars: the progress display has a bar for each table
// snapshotted in this run, and none for a table read with SNAPSHOT never or
// whose snapshot an earlier run finished ("0 / 0 done 0 %" said nothing).
func TestApplyProgressBars(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDSN(t)
	s := newScratch(t, dsn)
	myExec(t, s.my,
		"CREATE DATABASE "+s.db,
		"CREATE TABLE "+s.db+".snap (id INT PRIMARY KEY, v INT)",
		"CREATE TABLE "+s.db+".live (id INT PRIMARY KEY, v INT)",
		"INSERT INTO "+s.db+".snap VALUES (1, 1), (2, 2), (3, 3)",
	)
	dir := t.TempDir()
	file := filepath.Join(dir, "p.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE PIPELINE snapped FROM binlog s.%s.snap SNAPSHOT initial INTO file '%s' FORMAT jsonl;
CREATE PIPELINE streamed FROM binlog s.%s.live SNAPSHOT never INTO file '%s' FORMAT jsonl;
`, dsn, 100000+rand.IntN(1<<30), s.db, filepath.Join(dir, "snap.jsonl"), s.db, filepath.Join(dir, "live.jsonl"))
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	bar := func(table string) *regexp.Regexp {
		return regexp.MustCompile(`snapshot ` + regexp.QuoteMeta(s.db+"."+table) + ` +\d+ / \d+`)
	}

	// Until Ctrl-C: the display draws its first frame after 250ms, and
	// stops once every pipeline has a status line on it.
	run := func(until *regexp.Regexp) string {
		t.Helper()
		return applyUntil(t, until, "apply", "--progress", "always", "--state-dir", state, file)
	}
	lines := `pipeline snapped +in.*pipeline streamed +in`
	// The first run until its bar is drawn too: the source's progress
	// may reach the display a frame after the pipelines' lines (under
	// load; the run was stopped before the bar was drawn). A display that
	// draws no bar times out here.
	snapBar := `snapshot ` + regexp.QuoteMeta(s.db+".snap") + ` +\d+ / \d+`
	out := run(regexp.MustCompile(`(?s)` + snapBar + `.*` + lines + `|` + lines + `.*` + snapBar))
	if !bar("snap").MatchString(out) {
		t.Errorf("no progress bar for the snapshot of %s.snap:\n%s", s.db, out)
	}
	if bar("live").MatchString(out) {
		t.Errorf("a progress bar for %s.live, read with SNAPSHOT never:\n%s", s.db, out)
	}
	out = run(regexp.MustCompile(`(?s)` + lines))
	if !strings.Contains(out, "resuming from checkpoint") {
		t.Fatalf("the second run did not resume:\n%s", out)
	}
	if bar("snap").MatchString(out) || bar("live").MatchString(out) {
		t.Errorf("a progress bar on a run that resumes after the snapshot:\n%s", out)
	}
}

// applyUntil runs etlq with args until its output matches want, then stops
// it with SIGINT and returns the output.
func applyUntil(t *testing.T, want *regexp.Regexp, args ...string) string {
	t.Helper()
	var mu sync.Mutex
	var buf bytes.Buffer
	cmd := exec.Command(etlqBin, args...)
	cmd.Stdout = lockedWriter{&mu, &buf}
	cmd.Stderr = lockedWriter{&mu, &buf}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	output := func() string {
		mu.Lock()
		defer mu.Unlock()
		return buf.String()
	}
	deadline := time.Now().Add(time.Minute)
	for !want.MatchString(output()) {
		select {
		case err := <-done:
			t.Fatalf("etlq %s ended (%v) before its output matched %s:\n%s", strings.Join(args, " "), err, want, output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the output of etlq %s did not match %s within a minute:\n%s", strings.Join(args, " "), want, output())
		}
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		t.Fatalf("etlq %s did not stop on SIGINT:\n%s", strings.Join(args, " "), output())
	}
	return output()
}

// TestApplyLogsAboveProgress: a warning logged while the progress display
// runs on a terminal (here: the binlog connection is killed) stays on the
// screen above the bars, instead of being drawn over by the next frame.
func TestApplyLogsAboveProgress(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDSN(t)
	s := newScratch(t, dsn)
	// A user of the test's own, so that its binlog connection can be told
	// from the others on the shared server.
	user := s.db
	if len(user) > 80 {
		user = user[:80]
	}
	myExec(t, s.my,
		"CREATE DATABASE "+s.db,
		"CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, v INT)",
		"CREATE USER '"+user+"'@'%'",
		"GRANT SELECT, REPLICATION SLAVE, BINLOG MONITOR ON *.* TO '"+user+"'@'%'",
	)
	t.Cleanup(func() { s.my.Execute("DROP USER IF EXISTS '" + user + "'@'%'") })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.User(user)

	dir := t.TempDir()
	file := filepath.Join(dir, "p.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE PIPELINE p FROM binlog s.%s.t SNAPSHOT never INTO file '%s' FORMAT jsonl;
`, u.String(), 100000+rand.IntN(1<<30), s.db, filepath.Join(dir, "t.jsonl"))
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}

	term := openPTY(t)
	cmd := exec.Command(etlqBin, "apply", "--state-dir", filepath.Join(dir, "state"), file)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term.slave, term.slave, term.slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	term.slave.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })

	status := regexp.MustCompile(`pipeline p +in`)
	term.waitFor(t, done, func(out string) bool { return status.MatchString(out) })
	// The connection is killed once the display is up. The stream's dump
	// is the one that lasts: apply's binlog-retention check reads the first
	// event of a file over a dump of its own, which ends at once and must
	// not be the one killed.
	deadline := time.Now().Add(time.Minute)
	for {
		r, err := s.my.Execute("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '" + user + "' AND COMMAND LIKE 'Binlog Dump%' AND TIME >= 1")
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Values) > 0 {
			id, _ := r.GetInt(0, 0)
			myExec(t, s.my, fmt.Sprintf("KILL %d", id))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no binlog connection of %s within a minute:\n%s", user, term.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Until the display has drawn three more frames after the warning.
	const warn = "binlog connection lost; reconnecting"
	term.waitFor(t, done, func(out string) bool {
		i := strings.Index(out, warn)
		return i >= 0 && len(status.FindAllStringIndex(out[i:], -1)) >= 3
	})
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("etlq apply did not stop on SIGINT:\n%s", term.output())
	}
	screen := renderTerminal(term.output())
	if !strings.Contains(screen, warn) {
		t.Errorf("the warning was drawn over by the progress display; the screen:\n%s", screen)
	}
	if n := len(status.FindAllString(screen, -1)); n != 1 {
		t.Errorf("the screen shows the status line %d times, want once:\n%s", n, screen)
	}
}

// TestApplyStatusOnUnsizedTerminal: on a terminal that reports no size (0
// columns, 0 rows: script(1) run without a terminal of its own, docker or
// kubectl exec -t, CI runners), apply shows its status lines all the same.
// mpb cut every line to the terminal's 0 columns: the screen stayed empty
// for the whole run, and as a terminal it did not get the log lines of the
// figures every 10 s either (found by the operator trial).
func TestApplyStatusOnUnsizedTerminal(t *testing.T) {
	t.Parallel()
	dsn := testenv.MySQLDSN(t)
	s := newScratch(t, dsn)
	myExec(t, s.my,
		"CREATE DATABASE "+s.db,
		"CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, v INT)",
		"INSERT INTO "+s.db+".t VALUES (1, 1), (2, 2)",
	)
	dir := t.TempDir()
	file := filepath.Join(dir, "p.etl")
	src := fmt.Sprintf(`CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d);
CREATE PIPELINE p FROM binlog s.%s.t INTO file '%s' FORMAT jsonl;
`, dsn, 100000+rand.IntN(1<<30), s.db, filepath.Join(dir, "t.jsonl"))
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	term := openPTYSize(t, 0, 0)
	cmd := exec.Command(etlqBin, "apply", "--state-dir", filepath.Join(dir, "state"), file)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = term.slave, term.slave, term.slave
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	term.slave.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	// The status line once the snapshot's two rows are out: a display
	// that draws nothing times out here.
	status := regexp.MustCompile(`pipeline p +in +2 +out +2 `)
	term.waitFor(t, done, func(out string) bool { return status.MatchString(out) })
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("etlq apply did not stop on SIGINT:\n%s", term.output())
	}
}

// pty is a pseudo-terminal: the program runs on slave, the test reads
// master.
type pty struct {
	master, slave *os.File
	mu            sync.Mutex
	buf           bytes.Buffer
}

func openPTY(t *testing.T) *pty {
	t.Helper()
	return openPTYSize(t, 50, 200)
}

// openPTYSize is openPTY with a window of rows × cols (0 × 0: a
// pseudo-terminal nobody sized).
func openPTYSize(t *testing.T, rows, cols uint16) *pty {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no pseudo-terminal: %v", err) // CI must run what it claims to
		}
		t.Skipf("no pseudo-terminal: %v", err)
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	sl, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(sl.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		t.Fatal(err)
	}
	p := &pty{master: m, slave: sl}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := m.Read(b)
			p.mu.Lock()
			p.buf.Write(b[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { m.Close() })
	return p
}

func (p *pty) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// waitFor waits until ok holds for the output; it fails the test when the
// program ends first, or after a minute.
func (p *pty) waitFor(t *testing.T, done <-chan error, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok(p.output()) {
		select {
		case err := <-done:
			t.Fatalf("etlq ended (%v):\n%s", err, p.output())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within a minute; the output:\n%s", p.output())
		}
	}
}

// renderTerminal plays terminal output onto a screen of unlimited height
// and returns its lines: text, "\r", "\n", cursor up (ESC[nA) and erase
// below (ESC[J) or to the end of the line (ESC[K); other escapes are
// dropped.
func renderTerminal(out string) string {
	var lines [][]rune
	row, col := 0, 0
	put := func(r rune) {
		for len(lines) <= row {
			lines = append(lines, nil)
		}
		for len(lines[row]) < col {
			lines[row] = append(lines[row], ' ')
		}
		if col < len(lines[row]) {
			lines[row][col] = r
		} else {
			lines[row] = append(lines[row], r)
		}
		col++
	}
	rs := []rune(out)
	for i := 0; i < len(rs); i++ {
		switch r := rs[i]; {
		case r == '\r':
			col = 0
		case r == '\n':
			row++
			col = 0
		case r == 0x1b && i+1 < len(rs) && rs[i+1] == '[':
			j := i + 2
			for j < len(rs) && (rs[j] >= '0' && rs[j] <= '9' || rs[j] == ';' || rs[j] == '?') {
				j++
			}
			if j >= len(rs) {
				i = j
				break
			}
			n := 1
			if j > i+2 {
				fmt.Sscanf(string(rs[i+2:j]), "%d", &n)
			}
			switch rs[j] {
			case 'A':
				row = max(row-n, 0)
			case 'J':
				if row < len(lines) {
					if col < len(lines[row]) {
						lines[row] = lines[row][:col]
					}
					lines = lines[:row+1]
				}
			case 'K':
				if row < len(lines) && col < len(lines[row]) {
					lines[row] = lines[row][:col]
				}
			}
			i = j
		case r >= 0x20:
			put(r)
		}
	}
	var sb strings.Builder
	for _, l := range lines {
		sb.WriteString(strings.TrimRight(string(l), " "))
		sb.WriteByte('\n')
	}
	return sb.String()
}
