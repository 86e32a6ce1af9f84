package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestPlanOfflineShowsTheFile: `etlq plan --offline` shows what the file
// alone says of each pipeline — the tables it reads (a pattern as
// written), its filter, its outputs in order with the types known without
// the table (a CAST's, a function's RETURNS, metadata columns), ? for the
// others, and that the table's columns are not known offline — where it
// showed the source, sink, mode and options alone. Each known type is the
// one the online plan gives (both servers); offline connects to nothing.
func TestPlanOfflineShowsTheFile(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		myExec(t, s.my,
			"CREATE DATABASE "+s.db,
			"CREATE TABLE "+s.db+".orders (id BIGINT PRIMARY KEY, status VARCHAR(16), amount DECIMAL(12,2), note JSON)",
			"CREATE TABLE "+s.db+".log_a (id INT PRIMARY KEY, msg TEXT)",
			"CREATE TABLE "+s.db+".log_b (id INT PRIMARY KEY, msg TEXT)")
		file := filepath.Join(t.TempDir(), "p.etl")
		src := fmt.Sprintf(`CREATE SOURCE shop FROM mysql '%s';
CREATE FUNCTION tier(amount DECIMAL(12,2)) RETURNS STRING AS EXPR 'amount > 1000 ? "gold" : "standard"';
CREATE PIPELINE orders
  FROM binlog shop.%[2]s.orders SNAPSHOT never
  WHERE status <> 'cancelled'
  TRANSFORM id, amount * 100 AS cents, CAST(amount AS DECIMAL(14,2)) AS wide, tier(amount) AS tier,
    date(_ts) AS day, _op, * EXCEPT (id, amount)
  INTO stdout FORMAT jsonl;
CREATE PIPELINE logs FROM binlog shop.%[2]s.log_* INTO file '%[3]s';
`, myDSN, s.db, filepath.Join(t.TempDir(), "logs.jsonl"))
		if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		state := filepath.Join(t.TempDir(), "state")
		online := mustEtlq(t, "plan", "--state-dir", state, file)
		offline := mustEtlq(t, "plan", "--offline", "--state-dir", state, file)

		for _, want := range []string{
			"  scan       binlog " + s.db + ".orders  snapshot never\n",
			"  filter     status <> 'cancelled'\n",
			"  project    (offline: the table's columns are not known; ? is a type that depends on them)\n",
			"  scan       binlog " + s.db + ".log_*  snapshot initial  (a pattern: the tables it matches are not known offline)\n",
			"  project    every column of the table (not known offline: the source's schema tells them and their types)\n",
		} {
			if !strings.Contains(offline, want) {
				t.Errorf("plan --offline lacks %q:\n%s", want, offline)
			}
		}
		// The outputs of orders, in order: a known type is the online
		// plan's, the others "?".
		item := regexp.MustCompile(`(?m)^    (\S+(?: EXCEPT \([^)]*\))?) +(\S+) += (.*)$`)
		types := func(plan string) map[string]string {
			m := map[string]string{}
			for _, x := range item.FindAllStringSubmatch(plan, -1) {
				m[x[1]] = x[2]
			}
			return m
		}
		on := types(online)
		var names []string
		for _, x := range item.FindAllStringSubmatch(offline, -1) {
			names = append(names, x[1])
		}
		if got, want := strings.Join(names, ","), "id,cents,wide,tier,day,_op,* EXCEPT (id, amount)"; got != want {
			t.Errorf("plan --offline's outputs are %s, want %s:\n%s", got, want, offline)
		}
		off := types(offline)
		for name, want := range map[string]string{"id": "?", "cents": "?", "wide": "DECIMAL(14,2)", "tier": "STRING", "day": "DATE", "_op": "STRING", "* EXCEPT (id, amount)": "?"} {
			if off[name] != want {
				t.Errorf("plan --offline gives %s the type %q, want %q:\n%s", name, off[name], want, offline)
			}
			if want != "?" && on[name] != want {
				t.Errorf("plan gives %s the type %q, plan --offline %q:\n%s", name, on[name], want, online)
			}
		}
		// The sinks are the same online and offline, but the key the
		// table's primary key gives (online only).
		sinks := regexp.MustCompile(`(?m)^  sink .*$`)
		noKey := func(lines []string) string {
			return regexp.MustCompile(`  key \([^)]*\)`).ReplaceAllString(strings.Join(lines, "\n"), "")
		}
		if a, b := noKey(sinks.FindAllString(online, -1)), noKey(sinks.FindAllString(offline, -1)); a != b {
			t.Errorf("sinks online:\n%s\noffline:\n%s", a, b)
		}

		// Offline connects to nothing: a source no one answers plans the same.
		dead := filepath.Join(t.TempDir(), "dead.etl")
		if err := os.WriteFile(dead, []byte(strings.Replace(src, myDSN, "mysql://root@10.255.255.1:3306", 1)), 0o644); err != nil {
			t.Fatal(err)
		}
		source := regexp.MustCompile(`(?m)^  source .*\n`)
		if got := mustEtlq(t, "plan", "--offline", "--state-dir", state, dead); source.ReplaceAllString(got, "") != source.ReplaceAllString(offline, "") {
			t.Errorf("plan --offline of an unreachable source:\n%s\nwant:\n%s", got, offline)
		}
	})
}
