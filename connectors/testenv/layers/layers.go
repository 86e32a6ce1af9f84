// Package layers checks that etlq's packages import one another in one
// direction (STYLE.md). It imports nothing but the standard library, so a
// layer's dep_test.go links no database driver.
package layers

import (
	"os/exec"
	"strings"
	"testing"
)

// module is the import path prefix of etlq's own packages.
const module = "github.com/etlq/etlq/"

// sublayers are packages below another layer's directory that are layers of
// their own, with their own dep_test.go: the runtime sits under exec/ but
// wires planner, exec and connectors, which exec itself may never import.
var sublayers = []string{"exec/engine"}

// layerOf returns the layer a package path (relative to the module) belongs
// to: the longest sublayer it is in, else its first path element, except
// that the root connectors package (the contracts) is the layer
// "connectors" and each concrete connector is "connectors/<name>".
func layerOf(p string) string {
	for _, s := range sublayers {
		if p == s || strings.HasPrefix(p, s+"/") {
			return s
		}
	}
	first, rest, _ := strings.Cut(p, "/")
	if first == "connectors" && rest != "" {
		name, _, _ := strings.Cut(rest, "/")
		return "connectors/" + name
	}
	return first
}

// allows reports whether a package in layer may import package p: p is in
// the same layer, or its layer is one of allowed. "connectors" allows the
// contracts package only; "connectors/*" allows every concrete connector.
func allows(layer string, allowed []string, p string) bool {
	l := layerOf(p)
	if l == layer {
		return true
	}
	for _, a := range allowed {
		if a == l || a == "connectors/*" && strings.HasPrefix(l, "connectors/") {
			return true
		}
	}
	return false
}

// inLayer reports whether a package of layer own is one that Check checks
// for layer: own is layer, or a concrete connector when layer is
// "connectors/*".
func inLayer(layer, own string) bool {
	return own == layer || layer == "connectors/*" && strings.HasPrefix(own, "connectors/")
}

// Check keeps imports pointing one way: the non-test code of the packages
// of layer below the current directory may import, of etlq's own packages,
// only packages of their own layer and of the layers allowed. Layer
// "connectors/*" checks every concrete connector; packages of another
// layer below the directory (the runtime, exec/engine, below exec/; the
// contracts and the concrete connectors) are left to their own Check.
func Check(t *testing.T, layer string, allowed ...string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}:{{join .Imports " "}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, ":")
		rel, ok := strings.CutPrefix(pkg, module)
		own := layerOf(rel)
		if !ok || !inLayer(layer, own) {
			continue
		}
		checked++
		for _, imp := range strings.Fields(imports) {
			p, ok := strings.CutPrefix(imp, module)
			if !ok || allows(own, allowed, p) {
				continue
			}
			t.Errorf("%s imports %s: %s may import only [%s]", pkg, imp, layer, strings.Join(allowed, " "))
		}
	}
	if checked == 0 {
		t.Errorf("no package of layer %s below the current directory", layer)
	}
}

// drivers are the import path prefixes of the clients of database servers
// and of the message log: what the compiler layers' tests must not link.
var drivers = []string{
	"github.com/go-mysql-org/go-mysql/",
	"github.com/go-sql-driver/",
	"github.com/ClickHouse/",
	"github.com/nats-io/",
}

// isDriver reports whether package path p belongs to a driver.
func isDriver(p string) bool {
	for _, d := range drivers {
		if strings.HasPrefix(p+"/", d) {
			return true
		}
	}
	return false
}

// CheckNoDrivers fails when the package in the current directory, with its
// tests, links a database driver (`go list -deps -test .`): the compiler
// layers (lang, planner, exec, stdlib) are tested without servers, against
// copies of the connectors' specs (connectors/specstest).
func CheckNoDrivers(t *testing.T) {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-test", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if isDriver(p) {
			t.Errorf("the tests link the driver package %s", p)
		}
	}
}
