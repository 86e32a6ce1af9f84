package stdlib

func specialBind(kind string) func([]Arg) (*Bound, error) {
	return func(args []Arg) (*Bound, error) {
		ret := TNull
		for _, a := range args {
			if a.Type.Kind != Null {
				ret = a.Type
				break
			}
		}
		return &Bound{Ret: ret, Special: kind}, nil
	}
}

func init() {
	Register(&Func{Name: "if", Sig: "if(cond, a, b) → type of a/b", Doc: "a when cond is TRUE, else b (only the branch taken is evaluated).", MySQL: true,
		MinArgs: 3, MaxArgs: 3, Examples: []Example{{"if(1 > 2, 'yes', 'no')", "no"}, {"if(NULL, 1, 2)", "2"}},
		Bind: specialBind("if")})
	Register(&Func{Name: "coalesce", Sig: "coalesce(a, …) → common type", Doc: "The first argument that is not NULL.", MySQL: true,
		MinArgs: 1, MaxArgs: -1, Examples: []Example{{"coalesce(NULL, 2, 3)", "2"}, {"coalesce(NULL, NULL)", "NULL"}},
		Bind: specialBind("coalesce")})
	Register(&Func{Name: "ifnull", Sig: "ifnull(a, b) → common type", Doc: "a unless it is NULL, then b.", MySQL: true,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"ifnull(NULL, 'x')", "x"}, {"ifnull(1, 2)", "1"}},
		Bind: specialBind("coalesce")})
	Register(&Func{Name: "nullif", Sig: "nullif(a, b) → type of a", Doc: "NULL when a = b, else a.", MySQL: true,
		MinArgs: 2, MaxArgs: 2, Examples: []Example{{"nullif(1, 1)", "NULL"}, {"nullif(1, 2)", "1"}},
		Bind: specialBind("nullif")})
}
