package stdlib

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
)

// colldata holds the weight tables written by internal/collgen (the file
// format is described there).
//
//go:embed colldata/*.bin.gz
var colldata embed.FS

// maxWeights bounds the weights of one character (MariaDB's tables have at
// most 8).
const maxWeights = 16

// weightTable maps code points to their weights. An entry is n<<24 |
// payload: n = 0, no weight (ignorable); n = 1, the weight; n > 1, the
// offset of the n weights in exp.
type weightTable struct {
	bmp     [0x10000]uint32
	exp     []uint16
	runs    []weightRun // code points from U+10000
	missing uint32      // the entry of a code point the table lacks
	shift   uint16      // added to the weights read (latin1: 1)
}

type weightRun struct {
	start, count uint32
	step         uint16
	w            []uint16
}

var (
	tablesMu sync.Mutex
	tables   = map[string]*weightTable{}
)

func loadTable(name string) *weightTable {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	if t := tables[name]; t != nil {
		return t
	}
	t, err := readTable(name)
	if err != nil {
		// The tables are embedded: a broken one is a build error.
		panic(fmt.Sprintf("stdlib: collation table %s: %v", name, err))
	}
	tables[name] = t
	return t
}

func readTable(name string) (*weightTable, error) {
	raw, err := colldata.ReadFile("colldata/" + name + ".bin.gz")
	if err != nil {
		return nil, err
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, err
	}
	// latin1 weights are bytes and 0x00 weighs 0: shift them by one so
	// that 0 keeps meaning "no weight".
	shift := uint16(0)
	if strings.HasPrefix(name, "latin1") {
		shift = 1
	}
	t := &weightTable{shift: shift}
	exps := map[string]uint32{}
	entry := func(w []uint16) uint32 {
		switch len(w) {
		case 0:
			return 0
		case 1:
			return 1<<24 | uint32(w[0])
		}
		k := fmt.Sprint(w)
		off, ok := exps[k]
		if !ok {
			off = uint32(len(t.exp))
			t.exp = append(t.exp, w...)
			exps[k] = off
		}
		return uint32(len(w))<<24 | off
	}
	// Code points the table lacks weigh as '?' (a latin1 column holds no
	// other character; MySQL converts one to '?').
	present := make([]bool, 0x10000)
	for len(data) > 0 {
		if len(data) < 10 {
			return nil, fmt.Errorf("truncated run")
		}
		r := weightRun{start: binary.LittleEndian.Uint32(data), count: binary.LittleEndian.Uint32(data[4:]), step: uint16(data[8])}
		n := int(data[9])
		if n > maxWeights || len(data) < 10+2*n {
			return nil, fmt.Errorf("bad run at U+%04X", r.start)
		}
		for k := 0; k < n; k++ {
			r.w = append(r.w, binary.LittleEndian.Uint16(data[10+2*k:])+shift)
		}
		data = data[10+2*n:]
		w := make([]uint16, n)
		for k := uint32(0); k < r.count; k++ {
			cp := r.start + k
			if cp >= 0x10000 {
				rest := r
				rest.start, rest.count = cp, r.count-k
				if n > 0 {
					rest.w = append([]uint16(nil), r.w...)
					rest.w[n-1] += uint16(k) * r.step
				}
				t.runs = append(t.runs, rest)
				break
			}
			copy(w, r.w)
			if n > 0 {
				w[n-1] += uint16(k) * r.step
			}
			t.bmp[cp] = entry(w)
			present[cp] = true
		}
	}
	sort.Slice(t.runs, func(i, j int) bool { return t.runs[i].start < t.runs[j].start })
	t.missing = t.bmp['?']
	for cp, ok := range present {
		if !ok {
			t.bmp[cp] = t.missing
		}
	}
	return t, nil
}

// lookup returns the weights of r (in tmp or in the table).
func (t *weightTable) lookup(r rune, tmp *[maxWeights]uint16) []uint16 {
	var e uint32
	if r >= 0 && r < 0x10000 {
		e = t.bmp[r]
	} else {
		cp := uint32(r)
		i := sort.Search(len(t.runs), func(i int) bool { return t.runs[i].start+t.runs[i].count > cp })
		if i == len(t.runs) || t.runs[i].start > cp {
			e = t.missing
		} else {
			run := &t.runs[i]
			n := copy(tmp[:], run.w)
			if n > 0 {
				tmp[n-1] += uint16(cp-run.start) * run.step
			}
			return tmp[:n]
		}
	}
	switch n := e >> 24; n {
	case 0:
		return nil
	case 1:
		tmp[0] = uint16(e)
		return tmp[:1]
	default:
		off := e & (1<<24 - 1)
		return t.exp[off : off+n]
	}
}
