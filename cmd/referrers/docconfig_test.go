package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

// nginxStatement is one directive of an nginx configuration: its words and,
// for a block directive, the statements inside.
type nginxStatement struct {
	words []string
	block []nginxStatement
}

// parseNginx parses nginx's configuration syntax (words, quoted strings,
// `#` comments, statements ended by `;` or a `{ }` block) and refuses
// unbalanced braces, a statement without its `;` and directives outside known.
func parseNginx(src string, known map[string]bool) ([]nginxStatement, error) {
	var toks []string
	for _, line := range strings.Split(src, "\n") {
		var b strings.Builder
		quote := rune(0)
		flush := func() {
			if b.Len() > 0 {
				toks = append(toks, b.String())
				b.Reset()
			}
		}
	scan:
		for _, r := range line {
			switch {
			case quote != 0:
				b.WriteRune(r)
				if r == quote {
					quote = 0
				}
			case r == '"' || r == '\'':
				quote = r
				b.WriteRune(r)
			case r == '#':
				break scan
			case r == '{' || r == '}' || r == ';':
				flush()
				toks = append(toks, string(r))
			case r == ' ' || r == '\t':
				flush()
			default:
				b.WriteRune(r)
			}
		}
		if quote != 0 {
			return nil, fmt.Errorf("an unclosed quote in %q", line)
		}
		flush()
	}
	var parse func(depth int) ([]nginxStatement, error)
	parse = func(depth int) ([]nginxStatement, error) {
		var out []nginxStatement
		var cur []string
		for len(toks) > 0 {
			tok := toks[0]
			toks = toks[1:]
			switch tok {
			case ";":
				if len(cur) == 0 {
					return nil, fmt.Errorf("an empty statement")
				}
				out = append(out, nginxStatement{words: cur})
				cur = nil
			case "{":
				if len(cur) == 0 {
					return nil, fmt.Errorf("a block without a directive")
				}
				inner, err := parse(depth + 1)
				if err != nil {
					return nil, err
				}
				out = append(out, nginxStatement{words: cur, block: inner})
				cur = nil
			case "}":
				if depth == 0 {
					return nil, fmt.Errorf("a } without its {")
				}
				if len(cur) > 0 {
					return nil, fmt.Errorf("%q: no ; before }", strings.Join(cur, " "))
				}
				return out, nil
			default:
				if len(cur) == 0 && !known[tok] {
					return nil, fmt.Errorf("directive %q is not one the test knows", tok)
				}
				cur = append(cur, tok)
			}
		}
		if depth > 0 {
			return nil, fmt.Errorf("a { never closed")
		}
		if len(cur) > 0 {
			return nil, fmt.Errorf("%q: no ; at the end", strings.Join(cur, " "))
		}
		return out, nil
	}
	return parse(0)
}

var nginxDirectives = map[string]bool{"server": true, "root": true, "include": true, "location": true, "types": true, "default_type": true, "add_header": true, "return": true}

// redirectLine returns the line of a document's shell blocks whose output
// goes to path, and that line's block.
func redirectLine(t *testing.T, file, path string) (shellLine, docBlock) {
	t.Helper()
	for _, b := range docBlocksOf(t, "sh") {
		if b.file != file {
			continue
		}
		for _, l := range shellLines(b) {
			if strings.HasSuffix(l.cmd, "> "+path) {
				return l, b
			}
		}
	}
	t.Fatalf("%s: no shell line writes %s", file, path)
	return shellLine{}, docBlock{}
}

// TestDocServerConfig runs the web server snippets of scaling-reads.md: the
// Caddyfile block, with the snippet its shell line generates, serves a copy
// of the golden static tree with Caddy (the oracle), and our CLI lists
// through it what it lists offline; the nginx block and the include its shell
// line generates parse as nginx configuration, with root and include where
// the shell lines put the tree and the include (there is no nginx oracle).
func TestDocServerConfig(t *testing.T) {
	t.Parallel()
	for _, b := range docBlocksOf(t, "nginx") {
		t.Run(fmt.Sprintf("%s:%d", b.file, b.line), func(t *testing.T) {
			stmts, err := parseNginx(b.text(), nginxDirectives)
			if err != nil {
				t.Fatalf("%s: %v", b.where(), err)
			}
			if len(stmts) != 1 || stmts[0].words[0] != "server" {
				t.Fatalf("%s: want one server block", b.where())
			}
			var root, include string
			for _, s := range stmts[0].block {
				switch s.words[0] {
				case "root":
					root = s.words[1]
				case "include":
					include = s.words[1]
				}
			}
			line, _ := redirectLine(t, b.file, include)
			if !strings.Contains(line.cmd, "static:"+root+":") {
				t.Errorf("%s: root %s is not the tree of %s:%d (%q)", b.where(), root, b.file, line.n, line.cmd)
			}
			w := newShellWorld(t)
			if r := w.runLine(fmt.Sprintf("%s:%d", b.file, line.n), line.cmd); r.code != 0 {
				t.Fatalf("%s:%d: %q: exit %d\n%s", b.file, line.n, line.cmd, r.code, r.stderr)
			}
			gen, err := parseNginx(readFileString(t, w.path(include)), nginxDirectives)
			if err != nil {
				t.Fatalf("the include %s:%d writes does not parse: %v", b.file, line.n, err)
			}
			if len(gen) < 10 {
				t.Errorf("the include %s:%d writes has %d statements", b.file, line.n, len(gen))
			}
		})
	}
	for _, b := range docBlocksOf(t, "caddyfile") {
		t.Run(fmt.Sprintf("%s:%d", b.file, b.line), func(t *testing.T) {
			var root, imp string
			open, closed := false, false
			for i, l := range b.lines {
				f := strings.Fields(l)
				switch {
				case len(f) == 0:
				case len(f) == 2 && f[1] == "{" && !open:
					open = true
				case len(f) == 1 && f[0] == "}" && open:
					closed = true
				case len(f) == 3 && f[0] == "root" && f[1] == "*":
					root = f[2]
				case len(f) == 2 && f[0] == "import":
					imp = f[1]
				case len(f) == 1 && f[0] == "file_server":
				default:
					t.Fatalf("%s:%d: %q: the test knows a site block of root, import and file_server only", b.file, b.lineOf(i), l)
				}
			}
			if !open || !closed || root == "" || imp == "" {
				t.Fatalf("%s: want a site block with root, import and file_server", b.where())
			}
			line, _ := redirectLine(t, b.file, imp)
			if !strings.Contains(line.cmd, "static:"+root+":") {
				t.Errorf("%s: root %s is not the tree of %s:%d (%q)", b.where(), root, b.file, line.n, line.cmd)
			}
			w := newShellWorld(t)
			if r := w.runLine(fmt.Sprintf("%s:%d", b.file, line.n), line.cmd); r.code != 0 {
				t.Fatalf("%s:%d: %q: exit %d\n%s", b.file, line.n, line.cmd, r.code, r.stderr)
			}
			// StartCaddy writes the site block: root and file_server around the import
			web := oracle.StartCaddy(t, w.path(root), "\timport "+w.path(imp))
			_, name, _ := strings.Cut(line.cmd, "static:"+root+":")
			name, _, _ = strings.Cut(name, " ")
			// what the snippet adds to a plain file server, which oras and regctl need
			resp, err := http.Get("http://" + web.Host + "/v2/" + name + "/manifests/1.0")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if ct, dcd := resp.Header.Get("Content-Type"), resp.Header.Get("Docker-Content-Digest"); resp.StatusCode != http.StatusOK || ct != ocispec.MediaTypeImageIndex || dcd != w.multi.String() {
				t.Errorf("%s: through Caddy with the snippet, GET of tag 1.0: %s, Content-Type %q, Docker-Content-Digest %q; want 200, %q, %q",
					b.where(), resp.Status, ct, dcd, ocispec.MediaTypeImageIndex, w.multi)
			}
			offline := w.mustCLI("list", "static:"+w.path(root)+":"+name+":1.0", "--format", "json")
			served := w.mustCLI("list", "--plain-http", web.Host+"/"+name+":1.0", "--format", "json")
			var a, c ocispec.Index
			if err := json.Unmarshal([]byte(offline), &a); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(served), &c); err != nil {
				t.Fatal(err)
			}
			if len(a.Manifests) == 0 || !reflect.DeepEqual(a.Manifests, c.Manifests) {
				t.Errorf("%s: through Caddy, referrers list gives\n%s\noffline\n%s\nCaddy's log:\n%s", b.where(), served, offline, web.Log())
			}
		})
	}
}

func readFileString(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseNginx(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ src, err string }{
		{src: "server { root /a; include b; }"},
		{src: "location = /x { types { } default_type \"a b\"; } # c {"},
		{src: "server { root /a }", err: "no ; before }"},
		{src: "server { root /a;", err: "never closed"},
		{src: "root /a; }", err: "without its {"},
		{src: "rooot /a;", err: "not one the test knows"},
	} {
		_, err := parseNginx(tc.src, nginxDirectives)
		if (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%q: err = %v, want %q", tc.src, err, tc.err)
		}
	}
}
