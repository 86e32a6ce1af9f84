package planner_test

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestLayerImports: planner/ imports no etlq layer but [lang stdlib exec connectors].
func TestLayerImports(t *testing.T) {
	testenv.CheckLayerImports(t, "planner", "lang", "stdlib", "exec", "connectors")
}
