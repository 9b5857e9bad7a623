// Package displaytest checks a program's whole text output for what package
// display keeps out of it: the tests of every front end use it on output
// produced from hostile registry data.
package displaytest

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/oci-referrers/referrers/core/display"
)

// Hostile are strings a registry may send to attack whoever reads what the
// program prints: terminal control sequences, forged lines, workflow
// commands, bidirectional controls and invalid UTF-8.
var Hostile = []string{
	"\x1b]0;title\a",
	"\x1b[2J\x1b[H",
	"\n::error::pwned",
	"::add-mask::x",
	"  ::warning title=t::forged",
	"\tline\rover",
	"evil\u202eexe.txt\u2066",
	"##[error]legacy",
	"bad\xff\xfe utf8",
	"\u009b31m c1",
	"##vso[task.setvariable variable=x]y",
	"sep\u2028arator\u2029",
	"zero\u200bwidth\ufeff",
}

// Options say what an output may hold besides plain text.
type Options struct {
	// Commands lets lines be the workflow commands the Action writes itself
	// (::debug::, ::notice, ::warning, ::error); ::add-mask:: is never
	// allowed (hostile data must not mask the log) and neither is any other.
	Commands bool
}

// ownCommand is a workflow command the Action writes: the name, optional
// properties, then the message.
var ownCommand = regexp.MustCompile(`^::(debug|notice|warning|error)( [^:]*)?::`)

// marker is what GitHub Actions (legacy form), Azure Pipelines and TeamCity
// read as a command anywhere in a line.
var marker = regexp.MustCompile(`##[A-Za-z]*\[`)

// Problems returns what is wrong with out, one entry per offending line:
// invalid UTF-8, a byte below 0x20 other than '\n' (tab included: the
// tables pad with spaces), DEL, a C1 control, a format character (the
// bidirectional controls among them), U+2028 or U+2029, a line that starts
// with "::" after white space (but for the allowed commands) and a command
// marker ("##[", "##vso[", "##teamcity[") anywhere.
func Problems(out string, opts Options) []string {
	var ps []string
	for i, line := range strings.Split(out, "\n") {
		p := lineProblem(line, opts)
		if p != "" {
			ps = append(ps, fmt.Sprintf("line %d %q: %s", i+1, line, p))
		}
	}
	return ps
}

func lineProblem(line string, opts Options) string {
	if !utf8.ValidString(line) {
		return "not UTF-8"
	}
	for _, r := range line {
		if display.Dangerous(r) {
			return fmt.Sprintf("holds %U", r)
		}
	}
	if marker.MatchString(line) {
		return `holds a command marker ("##[", "##vso[", "##teamcity["...)`
	}
	trimmed := strings.TrimLeftFunc(line, func(r rune) bool { return unicode.IsSpace(r) || unicode.Is(unicode.Zs, r) })
	if strings.HasPrefix(trimmed, "::") && !(opts.Commands && trimmed == line && ownCommand.MatchString(line)) {
		return "starts a workflow command"
	}
	return ""
}

// ViaJSON is s as a JSON encoder and decoder carry it: the same string, but
// for invalid UTF-8, which JSON cannot carry and encoding/json replaces. A
// front end's JSON output holds exactly ViaJSON of what the registry sent.
func ViaJSON(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // a string always encodes
	}
	var out string
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}
