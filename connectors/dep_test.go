package connectors_test

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv/layers"
)

// TestLayerImports: connectors/ imports no etlq layer but [exec connectors].
func TestLayerImports(t *testing.T) {
	layers.Check(t, "connectors", "exec", "connectors", "connectors/*")
}
