package engine_test

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv/layers"
)

// TestLayerImports: the runtime wires the planner, exec and the connectors;
// it never imports lang, stdlib (types and functions reach it bound, through
// the planner's plan) or cmd.
func TestLayerImports(t *testing.T) {
	layers.Check(t, "exec/engine", "planner", "exec", "connectors", "connectors/*")
}
