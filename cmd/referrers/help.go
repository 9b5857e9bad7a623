package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// command is one entry of the command table: its name, its aliases, a line
// for the completion scripts, and what runs it.
type command struct {
	name    string
	aliases []string
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

// commands is every command with flags, in the order help lists them (set
// in init: the completion command reads the table).
var commands []command

func init() {
	commands = []command{
		{"attach", nil, "attach an artifact (SBOM, signature, ...) to a subject", cmdAttach},
		{"list", []string{"ls", "discover"}, "list a subject's referrers", cmdList},
		{"check", nil, "check that a subject has the referrers a policy requires", cmdCheck},
		{"copy", []string{"cp"}, "copy a subject and its referrers graph to another store", cmdCopy},
		{"delete", []string{"rm"}, "delete a referrer and its referrers tag entry", cmdDelete},
		{"index-for", nil, "build a subject's referrers index from a tree", cmdIndexFor},
		{"serve", nil, "serve a static tree as a registry", cmdServe},
		{"completion", nil, "print a shell completion script (bash, zsh or fish)", cmdCompletion},
	}
}

// plainCommands take no flags.
var plainCommands = []string{"version", "help"}

// lookupCommand finds a command by name or alias.
func lookupCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name || containsString(c.aliases, name) {
			return c, true
		}
	}
	return command{}, false
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// commandNames is every name and alias a user may type.
func commandNames() []string {
	var names []string
	for _, c := range commands {
		names = append(names, c.name)
		names = append(names, c.aliases...)
	}
	return append(names, plainCommands...)
}

// suggest returns the candidate closest to s when it is close enough to be
// what the user meant (an edit distance of at most 2, and less than half of
// s; or s is a prefix of exactly one candidate), else "".
func suggest(s string, candidates []string) string {
	best, bestD := "", -1
	var prefixed []string
	for _, c := range candidates {
		if len(s) >= 2 && strings.HasPrefix(c, s) {
			prefixed = append(prefixed, c)
		}
		d := editDistance(s, c)
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if bestD >= 0 && bestD <= 2 && bestD*2 < len(s) {
		return best
	}
	if len(prefixed) == 1 {
		return prefixed[0]
	}
	return ""
}

// editDistance is the Levenshtein distance of a and b, with a swap of two
// neighbouring characters counted as one edit (the commonest typo).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

// unknownFlag turns the flag package's "flag provided but not defined: -x"
// into a usage error that spells the flag --x and names the closest flag of
// fs. Other errors get the hint to -h.
func unknownFlag(fs *flag.FlagSet, err error) error {
	const prefix = "flag provided but not defined: "
	msg := err.Error()
	name, ok := strings.CutPrefix(msg, prefix)
	if !ok {
		return usagef("%s (run 'referrers %s -h' for the flags)", dashes(msg), fs.Name())
	}
	name = strings.TrimLeft(name, "-")
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if s := suggest(name, names); s != "" {
		return usagef("unknown flag --%s; did you mean --%s? (run 'referrers %s -h' for the flags)", name, s, fs.Name())
	}
	return usagef("unknown flag --%s (run 'referrers %s -h' for the flags)", name, fs.Name())
}

// dashes spells the flag package's "-flag" as "--flag" in its messages.
func dashes(msg string) string { return singleDash.ReplaceAllString(msg, "$1--$2") }

var singleDash = regexp.MustCompile(`(^|[\s"'])-([a-z][a-z0-9-]*)`)

// Flag groups in help: a command's own flags first, then these.
var (
	storeFlags  = []string{"username", "password-stdin", "plain-http", "referrers-mode", "source-referrers-mode", "oci-referrers", "scan-blobs", "timeout"}
	outputFlags = []string{"format", "debug", "progress", "no-progress"}
)

// examples are printed at the end of a command's help.
var examples = map[string]string{
	"attach": `  referrers attach registry.example/app:1.0 sbom.spdx.json:application/spdx+json \
    --artifact-type application/spdx+json
  referrers attach registry.example/app:1.0 app.sig --artifact-type application/vnd.example.sig --platform all
  make-sbom | referrers attach oci:build/layout:1.0 -:application/spdx+json --stdin-name sbom.spdx.json \
    --artifact-type application/spdx+json`,
	"list": `  referrers list registry.example/app:1.0
  referrers list registry.example/app:1.0 --format tree --depth 2
  referrers list registry.example/app:1.0 --artifact-type application/spdx+json --latest
  referrers list oci:build/layout:1.0 --include-children`,
	"check": `  referrers check registry.example/app:1.0 --require application/spdx+json,application/vnd.example.sig
  referrers check registry.example/app:1.0 --require application/vnd.example.scan+json --require-annotation org.example.result=pass`,
	"delete": `  referrers delete registry.example/app@sha256:...          # a superseded SBOM
  referrers delete registry.example/app@sha256:... --recursive  # with its signature
  referrers delete oci:build/layout@sha256:...`,
	"index-for": `  referrers index-for static:site:app@sha256:...
  referrers index-for --all static:site:app
  referrers index-for --all --headers caddy static:site:app > app.caddy`,
	"serve": `  referrers serve static:site
  referrers serve static:site --allow-push --addr 127.0.0.1:5001
  referrers serve static:site --token-file token --addr 0.0.0.0:5000 --tls-cert cert.pem --tls-key key.pem`,
	"completion": `  source <(referrers completion bash)
  referrers completion zsh > "${fpath[1]}/_referrers"
  referrers completion fish > ~/.config/fish/completions/referrers.fish`,
}

// printDefaults is flag.PrintDefaults with --name spelling, the flags in
// groups (the command's own, registry and store, output), and the command's
// examples.
func printDefaults(fs *flag.FlagSet) {
	w := fs.Output()
	var own, store, output []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		switch {
		case containsString(storeFlags, f.Name):
			store = append(store, f)
		case containsString(outputFlags, f.Name):
			output = append(output, f)
		default:
			own = append(own, f)
		}
	})
	group := func(title string, fl []*flag.Flag) {
		if len(fl) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s:\n", title)
		for _, f := range fl {
			printFlag(w, f)
		}
	}
	group("Flags", own)
	group("Registry and store flags", store)
	group("Output flags", output)
	if ex := examples[fs.Name()]; ex != "" {
		fmt.Fprintf(w, "\nExamples:\n%s\n", ex)
	}
}

func printFlag(w io.Writer, f *flag.Flag) {
	name, usage := flag.UnquoteUsage(f)
	if name != "" && !strings.Contains(f.Usage, "`") {
		// The flag package's type name (string, int, value): the last word
		// of the flag's name says more (--format FORMAT, --depth DEPTH).
		name = strings.ToUpper(f.Name[strings.LastIndex(f.Name, "-")+1:])
	}
	line := "  --" + f.Name
	if name != "" {
		line += " " + name
	}
	fmt.Fprintln(w, line)
	usage = strings.ReplaceAll(usage, "\n", "\n        ")
	if !isZeroDefault(f) {
		usage += fmt.Sprintf(" (default %s)", f.DefValue)
	}
	fmt.Fprintf(w, "        %s\n", usage)
}

func isZeroDefault(f *flag.Flag) bool {
	switch f.DefValue {
	case "", "0", "false", "0s", "[]":
		return true
	}
	return false
}

// flagsOf returns the flag set of each command, built as the command builds
// it: the command runs with a flagCapture as its stderr, which
// parseInterspersed recognizes (it hands over the flag set and stops the
// command before anything else happens).
func flagsOf() map[string]*flag.FlagSet {
	out := map[string]*flag.FlagSet{}
	for _, c := range commands {
		out[c.name] = c.flags()
	}
	return out
}

// flags builds the command's flag set, as the command builds it.
func (c command) flags() *flag.FlagSet {
	fc := &flagCapture{}
	e := env{getenv: func(string) string { return "" }, stdin: strings.NewReader(""),
		stdout: io.Discard, stderr: fc, timeout: &commandTimeout{}}
	if err := c.run(context.Background(), e, nil); !errors.Is(err, errCaptured) || fc.fs == nil {
		panic(fmt.Sprintf("command %s did not reach its flag parsing: %v", c.name, err))
	}
	return fc.fs
}

// flagCapture is the stderr of a command run by flagsOf.
type flagCapture struct{ fs *flag.FlagSet }

func (*flagCapture) Write(p []byte) (int, error) { return len(p), nil }

// errCaptured ends a command run by flagsOf once its flags are built.
var errCaptured = errors.New("flags captured")

// sortedFlagNames lists a flag set's names.
func sortedFlagNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	return names
}

// progressMiB names progress.Threshold in help.
const progressMiB = "4 MiB"

// progressFlags defines --progress auto|always|never and --no-progress (the
// same as --progress never) on fs; the function it returns says whether to
// show progress: auto means when stderr is a terminal.
func progressFlags(fs *flag.FlagSet, what string) func(e env) (bool, error) {
	mode := fs.String("progress", "auto", what+": auto (when stderr is a terminal), always or never")
	off := fs.Bool("no-progress", false, "no progress (--progress never)")
	return func(e env) (bool, error) {
		switch {
		case *off:
			return false, nil
		case *mode == "always":
			return true, nil
		case *mode == "never":
			return false, nil
		case *mode == "auto":
			return isTerminal(e.stderr), nil
		}
		return false, usagef("--progress must be auto, always or never")
	}
}
