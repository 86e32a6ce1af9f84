package mysql

import (
	"encoding/hex"
	"net/netip"
	"strconv"
	"strings"
)

// MariaDB's UUID, INET6 and INET4 columns are fixed-length binary values
// that the server shows as text. The binlog carries their bytes as a
// BINARY(16) or BINARY(4) would (MYSQL_TYPE_STRING, trailing 0x00 bytes
// dropped): an INET's bytes in network order, a UUID's in the order of its
// text (MariaDB swaps the segments of some UUIDs in the row it stores, but
// logs them unswapped, so that a UUID replicates into a BINARY(16)). The
// snapshot reads the server's text; appendFixedBinText makes the same text
// from the binlog's bytes.

// fixedBinLen is the byte length of a MYSQL_TYPE_STRING column from its
// binlog metadata.
func fixedBinLen(meta uint16) int {
	if meta < 256 {
		return int(meta)
	}
	b0, b1 := byte(meta>>8), byte(meta&0xFF)
	if b0&0x30 != 0x30 {
		return int(uint16(b1) | uint16((b0&0x30)^0x30)<<4)
	}
	return int(b1)
}

// appendFixedBinText appends the server's text of a UUID, INET6 or INET4
// value whose binlog bytes are v (the trailing zero bytes restored here).
func appendFixedBinText(dst []byte, k kind, v []byte) []byte {
	n := 16
	if k == kInet4 {
		n = 4
	}
	var b [16]byte
	copy(b[:n], v)
	switch k {
	case kUUID:
		return appendUUIDText(dst, b[:])
	case kInet4:
		return appendIPv4Text(dst, b[:4])
	}
	return appendIPv6Text(dst, b[:])
}

// appendUUIDText: lower-case hex digits, grouped 8-4-4-4-12.
func appendUUIDText(dst, b []byte) []byte {
	const hexd = "0123456789abcdef"
	for i, x := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexd[x>>4], hexd[x&15])
	}
	return dst
}

func appendIPv4Text(dst, b []byte) []byte {
	for i, x := range b {
		if i > 0 {
			dst = append(dst, '.')
		}
		dst = strconv.AppendUint(dst, uint64(x), 10)
	}
	return dst
}

// appendIPv6Text writes an address as MariaDB's Inet6::to_string does:
// lower-case groups without leading zeros; the first longest run of zero
// groups, even a single one, written as "::"; an address whose first five
// groups are zero and whose sixth is 0 (IPv4-compatible, but for :: and
// ::x) or ffff (IPv4-mapped) ends in dotted IPv4. This differs from Go's
// netip, which leaves a single zero group and writes ::1.2.3.4 in hex.
func appendIPv6Text(dst, b []byte) []byte {
	var w [8]uint16
	for i := range w {
		w[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	gapPos, gapLen := -1, -1
	for i := 0; i < 8; {
		if w[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && w[j] == 0 {
			j++
		}
		if j-i > gapLen {
			gapPos, gapLen = i, j-i
		}
		i = j
	}
	for i := 0; i < 8; i++ {
		switch {
		case i == gapPos:
			if i == 0 {
				dst = append(dst, ':')
			}
			dst = append(dst, ':')
			i += gapLen - 1
		case i == 6 && gapPos == 0 && (gapLen == 6 || gapLen == 5 && w[5] == 0xffff):
			return appendIPv4Text(dst, b[12:16])
		default:
			dst = strconv.AppendUint(dst, uint64(w[i]), 16)
			if i != 7 {
				dst = append(dst, ':')
			}
		}
	}
	return dst
}

// fixedBinNormal returns the server's text of a UUID, INET6 or INET4
// literal v (a column DEFAULT as written in the DDL); ok is false when v is
// not one.
func fixedBinNormal(k kind, v string) (string, bool) {
	switch k {
	case kUUID:
		h := strings.ReplaceAll(v, "-", "")
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 16 || strings.HasPrefix(v, "-") || strings.HasSuffix(v, "-") {
			return "", false
		}
		return string(appendUUIDText(nil, b)), true
	case kInet4:
		var b [4]byte
		parts := strings.Split(v, ".")
		if len(parts) != 4 {
			return "", false
		}
		for i, p := range parts {
			n, err := strconv.ParseUint(p, 10, 8)
			if err != nil {
				return "", false
			}
			b[i] = byte(n)
		}
		return string(appendIPv4Text(nil, b[:])), true
	case kInet6:
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" || !a.Is6() {
			return "", false
		}
		b := a.As16()
		return string(appendIPv6Text(nil, b[:])), true
	}
	return "", false
}
