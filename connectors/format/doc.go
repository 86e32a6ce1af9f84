package format

// Doc is what one format writes, for docs/connectors.md.
type Doc struct {
	Name string
	Text string
}

// Docs describes every format, in the order of Names.
func Docs() []Doc {
	return []Doc{
		{CanalJSON, "Canal's flat JSON messages, one per run of rows with the same op and source position: `data` holds the output columns, `old` the before values of the columns an update changed, " +
			"`type` INSERT, UPDATE or DELETE (snapshot rows are INSERT), `database`, `table`, `pkNames` (the key), `mysqlType`/`sqlType` per column, " +
			"each message describing its own table: in a pipeline that reads several tables into one output (a list or a pattern), `data`, `old`, `mysqlType` and `sqlType` hold only the output columns the message's table has (a column of another table is left out, not sent as null) and `pkNames` is that table's primary key when the output passes all its columns through (null otherwise; a `KEY` clause names the key of every table), " +
			"`es` (commit time, ms), `ts` (when the message was built, ms), `id` (the `_version` of the message's first row: it rises from message to message and across runs, as canal's batch id does when canal keeps its meta in ZooKeeper, and a change written again after a crash keeps its id), `isDdl` false (a TRUNCATE at the source is canal's DDL message: `type` TRUNCATE, `isDdl` true, `sql` ``TRUNCATE TABLE `db`.`t` `` — the table's quoted name, not the statement's text —, `data` null; a DROP TABLE, or a RENAME that takes the table out of the pipeline, arrives as the same TRUNCATE message, where canal sends `type` ERASE or RENAME: the rows are gone either way, docs/live-tables.md). " +
			"An ALTER TABLE sends nothing of its own, where canal sends a DDL message (`isDdl` true, `type` ALTER, `sql` the statement): the messages of the rows after it carry the new columns and their `mysqlType`/`sqlType`, as the pipeline's `schema_changes` lets them through. " +
			"Values are strings as canal writes them, NULL null: integers and decimals exact (`2000.00`), floats with the shortest round-trip digits, laid out as MariaDB shows a DOUBLE (`1500000`, `0.00000025`; exponent form from 1e15 and below 1e-15: `1e20`), DATE `2024-02-29`, " +
			"DATETIME(n)/TIMESTAMP(n)/TIME(n) with exactly n fractional digits (`2038-01-19 03:14:07.999` for DATETIME(3), TIMESTAMP in UTC, TIME `-838:59:59.000000` for TIME(6); a timestamp or time the pipeline computes, such as `_ts`, `now()` or a `CAST`, with the 6 its `mysqlType` `datetime(6)` or `time(6)` says, whole seconds too), zero dates `0000-00-00`, YEAR 4 digits (`0000`), " +
			"ENUM and SET their text, BIT its number, JSON its text, and binary columns (BINARY, VARBINARY, BLOB, GEOMETRY) canal's ISO-8859-1 text of the bytes: one character U+0000…U+00FF per byte (`new String(bytes, ISO_8859_1)`; a consumer gets the bytes back with `getBytes(ISO_8859_1)`). No `_op` or other added column."},
		{CSV, "RFC 4180 CSV (CRLF line ends): a header line once per columns (a file target writes it when it creates the file, also when no row ever arrives; left out when appending to a file whose last header line names the same columns, written again when they changed, e.g. a column added while etlq was stopped), then one line per row. " +
			"NULL is an empty field, the empty string `\"\"`; binary is base64, DATETIME(n), TIMESTAMP(n) (in UTC) and TIME(n) with exactly n fractional digits as `CAST(col AS CHAR)` shows them (`2024-02-29 23:59:59.123` for DATETIME(3), where `table` writes `.123000`), values otherwise as in `table`. Columns: see below."},
		{DebeziumJSON, "One Debezium change event per row, the value payload of Debezium's MySQL connector with `schemas.enable=false`: " +
			"`before` (an update's before image, a delete's row, else null), `after` (null for a delete) — in a pipeline that reads several tables into one output, each with only the output columns of the event's table (a column of another table is left out, not sent as null), and a key change judged by that table's key —, `op` (c, u, d, or r for snapshot rows; an update that changes the key is, as in Debezium, a d event for the old key followed by a c event for the new one; a TRUNCATE at the source, or a DROP or RENAME that takes the table out of the pipeline, is Debezium's truncate event, op t with `before` and `after` null, which Debezium itself leaves out unless `skipped.operations` is changed from its default, t), " +
			"`ts_ms`, `ts_us`, `ts_ns` (when the event was built), `transaction` null (Debezium's default, provide.transaction.metadata off), and `source` " +
			"with the fields of Debezium 2.6 and later, in their order: `version` (etlq's version: the build's, `dev` for a build from a checkout), `connector` mysql, `name` the pipeline, " +
			"`ts_ms` commit time, `snapshot`, `db`, `sequence` null (as a MySQL connector's), `ts_us` and `ts_ns` (the commit time again: whole seconds for binlog records, which is all the binlog holds; a snapshot record's read time), `table`, " +
			"`server_id`, `gtid`, `file`, `pos`, `row` (the row's place among the rows of its binlog event, 0 for a snapshot record, as in Debezium, so that `file`, `pos` and `row` name one change: the rows the `WHERE` leaves out count, and so do an event's rows in an earlier batch or request, or in another partition of the scale-out log), `thread` (the id of the session that ran the transaction, from its BEGIN event: MySQL writes one, MariaDB does not, so it is null there, and for snapshot records, as in Debezium), " +
			"`query` null (Debezium's include.query off). `snapshot` is as in Debezium 2: `false` for binlog records, `true` for snapshot records, " +
			"but `first` and `last` for the first and last record of the whole snapshot and `first_in_data_collection` and `last_in_data_collection` " +
			"for those of each other table (the snapshot of a source's tables begins and ends once for all its pipelines, and no record is marked when " +
			"the `WHERE` drops every row of the batch that begins or ends it; a snapshot resumed after a restart goes on where it stopped, without a second `first`: Debezium takes an interrupted snapshot again from its start, so its `first` always begins every row of the snapshot, and the `first` of this one went out in the run that began it). Binlog records carry the id of the server that wrote " +
			"the transaction and its GTID (null without one); snapshot records `server_id` 0 and `gtid` null. Values as Debezium's defaults, " +
			"except `decimal.handling.mode=string` (DECIMAL the exact text, `\"2000.00\"`, where Debezium's default, precise, writes base64 bytes of the unscaled number): integers exact JSON numbers (BIGINT UNSIGNED above 2^63−1 too, which Debezium's default `bigint.unsigned.handling.mode=long` cannot hold: a Java consumer reads such a column as a BigInteger), ENUM and SET their text, YEAR a number, DATE days since the epoch, TIME microseconds, DATETIME epoch milliseconds (microseconds beyond DATETIME(3)), " +
			"TIMESTAMP(n) an ISO string in UTC with exactly n fractional digits (`2024-06-01T06:30:00Z`, `…00.120Z` for TIMESTAMP(3)), as Debezium's ZonedTimestamp, " +
			"a zero or invalid date (`0000-00-00`, `2024-02-00`) null in a column that may be NULL and the epoch in a NOT NULL one (`0`, `\"1970-01-01T00:00:00Z\"`), as Debezium writes them, BIT(1) a boolean, BIT(n) its bits as little-endian bytes in base64, binary base64, GEOMETRY and the other spatial types `{\"wkb\": base64 of the WKB, \"srid\": the SRID or null for 0}` (io.debezium.data.geometry.Geometry; a POINT column also has `x` and `y`, as Point), JSON a string. No `_op` or other added column. " +
			"What Debezium writes besides the value is not sent: the record key (the key's columns are in `before`/`after`), the tombstone after a delete (`tombstones.on.delete`), and schema change events (an `ALTER TABLE` shows as the new columns of the events after it)."},
		{JSONL, "One JSON object per row (NDJSON). Integers are numbers (exact), DECIMAL a string of the exact text, timestamps RFC 3339 in UTC with " +
			"microseconds, DATE `2006-01-02`, TIME `[-]HH:MM:SS[.ffffff]`, binary base64, NULL null, a JSON column a string of its text as stored (as canal_json and debezium_json write it: a document that is JSON null is `\"null\"`, SQL NULL is `null`; embedded, the two would be the same `null`; decode the string to get the document; a dead letter's `row`, never NULL, stays an object). Columns: see below."},
		{Parquet, "Parquet files (zstd), one per rotation: the Arrow types and the Arrow schema are kept (TIME is stored as INT64 microseconds). Columns: see below."},
		{Table, "An aligned text table, psql style: numbers right-aligned, floats in the shortest digits that read back, laid out as MariaDB shows a DOUBLE (`1500000`, not `1.5e+06`; `1e20` from 1e15), NULL as `NULL`, binary as `0x…` hex, YEAR with 4 digits as MariaDB shows it (`0000` for YEAR 0), long values cut at 60 columns. Columns line up by the width a terminal gives text: an East Asian wide character or an emoji takes two columns, a combining accent or an emoji's joiner none (ambiguous-width characters one, whatever the locale). " +
			"The header is printed once per schema; column widths stay the same from batch to batch (they start from what the column's type can hold, " +
			"else from the first batch), and a wider value later widens its column and prints the header again above its rows. On a terminal the `_op` column, when there is one, is coloured."},
	}
}

// ColumnsDoc says which columns the row formats (jsonl, csv, table,
// parquet) write, for docs/connectors.md.
const ColumnsDoc = "jsonl, csv, table and parquet write exactly the pipeline's output columns (its `TRANSFORM`, in order) and add only what the pipeline's `MODE` defines, " +
	"with the names a ClickHouse table of that mode has: `append` (the default) adds nothing; " +
	"`changelog` adds `_op`, `_ts`, `_pos`, `_version` and `_before_<column>` (the column's value before an update, NULL for other changes) for each output column computed from the source row alone. " +
	"stdout, file and http take no `MODE upsert` (`check` refuses it: a stream keeps no current state per key). " +
	"A column the `TRANSFORM` already has (say `_op`) is not added twice. To see the op of each row in `append` mode, select `_op`."
