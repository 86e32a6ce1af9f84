package lang

import (
	"fmt"
	"reflect"
	"strings"
)

// DumpOptions selects what Dump prints.
type DumpOptions struct {
	// Positions prints "@line:col-line:col" after every node.
	Positions bool
	// Spelling prints Raw and Written (how the user spelled names, literals
	// and types); without it two sources that differ only in spelling,
	// such as a file and its fmt output, dump alike.
	Spelling bool
}

// Dump prints an AST as an indented tree, one field per line, for golden
// tests and debugging. Pipeline and query clauses are printed through the
// filled fields (From, Where …), not Clauses; File.Comments are printed
// when Positions is set.
func Dump(n Node, opt DumpOptions) string {
	var sb strings.Builder
	d := dumper{sb: &sb, opt: opt}
	d.value(reflect.ValueOf(n), 0)
	return sb.String()
}

type dumper struct {
	sb  *strings.Builder
	opt DumpOptions
}

var posType = reflect.TypeOf(Pos{})

func (d *dumper) value(v reflect.Value, depth int) {
	for v.Kind() == reflect.Interface || v.Kind() == reflect.Ptr {
		if v.IsNil() {
			d.sb.WriteString("nil\n")
			return
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		d.sb.WriteString(fmt.Sprintf("%#v\n", v.Interface()))
		return
	}
	t := v.Type()
	d.sb.WriteString(t.Name())
	if d.opt.Positions {
		if p, ok := t.FieldByName("Pos"); ok && p.Type == posType {
			s := v.FieldByName("Pos").Interface().(Pos)
			e := v.FieldByName("EndPos").Interface().(Pos)
			fmt.Fprintf(d.sb, " @%d:%d-%d:%d", s.Line, s.Column, e.Line, e.Column)
		}
	}
	d.sb.WriteByte('\n')
	pad := strings.Repeat("  ", depth+1)
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		fv := v.Field(i)
		switch {
		case f.Type == posType, !f.IsExported(), f.Name == "Clauses", f.Name == "Semi":
			continue
		case f.Name == "Comments" && !d.opt.Positions:
			continue
		case (f.Name == "Raw" || f.Name == "Written") && !d.opt.Spelling:
			continue
		case fv.IsZero() && f.Type != reflect.TypeOf(LitKind(0)):
			continue
		}
		d.sb.WriteString(pad + f.Name + ": ")
		if fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() != reflect.Uint8 {
			if fv.Type().Elem().Kind() == reflect.Int {
				fmt.Fprintf(d.sb, "%v\n", fv.Interface())
				continue
			}
			d.sb.WriteString("\n")
			for j := 0; j < fv.Len(); j++ {
				d.sb.WriteString(pad + "- ")
				d.value(fv.Index(j), depth+2)
			}
			continue
		}
		if f.Type == reflect.TypeOf(LitKind(0)) {
			d.sb.WriteString(fv.Interface().(LitKind).String() + "\n")
			continue
		}
		d.value(fv, depth+1)
	}
}
