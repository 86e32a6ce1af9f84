package lang

// Walk visits n and its children depth first, in source order. When fn
// returns false the children of that node are skipped. Nil children are
// not visited. Pipeline and query nodes are walked through their filled
// fields (From, Where, Transform …), not through Clauses, so each node is
// visited once.
func Walk(n Node, fn func(Node) bool) {
	if isNilNode(n) || !fn(n) {
		return
	}
	walk := func(c Node) {
		if !isNilNode(c) {
			Walk(c, fn)
		}
	}
	switch n := n.(type) {
	case *File:
		for _, s := range n.Statements {
			walk(s)
		}
	case *Statement:
		switch {
		case n.Source != nil:
			walk(n.Source)
		case n.Sink != nil:
			walk(n.Sink)
		case n.Function != nil:
			walk(n.Function)
		case n.Pipeline != nil:
			walk(n.Pipeline)
		case n.Query != nil:
			walk(n.Query)
		case n.Show != nil:
			walk(n.Show)
		case n.Describe != nil:
			walk(n.Describe)
		case n.Plan != nil:
			walk(n.Plan)
		case n.Help != nil:
			walk(n.Help)
		}
	case *Show:
		walk(n.What)
		walk(n.From)
		walk(n.Like)
	case *Describe:
		walk(n.Table)
	case *PlanPipeline:
		walk(n.Name)
	case *CreateSource:
		walk(n.Name)
		walk(n.Kind)
		walk(n.DSN)
		for _, o := range n.With {
			walk(o)
		}
	case *CreateSink:
		walk(n.Name)
		walk(n.Kind)
		walk(n.DSN)
		for _, o := range n.With {
			walk(o)
		}
	case *Option:
		walk(n.Name)
		walk(n.Value)
	case *CreateFunction:
		walk(n.Name)
		for _, p := range n.Params {
			walk(p)
		}
		walk(n.Returns)
		walk(n.Lang)
		walk(n.Body)
	case *Param:
		walk(n.Name)
		walk(n.Type)
	case *CreatePipeline:
		walk(n.Name)
		for _, t := range n.From {
			walk(t)
		}
		walk(n.Snapshot)
		walk(n.Where)
		for _, it := range n.Transform {
			walk(it)
		}
		walk(n.Into)
		walk(n.Format)
		walk(n.Mode)
		for _, k := range n.Key {
			walk(k)
		}
		for _, o := range n.With {
			walk(o)
		}
	case *Query:
		for _, t := range n.From {
			walk(t)
		}
		walk(n.Snapshot)
		walk(n.Where)
		for _, it := range n.Transform {
			walk(it)
		}
	case *TableName:
		for _, p := range n.Parts {
			walk(p)
		}
	case *SelectItem:
		for _, e := range n.Except {
			walk(e)
		}
		walk(n.Expr)
		walk(n.Alias)
	case *IntoClause:
		walk(n.Kind)
		walk(n.Table)
		walk(n.Target)
	case *ColumnRef:
		walk(n.Name)
	case *Unary:
		walk(n.X)
	case *Binary:
		walk(n.L)
		walk(n.R)
	case *IsNull:
		walk(n.X)
	case *In:
		walk(n.X)
		for _, e := range n.List {
			walk(e)
		}
	case *Between:
		walk(n.X)
		walk(n.Lo)
		walk(n.Hi)
	case *Like:
		walk(n.X)
		walk(n.Pattern)
	case *Case:
		walk(n.Operand)
		for _, w := range n.Whens {
			walk(w)
		}
		walk(n.Else)
	case *When:
		walk(n.Cond)
		walk(n.Result)
	case *Cast:
		walk(n.X)
		walk(n.Type)
	case *Collate:
		walk(n.X)
		walk(n.Name)
	case *Call:
		walk(n.Name)
		for _, a := range n.Args {
			walk(a)
		}
	case *Paren:
		walk(n.X)
	}
}

// isNilNode reports whether n is nil or a typed nil pointer.
func isNilNode(n Node) bool {
	switch n := n.(type) {
	case nil:
		return true
	case *Ident:
		return n == nil
	case *StringLit:
		return n == nil
	case *TypeName:
		return n == nil
	case *TableName:
		return n == nil
	case *IntoClause:
		return n == nil
	case *CreateSource:
		return n == nil
	case *CreateSink:
		return n == nil
	case *CreateFunction:
		return n == nil
	case *CreatePipeline:
		return n == nil
	case *Query:
		return n == nil
	case *Show:
		return n == nil
	case *Describe:
		return n == nil
	case *PlanPipeline:
		return n == nil
	case *Help:
		return n == nil
	case *When:
		return n == nil
	}
	return false
}
