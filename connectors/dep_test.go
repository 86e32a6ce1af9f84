package connectors_test

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv/layers"
)

// TestLayerImports: the contracts (this package: specs, schemas, modes, the
// registry) import exec only; a concrete connector imports exec, the
// contracts and the shared connector packages (format, testenv), never the
// planner or the runtime.
func TestLayerImports(t *testing.T) {
	layers.Check(t, "connectors", "exec")
	layers.Check(t, "connectors/*", "exec", "connectors", "connectors/*")
}
