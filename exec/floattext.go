package exec

import "github.com/etlq/etlq/stdlib"

// FloatText lays out a float as MariaDB shows a DOUBLE (bitSize 64) or
// FLOAT (bitSize 32) with the shortest digits that read back the same
// value of that size — stdlib.FormatFloatShortest — for the connectors'
// text formats (csv, table, canal_json), which reach the function library
// only through exec (TestLayerImports).
func FloatText(f float64, bitSize int) string {
	return stdlib.FormatFloatShortest(f, bitSize)
}
