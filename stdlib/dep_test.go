package stdlib_test

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestLayerImports: stdlib/ imports no etlq layer but [].
func TestLayerImports(t *testing.T) {
	testenv.CheckLayerImports(t, "stdlib")
}
