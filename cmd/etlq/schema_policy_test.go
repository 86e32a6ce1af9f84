package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// TestSchemaChangesPipelinesDisagree: schema_changes is a pipeline option
// (docs/connectors.md: "what an ALTER TABLE of a source table does to the
// pipeline"), but the policy acts on the source's one binlog stream, which
// the pipelines of a source share. Two pipelines of one source that ask
// for different policies are refused by check (and apply) with both
// named: the stream used to take the last pipeline's value for all of
// them, silently, so that a 'fail' pipeline stopped its 'ignore'
// neighbour at the first ALTER, and in the other order the 'fail' one
// followed the DDL as if it had said 'ignore'.
func TestSchemaChangesPipelinesDisagree(t *testing.T) {
	t.Parallel()
	onBothServers(t, func(t *testing.T, myDSN string) {
		s := newScratch(t, myDSN)
		myExec(t, s.my,
			"CREATE DATABASE "+s.db,
			"CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, a INT, b INT)",
		)
		dir := t.TempDir()
		for _, c := range []struct {
			name, pipes string
			ok          bool
		}{
			{"ignore_then_fail", "ign:'ignore' fl:'fail'", false},
			{"fail_then_ignore", "fl:'fail' ign:'ignore'", false},
			{"fail_and_unset", "fl:'fail' plain:", false},
			{"same_everywhere", "a:'ignore' b:'ignore'", true},
			{"unset_everywhere", "a: b:", true},
		} {
			var b strings.Builder
			fmt.Fprintf(&b, "CREATE SOURCE s FROM mysql '%s';\n", myDSN)
			for _, p := range strings.Fields(c.pipes) {
				name, policy, _ := strings.Cut(p, ":")
				with := ""
				if policy != "" {
					with = " WITH (schema_changes = " + policy + ")"
				}
				fmt.Fprintf(&b, "CREATE PIPELINE %s FROM binlog s.%s.t INTO file '%s'%s;\n", name, s.db, filepath.Join(dir, c.name+"_"+name+".jsonl"), with)
			}
			path := filepath.Join(dir, c.name+".etl")
			writeFile(t, path, b.String())
			out, err := runEtlq(t, "check", "--state-dir", filepath.Join(dir, "state"), path)
			if c.ok {
				if err != nil {
					t.Errorf("%s: check: %v\n%s", c.name, err, out)
				}
				continue
			}
			if err == nil || !strings.Contains(out, "schema_changes") || !strings.Contains(out, "disagree") {
				t.Errorf("%s: check: %v, want exit 1 naming the pipelines whose schema_changes disagree:\n%s", c.name, err, out)
			}
		}
	})
}
