package exec_test

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv/layers"
)

// TestLayerImports: exec/ imports no etlq layer but [stdlib].
func TestLayerImports(t *testing.T) {
	layers.Check(t, "exec", "stdlib")
}

// TestNoDrivers: the compiler layers' tests run without servers and link no
// database driver.
func TestNoDrivers(t *testing.T) {
	layers.CheckNoDrivers(t)
}
