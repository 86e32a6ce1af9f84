package mysql

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/etlq/etlq/connectors"
	"github.com/etlq/etlq/exec"
)

// kind is how a column is decoded and which Arrow type it has.
type kind uint8

const (
	kInt8 kind = iota
	kInt16
	kInt32
	kInt64
	kUint8
	kUint16
	kUint32
	kUint64
	kFloat32
	kFloat64
	kDecimal128
	kDecimal256
	kString
	kBinary
	kEnum
	kSet
	kJSON
	kGeometry
	kBit
	kDate
	kDatetime
	kTimestamp
	kTime
	kYear
	// MariaDB's fixed binary types, read as the text the server shows
	// (UUID 10.7+, INET6 10.5+, INET4 10.10+): decode_binlog.go formats
	// the bytes the binlog carries.
	kUUID
	kInet6
	kInet4
)

// column is one source column as information_schema describes it.
type column struct {
	Name       string   `json:"name"`
	DataType   string   `json:"data_type"`   // DATA_TYPE, lower case
	ColumnType string   `json:"column_type"` // COLUMN_TYPE, lower case
	Charset    string   `json:"charset,omitempty"`
	Collation  string   `json:"collation,omitempty"`
	Nullable   bool     `json:"nullable"`
	Precision  int      `json:"precision,omitempty"` // DECIMAL precision
	Scale      int      `json:"scale,omitempty"`     // DECIMAL scale, temporal fsp
	OctetLen   int      `json:"octet_len,omitempty"` // BINARY(n): n
	Members    []string `json:"members,omitempty"`   // ENUM/SET members
	JSON       bool     `json:"json,omitempty"`      // MariaDB JSON (LONGTEXT + json_valid)
	PK         int      `json:"pk,omitempty"`        // 1-based position in the key, 0 if not
	Kind       kind     `json:"kind"`
	// Default is the DEFAULT a DDL in the binlog gave the column (nil:
	// none known); RenamedFrom is the name a DDL renamed it from. Sinks
	// use both to bring rows already written in line (exec.MetaDefault,
	// exec.MetaRenamedFrom).
	Default     *colDefault `json:"default,omitempty"`
	RenamedFrom string      `json:"renamed_from,omitempty"`
	// RoundedFrom is the type a DDL narrowed the column from, rounding
	// the rows already there (ddl_apply.go; exec.MetaRoundedFrom).
	RoundedFrom string `json:"rounded_from,omitempty"`
	// Added says a DDL this stream read added or renamed the column, Joined
	// that the column came with a table that joined the stream (created,
	// renamed in); not kept in checkpoints (exec.MetaAddedByDDL).
	Added  bool `json:"-"`
	Joined bool `json:"-"`
	// AddedAt is the _version from which rows carry a column a DDL added
	// (or renamed): the stream's next version at the DDL (changeSchema;
	// exec.MetaAddedAt). 0 when unknown (a snapshot chunk's column).
	AddedAt uint64 `json:"-"`
}

// table is a source table's schema at one point in the binlog.
type table struct {
	Ref  connectors.TableRef `json:"ref"`
	Cols []*column           `json:"cols"`
	// Key lists the column indexes of the primary key (or the first UNIQUE
	// NOT NULL index), in key order; empty when the table has neither.
	Key []int `json:"key,omitempty"`
	// Charset and Collation are the table's defaults, which a column a
	// DDL adds without its own takes ("" in histories written before).
	Charset   string `json:"charset,omitempty"`
	Collation string `json:"collation,omitempty"`
	// Versioned marks a MariaDB system-versioned table whose period
	// columns are the implicit pair: two TIMESTAMP(6) columns, row_start
	// and row_end, that every row image carries after Cols (appended by
	// CREATE … WITH SYSTEM VERSIONING and ADD SYSTEM VERSIONING, kept
	// last by ADD COLUMN, removed by DROP SYSTEM VERSIONING) and that
	// information_schema does not list. They are no columns of Cols:
	// the binlog reader reads row_end to tell current rows from history
	// (versioned.go).
	Versioned bool `json:"versioned,omitempty"`
	// Stale says the schema is not known past a DDL etlq could not apply
	// (the reason, naming the DDL and its position): rows of the table
	// are refused unless the binlog's table map describes them.
	Stale string `json:"stale,omitempty"`
	// Shadow marks the schema of a table the stream does not stream but
	// follows because it was created LIKE one it does (gh-ost's _gho,
	// pt-online-schema-change's _new): renamed onto a streamed table, it
	// gives that table its schema.
	Shadow bool `json:"shadow,omitempty"`
	// RowCopyOf, on a shadow, names the table (same database) whose
	// online schema-change copy it is, followed row by row since its
	// CREATE (lifecycle.go, startCopy).
	RowCopyOf string `json:"row_copy_of,omitempty"`
	// CopyOf, on a shadow, names the table (same database) whose online
	// schema-change copy it is under a name of the user's
	// (pt-online-schema-change --new-table-name), known by the tool's
	// triggers (lifecycle.go, toolTrigger): no pattern takes it, and
	// renamed onto that table it is the tool's cut-over.
	CopyOf string `json:"copy_of,omitempty"`
	// Waiting marks the schema of a table read by name that left the
	// stream (dropped or renamed away) and that the stream waits for: the
	// next start plans the pipeline with it while the server has no table
	// of that name (DescribeCheckpoint).
	Waiting bool `json:"waiting,omitempty"`
	// Rebuild says that the table's targets are being rebuilt after a
	// type change they cannot follow in place (rebuild.go): read again
	// into a hidden copy that is swapped in when the read ends. A resume
	// with it set starts the rebuild again.
	Rebuild bool `json:"rebuild,omitempty"`
	// Reread says that the table is to be read again in place after a
	// type change its targets follow with a column of a type that holds
	// both (rebuild.go, reread): set at the DDL, cleared when the re-read
	// starts (its progress is then the snapshot state's, with Older). A
	// resume with it set queues the re-read again.
	Reread bool `json:"reread,omitempty"`
	// RereadWhy, with Reread, names the statement that changed the
	// table's rows without row events (rows_ddl.go: TRUNCATE PARTITION,
	// ALTER IGNORE …); empty for a type change.
	RereadWhy string `json:"reread_why,omitempty"`
	// JoinsAt, on the schema of a table that joined the stream when it
	// resumed (a pipeline added after the checkpoint), is the binlog
	// position its schema was read at: the stream resumes before it, and
	// the table's rows and DDLs logged before it are not the stream's
	// (the snapshot, or for SNAPSHOT never this start, begins there), nor
	// of the columns read. Kept until a DDL after it replaces the schema.
	JoinsAt *binlogPos `json:"joins_at,omitempty"`
}

// before reports whether the binlog position at is before the table
// joined the stream (JoinsAt): its events there are not the stream's.
func (t *table) before(at binlogPos) bool {
	return t.JoinsAt != nil && at.cmp(*t.JoinsAt) < 0
}

// readTable reads a table's schema from information_schema.
func readTable(c *client.Conn, ref connectors.TableRef) (*table, error) {
	ts, err := readTables(c, []connectors.TableRef{ref})
	if err != nil {
		return nil, err
	}
	t := ts[ref]
	if t == nil {
		return nil, fmt.Errorf("table %s does not exist", ref)
	}
	return t, nil
}

// describeBatch is how many tables one information_schema query asks for.
const describeBatch = 500

// readTables reads the schemas of refs from information_schema, with
// three or four queries per database and describeBatch tables rather than
// per table: 1,000 tables under a pattern took 3,000 queries, seconds of
// a start. A table that does not exist is missing from the result.
func readTables(c *client.Conn, refs []connectors.TableRef) (map[connectors.TableRef]*table, error) {
	out := map[connectors.TableRef]*table{}
	var dbs []string
	byDB := map[string][]connectors.TableRef{}
	for _, ref := range refs {
		if _, ok := byDB[ref.DB]; !ok {
			dbs = append(dbs, ref.DB)
		}
		byDB[ref.DB] = append(byDB[ref.DB], ref)
	}
	for _, db := range dbs {
		all := byDB[db]
		for lo := 0; lo < len(all); lo += describeBatch {
			if err := readTableBatch(c, db, all[lo:min(lo+describeBatch, len(all))], out); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// readTableBatch reads the schemas of refs, all in database db, into out.
func readTableBatch(c *client.Conn, db string, refs []connectors.TableRef, out map[connectors.TableRef]*table) error {
	names := make([]string, len(refs))
	exact := map[string]connectors.TableRef{}
	for i, ref := range refs {
		names[i] = quoteString(ref.Table)
		exact[ref.Table] = ref
	}
	// find maps a TABLE_NAME the server returns to the ref asked for: the
	// same name, or (lower_case_table_names) the same up to case.
	find := func(name string) (connectors.TableRef, bool) {
		if ref, ok := exact[name]; ok {
			return ref, true
		}
		for _, ref := range refs {
			if strings.EqualFold(ref.Table, name) {
				return ref, true
			}
		}
		return connectors.TableRef{}, false
	}
	in := ` IN (` + strings.Join(names, ", ") + `)`
	what := refs[0].String()
	if len(refs) > 1 {
		what = fmt.Sprintf("%d tables of %s", len(refs), db)
	}
	r, err := c.Execute(`SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE,
		IFNULL(CHARACTER_SET_NAME, ''), IFNULL(COLLATION_NAME, ''),
		IFNULL(NUMERIC_PRECISION, 0), IFNULL(NUMERIC_SCALE, 0), IFNULL(DATETIME_PRECISION, 0),
		IFNULL(CHARACTER_OCTET_LENGTH, 0)
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ` + quoteString(db) +
		` AND TABLE_NAME` + in + ` ORDER BY TABLE_NAME, ORDINAL_POSITION`)
	if err != nil {
		return fmt.Errorf("describe %s: %v", what, err)
	}
	var found []*table
	for i := 0; i < r.RowNumber(); i++ {
		str := func(j int) string { s, _ := r.GetString(i, j); return s }
		num := func(j int) int { n, _ := strconv.Atoi(str(j)); return n }
		ref, ok := find(str(0))
		if !ok {
			continue
		}
		t := out[ref]
		if t == nil {
			t = &table{Ref: ref}
			out[ref] = t
			found = append(found, t)
		}
		col := &column{
			Name:       str(1),
			DataType:   strings.ToLower(str(2)),
			ColumnType: strings.ToLower(str(3)),
			Nullable:   str(4) == "YES",
			Charset:    strings.ToLower(str(5)),
			Collation:  strings.ToLower(str(6)),
		}
		switch col.DataType {
		case "enum", "set":
			// Members keep their case: ColumnType is lowered for matching.
			col.Members = parseMembers(str(3))
		case "decimal", "numeric":
			col.Precision, col.Scale = num(7), num(8)
		case "datetime", "timestamp", "time":
			col.Scale = num(9)
		case "binary":
			col.OctetLen = num(10)
		}
		t.Cols = append(t.Cols, col)
	}
	if len(found) == 0 {
		return nil
	}
	// Keys: the primary key, else the first UNIQUE index whose columns
	// are all NOT NULL.
	r, err = c.Execute(`SELECT TABLE_NAME, INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME, NULLABLE
		FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ` + quoteString(db) +
		` AND TABLE_NAME` + in + ` ORDER BY TABLE_NAME, INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`)
	if err != nil {
		return fmt.Errorf("describe keys of %s: %v", what, err)
	}
	keyRows := map[*table][][4]string{}
	for i := 0; i < r.RowNumber(); i++ {
		name, _ := r.GetString(i, 0)
		ref, ok := find(name)
		if !ok || out[ref] == nil {
			continue
		}
		var row [4]string
		row[0], _ = r.GetString(i, 1)
		row[1], _ = r.GetString(i, 2)
		row[2], _ = r.GetString(i, 4)
		row[3], _ = r.GetString(i, 5)
		keyRows[out[ref]] = append(keyRows[out[ref]], row)
	}
	for _, t := range found {
		if err := chooseKey(t, keyRows[t]); err != nil {
			return err
		}
	}
	// The tables' default character sets, for columns a later DDL adds
	// without one (ddl_apply.go).
	// A system-versioned table's images end with the implicit period pair,
	// which COLUMNS does not list (table.Versioned); declared period
	// columns are listed, and such a table is refused (versionedError).
	// The character set is a correlated subquery, not a LEFT JOIN of
	// COLLATIONS: MariaDB joined the two by a block nested loop, each table
	// against every collation (~35 ms for 500 tables, ten times the rest
	// of this query; the subquery's cache answers each collation once).
	// COLLATION_NAME is unique in COLLATIONS (MIN: one row whatever).
	if r, err := c.Execute(`SELECT t.TABLE_NAME,
		IFNULL((SELECT MIN(c.CHARACTER_SET_NAME) FROM information_schema.COLLATIONS c WHERE c.COLLATION_NAME = t.TABLE_COLLATION), ''),
		IFNULL(t.TABLE_COLLATION, ''), t.TABLE_TYPE
		FROM information_schema.TABLES t
		WHERE t.TABLE_SCHEMA = ` + quoteString(db) + ` AND t.TABLE_NAME` + in); err == nil {
		for i := 0; i < r.RowNumber(); i++ {
			name, _ := r.GetString(i, 0)
			if ref, ok := find(name); ok && out[ref] != nil {
				cs, _ := r.GetString(i, 1)
				coll, _ := r.GetString(i, 2)
				out[ref].Charset, out[ref].Collation = strings.ToLower(cs), strings.ToLower(coll)
				if typ, _ := r.GetString(i, 3); typ == "SYSTEM VERSIONED" {
					decl, err := periodDecl(c, ref)
					if err != nil {
						return err
					}
					if decl != "" {
						return versionedError{ref, decl}
					}
					out[ref].Versioned = true
				}
			}
		}
	}
	if err := readJSONChecks(c, db, found, find); err != nil {
		return err
	}
	for _, t := range found {
		if err := readLossyMembers(c, t); err != nil {
			return err
		}
	}
	for _, t := range found {
		for _, col := range t.Cols {
			if err := col.classify(); err != nil {
				return fmt.Errorf("table %s: %v", t.Ref, err)
			}
		}
	}
	return nil
}

// readLossyMembers reads again, from the server's own column definition,
// the ENUM and SET members of t that information_schema may have written
// wrong: COLUMNS.COLUMN_TYPE (as SHOW CREATE TABLE) is utf8mb3 on MariaDB,
// which turns a character outside the Basic Multilingual Plane (an emoji,
// 𝄞) into '?', and the binlog path takes the members' text from the
// schema (it carries only their numbers). A member with a '?' is read as
// the value of a variable of the column's type (MariaDB's TYPE OF, 10.3+),
// set to the member's number, which the server sends as utf8mb4. A server
// without TYPE OF (MySQL), or a user without SELECT on the column, keeps
// information_schema's text.
func readLossyMembers(c *client.Conn, t *table) error {
	var decls, sels []string
	type slot struct {
		col *column
		i   int
	}
	var slots []slot
	for _, col := range t.Cols {
		if col.DataType != "enum" && col.DataType != "set" {
			continue
		}
		for i, m := range col.Members {
			if !strings.Contains(m, "?") {
				continue
			}
			v := fmt.Sprintf("v%d", len(slots))
			n := uint64(i + 1) // ENUM: the member's number
			if col.DataType == "set" {
				n = 1 << i // SET: its bit
			}
			decls = append(decls, fmt.Sprintf("DECLARE %s TYPE OF %s.%s.%s DEFAULT %d;", v,
				quoteIdent(t.Ref.DB), quoteIdent(t.Ref.Table), quoteIdent(col.Name), n))
			sels = append(sels, v)
			slots = append(slots, slot{col, i})
		}
	}
	if len(slots) == 0 {
		return nil
	}
	// A block cannot return a result set to a client without
	// CLIENT_MULTI_RESULTS: it leaves the members in user variables.
	sets := make([]string, len(sels))
	vars := make([]string, len(sels))
	for j, v := range sels {
		vars[j] = "@etlq_member_" + v
		sets[j] = vars[j] + " = " + v
	}
	if _, err := c.Execute("BEGIN NOT ATOMIC " + strings.Join(decls, " ") + " SET " + strings.Join(sets, ", ") + "; END"); err != nil {
		var me *gm.MyError
		if errors.As(err, &me) {
			// No TYPE OF (MySQL), or no SELECT on the column: information_schema's
			// text is all there is.
			return nil
		}
		return fmt.Errorf("read the ENUM/SET members of %s: %v", t.Ref, err)
	}
	r, err := c.Execute("SELECT " + strings.Join(vars, ", "))
	if err != nil {
		return fmt.Errorf("read the ENUM/SET members of %s: %v", t.Ref, err)
	}
	_, _ = c.Execute("SET " + strings.Join(vars, " = NULL, ") + " = NULL")
	if r == nil || r.RowNumber() != 1 {
		return fmt.Errorf("read the ENUM/SET members of %s: no row", t.Ref)
	}
	for j, sl := range slots {
		m, err := r.GetString(0, j)
		if err != nil {
			return fmt.Errorf("read the ENUM/SET members of %s: %v", t.Ref, err)
		}
		sl.col.Members[sl.i] = m
	}
	return nil
}

// readSavedWith reads from the server the tables of saved (a checkpoint's
// schemas) that have a column for which has is true: their refs, sorted,
// and their live schemas (none: nil, nil, nil).
func readSavedWith(c *client.Conn, saved map[connectors.TableRef]*table, has func(*column) bool) ([]connectors.TableRef, map[connectors.TableRef]*table, error) {
	var refs []connectors.TableRef
	for ref, t := range saved {
		if slices.ContainsFunc(t.Cols, has) {
			refs = append(refs, ref)
		}
	}
	if len(refs) == 0 {
		return nil, nil, nil
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].String() < refs[j].String() })
	live, err := readTables(c, refs)
	return refs, live, err
}

// repairSavedMembers gives the ENUM and SET columns of schemas kept in a
// checkpoint the members readLossyMembers reads, where a checkpoint written
// before it kept information_schema's '?' for a character outside the BMP:
// a column whose COLUMN_TYPE is still the one the checkpoint has (the same
// '?' text, so the same members) takes the live members.
func repairSavedMembers(c *client.Conn, saved map[connectors.TableRef]*table) error {
	refs, live, err := readSavedWith(c, saved, lossyMembers)
	if err != nil || len(refs) == 0 {
		return err
	}
	for _, ref := range refs {
		lt := live[ref]
		if lt == nil {
			continue
		}
		for _, col := range saved[ref].Cols {
			if !lossyMembers(col) {
				continue
			}
			for _, lc := range lt.Cols {
				if lc.Name == col.Name && lc.ColumnType == col.ColumnType && len(lc.Members) == len(col.Members) {
					col.Members = slices.Clone(lc.Members)
				}
			}
		}
	}
	return nil
}

// lossyMembers says whether c is an ENUM or SET with a member that has a
// '?', which information_schema may have written for another character.
func lossyMembers(c *column) bool {
	return (c.DataType == "enum" || c.DataType == "set") &&
		slices.ContainsFunc(c.Members, func(m string) bool { return strings.Contains(m, "?") })
}

// chooseKey sets t's key from its index rows (INDEX_NAME, NON_UNIQUE,
// COLUMN_NAME, NULLABLE; the primary key first, then by name and column
// order): the primary key, else the first UNIQUE index whose columns are
// all NOT NULL.
func chooseKey(t *table, rows [][4]string) error {
	type idx struct {
		cols     []string
		unique   bool
		nullable bool
	}
	var order []string
	idxs := map[string]*idx{}
	for _, row := range rows {
		name, nonUnique, col, nullable := row[0], row[1], row[2], row[3]
		x := idxs[name]
		if x == nil {
			x = &idx{unique: nonUnique == "0"}
			idxs[name] = x
			order = append(order, name)
		}
		x.cols = append(x.cols, col)
		if nullable == "YES" {
			x.nullable = true
		}
	}
	for _, name := range order {
		x := idxs[name]
		if !x.unique || x.nullable {
			continue
		}
		for _, cn := range x.cols {
			ci := t.colIndex(cn)
			if ci < 0 {
				return fmt.Errorf("key %q of %s names unknown column %q", name, t.Ref, cn)
			}
			t.Key = append(t.Key, ci)
			t.Cols[ci].PK = len(t.Key)
		}
		return nil
	}
	return nil
}

// readJSONChecks marks MariaDB JSON columns of tables (all in database
// db): LONGTEXT with a json_valid CHECK constraint named after the column.
func readJSONChecks(c *client.Conn, db string, tables []*table, find func(string) (connectors.TableRef, bool)) error {
	var names []string
	for _, t := range tables {
		for _, col := range t.Cols {
			if col.DataType == "longtext" {
				names = append(names, quoteString(t.Ref.Table))
				break
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	r, err := c.Execute(`SELECT TABLE_NAME, CHECK_CLAUSE FROM information_schema.CHECK_CONSTRAINTS
		WHERE CONSTRAINT_SCHEMA = ` + quoteString(db) + ` AND TABLE_NAME IN (` + strings.Join(names, ", ") + `)`)
	if err != nil {
		return nil // MySQL has no TABLE_NAME there, and no LONGTEXT JSON either
	}
	byRef := map[connectors.TableRef]*table{}
	for _, t := range tables {
		byRef[t.Ref] = t
	}
	for i := 0; i < r.RowNumber(); i++ {
		name, _ := r.GetString(i, 0)
		ref, ok := find(name)
		t := byRef[ref]
		if !ok || t == nil {
			continue
		}
		clause, _ := r.GetString(i, 1)
		clause = strings.ToLower(strings.ReplaceAll(clause, " ", ""))
		for _, col := range t.Cols {
			if col.DataType == "longtext" && clause == "json_valid("+strings.ToLower(quoteIdent(col.Name))+")" {
				col.JSON = true
			}
		}
	}
	return nil
}

func (t *table) colIndex(name string) int {
	for i, c := range t.Cols {
		if strings.EqualFold(c.Name, name) {
			return i
		}
	}
	return -1
}

// classify sets Kind (and Members) from the information_schema types.
func (c *column) classify() error {
	unsigned := strings.Contains(c.ColumnType, "unsigned")
	ints := func(s, u kind) kind {
		if unsigned {
			return u
		}
		return s
	}
	switch c.DataType {
	case "tinyint", "bool", "boolean":
		c.Kind = ints(kInt8, kUint8)
	case "smallint":
		c.Kind = ints(kInt16, kUint16)
	case "mediumint", "int", "integer":
		c.Kind = ints(kInt32, kUint32)
	case "bigint":
		c.Kind = ints(kInt64, kUint64)
	case "decimal", "numeric":
		if c.Precision <= 38 {
			c.Kind = kDecimal128
		} else {
			c.Kind = kDecimal256
		}
	case "float":
		c.Kind = kFloat32
	case "double", "real", "double precision":
		c.Kind = kFloat64
	case "bit":
		c.Kind = kBit
	case "char", "varchar", "tinytext", "text", "mediumtext", "longtext":
		switch {
		case c.JSON:
			c.Kind = kJSON
		case c.Charset == "binary" || c.Charset == "":
			c.Kind = kBinary
		default:
			if !charsetSupported(c.Charset) {
				return fmt.Errorf("column %q has character set %q, which etlq cannot decode (supported: utf8mb4, utf8mb3, utf8, ascii, latin1, binary)", c.Name, c.Charset)
			}
			c.Kind = kString
		}
	case "binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob":
		c.Kind = kBinary
	case "enum", "set":
		c.Kind = kEnum
		if c.DataType == "set" {
			c.Kind = kSet
		}
		if c.Members == nil {
			c.Members = parseMembers(c.ColumnType)
		}
	case "json":
		c.Kind = kJSON
	case "date":
		c.Kind = kDate
	case "datetime":
		c.Kind = kDatetime
	case "timestamp":
		c.Kind = kTimestamp
	case "time":
		c.Kind = kTime
	case "year":
		c.Kind = kYear
	case "geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon",
		"geometrycollection", "geomcollection":
		c.Kind = kGeometry
	case "uuid":
		c.Kind = kUUID
	case "inet6":
		c.Kind = kInet6
	case "inet4":
		c.Kind = kInet4
	default:
		return fmt.Errorf("column %q has type %q, which etlq does not support", c.Name, c.ColumnType)
	}
	return nil
}

func charsetSupported(cs string) bool {
	switch cs {
	case "utf8mb4", "utf8mb3", "utf8", "ascii", "latin1", "binary":
		return true
	}
	return false
}

// parseMembers parses "enum('a','b”c')" into its members.
func parseMembers(ct string) []string {
	open := strings.IndexByte(ct, '(')
	if open < 0 {
		return nil
	}
	s := ct[open+1:]
	var out []string
	for {
		if len(s) == 0 || s[0] != '\'' {
			return out
		}
		s = s[1:]
		var b strings.Builder
		for len(s) > 0 {
			if s[0] == '\'' {
				if len(s) > 1 && s[1] == '\'' {
					b.WriteByte('\'')
					s = s[2:]
					continue
				}
				s = s[1:]
				break
			}
			if s[0] == '\\' && len(s) > 1 {
				b.WriteByte(s[1])
				s = s[2:]
				continue
			}
			b.WriteByte(s[0])
			s = s[1:]
		}
		out = append(out, b.String())
		if len(s) == 0 || s[0] != ',' {
			return out
		}
		s = s[1:]
	}
}

// arrowType returns the column's Arrow type.
func (c *column) arrowType() arrow.DataType {
	switch c.Kind {
	case kInt8:
		return arrow.PrimitiveTypes.Int8
	case kInt16:
		return arrow.PrimitiveTypes.Int16
	case kInt32:
		return arrow.PrimitiveTypes.Int32
	case kInt64:
		return arrow.PrimitiveTypes.Int64
	case kUint8:
		return arrow.PrimitiveTypes.Uint8
	case kUint16, kYear:
		return arrow.PrimitiveTypes.Uint16
	case kUint32:
		return arrow.PrimitiveTypes.Uint32
	case kUint64, kBit:
		return arrow.PrimitiveTypes.Uint64
	case kFloat32:
		return arrow.PrimitiveTypes.Float32
	case kFloat64:
		return arrow.PrimitiveTypes.Float64
	case kDecimal128:
		return &arrow.Decimal128Type{Precision: int32(c.Precision), Scale: int32(c.Scale)}
	case kDecimal256:
		return &arrow.Decimal256Type{Precision: int32(c.Precision), Scale: int32(c.Scale)}
	case kString, kEnum, kSet, kJSON, kUUID, kInet6, kInet4:
		return arrow.BinaryTypes.String
	case kBinary, kGeometry:
		return arrow.BinaryTypes.Binary
	case kDate:
		return arrow.FixedWidthTypes.Date32
	case kDatetime, kTimestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	case kTime:
		return arrow.FixedWidthTypes.Duration_us
	}
	panic(fmt.Sprintf("mysql: unknown column kind %d", c.Kind))
}

// logicalType returns the exec.MetaLogicalType value, or "".
func (c *column) logicalType() string {
	switch c.Kind {
	case kJSON:
		return "json"
	case kGeometry:
		return "geometry"
	case kTime:
		return "time"
	case kYear:
		return "year"
	case kBit:
		return "bit"
	case kEnum:
		return "enum"
	case kSet:
		return "set"
	case kUUID:
		return "uuid"
	case kInet6:
		return "inet6"
	case kInet4:
		return "inet4"
	}
	return ""
}

// sourceType is the column's type as its field's exec.MetaSourceType
// gives it (DESCRIBE shows it, `etlq record` writes it into a fixture):
// ColumnType, but for an ENUM or SET the members as COLUMN_TYPE writes
// them, their case kept (ColumnType is lowered for matching).
func (c *column) sourceType() string {
	if (c.DataType == "enum" || c.DataType == "set") && len(c.Members) > 0 {
		q := make([]string, len(c.Members))
		for i, m := range c.Members {
			// As COLUMN_TYPE (and parseMembers): ' doubled, \ escaped.
			q[i] = "'" + strings.NewReplacer(`\`, `\\`, "'", "''").Replace(m) + "'"
		}
		return c.DataType + "(" + strings.Join(q, ",") + ")"
	}
	return c.ColumnType
}

// field returns the column's Arrow field with the etlq metadata.
func (c *column) field() arrow.Field {
	keys := []string{exec.MetaSourceType}
	vals := []string{c.sourceType()}
	if lt := c.logicalType(); lt != "" {
		keys = append(keys, exec.MetaLogicalType)
		vals = append(vals, lt)
	}
	if c.PK > 0 {
		keys = append(keys, exec.MetaPrimaryKey)
		vals = append(vals, strconv.Itoa(c.PK))
	}
	typ := c.arrowType()
	if c.Collation != "" && typ.ID() == arrow.STRING {
		// How the column's text compares (=, LIKE, IN, locate).
		keys = append(keys, exec.MetaCollation)
		vals = append(vals, c.Collation)
	}
	if d := c.Default; d != nil && !d.Null {
		keys = append(keys, exec.MetaDefault)
		vals = append(vals, d.literal())
	}
	if c.RenamedFrom != "" {
		keys = append(keys, exec.MetaRenamedFrom)
		vals = append(vals, c.RenamedFrom)
	}
	if c.RoundedFrom != "" {
		keys = append(keys, exec.MetaRoundedFrom)
		vals = append(vals, c.RoundedFrom)
	}
	if c.Added {
		keys = append(keys, exec.MetaAddedByDDL)
		if c.Joined {
			vals = append(vals, exec.AddedByJoin)
		} else {
			vals = append(vals, "true")
			if c.AddedAt > 0 {
				keys = append(keys, exec.MetaAddedAt)
				vals = append(vals, strconv.FormatUint(c.AddedAt, 10))
			}
		}
	}
	return arrow.Field{Name: c.Name, Type: typ, Nullable: c.Nullable, Metadata: arrow.NewMetadata(keys, vals)}
}

// tableSchema returns the connectors view of the table.
func (t *table) tableSchema() *connectors.TableSchema {
	ts := &connectors.TableSchema{Ref: t.Ref}
	for _, c := range t.Cols {
		ts.Fields = append(ts.Fields, c.field())
	}
	for _, k := range t.Key {
		ts.PrimaryKey = append(ts.PrimaryKey, t.Cols[k].Name)
	}
	return ts
}

// metaFields are the metadata columns after the table's columns
// (exec.MetaFields, kept for the types of metaArrays).
var metaFields = exec.MetaFields()

// streamSchema returns the Arrow schema of a source batch of t.
func (t *table) streamSchema(before bool) *arrow.Schema {
	cols := make([]arrow.Field, len(t.Cols))
	for i, c := range t.Cols {
		cols[i] = c.field()
	}
	return exec.SourceSchema(cols, before)
}

// sameColumns reports whether two schemas decode and type identically.
func sameColumns(a, b *table) bool {
	if len(a.Cols) != len(b.Cols) || len(a.Key) != len(b.Key) {
		return false
	}
	for i := range a.Cols {
		x, y := *a.Cols[i], *b.Cols[i]
		if x.Name != y.Name || x.ColumnType != y.ColumnType || x.Nullable != y.Nullable || x.Charset != y.Charset ||
			x.PK != y.PK || x.JSON != y.JSON || x.Kind != y.Kind {
			return false
		}
	}
	return true
}

// columnNames returns the column names, sorted, for messages.
func (t *table) columnNames() []string {
	out := make([]string, len(t.Cols))
	for i, c := range t.Cols {
		out[i] = c.Name
	}
	sort.Strings(out)
	return out
}
