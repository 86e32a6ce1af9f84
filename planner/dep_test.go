package planner_test

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv/layers"
)

// TestLayerImports: planner/ imports no etlq layer but [lang stdlib exec connectors].
func TestLayerImports(t *testing.T) {
	layers.Check(t, "planner", "lang", "stdlib", "exec", "connectors")
}
