package stdlib_test

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv/layers"
)

// TestLayerImports: stdlib/ imports no etlq layer but [].
func TestLayerImports(t *testing.T) {
	layers.Check(t, "stdlib")
}
