package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifySaysWhatItLeavesOut: a bare `etlq verify FILE` says of each
// pipeline it does not verify that it does not, and why (it left append
// pipelines and key-less changelogs out without a word); and the reason a
// changelog has no key is its own: the output leaving the primary key out
// is not "no primary key at the source".
func TestVerifySaysWhatItLeavesOut(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db, my, chDSN := s.db, s.my, s.chDSN
		myExec(t, my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, v VARCHAR(16) NOT NULL)",
			"CREATE TABLE "+db+".k (v VARCHAR(16) NOT NULL)",
			"INSERT INTO "+db+".t VALUES (1, 'a'), (2, 'b')", "INSERT INTO "+db+".k VALUES ('x')")
		dir := t.TempDir()
		file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[2]d);
CREATE SINK dw INTO clickhouse '%[3]s';
CREATE PIPELINE p FROM binlog s.%[4]s.t INTO clickhouse dw.%[4]s.p;
CREATE PIPELINE audit FROM binlog s.%[4]s.t TRANSFORM v, _op INTO clickhouse dw.%[4]s.audit MODE changelog;
CREATE PIPELINE nokey FROM binlog s.%[4]s.k INTO clickhouse dw.%[4]s.nokey MODE changelog;
CREATE PIPELINE feed FROM binlog s.%[4]s.t INTO clickhouse dw.%[4]s.feed MODE append;
`, myDSN, testServerID(), chDSN, db))
		if out, err := runEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file); err != nil {
			t.Fatalf("apply: %v\n%s", err, out)
		}
		out, err := runEtlq(t, "verify", "--progress", "never", "--lag-timeout", "5s", "--state-dir", state, file)
		if err != nil {
			t.Fatalf("verify of equal targets failed: %v\n%s", err, out)
		}
		for _, want := range []string{
			"pipeline audit: not verified: verify replays a changelog by its key, and this one has none (its output leaves out the source's primary key column id: add it to TRANSFORM, or write KEY (…))\n",
			"pipeline nokey: not verified: verify replays a changelog by its key, and this one has none (no KEY, and " + db + ".k has no primary key at the source)\n",
			"pipeline feed: not verified: verify compares upsert and changelog pipelines only (this one is append",
			"ok: every target verified equals its source (3 pipelines not verified, above)",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("verify output lacks %q:\n%s", want, out)
			}
		}
		if !strings.Contains(out, "p  ") && !strings.Contains(out, " p ") {
			t.Errorf("verify output has no row of the upsert pipeline p:\n%s", out)
		}
		out, err = runEtlq(t, "verify", "--progress", "never", "--state-dir", state, file, "audit")
		if err == nil || !strings.Contains(out, "pipeline audit: verify replays a changelog by its key, and this one has none (its output leaves out the source's primary key column id") ||
			strings.Contains(out, "no primary key at the source") {
			t.Errorf("verify FILE audit (a changelog whose table has a key its output leaves out): %v\n%s", err, out)
		}
	})
}
