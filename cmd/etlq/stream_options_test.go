package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestStreamOptionsPipelinesDisagree: start_at, chunk_rows and
// snapshot_parallelism are written per pipeline, but act on the source's
// one binlog stream (its start without a checkpoint, its one snapshot),
// which engine.streamRequest built from the pipelines' options merged, the
// last one winning silently. Pipelines of one source that disagree are
// refused by check and apply, naming both pipelines and both values (as
// schema_changes, TestSchemaChangesPipelinesDisagree); the same value, or
// one set on CREATE SOURCE, passes, and start_at of a SNAPSHOT never
// pipeline beside a pipeline that takes a snapshot (which start_at does
// not concern) passes. On MariaDB A and B.
func TestStreamOptionsPipelinesDisagree(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, a INT)", "CREATE TABLE "+s.db+".u (id INT PRIMARY KEY)")
		dir := t.TempDir()
		for _, c := range []struct {
			name, srcWith string
			pipes         []string // name:snapshot:with
			want          string   // "" passes
		}{
			{"start_at", "", []string{"a:never:start_at = 'earliest'", "b:never:start_at = 'latest'"},
				"pipelines a and b of source s disagree on start_at ('earliest' and 'latest')"},
			{"start_at_unset", "", []string{"a:never:start_at = 'earliest'", "b:never:"},
				"pipelines a and b of source s disagree on start_at ('earliest' and 'latest')"},
			{"chunk_rows", "", []string{"a:initial:chunk_rows = 10", "b:initial:chunk_rows = 20"},
				"pipelines a and b of source s disagree on chunk_rows (10 and 20)"},
			{"chunk_rows_unset", "", []string{"a:initial:", "b:only:chunk_rows = 20"},
				"pipelines a and b of source s disagree on chunk_rows (50000 and 20)"},
			{"parallelism", "", []string{"a:initial:snapshot_parallelism = 1", "b:initial:snapshot_parallelism = 8"},
				"pipelines a and b of source s disagree on snapshot_parallelism (1 and 8)"},
			{"same", "", []string{"a:initial:chunk_rows = 10, snapshot_parallelism = 2", "b:initial:chunk_rows = 10, snapshot_parallelism = 2"}, ""},
			{"on_source", "chunk_rows = 10, snapshot_parallelism = 2, start_at = 'earliest'", []string{"a:initial:", "b:never:", "c:never:start_at = 'earliest'"}, ""},
			{"start_at_beside_snapshot", "", []string{"a:initial:", "b:never:start_at = 'earliest'"}, ""},
			{"chunk_rows_beside_never", "", []string{"a:never:", "b:initial:chunk_rows = 10"}, ""},
		} {
			var b strings.Builder
			with := ""
			if c.srcWith != "" {
				with = " WITH (" + c.srcWith + ")"
			}
			fmt.Fprintf(&b, "CREATE SOURCE s FROM mysql '%s'%s;\n", myDSN, with)
			for i, p := range c.pipes {
				parts := strings.SplitN(p, ":", 3)
				with := ""
				if parts[2] != "" {
					with = " WITH (" + parts[2] + ")"
				}
				table := "t"
				if i%2 == 1 {
					table = "u"
				}
				fmt.Fprintf(&b, "CREATE PIPELINE %s FROM binlog s.%s.%s SNAPSHOT %s INTO file '%s'%s;\n", parts[0], s.db, table, parts[1], filepath.Join(dir, c.name+"_"+parts[0]+".jsonl"), with)
			}
			path := filepath.Join(dir, c.name+".etl")
			writeFile(t, path, b.String())
			out, err := runEtlq(t, "check", "--state-dir", filepath.Join(dir, "state_"+c.name), path)
			if c.want == "" {
				if err != nil {
					t.Errorf("%s: check: %v\n%s", c.name, err, out)
				}
				continue
			}
			if err == nil || !strings.Contains(out, c.want) || !strings.Contains(out, "one binlog stream") || !strings.Contains(out, c.name+".etl:3:") {
				t.Errorf("%s: check: %v, want exit 1 at the second pipeline with %q:\n%s", c.name, err, c.want, out)
			}
			if c.name == "chunk_rows" {
				out, err := runEtlq(t, "apply", "--once", "--progress", "never", "--state-dir", filepath.Join(dir, "state_"+c.name), path)
				if err == nil || !strings.Contains(out, c.want) {
					t.Errorf("%s: apply: %v, want it refused with %q:\n%s", c.name, err, c.want, out)
				}
			}
		}
	})
}
