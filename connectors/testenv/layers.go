package testenv

import (
	"os/exec"
	"strings"
	"testing"
)

// CheckLayerImports keeps imports pointing one way (STYLE.md): the non-test
// code of the packages under the current directory may import, of etlq's
// own packages, only their own subpackages and the layers listed. A layer
// "connectors" allows the connectors package itself, not its subpackages.
// Each layer's dep_test.go calls it.
func CheckLayerImports(t *testing.T, layer string, allowed ...string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		for _, imp := range strings.Fields(imports) {
			p, ok := strings.CutPrefix(imp, "github.com/etlq/etlq/")
			if !ok || p == layer || strings.HasPrefix(p, layer+"/") {
				continue
			}
			ok = false
			for _, a := range allowed {
				ok = ok || p == a || (a != "connectors" && strings.HasPrefix(p, a+"/"))
			}
			if !ok {
				t.Errorf("%s imports %s: %s may import only [%s]", pkg, imp, layer, strings.Join(allowed, " "))
			}
		}
	}
}
