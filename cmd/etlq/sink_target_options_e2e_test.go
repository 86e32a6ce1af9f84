package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestSinkTargetOptionsAreDefaults: docs/connectors.md says target options
// given on the sink are defaults for every pipeline. A ClickHouse sink's
// out_of_range = 'null' makes a 2200 date NULL in a pipeline that sets
// nothing, while a pipeline's own WITH (out_of_range = 'fail') wins, and
// plan shows each pipeline's value; file, stdout and http sinks' target
// options pass check the same way. Failed before: check refused every
// target option on CREATE SINK as unknown.
func TestSinkTargetOptionsAreDefaults(t *testing.T) {
	t.Parallel()
	onBothServers(t, testSinkTargetOptionsAreDefaults)
}

func testSinkTargetOptionsAreDefaults(t *testing.T, myDSN string) {
	s := newScratch(t, myDSN)
	db, my, ch := s.db, s.my, s.ch
	myExec(t, my, "CREATE DATABASE "+db,
		"CREATE TABLE "+db+".t (id INT PRIMARY KEY, d DATE NOT NULL)",
		"INSERT INTO "+db+".t VALUES (1, '2024-05-06'), (2, '2200-01-01')")
	dir := t.TempDir()
	file, state := filepath.Join(dir, "p.etl"), filepath.Join(dir, "state")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[3]d);
CREATE SINK dw INTO clickhouse '%[2]s' WITH (out_of_range = 'null', batch_rows = 1000);
CREATE PIPELINE p FROM binlog s.%[4]s.t SNAPSHOT initial
  TRANSFORM id, d
  INTO clickhouse dw.%[4]s.p;
CREATE PIPELINE q FROM binlog s.%[4]s.t SNAPSHOT initial WHERE id = 1
  TRANSFORM id, d
  INTO clickhouse dw.%[4]s.q WITH (out_of_range = 'fail');
`, myDSN, s.chDSN, testServerID(), db))
	mustEtlq(t, "check", file)
	plan := mustEtlq(t, "plan", file)
	p, q, _ := strings.Cut(plan, "\npipeline q")
	for _, want := range []string{"out_of_range = null", "batch_rows = 1000", "`d` Nullable(Date)"} {
		if !strings.Contains(p, want) {
			t.Errorf("plan of p lacks %q:\n%s", want, p)
		}
	}
	for _, want := range []string{"out_of_range = fail", "batch_rows = 1000", "`d` Date"} {
		if !strings.Contains(q, want) {
			t.Errorf("plan of q lacks %q:\n%s", want, q)
		}
	}
	mustEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", state, file)
	diffRows(t, []string{"1|2024-05-06", "2|NULL"},
		chRows(t, ch, fmt.Sprintf("SELECT toString(id), toString(d) FROM %s.p_current ORDER BY id", db)))
	if got := strings.Join(chRows(t, ch, fmt.Sprintf("SELECT type FROM system.columns WHERE database = '%s' AND table = 'q' AND name = 'd'", db)), ""); got != "Date" {
		t.Errorf("q's column d is %s, want Date (its own out_of_range = 'fail')", got)
	}

	// The other sink kinds with target options take them on the sink too.
	other := filepath.Join(dir, "other.etl")
	writeFile(t, other, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[2]d);
CREATE SINK files INTO file '%[4]s' WITH (rotate_rows = 10, flush_interval = '0s');
CREATE SINK screen INTO stdout '' WITH (color = false);
CREATE SINK hook INTO http 'http://127.0.0.1:1/hook' WITH (retry_max = 2);
CREATE PIPELINE f FROM binlog s.%[3]s.t TRANSFORM id INTO files 'f.parquet';
CREATE PIPELINE o FROM binlog s.%[3]s.t TRANSFORM id INTO screen WITH (color = true);
CREATE PIPELINE h FROM binlog s.%[3]s.t TRANSFORM id INTO hook 'http://127.0.0.1:1/hook';
`, myDSN, testServerID(), db, filepath.Join(dir, "out")))
	mustEtlq(t, "check", other)
	plan = mustEtlq(t, "plan", other)
	for _, want := range []string{"rotate_rows = 10", "flush_interval = 0s", "color = true", "retry_max = 2"} {
		if !strings.Contains(plan, want) {
			t.Errorf("plan lacks %q:\n%s", want, plan)
		}
	}
}

// TestTargetErrorNamesPipelineOnce: an error of a ClickHouse target's
// layout (a key column under out_of_range = 'null', here given on the
// sink) names its pipeline once. Failed before: "pipeline k: pipeline
// \"k\": …", the sink and its caller both adding the prefix.
func TestTargetErrorNamesPipelineOnce(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		db := s.db
		myExec(t, s.my, "CREATE DATABASE "+db,
			"CREATE TABLE "+db+".t (id INT PRIMARY KEY, created_at DATETIME NOT NULL)")
		file := filepath.Join(t.TempDir(), "k.etl")
		writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s' WITH (server_id = %[3]d);
CREATE SINK dw INTO clickhouse '%[2]s' WITH (out_of_range = 'null');
CREATE PIPELINE k FROM binlog s.%[4]s.t
  TRANSFORM id, date(created_at) AS day
  INTO clickhouse dw.%[4]s.k MODE upsert KEY (id, day);
`, myDSN, s.chDSN, testServerID(), db))
		for _, cmd := range []string{"check", "plan", "apply"} {
			args := []string{cmd, file}
			if cmd == "apply" {
				args = []string{cmd, "--once", "--progress", "never", "--state-dir", filepath.Join(t.TempDir(), "state"), file}
			}
			out, err := runEtlq(t, args...)
			if err == nil || !strings.Contains(out, `key column "day"`) {
				t.Errorf("%s of a date key under the sink's out_of_range = 'null': %v\n%s", cmd, err, out)
				continue
			}
			if n := strings.Count(out, "pipeline k:") + strings.Count(out, `pipeline "k"`); n != 1 {
				t.Errorf("%s names the pipeline %d times:\n%s", cmd, n, out)
			}
		}
	})
}
