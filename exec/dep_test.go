package exec_test

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestLayerImports: exec/ imports no etlq layer but [stdlib].
func TestLayerImports(t *testing.T) {
	testenv.CheckLayerImports(t, "exec", "stdlib")
}
