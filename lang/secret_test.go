package lang

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExpandEscapesUserinfo: a value put into the user:password of a DSN
// or URL is percent-escaped, so a password with URL-special characters
// means itself once the DSN is parsed; the same value elsewhere in the DSN
// (a database name) is put as it is.
func TestExpandEscapesUserinfo(t *testing.T) {
	src := "CREATE SOURCE s FROM mysql 'mysql://etl2:${PW2}@127.0.0.1:3316/${DB}';\n" +
		"CREATE SINK k INTO clickhouse 'clickhouse://${USER}:${PW2}@h:9000';\n" +
		"CREATE PIPELINE p FROM binlog a.b INTO http 'https://${USER}:${PW2}@hooks.example/x' WITH (headers = 'X: ${PW2}');\n"
	f := mustParse(t, "x.etl", []byte(src))
	env := map[string]string{"PW2": "p@ss:w/rd#x%y", "DB": "shop", "USER": "a@b"}
	var secrets []string
	errs := ExpandWith(f, Expansion{Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Secret: func(v string) { secrets = append(secrets, v) }})
	if errs != nil {
		t.Fatal(errs)
	}
	if got := f.Statements[0].Source.DSN.Value; got != "mysql://etl2:p%40ss%3Aw%2Frd%23x%25y@127.0.0.1:3316/shop" {
		t.Errorf("mysql DSN = %q", got)
	}
	if got := f.Statements[1].Sink.DSN.Value; got != "clickhouse://a%40b:p%40ss%3Aw%2Frd%23x%25y@h:9000" {
		t.Errorf("clickhouse DSN = %q", got)
	}
	p := f.Statements[2].Pipeline
	if got := p.Into.Target.Value; got != "https://a%40b:p%40ss%3Aw%2Frd%23x%25y@hooks.example/x" {
		t.Errorf("http target = %q", got)
	}
	if got := p.With[0].Value.(*Literal).Value; got != "X: p@ss:w/rd#x%y" {
		t.Errorf("an option is not a DSN: %q", got)
	}
	for _, s := range secrets {
		if s != env["PW2"] {
			t.Errorf("a value that is not a password was taken as a secret: %q", s)
		}
	}
	if len(secrets) != 3 {
		t.Errorf("secrets %q, want the password of each DSN", secrets)
	}
}

// TestExpandFileSecret: ${file:PATH} is the file's content without its
// trailing newline, in any string; a file that cannot be read is an error
// at the reference, naming the file and never a content.
func TestExpandFileSecret(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "db_password")
	if err := os.WriteFile(pw, []byte("s3cr:et@x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := "CREATE SOURCE s FROM mysql 'mysql://etl:${file:" + pw + "}@h:3306';\n" +
		"CREATE PIPELINE p FROM binlog a.b INTO http 'https://h/x' WITH (signing_secret = '${file:" + pw + "}');\n"
	f := mustParse(t, "f.etl", []byte(src))
	var secrets []string
	errs := ExpandWith(f, Expansion{Lookup: func(string) (string, bool) { return "", false }, Secret: func(v string) { secrets = append(secrets, v) }})
	if errs != nil {
		t.Fatal(errs)
	}
	if got := f.Statements[0].Source.DSN.Value; got != "mysql://etl:s3cr%3Aet%40x@h:3306" {
		t.Errorf("DSN = %q", got)
	}
	if got := f.Statements[1].Pipeline.With[0].Value.(*Literal).Value; got != "s3cr:et@x" {
		t.Errorf("option = %q", got)
	}
	if len(secrets) == 0 || secrets[0] != "s3cr:et@x" {
		t.Errorf("secrets %q", secrets)
	}

	src = "CREATE SOURCE s FROM mysql 'mysql://etl:${file:/nonexistent/pw}@h';\n"
	f = mustParse(t, "g.etl", []byte(src))
	errs = ExpandWith(f, Expansion{Lookup: os.LookupEnv, ReadFile: func(string) ([]byte, error) {
		return nil, errors.New("open /nonexistent/pw: no such file or directory")
	}})
	want := "g.etl:1:41: cannot read secret file: /nonexistent/pw: no such file or directory\n"
	if got := errs.Format([]byte(src)); !strings.HasPrefix(got, want) {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

// TestMaskSecrets: an error that quotes a line of the file never shows a
// password written in it, and its caret still points where it did.
func TestMaskSecrets(t *testing.T) {
	src := "CREATE SOURCE s FROM mysql 'mysql://etl2:hunter2@127.0.0.1:3316' WITH (bogus = 1);\n" +
		"CREATE SOURCE g FROM mysql 'root:hunter3@tcp(127.0.0.1:3306)/db';\n" +
		"CREATE SINK k INTO clickhouse 'clickhouse://h:9000?password=hunter4&secure=true';\n" +
		"-- a comment 'mysql://u:not-masked@h'\n" +
		"CREATE PIPELINE p FROM binlog a.b INTO http 'https://u:${PW}@h/x'\n" +
		"  WITH (headers = 'Authorization: Bearer hunter5; X-Id: 7; X-Api-Key: hunter7', signing_secret = 'hunter6', timeout = '1s');\n"
	masked := string(MaskSecrets([]byte(src)))
	if len(masked) != len(src) {
		t.Fatalf("masking changed the length: %d, want %d", len(masked), len(src))
	}
	got := ShowMasked(masked)
	for _, s := range []string{"hunter2", "hunter3", "hunter4", "hunter5", "hunter6", "hunter7"} {
		if strings.Contains(got, s) {
			t.Errorf("%s is shown:\n%s", s, got)
		}
	}
	// Each secret shows as Mask, whatever its length: the quoted line
	// does not tell how long a password is.
	for _, s := range []string{"mysql://etl2:****@127.0.0.1:3316", "root:****@tcp(", "password=****&secure=true",
		"'https://u:${PW}@h/x'", "Authorization: Bearer ****; X-Id: 7; X-Api-Key: ****'", "timeout = '1s'", "not-masked"} {
		if !strings.Contains(got, s) {
			t.Errorf("want %q in\n%s", s, got)
		}
	}
	// An error after the password on its line points at the same text
	// (its column in the message is the file's).
	errs := Errors{{Pos: Pos{Filename: "m.etl", Line: 1, Column: 74, Offset: 73}, EndPos: Pos{Line: 1, Column: 79, Offset: 78}, Msg: `unknown option "bogus" for source s`}}
	want := "m.etl:1:74: unknown option \"bogus\" for source s\n" +
		"CREATE SOURCE s FROM mysql 'mysql://etl2:****@127.0.0.1:3316' WITH (bogus = 1);\n" +
		"                                                                      ^~~~~\n"
	if out := errs.Format(MaskSecrets([]byte(src))); out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	// Passwords of other lengths show the same.
	for _, pw := range []string{"x", "a-much-longer-password-than-four"} {
		line := "CREATE SOURCE s FROM mysql 'mysql://u:" + pw + "@h:1' WITH (bogus = 1);"
		e := Errors{{Pos: Pos{Filename: "m.etl", Line: 1, Column: strings.Index(line, "bogus") + 1, Offset: strings.Index(line, "bogus")}, Msg: "x"}}
		out := e.Format(MaskSecrets([]byte(line)))
		if !strings.Contains(out, "\nCREATE SOURCE s FROM mysql 'mysql://u:****@h:1' WITH (bogus = 1);\n"+strings.Repeat(" ", strings.Index(line, "bogus")-len(pw)+4)+"^\n") {
			t.Errorf("password of %d bytes: got\n%s", len(pw), out)
		}
	}
}

// TestExpandEscapesQueryValues: a value put into a parameter's value of a
// DSN or URL (?password=${PW}, ?token=${TOKEN}) is query-escaped, as one in
// the user:password part is percent-escaped: a ClickHouse password with a
// '#' cut the DSN there (the password sent was "ch", and ?secure=true after
// it was lost: "add ?secure=true to the DSN", trial-trust), a '&' began
// another parameter, and a base64 token's '+' reached the endpoint as a
// space. A credential parameter's value is a secret. A reference that is
// not inside a parameter's value (the path, a whole URL, ?${PARAMS}) is
// put as it is.
func TestExpandEscapesQueryValues(t *testing.T) {
	src := "CREATE SINK k INTO clickhouse 'clickhouse://h:9440?username=etl&password=${PW}&secure=true';\n" +
		"CREATE PIPELINE p FROM binlog a.b INTO http 'https://hooks.example/${PATH}?team=${TEAM}&token=${TOKEN}#frag';\n" +
		"CREATE PIPELINE q FROM binlog a.b INTO http '${URL}';\n" +
		"CREATE PIPELINE r FROM binlog a.b INTO http 'https://hooks.example/x?${PARAMS}';\n"
	f := mustParse(t, "x.etl", []byte(src))
	env := map[string]string{"PW": "ch#Pw/1?x&y=z+%", "TOKEN": "ab+c/d==", "TEAM": "a b", "PATH": "s/T0/B1",
		"URL": "https://h/x?token=a+b", "PARAMS": "a=1&b=2"}
	var secrets []string
	errs := ExpandWith(f, Expansion{Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Secret: func(v string) { secrets = append(secrets, v) }})
	if errs != nil {
		t.Fatal(errs)
	}
	dsn := f.Statements[0].Sink.DSN.Value
	if want := "clickhouse://h:9440?username=etl&password=ch%23Pw%2F1%3Fx%26y%3Dz%2B%25&secure=true"; dsn != want {
		t.Errorf("clickhouse DSN = %q, want %q", dsn, want)
	}
	if u, err := url.Parse(dsn); err != nil {
		t.Error(err)
	} else if q := u.Query(); q.Get("password") != env["PW"] || q.Get("secure") != "true" {
		t.Errorf("parsed back: password %q, secure %q; want %q and true", q.Get("password"), q.Get("secure"), env["PW"])
	}
	if got, want := f.Statements[1].Pipeline.Into.Target.Value, "https://hooks.example/s/T0/B1?team=a+b&token=ab%2Bc%2Fd%3D%3D#frag"; got != want {
		t.Errorf("http target = %q, want %q", got, want)
	}
	if got := f.Statements[2].Pipeline.Into.Target.Value; got != env["URL"] {
		t.Errorf("a whole URL from a variable = %q, want it as it is", got)
	}
	if got := f.Statements[3].Pipeline.Into.Target.Value; got != "https://hooks.example/x?a=1&b=2" {
		t.Errorf("parameters from a variable = %q, want them as they are", got)
	}
	want := map[string]bool{env["PW"]: true, env["TOKEN"]: true}
	for _, s := range secrets {
		if !want[s] {
			t.Errorf("a value that is no credential was taken as a secret: %q", s)
		}
		delete(want, s)
	}
	if len(want) > 0 {
		t.Errorf("secrets %q, want the password and the token too", secrets)
	}
}
