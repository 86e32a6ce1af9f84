// Package stdlib is etlq's type system and function library.
//
// It defines the logical types of the language (Type), the columnar value
// container the executor evaluates into (Vector), and the registry of
// vectorized scalar functions (Lookup). It imports no other etlq layer.
package stdlib

import (
	"fmt"
	"strings"

	"github.com/apache/arrow-go/v18/arrow"
)

// MetaLogicalType duplicates exec.MetaLogicalType (stdlib must not import exec).
const MetaLogicalType = "etlq.logical_type"

// MetaSourceType duplicates exec.MetaSourceType.
const MetaSourceType = "etlq.source_type"

// Kind is the kind of a logical type.
type Kind uint8

// Kinds of logical types.
const (
	Null Kind = iota
	Bool
	Int8
	Int16
	Int32
	Int64
	Uint8
	Uint16
	Uint32
	Uint64
	Float32
	Float64
	Decimal
	String
	Binary
	Date
	Timestamp
	Time
	JSON
	Interval
)

var kindNames = [...]string{"NULL", "BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16",
	"UINT32", "UINT64", "FLOAT32", "FLOAT64", "DECIMAL", "STRING", "BINARY", "DATE", "TIMESTAMP",
	"TIME", "JSON", "INTERVAL"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", k)
}

// MaxDecimalPrecision and MaxDecimalScale are MySQL's limits.
const (
	MaxDecimalPrecision = 65
	MaxDecimalScale     = 30
)

// Type is a logical type. Precision and Scale are set for Decimal only.
type Type struct {
	Kind             Kind
	Precision, Scale int32
}

// Common types.
var (
	TNull      = Type{Kind: Null}
	TBool      = Type{Kind: Bool}
	TInt64     = Type{Kind: Int64}
	TUint64    = Type{Kind: Uint64}
	TFloat64   = Type{Kind: Float64}
	TString    = Type{Kind: String}
	TBinary    = Type{Kind: Binary}
	TDate      = Type{Kind: Date}
	TTimestamp = Type{Kind: Timestamp}
	TTime      = Type{Kind: Time}
	TJSON      = Type{Kind: JSON}
	TInterval  = Type{Kind: Interval}
)

// Dec returns the type DECIMAL(p,s).
func Dec(p, s int32) Type { return Type{Kind: Decimal, Precision: p, Scale: s} }

// String returns the language spelling of t: "INT64", "DECIMAL(12,2)".
func (t Type) String() string {
	if t.Kind == Decimal {
		return fmt.Sprintf("DECIMAL(%d,%d)", t.Precision, t.Scale)
	}
	return t.Kind.String()
}

// IsSigned reports whether t is a signed integer type.
func (t Type) IsSigned() bool { return t.Kind >= Int8 && t.Kind <= Int64 }

// IsUnsigned reports whether t is an unsigned integer type.
func (t Type) IsUnsigned() bool { return t.Kind >= Uint8 && t.Kind <= Uint64 }

// IsInteger reports whether t is a signed or unsigned integer type.
func (t Type) IsInteger() bool { return t.IsSigned() || t.IsUnsigned() }

// IsFloat reports whether t is FLOAT32 or FLOAT64.
func (t Type) IsFloat() bool { return t.Kind == Float32 || t.Kind == Float64 }

// IsNumeric reports whether t is an integer, float or decimal type.
func (t Type) IsNumeric() bool { return t.IsInteger() || t.IsFloat() || t.Kind == Decimal }

// IsStringLike reports whether t is STRING or JSON (text values).
func (t Type) IsStringLike() bool { return t.Kind == String || t.Kind == JSON }

// IsTemporal reports whether t is DATE, TIMESTAMP or TIME.
func (t Type) IsTemporal() bool { return t.Kind == Date || t.Kind == Timestamp || t.Kind == Time }

// Physical is the storage class of a Vector holding values of a type.
type Physical uint8

// Physical storage classes.
const (
	PhysNone     Physical = iota // NULL: no values
	PhysBool                     // Vector.Bool
	PhysInt                      // Vector.I64: signed integers, DATE (days), TIMESTAMP and TIME (µs)
	PhysUint                     // Vector.U64
	PhysFloat                    // Vector.F64
	PhysDecimal                  // Vector.Dec (unscaled, scale in the type)
	PhysString                   // Vector.Str: STRING, JSON, BINARY
	PhysInterval                 // Vector.Iv
)

// Physical returns how values of t are stored in a Vector.
func (t Type) Physical() Physical {
	switch {
	case t.Kind == Null:
		return PhysNone
	case t.Kind == Bool:
		return PhysBool
	case t.IsSigned(), t.Kind == Date, t.Kind == Timestamp, t.Kind == Time:
		return PhysInt
	case t.IsUnsigned():
		return PhysUint
	case t.IsFloat():
		return PhysFloat
	case t.Kind == Decimal:
		return PhysDecimal
	case t.Kind == Interval:
		return PhysInterval
	}
	return PhysString
}

// Arrow returns the Arrow type that carries values of t.
func (t Type) Arrow() arrow.DataType {
	switch t.Kind {
	case Null:
		return arrow.Null
	case Bool:
		return arrow.FixedWidthTypes.Boolean
	case Int8:
		return arrow.PrimitiveTypes.Int8
	case Int16:
		return arrow.PrimitiveTypes.Int16
	case Int32:
		return arrow.PrimitiveTypes.Int32
	case Int64:
		return arrow.PrimitiveTypes.Int64
	case Uint8:
		return arrow.PrimitiveTypes.Uint8
	case Uint16:
		return arrow.PrimitiveTypes.Uint16
	case Uint32:
		return arrow.PrimitiveTypes.Uint32
	case Uint64:
		return arrow.PrimitiveTypes.Uint64
	case Float32:
		return arrow.PrimitiveTypes.Float32
	case Float64:
		return arrow.PrimitiveTypes.Float64
	case Decimal:
		if t.Precision <= 38 {
			return &arrow.Decimal128Type{Precision: t.Precision, Scale: t.Scale}
		}
		return &arrow.Decimal256Type{Precision: t.Precision, Scale: t.Scale}
	case String, JSON:
		return arrow.BinaryTypes.String
	case Binary:
		return arrow.BinaryTypes.Binary
	case Date:
		return arrow.FixedWidthTypes.Date32
	case Timestamp:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	case Time:
		return &arrow.DurationType{Unit: arrow.Microsecond}
	case Interval:
		return arrow.FixedWidthTypes.MonthDayNanoInterval
	}
	return arrow.Null
}

// Metadata returns the field metadata that marks t where the Arrow type alone
// is ambiguous (JSON on String, TIME on Duration).
func (t Type) Metadata() arrow.Metadata {
	switch t.Kind {
	case JSON:
		return arrow.NewMetadata([]string{MetaLogicalType}, []string{"json"})
	case Time:
		return arrow.NewMetadata([]string{MetaLogicalType}, []string{"time"})
	}
	return arrow.Metadata{}
}

// FromField returns the logical type of an Arrow field, reading the
// "etlq.logical_type" metadata (String with "json" is JSON).
func FromField(f arrow.Field) (Type, error) {
	logical, _ := f.Metadata.GetValue(MetaLogicalType)
	switch dt := f.Type.(type) {
	case *arrow.NullType:
		return TNull, nil
	case *arrow.BooleanType:
		return TBool, nil
	case *arrow.Int8Type:
		return Type{Kind: Int8}, nil
	case *arrow.Int16Type:
		return Type{Kind: Int16}, nil
	case *arrow.Int32Type:
		return Type{Kind: Int32}, nil
	case *arrow.Int64Type:
		return Type{Kind: Int64}, nil
	case *arrow.Uint8Type:
		return Type{Kind: Uint8}, nil
	case *arrow.Uint16Type:
		return Type{Kind: Uint16}, nil
	case *arrow.Uint32Type:
		return Type{Kind: Uint32}, nil
	case *arrow.Uint64Type:
		return Type{Kind: Uint64}, nil
	case *arrow.Float32Type:
		return Type{Kind: Float32}, nil
	case *arrow.Float64Type:
		return Type{Kind: Float64}, nil
	case *arrow.Decimal128Type:
		return Dec(dt.Precision, dt.Scale), nil
	case *arrow.Decimal256Type:
		return Dec(dt.Precision, dt.Scale), nil
	case *arrow.StringType, *arrow.LargeStringType:
		if logical == "json" {
			return TJSON, nil
		}
		return TString, nil
	case *arrow.BinaryType, *arrow.LargeBinaryType:
		return TBinary, nil
	case *arrow.Date32Type:
		return TDate, nil
	case *arrow.TimestampType:
		if dt.Unit != arrow.Microsecond {
			return Type{}, fmt.Errorf("column %q: timestamp unit %s is not supported (want us)", f.Name, dt.Unit)
		}
		return TTimestamp, nil
	case *arrow.DurationType:
		if dt.Unit != arrow.Microsecond {
			return Type{}, fmt.Errorf("column %q: duration unit %s is not supported (want us)", f.Name, dt.Unit)
		}
		return TTime, nil
	case *arrow.MonthDayNanoIntervalType:
		return TInterval, nil
	}
	return Type{}, fmt.Errorf("column %q: arrow type %s is not supported", f.Name, f.Type)
}

// ParseType returns the type named by the language (case-insensitive), with
// params for DECIMAL(p[,s]). Common SQL aliases are accepted (INT, BIGINT,
// VARCHAR, TEXT, DOUBLE, DATETIME, …).
func ParseType(name string, params []int) (Type, error) {
	n := strings.ToUpper(name)
	var t Type
	switch n {
	case "BOOL", "BOOLEAN":
		t = TBool
	case "INT8", "TINYINT":
		t = Type{Kind: Int8}
	case "INT16", "SMALLINT":
		t = Type{Kind: Int16}
	case "INT32", "INT", "INTEGER":
		t = Type{Kind: Int32}
	case "INT64", "BIGINT", "SIGNED":
		t = Type{Kind: Int64}
	case "UINT8":
		t = Type{Kind: Uint8}
	case "UINT16":
		t = Type{Kind: Uint16}
	case "UINT32":
		t = Type{Kind: Uint32}
	case "UINT64", "UNSIGNED":
		t = Type{Kind: Uint64}
	case "FLOAT32", "FLOAT", "REAL":
		t = Type{Kind: Float32}
	case "FLOAT64", "DOUBLE":
		t = Type{Kind: Float64}
	case "DECIMAL", "NUMERIC":
		p, s := 10, 0
		switch len(params) {
		case 0:
		case 1:
			p = params[0]
		case 2:
			p, s = params[0], params[1]
		default:
			return Type{}, fmt.Errorf("type %q takes at most 2 parameters, got %d", name, len(params))
		}
		if p < 1 || p > MaxDecimalPrecision {
			return Type{}, fmt.Errorf("decimal precision %d is out of range 1..%d", p, MaxDecimalPrecision)
		}
		if s < 0 || s > MaxDecimalScale || s > p {
			return Type{}, fmt.Errorf("decimal scale %d is out of range 0..%d", s, min(p, MaxDecimalScale))
		}
		return Dec(int32(p), int32(s)), nil
	case "STRING", "VARCHAR", "CHAR", "TEXT":
		t = TString
	case "BINARY", "VARBINARY", "BLOB", "BYTES":
		t = TBinary
	case "DATE":
		t = TDate
	case "TIMESTAMP", "DATETIME":
		t = TTimestamp
	case "TIME":
		t = TTime
	case "JSON":
		t = TJSON
	default:
		return Type{}, fmt.Errorf("unknown type %q", name)
	}
	// VARCHAR(255), DATETIME(6) and the like: the length or precision does not
	// change the logical type.
	if len(params) > 1 || (len(params) == 1 && !(n == "VARCHAR" || n == "CHAR" || n == "BINARY" ||
		n == "VARBINARY" || n == "DATETIME" || n == "TIMESTAMP" || n == "TIME")) {
		return Type{}, fmt.Errorf("type %q takes no parameters", name)
	}
	return t, nil
}

// IntRange returns the range of an integer type as int64 (for unsigned
// types the upper bound is capped at MaxInt64; see UintMax).
func IntRange(k Kind) (lo, hi int64) {
	switch k {
	case Int8:
		return -1 << 7, 1<<7 - 1
	case Int16:
		return -1 << 15, 1<<15 - 1
	case Int32:
		return -1 << 31, 1<<31 - 1
	case Uint8:
		return 0, 1<<8 - 1
	case Uint16:
		return 0, 1<<16 - 1
	case Uint32:
		return 0, 1<<32 - 1
	case Uint64:
		return 0, 1<<63 - 1
	}
	return -1 << 63, 1<<63 - 1
}

// UintMax returns the largest value of an unsigned integer kind.
func UintMax(k Kind) uint64 {
	switch k {
	case Uint8:
		return 1<<8 - 1
	case Uint16:
		return 1<<16 - 1
	case Uint32:
		return 1<<32 - 1
	}
	return 1<<64 - 1
}

// DecimalOf returns the DECIMAL type that holds every value of an integer
// type exactly (MySQL's precision for that integer type).
func DecimalOf(t Type) Type {
	switch t.Kind {
	case Decimal:
		return t
	case Bool, Int8, Uint8:
		return Dec(3, 0)
	case Int16, Uint16:
		return Dec(5, 0)
	case Int32:
		return Dec(10, 0)
	case Uint32:
		return Dec(10, 0)
	case Int64:
		return Dec(19, 0)
	case Uint64:
		return Dec(20, 0)
	}
	return Dec(MaxDecimalPrecision, MaxDecimalScale)
}
