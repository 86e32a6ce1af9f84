package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// handRow writes key id of db.t into the upsert target by hand, with value
// v and _version ver, and waits until it is the key's row.
func handRow(t *testing.T, s *scratch, id int, v string, ver uint64) {
	t.Helper()
	q := fmt.Sprintf("INSERT INTO %s.t (id, v, _version, _is_deleted) SELECT %d, '%s', toUInt64('%d'), 0", s.db, id, v, ver)
	if err := s.ch.Exec(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	waitCHCount(t, s.chDSN, fmt.Sprintf("SELECT count() FROM %s.t FINAL WHERE id = %d AND v = '%s'", s.db, id, v), 1, time.Minute)
}

// repairFollows runs verify --repair next to apply a (what says when) and
// wants key id of db.t repaired, then changes the key at the source and
// waits for the change in the target over the repair, at a _version above
// above.
func repairFollows(t *testing.T, a *liveApply, s *scratch, state, file string, id int, what string, above uint64) {
	t.Helper()
	v, code, out := runVerify(t, "--state-dir", state, "--repair", file)
	r := v.Pipelines[0]
	if code != 0 || !v.OK || r.Repaired != 1 || r.VersionAhead != 0 || r.RepairSkipped != "" || r.Repairs == nil || r.Repairs.Changed != 1 {
		t.Fatalf("verify --repair %s: exit %d, want key %d repaired:\n%s", what, code, id, out)
	}
	myExec(t, s.my, fmt.Sprintf("UPDATE %s.t SET v = 'later' WHERE id = %d", s.db, id))
	a.waitFor(t, "the update of the repaired key", 2*time.Minute, func() (bool, string) {
		n, err := chCount(s.chDSN, fmt.Sprintf("SELECT count() FROM %s.t FINAL WHERE id = %d AND v = 'later' AND _is_deleted = 0 AND _version > toUInt64('%d')", s.db, id, above))
		return err == nil && n == 1, fmt.Sprintf("%d, %v", n, err)
	})
}

// TestVerifyVersionAheadRunning: a target row written by hand, while
// etlq apply runs, with a _version above every version the pipeline's
// stream has given, is reported with that cause; --repair leaves it and
// says what to do: a repair row ties with the hand-written one to replace
// it, and would then outrank every later change the running apply writes
// of the key (smaller versions), so the target would stop following the
// source there for good. Done as it says (apply stopped and started
// again, which starts its versions above the largest in its targets), the
// repair is written and a later change of the key at the source reaches
// the target over it. Before, verify named no cause and --repair wrote the
// row, after which the key kept the repair's value. Both servers.
func TestVerifyVersionAheadRunning(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s, file, state, a := startRepairable(t, myDSN, "(1, 'a'), (2, 'b'), (3, 'c')", 3)
		db, chDSN := s.db, s.chDSN
		big := uint64(1) << 62
		handRow(t, s, 2, "HAND", big)

		v, code, out := runVerify(t, "--state-dir", state, file)
		r := v.Pipelines[0]
		if code != 1 || r.Changed != 1 || r.VersionAhead != 1 || r.StreamVersion == 0 || r.StreamVersion > big ||
			len(r.Diffs) != 1 || !strings.Contains(r.Diffs[0].Cause, fmt.Sprintf("the target row's _version %d is above every version the pipeline's stream has given", big)) {
			t.Fatalf("verify of a row written by hand above the stream's versions: exit %d, want key 2 changed with that cause:\n%s", code, out)
		}
		text, _ := runEtlq(t, "verify", "--progress", "never", "--state-dir", state, file)
		if !strings.Contains(text, "    cause: the target row's _version") || !strings.Contains(text, "  1 of them: the target row's _version is above") {
			t.Errorf("the text output does not name the cause:\n%s", text)
		}

		v, code, out = runVerify(t, "--state-dir", state, "--repair", file)
		r = v.Pipelines[0]
		if code != 1 || r.Repaired != 0 || r.VersionAhead != 1 || r.Changed != 1 ||
			!strings.Contains(r.RepairSkipped, "stop etlq apply and start it again") || !strings.Contains(r.RepairSkipped, "or delete those rows") {
			t.Fatalf("verify --repair of it next to the running apply: exit %d, want it left, with what to do:\n%s", code, out)
		}
		if n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.t WHERE id = 2 AND v = 'b' AND _version = toUInt64('%d')", db, big)); err != nil || n != 0 {
			t.Fatalf("--repair wrote the key next to the running apply (%d, %v)", n, err)
		}

		// What the message says: restart apply; once its checkpoint has
		// moved, repair.
		a.stop(t)
		a = startApply(t, state, file)
		myExec(t, s.my, "UPDATE "+db+".t SET v = 'a2' WHERE id = 1")
		a.waitFor(t, "the update of key 1", 2*time.Minute, func() (bool, string) {
			n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.t FINAL WHERE id = 1 AND v = 'a2'", db))
			return err == nil && n == 1, fmt.Sprintf("%d, %v", n, err)
		})
		repairFollows(t, a, s, state, file, 2, "after apply restarted", big)
		if v, code, out := runVerify(t, "--state-dir", state, file); code != 0 || !v.OK {
			t.Fatalf("verify after the update of the repaired key: exit %d:\n%s", code, out)
		}
		a.running(t)
	})
}

// TestVerifyVersionAheadStopped: with no etlq apply running on the state
// directory, --repair rewrites a key whose target row was written by hand
// above the stream's versions, as it did before (an apply started later
// begins its versions above the largest in its targets, so its changes
// replace the repair), and names the cause in what the repair found. A
// pipeline whose apply was stopped while the row was written and started
// again is repaired as any other (its counter is above the row once its
// checkpoint moved), and a later change of the key reaches the target.
// Both servers.
func TestVerifyVersionAheadStopped(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		big := uint64(1) << 62
		// No apply runs (SNAPSHOT only, applied with --once).
		s, file, state := snapshotOnlyTarget(t, myDSN, "id INT PRIMARY KEY, v VARCHAR(16) NOT NULL", "(1, 'a'), (2, 'b'), (3, 'c')", "id, v", "id")
		handRow(t, s, 2, "HAND", big)
		v, code, out := runVerify(t, "--state-dir", state, "--repair", file)
		r := v.Pipelines[0]
		if code != 0 || !v.OK || r.Repaired != 1 || r.RepairSkipped != "" || r.Repairs == nil || len(r.Repairs.Diffs) != 1 ||
			!strings.Contains(r.Repairs.Diffs[0].Cause, fmt.Sprintf("the target row's _version %d is above every version", big)) {
			t.Fatalf("verify --repair with no apply running: exit %d, want key 2 repaired, its cause named:\n%s", code, out)
		}
		got, err := chTry(s.ch, fmt.Sprintf("SELECT toString(id), v, toString(_version) FROM %s.t FINAL WHERE id = 2", s.db))
		if err != nil || strings.Join(got, ",") != fmt.Sprintf("2|b|%d", big) {
			t.Fatalf("target after the repair (id, v, _version): %v %v", got, err)
		}

		// A streaming pipeline: the row written while apply is stopped.
		s, file, state, a := startRepairable(t, myDSN, "(1, 'a'), (2, 'b'), (3, 'c')", 3)
		db, chDSN := s.db, s.chDSN
		a.stop(t)
		handRow(t, s, 2, "HAND", big)
		a = startApply(t, state, file)
		myExec(t, s.my, "UPDATE "+db+".t SET v = 'a2' WHERE id = 1")
		a.waitFor(t, "the update of key 1", 2*time.Minute, func() (bool, string) {
			n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.t FINAL WHERE id = 1 AND v = 'a2'", db))
			return err == nil && n == 1, fmt.Sprintf("%d, %v", n, err)
		})
		repairFollows(t, a, s, state, file, 2, "after apply restarted", big)
		a.running(t)
	})
}

// checkpointMark returns the members of the mark of source s's checkpoint
// in state, and its version counter.
func checkpointMark(t *testing.T, state string) (map[string]json.RawMessage, uint64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(state, "source-s.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cp struct {
		Mark map[string]json.RawMessage `json:"mark"`
	}
	var v uint64
	if err := json.Unmarshal(b, &cp); err != nil || json.Unmarshal(cp.Mark["version"], &v) != nil {
		t.Fatalf("checkpoint %s: %v:\n%s", filepath.Join(state, "source-s.json"), err, b)
	}
	return cp.Mark, v
}

// sameButVersion reports whether two marks' members other than the
// version counter are equal, as JSON values.
func sameButVersion(t *testing.T, a, b map[string]json.RawMessage) bool {
	t.Helper()
	values := func(m map[string]json.RawMessage) map[string]any {
		out := map[string]any{}
		for k, raw := range m {
			if k == "version" {
				continue
			}
			var x any
			if err := json.Unmarshal(raw, &x); err != nil {
				t.Fatalf("mark member %s: %v", k, err)
			}
			out[k] = x
		}
		return out
	}
	return reflect.DeepEqual(values(a), values(b))
}

// TestVerifyVersionAheadRestartedIdle: apply stopped and started again, as
// verify --repair says to for a key whose target row was written by hand
// above every version of the stream, with no change at the source since:
// the restarted apply starts its versions above the row (versionFloor) and
// writes that counter into its checkpoint as it starts, at the same
// position, so verify --repair next to it repairs the key, and a later
// change of the key at the source reaches the target over the repair.
// Before, the checkpoint kept the old counter until the next change at
// the source wrote a mark: on an idle source verify kept leaving the key
// and saying to restart apply, which had just been done.
//
// The shared servers are not idle (other tests write to them, and the
// stream's idle marks carry the raised counter into the checkpoint within
// a second or two), so the first restart runs with ETLQ_TEST_FAULT
// =no-commit: its commit loop writes no checkpoint, as on an idle source
// where no mark comes; its checkpoint must hold the raised counter and
// the old position all the same. It is then killed (SIGKILL) before any
// row: the next apply, started plainly, must still start above every
// version in the target (its first change of the key shows over the
// repair, at a larger _version). The second restart, plain, is the
// user's way: verify leaves a key next to the running apply, apply
// restarted, verify --repair at once. Both servers.
func TestVerifyVersionAheadRestartedIdle(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s, file, state, a := startRepairable(t, myDSN, "(1, 'a'), (2, 'b'), (3, 'c')", 3)
		big := uint64(1) << 62
		handRow(t, s, 2, "HAND", big)
		a.stop(t)
		before, c0 := checkpointMark(t, state)
		if c0 == 0 || c0 >= big {
			t.Fatalf("the checkpoint's counter is %d before the restart, want it below the row's _version %d", c0, big)
		}

		a = startApplyEnv(t, []string{"ETLQ_TEST_FAULT=no-commit"}, state, file)
		var after map[string]json.RawMessage
		a.waitFor(t, "the restarted apply's raised counter in its checkpoint, with no change at the source", 2*time.Minute, func() (bool, string) {
			var c uint64
			after, c = checkpointMark(t, state)
			return c > big, fmt.Sprintf("the checkpoint's counter is %d (was %d), the row's _version %d", c, c0, big)
		})
		if !sameButVersion(t, before, after) {
			t.Fatalf("the checkpoint written as apply started moved more than its counter:\nbefore %s\nafter  %s", before, after)
		}
		a.cmd.Process.Kill()
		select {
		case <-a.done:
		case <-time.After(time.Minute):
			t.Fatal("etlq apply did not end on SIGKILL")
		}

		a = startApply(t, state, file)
		repairFollows(t, a, s, state, file, 2, "next to the apply restarted after the kill, no change at the source", big)

		// The user's way, with apply running as it should.
		big2 := uint64(1) << 63
		handRow(t, s, 3, "HAND", big2)
		v, code, out := runVerify(t, "--state-dir", state, "--repair", file)
		if r := v.Pipelines[0]; code != 1 || r.Repaired != 0 || r.VersionAhead != 1 || !strings.Contains(r.RepairSkipped, "stop etlq apply and start it again") {
			t.Fatalf("verify --repair of a row above the stream's versions next to the running apply: exit %d, want it left, with what to do:\n%s", code, out)
		}
		a.stop(t)
		a = startApply(t, state, file)
		a.waitFor(t, "the restarted apply's raised counter", 2*time.Minute, func() (bool, string) {
			return strings.Contains(a.out.String(), "version counter raised above the target's"), "not raised yet"
		})
		repairFollows(t, a, s, state, file, 3, "next to the restarted apply, no change at the source", big2)
		if v, code, out := runVerify(t, "--state-dir", state, file); code != 0 || !v.OK {
			t.Fatalf("verify after the updates of the repaired keys: exit %d:\n%s", code, out)
		}
		a.running(t)
	})
}
