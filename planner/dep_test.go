package planner_test

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv/layers"
)

// TestLayerImports: planner/ imports no etlq layer but [lang stdlib exec connectors].
func TestLayerImports(t *testing.T) {
	layers.Check(t, "planner", "lang", "stdlib", "exec", "connectors")
}

// TestNoDrivers: the compiler layers' tests run without servers and link no
// database driver.
func TestNoDrivers(t *testing.T) {
	layers.CheckNoDrivers(t)
}
