package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/internal/frontend"
)

// inputNames are the action's inputs, as declared in action.yml.
var inputNames = []string{
	"command", "subject", "subject-digest", "files", "artifact-type", "annotations",
	"annotation-file", "platform", "referrers-mode", "created", "require",
	"require-annotations", "min", "username", "password", "github-token",
	"plain-http", "summary", "fail-on-missing", "timeout",
	"sort-annotation", "latest", "include-children",
	"destination", "depth", "referrers-only",
}

// inputs are the step's inputs, read from INPUT_* variables.
type inputs struct {
	command        string
	subject        string
	subjectDigest  string
	files          []string
	artifactTypes  []string // attach: exactly one; list: filters
	annotations    []string
	annotationFile string
	platform       string
	mode           string
	created        string
	require        []string
	requireAnn     []string
	min            int
	username       string
	password       string
	githubToken    string
	plainHTTP      bool
	summary        bool
	failOnMissing  bool
	timeout        time.Duration // 0: none
	// list: referrers.ListOptions SortAnnotation, Latest, IncludeChildren
	sortAnnotation  string
	latest          bool
	includeChildren bool
	// copy: the destination, referrers.CopyOptions Depth and ReferrersOnly
	destination   string
	depth         int
	referrersOnly bool
}

// inputError is a problem with the step's inputs: the workflow must change.
type inputError struct{ error }

func (e inputError) Unwrap() error { return e.error }

func inputErrorf(format string, a ...any) error { return inputError{fmt.Errorf(format, a...)} }

// input returns the value of input name. The composite action.yml maps each
// input to INPUT_<NAME> with '-' as '_' (a shell cannot export a name with
// '-'); the hyphenated form GitHub uses for JavaScript and Docker actions is
// read as well. Values are trimmed of surrounding white space, as
// @actions/core's getInput does.
func input(getenv func(string) string, name string) string {
	upper := strings.ToUpper(strings.ReplaceAll(name, " ", "_"))
	v := getenv("INPUT_" + strings.ReplaceAll(upper, "-", "_"))
	if v == "" && strings.Contains(upper, "-") {
		v = getenv("INPUT_" + upper)
	}
	return strings.TrimSpace(v)
}

// boolInput parses a boolean input as @actions/core's getBooleanInput does
// (the YAML 1.2 core schema): true, True, TRUE, false, False or FALSE; empty
// is def; anything else is an error.
func boolInput(getenv func(string) string, name string, def bool) (bool, error) {
	switch v := input(getenv, name); v {
	case "":
		return def, nil
	case "true", "True", "TRUE":
		return true, nil
	case "false", "False", "FALSE":
		return false, nil
	default:
		return false, inputErrorf("input %s: %q is not a boolean (want true or false)", name, v)
	}
}

// lines splits a multiline input into its non-empty, trimmed lines.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// list splits an input on newlines and commas.
func list(s string) []string {
	var out []string
	for _, l := range lines(s) {
		for _, f := range strings.Split(l, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out
}

// readInputs reads and checks the inputs that do not need the network or
// files; which ones a command uses is checked here too, so that an input
// meant for another command is an error instead of being ignored.
func readInputs(getenv func(string) string) (inputs, error) {
	in := inputs{
		command:        input(getenv, "command"),
		subject:        input(getenv, "subject"),
		subjectDigest:  input(getenv, "subject-digest"),
		files:          lines(input(getenv, "files")),
		artifactTypes:  list(input(getenv, "artifact-type")),
		annotations:    lines(input(getenv, "annotations")),
		annotationFile: input(getenv, "annotation-file"),
		platform:       input(getenv, "platform"),
		mode:           input(getenv, "referrers-mode"),
		created:        input(getenv, "created"),
		require:        list(input(getenv, "require")),
		requireAnn:     lines(input(getenv, "require-annotations")),
		username:       input(getenv, "username"),
		password:       input(getenv, "password"),
		githubToken:    input(getenv, "github-token"),
		sortAnnotation: input(getenv, "sort-annotation"),
		destination:    input(getenv, "destination"),
	}
	var err error
	if in.plainHTTP, err = boolInput(getenv, "plain-http", false); err != nil {
		return in, err
	}
	if in.summary, err = boolInput(getenv, "summary", true); err != nil {
		return in, err
	}
	if in.failOnMissing, err = boolInput(getenv, "fail-on-missing", true); err != nil {
		return in, err
	}
	if in.latest, err = boolInput(getenv, "latest", false); err != nil {
		return in, err
	}
	if in.includeChildren, err = boolInput(getenv, "include-children", false); err != nil {
		return in, err
	}
	if in.referrersOnly, err = boolInput(getenv, "referrers-only", false); err != nil {
		return in, err
	}
	if s := input(getenv, "depth"); s != "" {
		if in.depth, err = strconv.Atoi(s); err != nil || in.depth < 0 || in.depth > 64 {
			return in, inputErrorf("input depth: %q is not a whole number from 0 (every level) to 64", s)
		}
	}
	if s := input(getenv, "timeout"); s != "" {
		if in.timeout, err = frontend.ParseTimeout(s); err != nil {
			return in, inputErrorf("input timeout: %q is not a duration such as 30s or 10m (0 or empty: no limit)", s)
		}
	}
	in.min = 1
	if s := input(getenv, "min"); s != "" {
		if in.min, err = strconv.Atoi(s); err != nil || in.min < 1 {
			return in, inputErrorf("input min: %q is not a whole number of at least 1", s)
		}
	}
	if in.command == "" {
		in.command = "attach"
	}
	if in.mode == "" {
		in.mode = "auto"
	}
	if in.subject == "" {
		return in, inputErrorf("input subject is required (an image reference with a tag or digest, or its name with subject-digest)")
	}
	if (in.username == "") != (in.password == "") {
		return in, inputErrorf("inputs username and password go together: give both or neither")
	}
	// Inputs that only one command reads.
	only := map[string][]struct {
		name string
		set  bool
	}{
		"attach": {{"files", len(in.files) > 0}, {"annotations", len(in.annotations) > 0},
			{"annotation-file", in.annotationFile != ""}, {"created", in.created != ""}},
		"list": {{"sort-annotation", in.sortAnnotation != ""}, {"latest", in.latest}, {"include-children", in.includeChildren}},
		"check": {{"require", len(in.require) > 0}, {"require-annotations", len(in.requireAnn) > 0},
			{"min", input(getenv, "min") != ""}},
		"copy": {{"destination", in.destination != ""}, {"depth", input(getenv, "depth") != ""},
			{"referrers-only", in.referrersOnly}},
	}
	switch in.command {
	case "attach":
		if len(in.artifactTypes) > 1 {
			return in, inputErrorf("input artifact-type: attach takes one type, got %d", len(in.artifactTypes))
		}
	case "list":
		if in.includeChildren && in.platform != "" {
			return in, inputErrorf("inputs include-children and platform: include-children lists every child of the index and platform picks one: give one of them")
		}
	case "check":
		if len(in.require) == 0 {
			return in, inputErrorf("input require is required for command check (the artifact types that must be attached)")
		}
		if len(in.artifactTypes) > 0 {
			return in, inputErrorf("input artifact-type is not used by command check; give the types in require")
		}
	case "copy":
		if in.destination == "" {
			return in, inputErrorf("input destination is required for command copy (where subject and its referrers go: registry/repo[:tag])")
		}
	default:
		return in, inputErrorf("input command: %q is not attach, list, check or copy", in.command)
	}
	if in.platform == referrers.PlatformAll && in.command != "attach" {
		return in, inputErrorf("input platform: %s is only for command attach (for list, include-children lists the referrers of every child)", referrers.PlatformAll)
	}
	for _, cmd := range []string{"attach", "list", "check", "copy"} { // a fixed order: the same error every run
		names := only[cmd]
		if cmd == in.command {
			continue
		}
		for _, n := range names {
			if n.set {
				return in, inputErrorf("input %s is only used by command %s, not %s", n.name, cmd, in.command)
			}
		}
	}
	return in, nil
}

// withTimeout bounds the whole command by the timeout input, as the CLI's
// --timeout does (a registry that goes silent is given up on anyway: see
// registry.Timeouts).
func (in inputs) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if in.timeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, in.timeout)
}

// explainTimeout names the timeout input in an error its expiry caused.
func (in inputs) explainTimeout(ctx context.Context, err error) error {
	if err != nil && in.timeout > 0 && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return frontend.TimeoutExpired("input timeout", in.timeout, err)
	}
	return err
}
