package exec_test

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv/layers"
)

// TestLayerImports: exec/ imports no etlq layer but [stdlib].
func TestLayerImports(t *testing.T) {
	layers.Check(t, "exec", "stdlib")
}
