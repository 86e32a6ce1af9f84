package exec

import "github.com/etlq/etlq/stdlib"

// jsonAsText returns n as it compares with text (MySQL and MariaDB alike):
// a computed JSON value (json_extract(…), CAST(… AS JSON)) compared with a
// STRING is read as json_unquote reads it, so json_extract(doc, '$.c') =
// 'x' is TRUE for "x"; arrays, objects, numbers and literals keep their
// text. A JSON column compares as its stored text, as MariaDB's JSON
// (text) columns do. Anything else is returned as it is.
func jsonAsText(n node, other stdlib.Type) node {
	if n.Type().Kind != stdlib.JSON || other.Kind != stdlib.String {
		return n
	}
	if _, isCol := n.(*colExpr); isCol {
		return n
	}
	c, err := newCall("json_unquote", []node{n})
	if err != nil {
		return n
	}
	c.text = n.String() // shown as written
	return c
}
