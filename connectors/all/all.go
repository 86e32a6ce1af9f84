// Package all registers every connector kind; import it for its side effects.
package all

import (
	_ "github.com/etlq/etlq/connectors/clickhouse" // clickhouse sink
	_ "github.com/etlq/etlq/connectors/file"       // file sink
	_ "github.com/etlq/etlq/connectors/http"       // http sink
	_ "github.com/etlq/etlq/connectors/mysql"      // mysql source
	_ "github.com/etlq/etlq/connectors/stdout"     // stdout sink
)
