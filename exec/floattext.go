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

// FloatCastText lays out a float as MariaDB's CAST(… AS CHAR) shows a
// DOUBLE (bitSize 64: the shortest digits) or a FLOAT (bitSize 32: six
// significant digits) — stdlib.FormatFloat — for the MySQL source's text
// of a value (a key, a column cast to text).
func FloatCastText(f float64, bitSize int) string {
	return stdlib.FormatFloat(f, bitSize)
}
