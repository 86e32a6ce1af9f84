package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStoppedPipelineResnapshot: a pipeline stopped alone by a change its
// target cannot take, with the advice to run `etlq resnapshot`, resumes
// when the advice is followed: the request is honoured although the
// pipeline replays from its own checkpoint (which meets the same change
// again), the table is read again from the source's position, and the
// other table of the pipeline catches up from its own checkpoint with
// nothing lost. The other pipeline of the source goes on. Before the fix,
// the next apply stopped the pipeline again at the same change and left
// the request unused.
//
// Two advices: a changelog target ("drop it and etlq resnapshot the
// table"), with changes of the table while etlq is stopped; an upsert
// target of the table, which a changelog pipeline of the same table keeps
// from being rebuilt when the change comes ("etlq resnapshot" rebuilds
// it), the table not changed while stopped (changes before the
// rebuild's start: TestStoppedRebuildNotStoppedAgain).
func TestStoppedPipelineResnapshot(t *testing.T) {
	t.Parallel()
	t.Run("drop", func(t *testing.T) {
		t.Parallel()
		onBothServers(t, func(t *testing.T, myDSN string) { testStoppedPipelineResnapshot(t, myDSN, false) })
	})
	t.Run("rebuild", func(t *testing.T) {
		t.Parallel()
		onBothServers(t, func(t *testing.T, myDSN string) { testStoppedPipelineResnapshot(t, myDSN, true) })
	})
}

func testStoppedPipelineResnapshot(t *testing.T, myDSN string, rebuild bool) {
	{
		s := newScratch(t, myDSN)
		db, my, ch := s.db, s.my, s.ch
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, d DATE)",
			"CREATE TABLE "+db+".u (id INT PRIMARY KEY, v INT)",

			"INSERT INTO "+db+".t VALUES (1, '2024-01-02'), (2, '2024-03-04'), (3, NULL)",
			"INSERT INTO "+db+".u (id, v) VALUES (1, 10), (2, 20)")
		stopped, upFile := []string{"p_t"}, ""
		if rebuild {
			stopped = append(stopped, "p_up")
			upFile = fmt.Sprintf("CREATE PIPELINE p_up FROM binlog s.%[1]s.t INTO clickhouse dw.%[1]s.t_up WITH (flush_interval = '100ms');\n", db)
		}
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[3]d);
CREATE SINK dw INTO clickhouse '%[2]s';
CREATE PIPELINE p_ok FROM binlog s.%[4]s.u INTO clickhouse dw.%[4]s.u_ok WITH (flush_interval = '100ms');
CREATE PIPELINE p_t FROM binlog s.%[4]s.t INTO clickhouse dw.%[4]s.t_t MODE changelog WITH (flush_interval = '100ms');
`, myDSN, s.chDSN, testServerID(), db)+upFile)
		apply := func() (string, error) {
			return runEtlq(t, "apply", "--once", "--state-dir", state, "--progress", "never", file)
		}
		a := startApply(t, state, file)
		a.waitSame(t, my, ch, "SELECT id FROM "+db+".u ORDER BY id", "SELECT toString(id) FROM "+db+".u_ok_current ORDER BY id", 90*time.Second)
		a.waitFor(t, "t's snapshot in its target", 60*time.Second, func() (bool, string) {
			r := chRows(t, ch, "SELECT toString(count()) FROM "+db+".t_t")
			return len(r) == 1 && r[0] == "3", fmt.Sprint(r)
		})

		// A change no target of t can take (DATE → INT: no type holds
		// both), with changes of u around it.
		myExec(t, my, "INSERT INTO "+db+".u (id, v) VALUES (3, 30)",
			"ALTER TABLE "+db+".t MODIFY d INT",

			"INSERT INTO "+db+".t VALUES (4, 44)",
			"UPDATE "+db+".u SET v = 21 WHERE id = 2")
		a.waitFor(t, "p_t stops alone", 60*time.Second, func() (bool, string) {
			return strings.Contains(a.out.String(), "pipeline stopped; the other pipelines of the source go on"), "no pipeline stopped yet"
		})
		a.waitSame(t, my, ch, "SELECT id, v FROM "+db+".u ORDER BY id", "SELECT toString(id), toString(v) FROM "+db+".u_ok_current ORDER BY id", 60*time.Second)
		out := a.stopFailing(t)
		for _, p := range stopped {
			if !strings.Contains(out, "pipeline "+p+" stopped") || !strings.Contains(out, "etlq resnapshot "+file+" "+p+" ") {
				t.Fatalf("the type change does not stop %s with the advice to resnapshot:\n%s", p, out)
			}
		}
		// Changes while stopped.
		myExec(t, my, "INSERT INTO "+db+".u (id, v) VALUES (5, 50)", "DELETE FROM "+db+".u WHERE id = 1",
			"INSERT INTO "+db+".t VALUES (6, 66)", "UPDATE "+db+".t SET d = 7 WHERE id = 1")

		// The advice, followed as given.
		advice := regexp.MustCompile(`etlq resnapshot (\S+) (\S+) (\S+)`).FindAllStringSubmatch(out, -1)
		if len(advice) == 0 {
			t.Fatalf("no resnapshot command in the advice:\n%s", out)
		}
		// "drop T in the sink": a target that cannot be rebuilt in place.
		for _, d := range regexp.MustCompile(`drop (\S+) in the sink`).FindAllStringSubmatch(out, -1) {
			if err := ch.Exec(context.Background(), "DROP TABLE IF EXISTS "+d[1]); err != nil {
				t.Fatal(err)
			}
		}
		// One pipeline's advice after the other: each resnapshot, then
		// apply. (Both requests of one table at once — a plain re-read
		// and a rebuild — are another matter: see the report.)
		seen := map[string]bool{}
		var cmds [][]string
		for _, a := range advice {
			if !seen[a[0]] {
				seen[a[0]] = true
				cmds = append(cmds, a)
			}
		}
		var out2 string
		for i, a := range cmds {
			mustEtlq(t, "resnapshot", "--state-dir", state, a[1], a[2], strings.TrimRight(a[3], ",.;"))
			var err error
			out2, err = apply()
			if i == len(cmds)-1 && err != nil {
				t.Fatalf("apply after the advised resnapshot: %v\n%s", err, out2)
			}
			if strings.Contains(out2, "pipeline "+a[2]+" stopped") {
				t.Fatalf("%s stopped again after the advised resnapshot:\n%s", a[2], out2)
			}
		}
		if ents, _ := os.ReadDir(filepath.Join(state, "resnapshot")); len(ents) > 0 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("requests left after the apply: %v\n%s", names, out2)
		}
		for _, p := range stopped {
			if own := "source-s@" + p + ".json"; !isGone(filepath.Join(state, own)) {
				t.Errorf("%s is still there:\n%s", own, out2)
			}
		}
		tMy := "SELECT id, IFNULL(d, 'NULL') FROM " + db + ".t ORDER BY id"
		uMy := "SELECT id, IFNULL(v, 'NULL') FROM " + db + ".u ORDER BY id"
		diffRows(t, myRows(t, my, uMy), chRows(t, ch, "SELECT toString(id), ifNull(toString(v), 'NULL') FROM "+db+".u_ok_current ORDER BY id"))
		if !rebuild {
			// (With p_up, the stream reads t again in place at the type
			// change, which a changelog target keeps as more rows.)
			diffRows(t, myRows(t, my, tMy), chRows(t, ch, "SELECT toString(id), ifNull(toString(d), 'NULL') FROM "+db+".t_t ORDER BY id"))
		} else {
			diffRows(t, myRows(t, my, tMy), chRows(t, ch, "SELECT toString(id), ifNull(toString(d), 'NULL') FROM "+db+".t_up_current ORDER BY id"))
		}
		if t.Failed() {
			t.Logf("stop:\n%s\nafter the resnapshot:\n%s", out, out2)
		}
	}
}

func isGone(path string) bool {
	_, err := os.Stat(path)
	return os.IsNotExist(err)
}
