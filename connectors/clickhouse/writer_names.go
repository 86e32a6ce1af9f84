package clickhouse

// listParens reports whether the parentheses in a column name are ones
// clickhouse-go's pattern for an INSERT column list gets past: balanced,
// not nested. Past others it loses the column list, and ClickHouse 18.16
// answers an INSERT without one with an empty block. (Inserts no longer go
// through clickhouse-go's PrepareBatch, native.go; the refusal of such
// names, which cmd/etlq's TestOddNamesIntoClickHouse checks, could go.)
func listParens(name string) bool {
	depth := 0
	for _, r := range name {
		switch r {
		case '(':
			depth++
		case ')':
			depth--
		}
		if depth < 0 || depth > 1 {
			return false
		}
	}
	return depth == 0
}
