// Command yamlcheck parses YAML files and checks the shape of this project's
// CI files. It is a test oracle: internal/suite/workflows runs it on the checked-in
// files, and scripts/oracles.sh builds it.
//
//	yamlcheck FILE...            each file must parse (duplicate keys are errors)
//	yamlcheck -workflow FILE...  a GitHub workflow: top-level permissions
//	                             (unless only workflow_call triggers it), and
//	                             no ${{ }} inside any step's run (pass values
//	                             through env instead)
//	yamlcheck -action FILE       a composite action's metadata (action.yml)
//	yamlcheck -gitlab FILE...    a GitLab CI template meant to be included
//
// Each finding is printed as "FILE: WHERE: MESSAGE"; the exit code is 1 when
// there is any, 2 on bad usage.
package main

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"
)

func main() {
	gitlab := flag.Bool("gitlab", false, "check a GitLab CI template (hidden jobs only, no global keys)")
	action := flag.Bool("action", false, "check a composite action's action.yml")
	workflow := flag.Bool("workflow", false, "check a GitHub workflow (permissions, no ${{ }} in run)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: yamlcheck [-gitlab | -action | -workflow] FILE...")
		flag.PrintDefaults()
	}
	flag.Parse()
	modes := 0
	for _, m := range []bool{*gitlab, *action, *workflow} {
		if m {
			modes++
		}
	}
	if modes > 1 || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	check := func(any) []string { return nil }
	switch {
	case *gitlab:
		check = checkGitLab
	case *action:
		check = checkAction
	case *workflow:
		check = checkWorkflow
	}
	bad := false
	for _, file := range flag.Args() {
		for _, p := range checkFile(file, check) {
			fmt.Printf("%s: %s\n", file, p)
			bad = true
		}
	}
	if bad {
		os.Exit(1)
	}
}

func checkFile(file string, check func(any) []string) []string {
	b, err := os.ReadFile(file)
	if err != nil {
		return []string{err.Error()}
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return []string{"YAML: " + strings.ReplaceAll(err.Error(), "\n", "\n    ")}
	}
	if doc == nil {
		return []string{"empty document"}
	}
	return check(doc)
}

var (
	exprRE       = regexp.MustCompile(`\$\{\{(.*?)\}\}`)
	inputRefRE   = regexp.MustCompile(`(?:^|[^\w.])inputs\s*(?:\.\s*([A-Za-z_][\w-]*)|\[\s*'([^']*)'\s*\])`)
	stepOutRefRE = regexp.MustCompile(`(?:^|[^\w.])steps\s*\.\s*([A-Za-z_][\w-]*)\s*\.\s*outputs\b`)
)

// expressions returns the bodies of the ${{ }} expressions in s.
func expressions(s string) []string {
	var out []string
	for _, m := range exprRE.FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// inputRefs returns the input names that the expressions in s read.
func inputRefs(s string) []string {
	var out []string
	for _, e := range expressions(s) {
		for _, m := range inputRefRE.FindAllStringSubmatch(e, -1) {
			if m[1] != "" {
				out = append(out, m[1])
			} else {
				out = append(out, m[2])
			}
		}
	}
	return out
}

// walkStrings calls f with every string (keys excluded) below v and its path.
func walkStrings(path string, v any, f func(path, s string)) {
	switch x := v.(type) {
	case string:
		f(path, x)
	case map[string]any:
		for _, k := range sortedKeys(x) {
			walkStrings(path+"."+k, x[k], f)
		}
	case []any:
		for i, e := range x {
			walkStrings(fmt.Sprintf("%s[%d]", path, i), e, f)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func asMap(v any) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	return m, ok
}

func asString(v any) (string, bool) {
	s, ok := v.(string)
	return s, ok
}

// checkWorkflow checks a GitHub workflow file.
func checkWorkflow(doc any) []string {
	top, ok := asMap(doc)
	if !ok {
		return []string{"top level is not a mapping"}
	}
	var out []string
	// A reusable workflow inherits the caller's token and can only narrow
	// it, so it may leave permissions to the caller.
	if _, ok := top["permissions"]; !ok && !onlyWorkflowCall(top["on"]) {
		out = append(out, "permissions: missing at the top level (declare the token's scope explicitly)")
	}
	jobs, ok := asMap(top["jobs"])
	if !ok {
		return append(out, "jobs: missing or not a mapping")
	}
	for _, id := range sortedKeys(jobs) {
		job, ok := asMap(jobs[id])
		if !ok {
			out = append(out, fmt.Sprintf("jobs.%s: not a mapping", id))
			continue
		}
		steps, _ := job["steps"].([]any)
		for i, s := range steps {
			out = append(out, checkRun(fmt.Sprintf("jobs.%s.steps[%d]", id, i), s, false)...)
		}
	}
	return out
}

// onlyWorkflowCall reports whether a workflow's on: names workflow_call alone.
func onlyWorkflowCall(on any) bool {
	switch x := on.(type) {
	case string:
		return x == "workflow_call"
	case []any:
		return len(x) == 1 && x[0] == "workflow_call"
	case map[string]any:
		_, ok := x["workflow_call"]
		return ok && len(x) == 1
	}
	return false
}

// checkRun reports ${{ }} inside a step's run, and (for composite actions) a
// run without a shell.
func checkRun(where string, step any, needShell bool) []string {
	m, ok := asMap(step)
	if !ok {
		return []string{where + ": not a mapping"}
	}
	run, has := m["run"]
	if !has {
		return nil
	}
	var out []string
	s, _ := asString(run)
	if strings.Contains(s, "${{") {
		out = append(out, where+".run: contains ${{ }}: pass the value through env and quote the variable")
	}
	if needShell {
		if _, ok := m["shell"]; !ok {
			out = append(out, where+": a composite action's run step needs a shell")
		}
	}
	return out
}

// inputEnvNames are the env names under which the action may read input n.
func inputEnvNames(n string) []string {
	up := strings.ToUpper(n)
	names := []string{"INPUT_" + strings.ReplaceAll(up, "-", "_")}
	if strings.Contains(up, "-") {
		names = append(names, "INPUT_"+up)
	}
	return names
}

// checkAction checks a composite action's metadata.
func checkAction(doc any) []string {
	top, ok := asMap(doc)
	if !ok {
		return []string{"top level is not a mapping"}
	}
	var out []string
	for _, k := range []string{"name", "description"} {
		if s, _ := asString(top[k]); strings.TrimSpace(s) == "" {
			out = append(out, k+": missing")
		}
	}
	inputs := map[string]any{}
	if v, ok := top["inputs"]; ok {
		if inputs, ok = asMap(v); !ok {
			out = append(out, "inputs: not a mapping")
			inputs = map[string]any{}
		}
	}
	runs, ok := asMap(top["runs"])
	if !ok {
		return append(out, "runs: missing or not a mapping")
	}
	if u, _ := asString(runs["using"]); u != "composite" {
		out = append(out, fmt.Sprintf("runs.using: %q, want composite", u))
	}
	steps, ok := runs["steps"].([]any)
	if !ok || len(steps) == 0 {
		return append(out, "runs.steps: missing or empty")
	}

	// Every inputs.X read anywhere must be declared.
	walkStrings("", doc, func(path, s string) {
		for _, n := range inputRefs(s) {
			if _, ok := inputs[n]; !ok {
				out = append(out, fmt.Sprintf("%s: reads inputs.%s, which is not declared", strings.TrimPrefix(path, "."), n))
			}
		}
	})

	ids := map[string]bool{}
	mapped := map[string]bool{}
	for i, s := range steps {
		where := fmt.Sprintf("runs.steps[%d]", i)
		out = append(out, checkRun(where, s, true)...)
		m, ok := asMap(s)
		if !ok {
			continue
		}
		if id, ok := asString(m["id"]); ok && id != "" {
			if ids[id] {
				out = append(out, fmt.Sprintf("%s.id: %q used twice", where, id))
			}
			ids[id] = true
		}
		env, _ := asMap(m["env"])
		for _, k := range sortedKeys(env) {
			if !strings.HasPrefix(k, "INPUT_") {
				continue
			}
			v, _ := asString(env[k])
			refs := inputRefs(v)
			matched := false
			for _, n := range refs {
				for _, name := range inputEnvNames(n) {
					if name == k {
						matched = true
						mapped[n] = true
					}
				}
			}
			if !matched {
				out = append(out, fmt.Sprintf("%s.env.%s: not set from the input of that name (got %q)", where, k, v))
			}
		}
	}
	for _, n := range sortedKeys(inputs) {
		if !mapped[n] {
			out = append(out, fmt.Sprintf("inputs.%s: not passed to any step as env %s", n, inputEnvNames(n)[0]))
		}
	}

	if v, ok := top["outputs"]; ok {
		outputs, ok := asMap(v)
		if !ok {
			return append(out, "outputs: not a mapping")
		}
		for _, n := range sortedKeys(outputs) {
			o, _ := asMap(outputs[n])
			val, _ := asString(o["value"])
			refs := stepOutRefRE.FindAllStringSubmatch(strings.Join(expressions(val), " "), -1)
			if len(refs) == 0 {
				out = append(out, fmt.Sprintf("outputs.%s.value: %q reads no steps.<id>.outputs", n, val))
			}
			for _, r := range refs {
				if !ids[r[1]] {
					out = append(out, fmt.Sprintf("outputs.%s.value: step id %q does not exist", n, r[1]))
				}
			}
		}
	}
	return out
}

// GitLab keys that configure the whole pipeline: an included template that
// sets them changes (or clashes with) the including project's pipeline.
var gitlabGlobal = map[string]string{
	"stages":    "the including project owns its stages",
	"workflow":  "the including project owns its workflow rules",
	"default":   "it would change every job of the including project",
	"variables": "they would become global variables of the including project; set them in the hidden jobs",
	"image":     "it would change every job of the including project",
	"services":  "it would change every job of the including project",
	"cache":     "it would change every job of the including project",
}

// The stages every GitLab pipeline has unless it redefines stages.
var gitlabStages = map[string]bool{".pre": true, "build": true, "test": true, "deploy": true, ".post": true}

// checkGitLab checks a GitLab CI template meant to be included by others.
func checkGitLab(doc any) []string {
	top, ok := asMap(doc)
	if !ok {
		return []string{"top level is not a mapping"}
	}
	var out []string
	for _, k := range sortedKeys(top) {
		if why, ok := gitlabGlobal[k]; ok {
			out = append(out, fmt.Sprintf("%s: a template must not set it at the top level: %s", k, why))
			continue
		}
		if k == "include" {
			continue
		}
		if !strings.HasPrefix(k, ".") {
			out = append(out, fmt.Sprintf("%s: a visible job would run in every pipeline that includes the template; name it .%s", k, k))
			continue
		}
		job, ok := asMap(top[k])
		if !ok {
			continue // a hidden key holding a YAML anchor of another shape
		}
		_, hasScript := job["script"]
		_, hasBefore := job["before_script"]
		ext, hasExtends := job["extends"]
		if !hasScript && !hasBefore && !hasExtends {
			out = append(out, k+": has none of script, before_script, extends")
		}
		var parents []string
		switch e := ext.(type) {
		case string:
			parents = []string{e}
		case []any:
			for _, p := range e {
				s, _ := asString(p)
				parents = append(parents, s)
			}
		case nil:
		default:
			out = append(out, k+".extends: not a string or list")
		}
		for _, p := range parents {
			if _, ok := top[p]; !ok {
				out = append(out, fmt.Sprintf("%s.extends: %q is not defined in the template", k, p))
			}
		}
		for _, sk := range []string{"before_script", "script", "after_script"} {
			if v, ok := job[sk]; ok && !scriptShape(v) {
				out = append(out, fmt.Sprintf("%s.%s: not a string or a list of strings", k, sk))
			}
		}
		if st, ok := job["stage"]; ok {
			if s, _ := asString(st); !gitlabStages[s] {
				out = append(out, fmt.Sprintf("%s.stage: %q is not one of GitLab's default stages, so an including project may lack it", k, s))
			}
		}
	}
	return out
}

// scriptShape reports whether v is a GitLab script: a string, or a list of
// strings and (for !reference tags, which parse as lists) nested lists.
func scriptShape(v any) bool {
	switch x := v.(type) {
	case string:
		return true
	case []any:
		for _, e := range x {
			switch e.(type) {
			case string, []any:
			default:
				return false
			}
		}
		return true
	}
	return false
}
