package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// jsonShape is the key structure the documents give for a JSON output,
// written `{"a","b","c":[{"d","e"}]}`: the keys, and for some a shape of the
// value (an object, or an array of them).
type jsonShape map[string]jsonShape

// parseJSONShape parses `{"a","b":{...},"c":[{...}]}`.
func parseJSONShape(s string) (jsonShape, error) {
	p := s
	var obj func() (jsonShape, error)
	obj = func() (jsonShape, error) {
		if !strings.HasPrefix(p, "{") {
			return nil, fmt.Errorf("want { at %q", p)
		}
		p = p[1:]
		out := jsonShape{}
		for {
			if !strings.HasPrefix(p, `"`) {
				return nil, fmt.Errorf("want a quoted key at %q", p)
			}
			end := strings.Index(p[1:], `"`)
			if end < 0 {
				return nil, fmt.Errorf("an unclosed key at %q", p)
			}
			key := p[1 : end+1]
			p = p[end+2:]
			out[key] = nil
			if strings.HasPrefix(p, ":") {
				p = p[1:]
				array := strings.HasPrefix(p, "[")
				p = strings.TrimPrefix(p, "[")
				sub, err := obj()
				if err != nil {
					return nil, err
				}
				out[key] = sub
				if array {
					if !strings.HasPrefix(p, "]") {
						return nil, fmt.Errorf("want ] at %q", p)
					}
					p = p[1:]
				}
			}
			switch {
			case strings.HasPrefix(p, ","):
				p = p[1:]
			case strings.HasPrefix(p, "}"):
				p = p[1:]
				return out, nil
			default:
				return nil, fmt.Errorf("want , or } at %q", p)
			}
		}
	}
	sh, err := obj()
	if err == nil && p != "" {
		err = fmt.Errorf("text after the shape: %q", p)
	}
	return sh, err
}

// jsonKeys collects the keys of outputs (objects, or arrays of objects) at
// each path, "" being the top: the union over every object found there.
func jsonKeys(v any, path string, into map[string]map[string]bool) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			jsonKeys(e, path, into)
		}
	case map[string]any:
		if into[path] == nil {
			into[path] = map[string]bool{}
		}
		for k, e := range x {
			into[path][k] = true
			jsonKeys(e, path+"."+k, into)
		}
	}
}

// compareShape reports where the documented shape and the keys the outputs
// have differ, at the paths the shape describes.
func compareShape(sh jsonShape, path string, got map[string]map[string]bool) []string {
	var out []string
	for k := range got[path] {
		if _, ok := sh[k]; !ok {
			out = append(out, fmt.Sprintf("%s: key %q printed but not documented", orTop(path), k))
		}
	}
	for k, sub := range sh {
		if !got[path][k] {
			out = append(out, fmt.Sprintf("%s: key %q documented but not printed", orTop(path), k))
		}
		if sub != nil {
			out = append(out, compareShape(sub, path+"."+k, got)...)
		}
	}
	sort.Strings(out)
	return out
}

func orTop(path string) string {
	if path == "" {
		return "the top level"
	}
	return strings.TrimPrefix(path, ".")
}

// docJSONRuns: for each JSON shape of docs/cli.md, found by its section and
// its first key, the commands whose outputs (all of them together) must have
// exactly the documented keys; at is where in the output the shape applies.
// REG is the seeded fake registry's app repository, PROD an empty one, SIG a
// file, LEAF the digest of a referrer without referrers, STALE one whose
// manifest is gone, SUBJ the subject's digest.
var docJSONRuns = []struct {
	section, first string
	at             string
	runs           [][]string
}{
	{"attach", "digest", "", [][]string{
		{"attach", "REG:1.0", "SIG", "--artifact-type", "application/vnd.example.a", "--format", "json", "--referrers-mode", "tag"},
		{"attach", "REG:1.0", "SIG", "--artifact-type", "application/vnd.example.a", "--format", "json", "--referrers-mode", "tag", "--skip-if-exists"},
	}},
	{"list", "subject", "", [][]string{{"list", "REG:1.0", "--format", "json", "--include-children"}}},
	{"list", "subject", "", [][]string{{"list", "REG:1.0", "--format", "json", "--depth", "2"}}},
	{"copy", "subject", "", [][]string{
		{"copy", "REG:1.0", "PROD:1.0", "--format", "json", "--referrers-mode", "tag"},
		{"copy", "REG:1.0", "PROD:1.0", "--format", "json", "--referrers-mode", "tag"},
	}},
	{"copy", "manifests", ".copied", [][]string{{"copy", "REG:1.0", "PROD:2.0", "--format", "json"}}},
	{"delete", "deleted", "", [][]string{
		{"delete", "REG@LEAF", "--format", "json"},
		{"delete", "REG@STALE", "--subject", "SUBJ", "--format", "json"},
	}},
}

// TestDocJSON compares the JSON output shapes docs/cli.md gives (inline
// `{"key",...}`) with what the commands print: every documented key is
// printed by one of the row's runs, and nothing else is.
func TestDocJSON(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join(docRoot, "docs/cli.md"))
	if err != nil {
		t.Fatal(err)
	}
	type found struct {
		line    int
		section string
		shape   jsonShape
		text    string
	}
	var shapes []found
	section := ""
	for i, l := range strings.Split(string(doc), "\n") {
		if h, ok := strings.CutPrefix(l, "## "); ok {
			section = h
		}
		for _, m := range regexp.MustCompile("`(\\{\"[^`]*\\})`").FindAllStringSubmatch(l, -1) {
			sh, err := parseJSONShape(m[1])
			if err != nil {
				t.Errorf("docs/cli.md:%d: %s: %v", i+1, m[1], err)
				continue
			}
			shapes = append(shapes, found{i + 1, section, sh, m[1]})
		}
	}
	used := map[int]bool{}
	for _, s := range shapes {
		idx := -1
		for j, r := range docJSONRuns {
			if r.section == s.section && !used[j] && firstKey(s.text) == r.first {
				idx = j
				break
			}
		}
		if idx < 0 {
			t.Errorf("docs/cli.md:%d: %s: TestDocJSON has no run for this shape (add one to docJSONRuns)", s.line, s.text)
			continue
		}
		used[idx] = true
		r := docJSONRuns[idx]
		t.Run(fmt.Sprintf("docs/cli.md:%d/%s", s.line, r.first), func(t *testing.T) {
			t.Parallel()
			w := newShellWorld(t)
			w.seed("registry.example", "app", "1.0")
			reg := w.registry("registry.example").Host() + "/app"
			prod := w.registry("prod.example.com").Host() + "/app"
			repl := strings.NewReplacer("REG", reg, "PROD", prod, "SIG", filepath.Join(w.dir, "app.sig"),
				"LEAF", w.roles["registry.example/app leaf"].String(), "SUBJ", w.multi.String())
			got := map[string]map[string]bool{}
			for _, args := range r.runs {
				var a []string
				for _, x := range args {
					if x == "REG@STALE" {
						x = reg + "@" + w.stale("registry.example", "app").String()
					}
					a = append(a, repl.Replace(x))
				}
				a = append(a, "--plain-http")
				code, out, errs := w.cli("", a...)
				if code != 0 {
					t.Fatalf("referrers %s: exit %d\n%s%s", strings.Join(a, " "), code, out, errs)
				}
				var v any
				if err := json.Unmarshal([]byte(out), &v); err != nil {
					t.Fatalf("referrers %s: %v\n%s", strings.Join(a, " "), err, out)
				}
				jsonKeys(v, "", got)
			}
			sub := map[string]map[string]bool{}
			for p, keys := range got {
				if rest, ok := strings.CutPrefix(p, r.at); ok {
					sub[rest] = keys
				}
			}
			for _, d := range compareShape(s.shape, "", sub) {
				t.Errorf("docs/cli.md:%d: %s: %s", s.line, s.text, d)
			}
		})
	}
	for j, r := range docJSONRuns {
		if !used[j] {
			t.Errorf("docJSONRuns: no shape of docs/cli.md's %s section begins with %q", r.section, r.first)
		}
	}
}

func firstKey(shape string) string {
	k, _, _ := strings.Cut(strings.TrimPrefix(shape, `{"`), `"`)
	return k
}

func TestParseJSONShape(t *testing.T) {
	t.Parallel()
	sh, err := parseJSONShape(`{"a","b":[{"c","d"}],"e":{"f"}}`)
	if err != nil {
		t.Fatal(err)
	}
	want := jsonShape{"a": nil, "b": jsonShape{"c": nil, "d": nil}, "e": jsonShape{"f": nil}}
	if fmt.Sprint(sh) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", sh, want)
	}
	for _, bad := range []string{`{"a"`, `{a}`, `{"a"}x`, `{"a":[{"b"}}`} {
		if _, err := parseJSONShape(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
