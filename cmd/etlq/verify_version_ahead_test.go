package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestVerifyVersionAhead: a target row written by hand with a _version
// above every version the pipeline's stream has given is reported with
// that cause, and --repair leaves it, saying what to do: a repair row
// would have to outrank it and would then outrank the running apply's
// later changes of the key as well. After a restart of apply (its
// versions start above the largest in its targets) --repair rewrites the
// key, and a later change of it at the source reaches the target over
// the repair. Before, verify said "changed" without a cause, and --repair
// wrote a row that tied with the hand-written one: the key then kept the
// repair's value, the pipeline's later changes never showed. Both servers.
func TestVerifyVersionAhead(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s, file, state, a := startRepairable(t, myDSN, "(1, 'a'), (2, 'b'), (3, 'c')", 3)
		db, chDSN := s.db, s.chDSN
		ctx := context.Background()
		big := uint64(1) << 62
		if err := s.ch.Exec(ctx, fmt.Sprintf("INSERT INTO %s.t (id, v, _version) SELECT id, 'HAND', toUInt64(%d) FROM %s.t WHERE id = 2 LIMIT 1", db, big, db)); err != nil {
			t.Fatal(err)
		}
		waitCHCount(t, chDSN, fmt.Sprintf("SELECT count() FROM %s.t FINAL WHERE id = 2 AND v = 'HAND'", db), 1, time.Minute)

		v, code, out := runVerify(t, "--state-dir", state, file)
		r := v.Pipelines[0]
		if code != 1 || r.Changed != 1 || r.VersionAhead != 1 || r.StreamVersion == 0 || r.StreamVersion > big ||
			len(r.Diffs) != 1 || !strings.Contains(r.Diffs[0].Cause, fmt.Sprintf("_version %d is above every version the pipeline's stream has given", big)) {
			t.Fatalf("verify of a row written by hand above the stream's versions: exit %d, want key 2 changed with that cause:\n%s", code, out)
		}
		text, _ := runEtlq(t, "verify", "--state-dir", state, file)
		if !strings.Contains(text, "cause: the target row's _version") || !strings.Contains(text, "1 of them: the target row's _version is above") {
			t.Errorf("the text output does not name the cause:\n%s", text)
		}

		v, code, out = runVerify(t, "--state-dir", state, "--repair", file)
		r = v.Pipelines[0]
		if code != 1 || r.Repaired != 0 || r.VersionAhead != 1 || !strings.Contains(r.RepairSkipped, "Restart etlq apply") {
			t.Fatalf("verify --repair of it: exit %d, want it left with what to do:\n%s", code, out)
		}
		if n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.t FINAL WHERE id = 2 AND v = 'HAND'", db)); err != nil || n != 1 {
			t.Fatalf("--repair wrote the key (%d, %v)", n, err)
		}

		// What the message says: restart apply, then repair.
		a.stop(t)
		a = startApply(t, state, file)
		myExec(t, s.my, "UPDATE "+db+".t SET v = 'a2' WHERE id = 1") // a checkpoint of the restarted stream
		a.waitFor(t, "the update of key 1", 2*time.Minute, func() (bool, string) {
			n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.t FINAL WHERE id = 1 AND v = 'a2'", db))
			return err == nil && n == 1, fmt.Sprintf("%d, %v", n, err)
		})
		v, code, out = runVerify(t, "--state-dir", state, "--repair", file)
		r = v.Pipelines[0]
		if code != 0 || !v.OK || r.Repaired != 1 || r.VersionAhead != 0 {
			t.Fatalf("verify --repair after apply restarted: exit %d, want key 2 repaired:\n%s", code, out)
		}
		myExec(t, s.my, "UPDATE "+db+".t SET v = 'later' WHERE id = 2")
		a.waitFor(t, "the update of the repaired key", 2*time.Minute, func() (bool, string) {
			n, err := chCount(chDSN, fmt.Sprintf("SELECT count() FROM %s.t FINAL WHERE id = 2 AND v = 'later' AND _is_deleted = 0", db))
			return err == nil && n == 1, fmt.Sprintf("%d, %v", n, err)
		})
		a.running(t)
	})
}
