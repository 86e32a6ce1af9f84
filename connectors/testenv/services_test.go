package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestServicesEnvMatchesDefaults keeps scripts/services and this package
// in step: the DSNs the script prints are the defaults used here.
func TestServicesEnvMatchesDefaults(t *testing.T) {
	cmd := exec.Command("bash", "../../scripts/services", "env")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")} // no port overrides
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/services env: %v", err)
	}
	certs, err := filepath.Abs("../../.scratch/certs")
	if err != nil {
		t.Fatal(err)
	}
	want := "export " + EnvMySQLDSN + "=" + DefaultMySQLDSN + "\n" +
		"export " + EnvMySQLMinimalDSN + "=" + DefaultMySQLMinimalDSN + "\n" +
		"export " + EnvClickHouseDSN + "=" + DefaultClickHouseDSN + "\n" +
		"export " + EnvMySQLTLSDSN + "=" + DefaultMySQLTLSDSN + "\n" +
		// Quoted: the shell would take the '?' for a pattern.
		"export " + EnvClickHouseTLSDSN + "='" + DefaultClickHouseTLSDSN + "'\n" +
		"export " + EnvTLSCerts + "=" + certs + "\n" +
		"export " + EnvNATSURL + "=" + DefaultNATSURL + "\n"
	if string(out) != want {
		t.Errorf("scripts/services env printed\n%s\nwant\n%s", out, want)
	}
	cmd = exec.Command("bash", "../../scripts/services", "env")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "ETLQ_MYSQL_PORT=4400", "ETLQ_CLICKHOUSE_PORT=4500"}
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("scripts/services env: %v", err)
	}
	if !strings.Contains(string(out), "=mysql://root@127.0.0.1:4400\n") || !strings.Contains(string(out), "=clickhouse://127.0.0.1:4500\n") {
		t.Errorf("moved ports not printed:\n%s", out)
	}
}
