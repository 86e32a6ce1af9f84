package mysql

import (
	"math/big"
	"strconv"
	"strings"
)

// storedDefault rewrites the literal DEFAULT d of column c (a DDL's text)
// as the value MySQL stores for it, which is what the rows already in the
// table hold after an ADD COLUMN and what a sink must give its own rows
// there (exec.MetaDefault):
//
//   - x'…' and b'…' literals are bytes: a binary column's value as they
//     are, a text column's in the column's character set (latin1 x'80' is
//     '€'), a BIT column's number;
//   - a BINARY(n) is padded with 0x00 to n bytes; a CHAR reads back
//     without its trailing spaces;
//   - an ENUM member is spelled as defined ('B' → 'b'; a number is the
//     member's position), a SET's members are put in definition order,
//     once each ('y,x' → 'x,y');
//   - a number (or a string holding one) in an integer or DECIMAL column
//     is rounded half away from zero to the column's scale and written with
//     exactly that many fraction digits (INT 1.5 → 2, DECIMAL(5,2) '-1.005'
//     → -1.01, DECIMAL(65,30) -1.5 → -1.500000000000000000000000000000).
//
// A default MySQL would have refused (a string that is no number in an INT
// column, a SET element that is no member) is left as it is.
func storedDefault(c *column, d *colDefault) {
	if d == nil || d.Null || d.Expr != "" {
		return
	}
	if d.Bin != nil {
		switch c.Kind {
		case kBinary, kGeometry:
			// The bytes themselves, kept in Bin (not UTF-8 text).
			if n := binaryLen(c); n > 0 && len(d.Bin) < n {
				d.Bin = append(d.Bin, make([]byte, n-len(d.Bin))...)
			}
			return
		case kBit:
			if len(d.Bin) <= 8 {
				var n uint64
				for _, b := range d.Bin {
					n = n<<8 | uint64(b)
				}
				*d = colDefault{Value: strconv.FormatUint(n, 10), Number: true}
			}
			return
		case kString, kJSON, kEnum, kSet:
			v := string(d.Bin)
			if c.Charset == "latin1" && !isASCII(d.Bin) {
				v = string(appendLatin1(nil, d.Bin))
			}
			*d = colDefault{Value: v}
		default:
			return
		}
	}
	switch c.Kind {
	case kBinary:
		if n := binaryLen(c); n > 0 && len(d.Value) < n {
			d.Value += strings.Repeat("\x00", n-len(d.Value))
		}
	case kString:
		if c.DataType == "char" {
			d.Value = strings.TrimRight(d.Value, " ")
		}
	case kUUID, kInet6, kInet4:
		// As the server shows the value ('::0001' is '::1').
		if v, ok := fixedBinNormal(c.Kind, d.Value); ok {
			d.Value = v
		}
	case kEnum:
		if m, ok := enumMember(c.Members, d); ok {
			*d = colDefault{Value: m}
		}
	case kSet:
		if v, ok := setMembers(c.Members, d); ok {
			*d = colDefault{Value: v}
		}
	case kInt8, kInt16, kInt32, kInt64, kUint8, kUint16, kUint32, kUint64, kYear:
		if v, ok := roundDecimal(d.Value, 0); ok {
			*d = colDefault{Value: v, Number: true}
		}
	case kDecimal128, kDecimal256:
		if v, ok := roundDecimal(d.Value, c.Scale); ok {
			*d = colDefault{Value: v, Number: true}
		}
	}
}

// binaryLen is n of a BINARY(n) column, 0 for other binary columns.
func binaryLen(c *column) int {
	if c.DataType != "binary" {
		return 0
	}
	if c.OctetLen > 0 {
		return c.OctetLen
	}
	n := 1 // BINARY is BINARY(1)
	if i := strings.IndexByte(c.ColumnType, '('); i > 0 {
		if v, err := strconv.Atoi(strings.TrimSuffix(c.ColumnType[i+1:], ")")); err == nil {
			n = v
		}
	}
	return n
}

// enumMember is the member an ENUM default names: by its text, compared
// without case and trailing spaces, or by its 1-based position.
func enumMember(members []string, d *colDefault) (string, bool) {
	if d.Number {
		i, err := strconv.Atoi(d.Value)
		if err != nil || i < 1 || i > len(members) {
			return "", false
		}
		return members[i-1], true
	}
	v := strings.TrimRight(d.Value, " ")
	for _, m := range members {
		if strings.EqualFold(strings.TrimRight(m, " "), v) {
			return m, true
		}
	}
	return "", false
}

// setMembers is the SET value a default names, its members in definition
// order: from its comma-separated members, or from a number's bits.
func setMembers(members []string, d *colDefault) (string, bool) {
	in := make([]bool, len(members))
	if d.Number {
		n, err := strconv.ParseUint(d.Value, 10, 64)
		if err != nil || (len(members) < 64 && n>>uint(len(members)) != 0) {
			return "", false
		}
		for i := range members {
			in[i] = n&(1<<uint(i)) != 0
		}
	} else if d.Value != "" {
	next:
		for _, e := range strings.Split(d.Value, ",") {
			e = strings.TrimRight(e, " ")
			for i, m := range members {
				if strings.EqualFold(strings.TrimRight(m, " "), e) {
					in[i] = true
					continue next
				}
			}
			if e != "" {
				return "", false
			}
		}
	}
	var out []string
	for i, m := range members {
		if in[i] {
			out = append(out, m)
		}
	}
	return strings.Join(out, ","), true
}

// roundDecimal rounds the number s (a decimal or float literal, as text)
// half away from zero to scale digits after the point and writes it with
// exactly that many.
func roundDecimal(s string, scale int) (string, bool) {
	r, ok := new(big.Rat).SetString(strings.TrimSpace(s))
	if !ok {
		return "", false
	}
	neg := r.Sign() < 0
	r.Abs(r)
	pow := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale)), nil)
	r.Mul(r, new(big.Rat).SetInt(pow))
	r.Add(r, big.NewRat(1, 2))
	n := new(big.Int).Quo(r.Num(), r.Denom()) // floor, r ≥ 0
	digits := n.String()
	if scale > 0 {
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if neg && n.Sign() != 0 {
		digits = "-" + digits
	}
	return digits, true
}
