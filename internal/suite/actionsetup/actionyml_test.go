package actionsetup

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// entry is one key of action.yml: its dotted path (list items as [i]), its
// value (a block scalar's lines joined with newlines) and its line.
type entry struct {
	path  string
	value string
	line  int
}

// parseYAML reads the plain subset of YAML that action.yml uses: mappings
// by indentation, "- " list items, single-quoted and plain scalars, and
// ">"/"|" block scalars. It is not a YAML parser; it is enough to check the
// file's shape without a dependency.
func parseYAML(t *testing.T, text string) []entry {
	t.Helper()
	type frame struct {
		indent int
		name   string
		items  int // list items seen under this key
	}
	var stack []frame
	var entries []entry
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for i := 0; i < len(lines); i++ {
		raw := lines[i]
		trimmed := strings.TrimSpace(raw)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		indent := len(raw) - len(strings.TrimLeft(raw, " "))
		if strings.HasPrefix(trimmed, "- ") {
			for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
				stack = stack[:len(stack)-1]
			}
			if len(stack) == 0 {
				t.Fatalf("action.yml:%d: a list item at the top level", i+1)
			}
			n := stack[len(stack)-1].items
			stack[len(stack)-1].items++
			stack = append(stack, frame{indent: indent, name: "[" + strconv.Itoa(n) + "]"})
			trimmed = strings.TrimPrefix(trimmed, "- ")
			indent += 2
		}
		key, value, ok := strings.Cut(trimmed, ":")
		if !ok || strings.ContainsAny(key, " '\"") {
			t.Fatalf("action.yml:%d: not a key: %q", i+1, raw)
		}
		value = strings.TrimSpace(value)
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		var names []string
		for _, f := range stack {
			names = append(names, f.name)
		}
		path := strings.ReplaceAll(strings.Join(append(names, key), "."), ".[", "[")
		e := entry{path: path, line: i + 1}
		switch {
		case value == ">" || value == "|" || value == ">-" || value == "|-":
			var block []string
			for i+1 < len(lines) {
				next := lines[i+1]
				nextIndent := len(next) - len(strings.TrimLeft(next, " "))
				if strings.TrimSpace(next) != "" && nextIndent <= indent {
					break
				}
				block = append(block, strings.TrimSpace(next))
				i++
			}
			e.value = strings.TrimSpace(strings.Join(block, "\n"))
		case strings.HasPrefix(value, "'"):
			if len(value) < 2 || !strings.HasSuffix(value, "'") {
				t.Fatalf("action.yml:%d: a single-quoted scalar must end on its line: %q", i+1, raw)
			}
			e.value = strings.ReplaceAll(value[1:len(value)-1], "''", "'")
		default:
			e.value = value
		}
		entries = append(entries, e)
		stack = append(stack, frame{indent: indent, name: key})
	}
	return entries
}

// inputNames are the inputs the action promises (the README documents them;
// cmd/action reads them).
var inputNames = []string{
	"command", "subject", "subject-digest", "files", "artifact-type", "annotations",
	"annotation-file", "platform", "referrers-mode", "created", "require",
	"require-annotations", "min", "username", "password", "github-token",
	"plain-http", "summary", "fail-on-missing",
}

var outputNames = []string{
	"digest", "reference", "subject-digest", "mode", "fallback-tag", "referrers", "children", "count", "result",
}

func TestActionYAML(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	entries := parseYAML(t, string(b))
	value := map[string]string{}
	for _, e := range entries {
		value[e.path] = e.value
	}
	children := func(parent string) []string {
		var names []string
		for _, e := range entries {
			if rest, ok := strings.CutPrefix(e.path, parent+"."); ok && !strings.ContainsAny(rest, ".[") {
				names = append(names, rest)
			}
		}
		return names
	}
	// step finds a step of runs.steps by id and returns its path prefix.
	step := func(id string) string {
		for _, e := range entries {
			if strings.HasPrefix(e.path, "runs.steps[") && strings.HasSuffix(e.path, "].id") && e.value == id {
				return strings.TrimSuffix(e.path, ".id")
			}
		}
		t.Fatalf("action.yml has no step with id %q", id)
		return ""
	}

	t.Run("no expression inside a run", func(t *testing.T) {
		runs := 0
		for _, e := range entries {
			if !strings.HasSuffix(e.path, ".run") {
				continue
			}
			runs++
			if strings.Contains(e.value, "${{") {
				t.Errorf("action.yml:%d: %s interpolates an expression into the script (pass it through env): %q", e.line, e.path, e.value)
			}
		}
		if runs != 2 {
			t.Errorf("found %d run scripts, want 2 (setup and run): the check would miss some", runs)
		}
	})

	t.Run("composite with setup then run", func(t *testing.T) {
		if got := value["runs.using"]; got != "composite" {
			t.Errorf("runs.using = %q, want composite", got)
		}
		setup, run := step("setup"), step("run")
		if setup >= run {
			t.Errorf("step setup (%s) must come before step run (%s)", setup, run)
		}
		for _, s := range []string{setup, run} {
			if got := value[s+".shell"]; got != "bash" {
				t.Errorf("%s.shell = %q, want bash", s, got)
			}
		}
		want := map[string]string{
			setup + ".run":                             `bash "$GITHUB_ACTION_PATH/action/setup.sh"`,
			setup + ".env.REFERRERS_ACTION_REF":        "${{ github.action_ref }}",
			setup + ".env.REFERRERS_ACTION_REPOSITORY": "${{ github.action_repository }}",
			run + ".run":                               `"$REFERRERS_ACTION_BIN"`,
			run + ".env.REFERRERS_ACTION_BIN":          "${{ steps.setup.outputs.bin }}",
		}
		for path, w := range want {
			if got, ok := value[path]; !ok || got != w {
				t.Errorf("%s = %q, want %q", path, got, w)
			}
		}
		for _, key := range []string{"name", "description", "author", "branding.icon", "branding.color"} {
			if value[key] == "" {
				t.Errorf("action.yml has no %s", key)
			}
		}
	})

	t.Run("every input reaches the binary", func(t *testing.T) {
		run := step("run")
		inputs := children("inputs")
		for _, name := range inputNames {
			if !slices.Contains(inputs, name) {
				t.Errorf("input %q is missing", name)
			}
		}
		mapped := 0
		for _, name := range inputs {
			if value["inputs."+name+".description"] == "" {
				t.Errorf("input %q has no description", name)
			}
			env := "INPUT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
			want := "${{ inputs." + name + " }}"
			if got, ok := value[run+".env."+env]; !ok || got != want {
				t.Errorf("step run: env %s = %q, want %q", env, got, want)
			} else {
				mapped++
			}
		}
		for _, env := range children(run + ".env") {
			if strings.HasPrefix(env, "INPUT_") && !slices.ContainsFunc(inputs, func(name string) bool {
				return env == "INPUT_"+strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
			}) {
				t.Errorf("step run: env %s is not an input", env)
			}
		}
		if mapped != len(inputs) {
			t.Errorf("%d of %d inputs mapped", mapped, len(inputs))
		}
		if value["inputs.subject.required"] != "true" {
			t.Errorf("inputs.subject.required = %q, want true", value["inputs.subject.required"])
		}
		defaults := map[string]string{
			"command": "attach", "referrers-mode": "auto", "created": "", "min": "",
			"github-token": "${{ github.token }}", "plain-http": "false", "summary": "true",
			"fail-on-missing": "true",
		}
		for name, w := range defaults {
			if got, ok := value["inputs."+name+".default"]; !ok || got != w {
				t.Errorf("inputs.%s.default = %q (set: %v), want %q", name, got, ok, w)
			}
		}
	})

	t.Run("outputs come from step run", func(t *testing.T) {
		outputs := children("outputs")
		slices.Sort(outputs)
		want := slices.Clone(outputNames)
		slices.Sort(want)
		if !slices.Equal(outputs, want) {
			t.Errorf("outputs %v, want %v", outputs, want)
		}
		for _, name := range outputs {
			if got, w := value["outputs."+name+".value"], "${{ steps.run.outputs."+name+" }}"; got != w {
				t.Errorf("outputs.%s.value = %q, want %q", name, got, w)
			}
			if value["outputs."+name+".description"] == "" {
				t.Errorf("output %q has no description", name)
			}
		}
	})
}

// TestParseYAML pins the crude parser on what it must see: a run block's
// lines, so an expression inside a multi-line run would be caught.
func TestParseYAML(t *testing.T) {
	t.Parallel()
	text := "runs:\n  steps:\n    - id: 'a'\n      run: |\n        echo one\n        echo ${{ inputs.x }}\n      env:\n        X: 'it''s'\n    - id: b\n      run: 'true'\n"
	got := map[string]string{}
	for _, e := range parseYAML(t, text) {
		got[e.path] = e.value
	}
	want := map[string]string{
		"runs.steps[0].id":    "a",
		"runs.steps[0].run":   "echo one\necho ${{ inputs.x }}",
		"runs.steps[0].env.X": "it's",
		"runs.steps[1].id":    "b",
		"runs.steps[1].run":   "true",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %q, want %q", k, got[k], w)
		}
	}
}
