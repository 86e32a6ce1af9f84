package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/etlq/etlq/connectors/mysql"
	"github.com/etlq/etlq/connectors/testenv"
)

// startApplyArgs starts etlq with args, its output into out, and kills it
// when the test ends.
func startApplyArgs(t *testing.T, out *syncBuffer, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(etlqBin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	})
	return cmd
}

// TestServerIDTwoFiles: two files whose sources share a name and set no
// server_id, run at once from two state directories, read the binlog side
// by side with two replica ids (the name, the host and the state
// directory's), instead of taking the connection from each other all the
// time. With one server_id given to both, the warning says why the
// connection is lost.
func TestServerIDTwoFiles(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY)", "INSERT INTO "+s.db+".t VALUES (1)")
	dir := t.TempDir()
	write := func(name, with string) string {
		file := filepath.Join(dir, name)
		src := fmt.Sprintf(`CREATE SOURCE src FROM mysql '%s'%s;
CREATE PIPELINE p FROM binlog src.%s.t TRANSFORM id INTO file '%s' FORMAT jsonl;
`, myDSN, with, s.db, filepath.Join(dir, name+".jsonl"))
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return file
	}
	host, _ := os.Hostname()
	stateA, stateB := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	idA, idB := mysql.DeriveServerID("src", host+":"+stateA), mysql.DeriveServerID("src", host+":"+stateB)
	if idA == idB {
		t.Fatalf("both state directories derive server_id %d", idA)
	}
	outA := startApply(t, stateA, write("a.etl", "")).out
	outB := startApply(t, stateB, write("b.etl", "")).out
	// Both replicas registered at the same time.
	deadline := time.Now().Add(60 * time.Second)
	for {
		hosts := myRows(t, s.my, "SHOW SLAVE HOSTS")
		seen := 0
		for _, h := range hosts {
			id := strings.SplitN(h, "|", 2)[0]
			if id == fmt.Sprint(idA) || id == fmt.Sprint(idB) {
				seen++
			}
		}
		if seen == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replicas %d and %d not both connected: %v\n--- a:\n%s\n--- b:\n%s", idA, idB, hosts, outA, outB)
		}
		time.Sleep(100 * time.Millisecond)
	}
	myExec(t, s.my, "INSERT INTO "+s.db+".t VALUES (2)")
	for _, f := range []string{"a.etl.jsonl", "b.etl.jsonl"} {
		for deadline := time.Now().Add(30 * time.Second); ; {
			b, _ := os.ReadFile(filepath.Join(dir, f))
			if strings.Contains(string(b), `"id":2`) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s lacks the insert: %s\n--- a:\n%s\n--- b:\n%s", f, b, outA, outB)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, out := range []*syncBuffer{outA, outB} {
		if strings.Contains(out.String(), "server_id") {
			t.Errorf("a server_id clash:\n%s", out)
		}
	}

	// One server_id given to both: the loss is explained, and after a
	// few of them one process stops, saying why, while the other goes on.
	with := fmt.Sprintf(" WITH (server_id = %d)", 1000+time.Now().UnixNano()%1000000)
	c := startApply(t, filepath.Join(dir, "c"), write("c.etl", with))
	d := startApply(t, filepath.Join(dir, "d"), write("d.etl", with))
	const want = "another replica or etlq process reads this server's binlog with the same server_id"
	const stops = "two clients cannot share one server_id; another etlq capture or apply of this source (the same file started twice), or a replica or another source given server_id"
	var stopped, survivor *liveApply
	var survivorFile string
	var exitErr error
	for deadline := time.Now().Add(90 * time.Second); stopped == nil; {
		select {
		case exitErr = <-c.done:
			stopped, survivor, survivorFile = c, d, "d.etl.jsonl"
		case exitErr = <-d.done:
			stopped, survivor, survivorFile = d, c, "c.etl.jsonl"
		case <-time.After(100 * time.Millisecond):
		}
		if stopped == nil && time.Now().After(deadline) {
			t.Fatalf("neither process stopped over the shared server_id:\n--- c:\n%s\n--- d:\n%s", c.out, d.out)
		}
	}
	if exitErr == nil || !strings.Contains(stopped.out.String(), stops) || !strings.Contains(stopped.out.String()+survivor.out.String(), want) {
		t.Fatalf("the stopped process (exit %v) does not say %q (and a warning %q):\n--- stopped:\n%s\n--- survivor:\n%s", exitErr, stops, want, stopped.out, survivor.out)
	}
	myExec(t, s.my, "INSERT INTO "+s.db+".t VALUES (3)")
	for deadline := time.Now().Add(30 * time.Second); ; {
		b, _ := os.ReadFile(filepath.Join(dir, survivorFile))
		if strings.Contains(string(b), `"id":3`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the process left running did not go on (%s: %s):\n%s", survivorFile, b, survivor.out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	survivor.running(t)
}

// TestServerIDReplBesideApply: a REPL session that loads the file of a
// running apply whose source sets server_id reads the binlog with an id
// of its own (repl's streamSource): its queries do not take the apply's
// binlog connection, which three such losses within 10 minutes would now
// stop, on both servers.
func TestServerIDReplBesideApply(t *testing.T) {
	t.Parallel()
	for name, dsn := range map[string]string{"full": testenv.MySQLDSN(t), "minimal": testenv.MySQLMinimalDSN(t)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newScratch(t, dsn)
			myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY)")
			dir := t.TempDir()
			id := 1000 + time.Now().UnixNano()%1000000
			file := filepath.Join(dir, "f.etl")
			src := fmt.Sprintf(`CREATE SOURCE src FROM mysql '%s' WITH (server_id = %d);
CREATE PIPELINE p FROM binlog src.%s.t TRANSFORM id INTO file '%s' FORMAT jsonl;
`, dsn, id, s.db, filepath.Join(dir, "out.jsonl"))
			if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			a := startApply(t, filepath.Join(dir, "state"), file)
			for deadline := time.Now().Add(60 * time.Second); ; {
				if strings.Contains(strings.Join(myRows(t, s.my, "SHOW SLAVE HOSTS"), "\n"), fmt.Sprint(id)+"|") {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("apply's replica %d not connected:\n%s", id, a.out)
				}
				time.Sleep(100 * time.Millisecond)
			}
			for i := 1; i <= 3; i++ {
				p := startRepl(t, "FROM binlog src."+s.db+".t TRANSFORM id LIMIT 1;\n", file)
				p.waitFor(t, s.db+".t: changes from now on", time.Minute)
				myExec(t, s.my, fmt.Sprintf("INSERT INTO %s.t VALUES (%d)", s.db, i))
				if err := p.wait(t, time.Minute); err != nil {
					t.Fatalf("repl query %d: %v\n%s\n%s", i, err, p.stdout(), p.stderr())
				}
			}
			for deadline := time.Now().Add(30 * time.Second); ; {
				b, _ := os.ReadFile(filepath.Join(dir, "out.jsonl"))
				if strings.Contains(string(b), `"id":3`) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("apply lacks the inserts (%s):\n%s", b, a.out)
				}
				time.Sleep(100 * time.Millisecond)
			}
			a.running(t)
			if strings.Contains(a.out.String(), "server_id") {
				t.Errorf("the REPL took the apply's binlog connection:\n%s", a.out)
			}
		})
	}
}
