// Command collgen writes the weight tables of the collations etlq
// implements (stdlib/colldata/*.bin.gz) from a live MariaDB server: for
// every Unicode code point (latin1 collations: every latin1 character) it
// asks the server for WEIGHT_STRING(ch COLLATE c) and stores the result as
// runs of code points.
//
// Run from stdlib/ (go generate does): go run ./internal/collgen -dsn
// root@127.0.0.1:3316. The tables are checked code point by code point
// against the server by connectors/mysql's TestCollationWeightsMatchServer.
//
// File format (gzip): a sequence of runs, each
//
//	start uint32, count uint32, step uint8, n uint8, n × uint16 weights
//
// (little-endian): the count code points from start have n weights each,
// those of start, with the last weight increased by step for each code
// point after start. Code points without a run are not in the character
// set (latin1) or are surrogates.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
)

// tables: file name → the MariaDB collation its weights come from, and
// whether the collation is a latin1 one (weights per latin1 byte, keyed by
// the byte's Unicode code point).
var tables = []struct {
	file, collation string
	latin1          bool
}{
	{"general_ci", "utf8mb4_general_ci", false},
	{"unicode_ci", "utf8mb4_unicode_ci", false},
	{"uca1400_ai_ci", "uca1400_nopad_ai_ci", false},
	{"unicode_520_ci", "utf8mb4_unicode_520_ci", false},
	{"latin1_swedish_ci", "latin1_swedish_ci", true},
	{"latin1_bin", "latin1_bin", true},
	{"latin1_general_ci", "latin1_general_ci", true},
	{"latin1_general_cs", "latin1_general_cs", true},
	{"latin1_german1_ci", "latin1_german1_ci", true},
	{"latin1_german2_ci", "latin1_german2_ci", true},
	{"latin1_danish_ci", "latin1_danish_ci", true},
	{"latin1_spanish_ci", "latin1_spanish_ci", true},
}

func main() {
	dsn := flag.String("dsn", "root@127.0.0.1:3316", "user[:password]@host:port of a MariaDB 10.10+ server")
	out := flag.String("out", "colldata", "output directory")
	flag.Parse()
	cred, addr, ok := strings.Cut(*dsn, "@")
	if !ok {
		log.Fatalf("dsn %q: want user[:password]@host:port", *dsn)
	}
	user, pass, _ := strings.Cut(cred, ":")
	c, err := client.Connect(addr, user, pass, "")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	db := fmt.Sprintf("etlq_collgen_%d", os.Getpid())
	must := func(q string) {
		if _, err := c.Execute(q); err != nil {
			log.Fatalf("%v\n%s", err, q)
		}
	}
	must("SET NAMES utf8mb4")
	must("CREATE DATABASE " + db)
	defer c.Execute("DROP DATABASE " + db)
	must("CREATE TABLE " + db + ".cp (cp INT PRIMARY KEY, ch VARCHAR(1) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin)")
	must("INSERT INTO " + db + ".cp SELECT seq, CONVERT(CHAR(seq USING utf32) USING utf8mb4) FROM " + db +
		".seq_0_to_1114111 WHERE seq < 55296 OR seq > 57343")
	must("CREATE TABLE " + db + ".l1 (b INT PRIMARY KEY, ch VARCHAR(1) CHARACTER SET latin1 COLLATE latin1_bin)")
	must("INSERT INTO " + db + ".l1 SELECT seq, UNHEX(LPAD(HEX(seq), 2, '0')) FROM " + db + ".seq_0_to_255")
	for _, t := range tables {
		q := fmt.Sprintf("SELECT cp, HEX(WEIGHT_STRING(ch COLLATE %s)) FROM %s.cp ORDER BY cp", t.collation, db)
		width := 2
		if t.latin1 {
			// The code point of each latin1 byte (MySQL's latin1 is
			// Windows-1252 with 0x81, 0x8D, 0x8F, 0x90, 0x9D passed
			// through), and the byte's weight (one byte).
			q = fmt.Sprintf("SELECT ORD(CONVERT(ch USING utf32)), HEX(WEIGHT_STRING(ch COLLATE %s)) FROM %s.l1 ORDER BY 1", t.collation, db)
			width = 1
		}
		r, err := c.Execute(q)
		if err != nil {
			log.Fatalf("%v\n%s", err, q)
		}
		type entry struct {
			cp uint32
			w  []uint16
		}
		var es []entry
		for i := range r.Values {
			cp, _ := r.GetInt(i, 0)
			h, _ := r.GetString(i, 1)
			raw, err := hex.DecodeString(h)
			if err != nil {
				log.Fatal(err)
			}
			var w []uint16
			for k := 0; k+width <= len(raw); k += width {
				if width == 1 {
					w = append(w, uint16(raw[k]))
				} else {
					w = append(w, binary.BigEndian.Uint16(raw[k:]))
				}
			}
			es = append(es, entry{uint32(cp), w})
		}
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		runs := 0
		for i := 0; i < len(es); {
			start := es[i]
			step := -1
			j := i + 1
			for ; j < len(es); j++ {
				e, p := es[j], es[j-1]
				if e.cp != p.cp+1 || len(e.w) != len(start.w) {
					break
				}
				if len(e.w) == 0 {
					continue
				}
				if !equal(e.w[:len(e.w)-1], p.w[:len(p.w)-1]) {
					break
				}
				d := int(e.w[len(e.w)-1]) - int(p.w[len(p.w)-1])
				if step < 0 {
					if d != 0 && d != 1 {
						break
					}
					step = d
				}
				if d != step {
					break
				}
			}
			if step < 0 {
				step = 0
			}
			hdr := make([]byte, 10, 10+2*len(start.w))
			binary.LittleEndian.PutUint32(hdr, start.cp)
			binary.LittleEndian.PutUint32(hdr[4:], uint32(j-i))
			hdr[8], hdr[9] = byte(step), byte(len(start.w))
			for _, w := range start.w {
				hdr = binary.LittleEndian.AppendUint16(hdr, w)
			}
			zw.Write(hdr)
			runs++
			i = j
		}
		if err := zw.Close(); err != nil {
			log.Fatal(err)
		}
		name := filepath.Join(*out, t.file+".bin.gz")
		if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
			log.Fatal(err)
		}
		log.Printf("%s: %d code points, %d runs, %d bytes", name, len(es), runs, buf.Len())
	}
}

func equal(a, b []uint16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
