package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestPlanShowsDeclaredSinkTargets: for a pipeline that writes into a
// declared file, http or stdout sink (INTO name ['target']), plan printed
// the sink's name glued to the target as if it were a database
// ("file files.p2.csv", "http hook." with a trailing dot, "stdout out.");
// it shows where the rows go — the path under the sink's base directory,
// the URL (the sink's own when the pipeline gives none), the password
// masked — and names the sink (new-user trial).
func TestPlanShowsDeclaredSinkTargets(t *testing.T) {
	t.Parallel()
	myDSN := testenv.MySQLDSN(t)
	s := newScratch(t, myDSN)
	myExec(t, s.my, "CREATE DATABASE "+s.db, "CREATE TABLE "+s.db+".t (id INT PRIMARY KEY, v INT)")
	dir := t.TempDir()
	file := filepath.Join(dir, "p.etl")
	writeFile(t, file, fmt.Sprintf(`CREATE SOURCE s FROM mysql '%[1]s';
CREATE SINK files INTO file '%[3]s';
CREATE SINK hook INTO http 'http://127.0.0.1:9/hook';
CREATE SINK out INTO stdout '';
CREATE PIPELINE rel FROM binlog s.%[2]s.t INTO files 'sub/p.csv';
CREATE PIPELINE abs FROM binlog s.%[2]s.t INTO files '/var/tmp/abs.jsonl';
CREATE PIPELINE own FROM binlog s.%[2]s.t INTO hook FORMAT canal_json;
CREATE PIPELINE url FROM binlog s.%[2]s.t INTO hook 'http://u:${PW}@127.0.0.1:9/other';
CREATE PIPELINE std FROM binlog s.%[2]s.t INTO out;
`, myDSN, s.db, filepath.Join(dir, "exports")))
	cmd := exec.Command(etlqBin, "plan", file)
	cmd.Env = append(os.Environ(), "PW=pa55word")
	b, err := cmd.CombinedOutput()
	out := string(b)
	if err != nil {
		t.Fatalf("plan: %v\n%s", err, out)
	}
	for _, want := range []string{
		"  sink       file " + filepath.Join(dir, "exports", "sub", "p.csv") + " (sink files)  mode append",
		"  sink       file /var/tmp/abs.jsonl (sink files)  mode append",
		"  sink       http http://127.0.0.1:9/hook (sink hook)  mode append  key (id)  format canal_json",
		"  sink       http http://u:****@127.0.0.1:9/other (sink hook)  mode append",
		"  sink       stdout (sink out)  mode append",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "pa55word") {
		t.Errorf("plan shows the password:\n%s", out)
	}
}
