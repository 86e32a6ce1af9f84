package stdlib_test

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv/layers"
)

// TestLayerImports: stdlib/ imports no etlq layer but [].
func TestLayerImports(t *testing.T) {
	layers.Check(t, "stdlib")
}

// TestNoDrivers: the compiler layers' tests run without servers and link no
// database driver.
func TestNoDrivers(t *testing.T) {
	layers.CheckNoDrivers(t)
}
