package mysql

import (
	"fmt"

	"github.com/go-mysql-org/go-mysql/client"

	"github.com/etlq/etlq/connectors"
)

// testHookSchemasRead, when set (by tests only), runs in schemasAt after
// the schemas are read and before the binlog position is.
var testHookSchemasRead func()

// schemaAttempts is how often schemasAt reads again when a DDL moved the
// schemas under it.
const schemaAttempts = 5

// schemasAt reads the schemas of refs and the binlog position a fresh
// stream starts at (with its GTID set; posErr when the position cannot be
// read). With exact, the schemas are those of the tables at that position:
// a DDL committed after the schemas were read and before the position was
// would otherwise be behind the stream's start, never applied, and every
// row after it decoded with the columns before it — on a server without
// full row metadata a stop ("binlog row has 4 columns, the schema at this
// position has 3"), on one with it rows a column short. So the columns
// are read again after the position: a DDL in the binlog before the
// position changed the data dictionary before it was logged (and a
// reader of information_schema waits for its metadata lock), so the same
// columns both times mean none was. A DDL after the position is in the
// stream, applied there. The three reads are repeated while DDLs move the
// schemas, schemaAttempts times.
func schemasAt(c *client.Conn, refs []connectors.TableRef, flavor string, exact bool) (read map[connectors.TableRef]*table, pos binlogPos, gtid string, posErr, err error) {
	for attempt := 1; ; attempt++ {
		if read, err = readTables(c, refs); err != nil {
			return nil, binlogPos{}, "", nil, err
		}
		if testHookSchemasRead != nil {
			testHookSchemasRead()
		}
		pos, gtid, posErr = masterStatus(c, flavor)
		if !exact || posErr != nil || len(refs) == 0 {
			return read, pos, gtid, posErr, nil
		}
		sigs, err := columnSigs(c, refs)
		if err != nil {
			return nil, binlogPos{}, "", nil, err
		}
		moved := ""
		for _, ref := range refs {
			t, had := read[ref]
			sig, has := sigs[ref]
			if had != has || had && columnSig(t) != sig {
				moved = ref.String()
				break
			}
		}
		if moved == "" {
			return read, pos, gtid, nil, nil
		}
		if attempt == schemaAttempts {
			return nil, binlogPos{}, "", nil, fmt.Errorf("the columns of %s changed each of the %d times they were read with the binlog position: DDLs run without pause; start again when they are done", moved, schemaAttempts)
		}
	}
}
