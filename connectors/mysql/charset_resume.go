package mysql

import (
	"fmt"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
	gm "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/etlq/etlq/connectors"
)

// charsetDiff is a text column whose character set in a checkpoint's schema
// is not the one the server has now.
type charsetDiff struct {
	col       *column // the checkpoint's
	live      *column // the server's
	ref       connectors.TableRef
	liveTable *table
}

// checkSavedCharsets compares the character sets of the text columns of
// the schemas kept in checkpoint cp (saved) with the server's
// information_schema, read now. Earlier versions
// stored a table created without a character set in a latin1 database as
// utf8mb4 (TestCreatedTableTakesDatabaseCharset): such a checkpoint kept
// decoding the table's text wrong after the upgrade. When no DDL of the
// table lies in this server's binlog between the checkpoint and now, the
// table's schema at the checkpoint is the one the server has now, so a
// column whose character set differs was stored wrong: it takes the
// server's, with a WARN saying so and how to mend the rows already written
// (etlq resnapshot). When a DDL of it lies between (or the checkpoint is
// another server's, or the binlog cannot be read), the difference may be
// that DDL's: the schema is kept, with a WARN naming the command that reads
// the table again.
func (st *stream) checkSavedCharsets(c *client.Conn, cp *markState, saved map[connectors.TableRef]*table) error {
	refs, live, err := readSavedWith(c, saved, isText)
	if err != nil || len(refs) == 0 {
		return err
	}
	// The binlog's end after the read: a DDL that changed what was read
	// is before it.
	cur, _, curErr := masterStatus(c, st.flavor)
	diffs := map[connectors.TableRef][]charsetDiff{}
	var suspect []connectors.TableRef
	for _, ref := range refs {
		lt := live[ref]
		if lt == nil {
			continue // gone since: the binlog reader meets its DROP
		}
		for _, col := range saved[ref].Cols {
			if !isText(col) {
				continue
			}
			i := lt.colIndex(col.Name)
			if i < 0 || !isText(lt.Cols[i]) || lt.Cols[i].DataType != col.DataType || sameCharset(lt.Cols[i].Charset, col.Charset) {
				continue
			}
			if len(diffs[ref]) == 0 {
				suspect = append(suspect, ref)
			}
			diffs[ref] = append(diffs[ref], charsetDiff{col: col, live: lt.Cols[i], ref: ref, liveTable: lt})
		}
	}
	if len(suspect) == 0 {
		return nil
	}
	from := binlogPos{File: cp.File, Pos: cp.Pos}
	var touched map[connectors.TableRef]bool
	why := ""
	ident, err := readServerIdent(c, st.flavor)
	switch {
	case err != nil:
		why = err.Error()
	case curErr != nil:
		why = curErr.Error()
	case !sameServer(cp.ident(), ident):
		why = "the checkpoint was taken on another server"
	case cur.isZero() || from.cmp(cur) > 0:
		why = "the server's binlog position is not known"
	default:
		if touched, err = ddlBetween(c, from, cur, suspect); err != nil {
			why = "reading the binlog between them: " + err.Error()
		}
	}
	for _, ref := range suspect {
		var cols []string
		for _, d := range diffs[ref] {
			cols = append(cols, fmt.Sprintf("%s (checkpoint: %s, server: %s)", d.col.Name, d.col.Charset, d.live.Charset))
		}
		mend := fmt.Sprintf("etlq resnapshot FILE PIPELINE %s reads the table again into each pipeline that reads it", ref)
		switch {
		case why == "" && !touched[ref]:
			for _, d := range diffs[ref] {
				d.col.Charset, d.col.Collation = d.live.Charset, d.live.Collation
			}
			if t := saved[ref]; t.Charset != diffs[ref][0].liveTable.Charset && diffs[ref][0].liveTable.Charset != "" {
				t.Charset, t.Collation = diffs[ref][0].liveTable.Charset, diffs[ref][0].liveTable.Collation
			}
			st.schemasDirty = true
			st.log.Warn("the checkpoint's schema has a text column in another character set than the server's, and no DDL of the table lies between the checkpoint and now: the checkpoint stored it wrong (an earlier etlq took utf8mb4 for a table created without a character set in a database of another default); the server's character set is taken from now on. Rows written from the wrong schema may hold wrong text in the targets: "+mend,
				"table", ref.String(), "columns", strings.Join(cols, ", "), "checkpoint", from.String())
		default:
			reason := "a DDL of the table lies between the checkpoint and now, which may have changed it"
			if why != "" {
				reason = "whether a DDL of the table lies between the checkpoint and now cannot be told: " + why
			}
			st.log.Warn("the checkpoint's schema has a text column in another character set than the server's; "+reason+", so the checkpoint's is kept. If no DDL changed the character set, the checkpoint stored it wrong (an earlier etlq took utf8mb4 for a table created without a character set in a database of another default) and the table's text is decoded wrong: "+mend,
				"table", ref.String(), "columns", strings.Join(cols, ", "), "checkpoint", from.String())
		}
	}
	return nil
}

// ddlBetween reports which of tables a DDL statement in the binlog between
// from and to may have changed: a statement that looks like DDL and names
// the table's name as a word (in any database, and whatever the
// statement does with it: the answer errs towards "changed").
func ddlBetween(c *client.Conn, from, to binlogPos, tables []connectors.TableRef) (map[connectors.TableRef]bool, error) {
	logs, err := c.Execute("SHOW BINARY LOGS")
	if err != nil {
		return nil, err
	}
	var files []string
	for i := 0; i < logs.RowNumber(); i++ {
		f, _ := logs.GetString(i, 0)
		if fileSeq(f) >= fileSeq(from.File) && fileSeq(f) <= fileSeq(to.File) {
			files = append(files, f)
		}
	}
	if len(files) == 0 || files[0] != from.File {
		return nil, fmt.Errorf("%s is not on the server", from.File)
	}
	out := map[connectors.TableRef]bool{}
	for _, f := range files {
		pos := uint32(4)
		if f == from.File {
			pos = from.Pos
		}
		for {
			var res gm.Result
			rows, done := 0, false
			var last uint32
			q := fmt.Sprintf("SHOW BINLOG EVENTS IN %s FROM %d LIMIT %d", quoteString(f), pos, gtidPageRows)
			err := c.ExecuteSelectStreaming(q, &res, func(row []gm.FieldValue) error {
				rows++
				if len(row) < 6 || done {
					return nil
				}
				at := uint32(fieldUint(row[1]))
				if f == to.File && at >= to.Pos {
					done = true
					return nil
				}
				last = uint32(fieldUint(row[4]))
				if string(row[2].AsString()) != "Query" {
					return nil
				}
				info := string(row[5].AsString())
				if strings.HasPrefix(info, "use ") {
					if i := strings.Index(info, "; "); i >= 0 {
						info = info[i+2:]
					}
				}
				if !looksLikeDDL(info) {
					return nil
				}
				for _, w := range ddlWords(info) {
					for _, t := range tables {
						if strings.EqualFold(w.text, t.Table) {
							out[t] = true
						}
					}
				}
				return nil
			}, nil)
			if err != nil {
				return nil, fmt.Errorf("read %s from %d: %v", f, pos, err)
			}
			if done || rows < gtidPageRows || last <= pos {
				break
			}
			pos = last
		}
	}
	return out, nil
}

// sameCharset reports whether two character set names are one: utf8 is
// MariaDB's utf8mb3 by another name (10.6 and later show utf8mb3, a
// checkpoint of an older server has utf8).
func sameCharset(a, b string) bool {
	norm := func(s string) string {
		if s = strings.ToLower(s); s == "utf8" {
			return "utf8mb3"
		}
		return s
	}
	return norm(a) == norm(b)
}
