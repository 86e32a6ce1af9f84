package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestSnapshotEditNoted: a pipeline's SNAPSHOT edited after its first run
// reads no target again, and check, plan and apply said nothing of it
// (new-user trial). Now each notes it at the SNAPSHOT clause, once: p
// (initial → only, beside q streaming the same table) gets no more
// changes, which the note says and the run shows; n (never → initial,
// the only reader of its table, so the checkpoint has no snapshot of
// it) has its table read now, as the note says, with the resnapshot
// command for the rest.
func TestSnapshotEditNoted(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		db := checkDB(t, myDSN, map[string]string{"o": "id INT PRIMARY KEY, v VARCHAR(20)", "n": "id INT PRIMARY KEY"})
		s := newScratch(t, myDSN)
		myExec(t, s.my, "INSERT INTO "+db+".o VALUES (1, 'a'), (2, 'b')", "INSERT INTO "+db+".n VALUES (7), (8)")
		dir := t.TempDir()
		state := filepath.Join(dir, "state")
		file := filepath.Join(dir, "o.etl")
		sid := testServerID()
		write := func(p, n string) {
			writeFile(t, file, fmt.Sprintf("CREATE SOURCE s FROM mysql '%s' WITH (server_id = %d, ssl_mode = 'disabled');\n"+
				"CREATE PIPELINE p FROM binlog s.%s.o SNAPSHOT %s TRANSFORM 'p' AS who, id, v INTO stdout;\n"+
				"CREATE PIPELINE q FROM binlog s.%s.o TRANSFORM 'q' AS who, id, v INTO stdout;\n"+
				"CREATE PIPELINE n FROM binlog s.%s.n SNAPSHOT %s TRANSFORM 'n' AS who, id INTO stdout;\n", myDSN, sid, db, p, db, db, n))
		}
		write("initial", "never")
		out := mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		if strings.Contains(out, `"who":"n"`) {
			t.Fatalf("n is SNAPSHOT never: want none of its rows at its first run:\n%s", out)
		}
		if out := mustEtlq(t, "check", "--state-dir", state, file); strings.Contains(out, "note:") {
			t.Errorf("an unchanged file: want no note, got:\n%s", out)
		}

		write("only", "initial")
		col := len("CREATE PIPELINE p FROM binlog s." + db + ".o SNAPSHOT ")
		want := []string{
			fmt.Sprintf("%s:2:%d: pipeline p: SNAPSHOT changed since the last run (was initial, now only): the option counts only at a pipeline's first run: its target is not read again, and apply writes no more of its tables' changes into it", file, col+1),
			"the source's checkpoint moves on with its other pipelines, so the changes made from now on never reach this target",
			"\n" + strings.Repeat(" ", col) + "^~~~\n",
			fmt.Sprintf("%s:4:%d: pipeline n: SNAPSHOT changed since the last run (was never, now initial): the option counts only at a pipeline's first run: apply reads %s.n now, of which the checkpoint has no snapshot (no pipeline read it with one)", file, col+1, db),
			fmt.Sprintf("to read its tables again, run etlq resnapshot %s n", file),
		}
		for _, cmd := range []string{"check", "plan"} {
			out := mustEtlq(t, cmd, "--state-dir", state, file)
			for _, w := range want {
				if !strings.Contains(out, w) {
					t.Errorf("%s: want %q in:\n%s", cmd, w, out)
				}
			}
			if !strings.Contains(out, "note: "+want[0]) {
				t.Errorf("%s: want it as a note:\n%s", cmd, out)
			}
		}

		myExec(t, s.my, "UPDATE "+db+".o SET v = 'changed' WHERE id = 1")
		out = mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
		for _, w := range []string{`level=INFO msg="` + want[0], `level=INFO msg="` + want[3]} {
			if !strings.Contains(out, w) {
				t.Errorf("apply: want %q in:\n%s", w, out)
			}
		}
		// What the notes said: p got no change, q did; n's table was read.
		for w, present := range map[string]bool{`{"who":"q","id":1,"v":"changed"}`: true, `"who":"p"`: false, `{"who":"n","id":7}`: true, `{"who":"n","id":8}`: true} {
			if strings.Contains(out, w) != present {
				t.Errorf("apply: want %q present=%v in:\n%s", w, present, out)
			}
		}
		// Said once: the run kept the new SNAPSHOT.
		if out := mustEtlq(t, "check", "--state-dir", state, file); strings.Contains(out, "SNAPSHOT changed") {
			t.Errorf("check after the run: want the edit said once, got:\n%s", out)
		}
	})
}
