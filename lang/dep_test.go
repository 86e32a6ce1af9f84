package lang_test

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv/layers"
)

// TestLayerImports: lang/ imports no etlq layer but [].
func TestLayerImports(t *testing.T) {
	layers.Check(t, "lang")
}

// TestNoDrivers: the compiler layers' tests run without servers and link no
// database driver.
func TestNoDrivers(t *testing.T) {
	layers.CheckNoDrivers(t)
}
