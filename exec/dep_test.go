package exec_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayerImports keeps imports pointing one way (STYLE.md): the non-test
// code under exec/ may import only these etlq layers: [stdlib].
func TestLayerImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := strings.Fields("stdlib")
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		for _, imp := range strings.Fields(imports) {
			layer, ok := strings.CutPrefix(imp, "github.com/etlq/etlq/")
			if !ok || strings.HasPrefix(layer, "exec") {
				continue
			}
			ok = false
			for _, a := range allowed {
				ok = ok || layer == a || strings.HasPrefix(layer, a+"/") && a != "connectors"
			}
			if !ok {
				t.Errorf("%s imports %s: exec may import only [%s]", pkg, imp, strings.Join(allowed, " "))
			}
		}
	}
}
