package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

// actionInterface returns the input and output names action.yml declares.
func actionInterface(t *testing.T) (inputs, outputs map[string]bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(docRoot, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	inputs, outputs = map[string]bool{}, map[string]bool{}
	var section map[string]bool
	key := regexp.MustCompile(`^  ([a-z][a-z0-9-]*):\s*$`)
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case line == "inputs:":
			section = inputs
		case line == "outputs:":
			section = outputs
		case line != "" && !strings.HasPrefix(line, " ") && !strings.HasPrefix(line, "#"):
			section = nil
		case section != nil:
			if m := key.FindStringSubmatch(line); m != nil {
				section[m[1]] = true
			}
		}
	}
	if len(inputs) < 10 || len(outputs) < 5 {
		t.Fatalf("action.yml: read %d inputs and %d outputs: the parse is broken", len(inputs), len(outputs))
	}
	return inputs, outputs
}

var (
	actionUses  = regexp.MustCompile(`^(\s*)(- )?(\s*)uses: oci-referrers/referrers@\S+`)
	stepOutputs = regexp.MustCompile(`steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)`)
)

// actionSteps returns, for each step of a YAML block that uses the action,
// its id and the `with:` keys it gives (block or flow style), by line.
type actionStep struct {
	line int
	id   string
	with map[string]int // key -> line
}

func actionSteps(b docBlock) []actionStep {
	var out []actionStep
	indentOf := func(s string) int { return len(s) - len(strings.TrimLeft(s, " -")) }
	for i, l := range b.lines {
		m := actionUses.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		// the step is the run of lines at this step's indentation or deeper
		item := i
		for item > 0 && !strings.HasPrefix(strings.TrimSpace(b.lines[item]), "- ") {
			item--
		}
		stepIndent := indentOf(b.lines[item])
		end := item + 1
		for end < len(b.lines) && (strings.TrimSpace(b.lines[end]) == "" || indentOf(b.lines[end]) >= stepIndent && !strings.HasPrefix(strings.TrimSpace(b.lines[end]), "- ")) {
			end++
		}
		s := actionStep{line: b.lineOf(i), with: map[string]int{}}
		inWith, withIndent, keyIndent := false, 0, -1
		for j := item; j < end; j++ {
			body := strings.TrimPrefix(strings.TrimSpace(b.lines[j]), "- ")
			ind := indentOf(b.lines[j])
			if inWith && ind > withIndent {
				if keyIndent < 0 {
					keyIndent = ind
				}
				if k, _, ok := strings.Cut(body, ":"); ok && ind == keyIndent {
					s.with[k] = b.lineOf(j)
				}
				continue
			}
			inWith = false
			switch {
			case strings.HasPrefix(body, "id:"):
				s.id = strings.TrimSpace(strings.TrimPrefix(body, "id:"))
			case body == "with:":
				inWith, withIndent = true, ind
			case strings.HasPrefix(body, "with: {"):
				for _, kv := range strings.Split(strings.Trim(strings.TrimPrefix(body, "with:"), " {}"), ",") {
					if k, _, ok := strings.Cut(kv, ":"); ok {
						s.with[strings.TrimSpace(k)] = b.lineOf(j)
					}
				}
			}
		}
		out = append(out, s)
	}
	return out
}

// docWorkflow makes a workflow of a YAML block: a whole workflow as it is, a
// list of steps inside a job that needs a job `build` (with output digest)
// and has a step `push` before them, as the fragments assume. The action is
// used as `./`, so actionlint checks the inputs against action.yml.
func docWorkflow(b docBlock) string {
	text := strings.ReplaceAll(b.text(), "uses: oci-referrers/referrers@v1", "uses: ./")
	if regexp.MustCompile(`(?m)^jobs:`).MatchString(text) {
		return text
	}
	return `name: doc
on: push
permissions: {}
jobs:
  build:
    runs-on: ubuntu-latest
    outputs:
      digest: ${{ steps.push.outputs.digest }}
    steps:
      - id: push
        uses: docker/build-push-action@v6
  doc:
    needs: build
    runs-on: ubuntu-latest
    steps:
      - id: push
        uses: docker/build-push-action@v6
` + text
}

// TestDocYAML checks the GitHub Action examples (yaml blocks): every `with:`
// key of a step that uses the action is an input of action.yml, every
// `steps.ID.outputs.NAME` of such a step an output, and the block, made a
// workflow (docWorkflow) with the action as the local `./`, passes actionlint
// (which also checks the inputs against action.yml's, required ones, and the
// outputs the expressions read).
func TestDocYAML(t *testing.T) {
	t.Parallel()
	inputs, outputs := actionInterface(t)
	blocks := docBlocksOf(t, "yaml")
	uses := 0
	for _, b := range blocks {
		t.Run(fmt.Sprintf("%s:%d", b.file, b.line), func(t *testing.T) {
			ids := map[string]bool{}
			for _, s := range actionSteps(b) {
				uses++
				if s.id != "" {
					ids[s.id] = true
				}
				if len(s.with) == 0 {
					t.Errorf("%s:%d: a step using the action with no `with:` read (the block's shape is new to the test)", b.file, s.line)
				}
				for k, line := range s.with {
					if !inputs[k] {
						t.Errorf("%s:%d: input %q is not in action.yml", b.file, line, k)
					}
				}
			}
			for i, l := range b.lines {
				for _, m := range stepOutputs.FindAllStringSubmatch(l, -1) {
					if ids[m[1]] && !outputs[m[2]] {
						t.Errorf("%s:%d: output %q of step %q is not in action.yml", b.file, b.lineOf(i), m[2], m[1])
					}
				}
			}
		})
	}
	if uses < 3 {
		t.Fatalf("found %d steps using the action in the yaml blocks: the extraction is broken", uses)
	}
	bin := oracle.Require(t, oracle.Actionlint)
	for _, b := range blocks {
		t.Run(fmt.Sprintf("%s:%d/actionlint", b.file, b.line), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			act, err := os.ReadFile(filepath.Join(docRoot, "action.yml"))
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, filepath.Join(dir, "action.yml"), string(act))
			// actionlint reads a local action's metadata only inside a project: a
			// directory with .git
			if err := os.Mkdir(filepath.Join(dir, ".git"), 0o755); err != nil {
				t.Fatal(err)
			}
			wf := docWorkflow(b)
			writeFile(t, filepath.Join(dir, ".github/workflows/doc.yml"), wf)
			cmd := exec.Command(bin, "-no-color", "-shellcheck=", "-pyflakes=", ".github/workflows/doc.yml")
			cmd.Dir = dir
			if out, err := cmd.CombinedOutput(); err != nil {
				var numbered []string
				for i, l := range strings.Split(wf, "\n") {
					numbered = append(numbered, fmt.Sprintf("%3d %s", i+1, l))
				}
				t.Errorf("%s: actionlint on the block as a workflow: %v\n%s\nthe workflow:\n%s", b.where(), err, out, strings.Join(numbered, "\n"))
			}
		})
	}
}

func TestActionSteps(t *testing.T) {
	t.Parallel()
	b := docBlock{file: "f", line: 1, lines: strings.Split(`      - id: a
        uses: oci-referrers/referrers@v1
        with:
          subject: x
          files: |
            a: b
      - uses: oci-referrers/referrers@v1
        with: { command: check, require: y }
      - run: echo`, "\n")}
	var got []string
	for _, s := range actionSteps(b) {
		var keys []string
		for k := range s.with {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		got = append(got, s.id+"="+strings.Join(keys, ","))
	}
	if want := "a=files,subject =command,require"; strings.Join(got, " ") != want {
		t.Fatalf("got %q, want %q", strings.Join(got, " "), want)
	}
}
