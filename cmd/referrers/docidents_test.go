package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"iter"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// docPackages are the directories of the packages the documents' inline code
// names as `pkg.Name`.
var docPackages = map[string]string{
	"credential": "core/credential", "display": "core/display", "hosting": "core/hosting",
	"layout": "core/layout", "policy": "core/policy", "ref": "core/ref", "referrers": "core/referrers",
	"registry": "core/registry", "request": "core/request", "server": "core/server",
	"static": "core/static", "target": "core/target", "tree": "core/internal/tree", "host": "wasm/host",
}

// packageNames returns the exported names a package declares: top-level
// functions, types, variables and constants, and methods and struct fields
// (the documents write `referrers.List` for the Client's verb).
func packageNames(t *testing.T, dir string) map[string]bool {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(file, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.FuncDecl:
				names[x.Name.Name] = true
			case *ast.TypeSpec:
				names[x.Name.Name] = true
			case *ast.ValueSpec:
				for _, id := range x.Names {
					names[id.Name] = true
				}
			case *ast.Field:
				for _, id := range x.Names {
					names[id.Name] = true
				}
			}
			return true
		})
	}
	if len(names) == 0 {
		t.Fatalf("%s: no Go declarations", dir)
	}
	return names
}

// TestDocIdentifiers: every `pkg.Name` (and `pkg.Type.Member`) in the inline
// code of the documents names a declaration of this module's package pkg, so
// a renamed or removed function, option or error cannot stay in the prose.
func TestDocIdentifiers(t *testing.T) {
	t.Parallel()
	span := regexp.MustCompile("`[^`]+`")
	ident := regexp.MustCompile(`\b([a-z]+)\.([A-Z][A-Za-z0-9]*)(?:\.([A-Z][A-Za-z0-9]*))?`)
	cache := map[string]map[string]bool{}
	checked := 0
	for _, f := range docFiles(t) {
		for i, line := range proseLines(t, f) {
			for _, s := range span.FindAllString(line, -1) {
				for _, m := range ident.FindAllStringSubmatch(s, -1) {
					dir, ok := docPackages[m[1]]
					if !ok {
						continue
					}
					if cache[dir] == nil {
						cache[dir] = packageNames(t, filepath.Join(docRoot, dir))
					}
					checked++
					for _, name := range m[2:] {
						if name != "" && !cache[dir][name] {
							t.Errorf("%s:%d: %s: package %s declares no %s", strings.TrimPrefix(f, "../../"), i+1, m[0], dir, name)
						}
					}
				}
			}
		}
	}
	if checked < 15 {
		t.Fatalf("checked %d identifiers: the extraction is broken", checked)
	}
}

// proseLines yields the lines of the document f outside fenced code blocks,
// with their index (0-based).
func proseLines(t *testing.T, f string) iter.Seq2[int, string] {
	t.Helper()
	doc, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return func(yield func(int, string) bool) {
		in := false
		for i, line := range strings.Split(string(doc), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "```") {
				in = !in
				continue
			}
			if !in && !yield(i, line) {
				return
			}
		}
	}
}
