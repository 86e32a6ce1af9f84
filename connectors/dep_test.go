package connectors_test

import (
	"testing"

	"github.com/etlq/etlq/connectors/testenv"
)

// TestLayerImports: connectors/ imports no etlq layer but [exec connectors].
func TestLayerImports(t *testing.T) {
	testenv.CheckLayerImports(t, "connectors", "exec", "connectors")
}
