package engine_test

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv/layers"
)

// TestLayerImports: the runtime wires the planner, exec and the connectors;
// it never imports lang or cmd.
func TestLayerImports(t *testing.T) {
	layers.Check(t, "exec/engine", "planner", "exec", "stdlib", "connectors", "connectors/*")
}
