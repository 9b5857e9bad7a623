package main

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/oci-referrers/referrers/core/display"
)

// maxOutput bounds one output value. GitHub allows 1 MB of outputs per job
// (50 MB per workflow run); a larger value would fail the job after the push
// succeeded, so it is left out with a warning instead.
const maxOutput = 512 << 10

// errTooLarge is returned by set for a value over maxOutput.
var errTooLarge = errors.New("too large for a step output")

var outputKey = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]*$`)

// outputs collects the step's outputs and writes them to $GITHUB_OUTPUT.
//
// It does not use go-githubactions' SetOutput: that writes each value as a
// heredoc with a fixed, public delimiter, so a value that contains the
// delimiter line (our outputs echo registry data: annotations, artifact
// types) could end the heredoc early and set outputs of its own choosing. Like
// @actions/core, this writer uses a random delimiter per run and refuses a key
// or value that contains it.
type outputs struct {
	values map[string]string
}

func newOutputs() *outputs { return &outputs{values: map[string]string{}} }

// set records output key. The key must be a plain identifier; a value over
// maxOutput is errTooLarge.
func (o *outputs) set(key, value string) error {
	if !outputKey.MatchString(key) {
		return fmt.Errorf("output name %q is not an identifier", key)
	}
	if len(value) > maxOutput {
		return fmt.Errorf("output %s: %d bytes: %w (the limit here is %d)", key, len(value), errTooLarge, maxOutput)
	}
	o.values[key] = value
	return nil
}

// write appends the outputs to the file at path in GitHub's multiline form,
// "key<<DELIM\nvalue\nDELIM\n", with a delimiter drawn from random (crypto/rand
// in production). A key or value containing the delimiter is an error and
// nothing is written.
func (o *outputs) write(path string, random io.Reader) error {
	var b [16]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return fmt.Errorf("outputs: random delimiter: %w", err)
	}
	delim := "ghadelimiter_" + hex.EncodeToString(b[:])
	var sb strings.Builder
	for _, k := range o.keys() {
		v := o.values[k]
		if strings.Contains(k, delim) || strings.Contains(v, delim) {
			return fmt.Errorf("output %s contains the delimiter; refusing to write it", k)
		}
		fmt.Fprintf(&sb, "%s<<%s\n%s\n%s\n", k, delim, v, delim)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("outputs: %w", err)
	}
	if _, err := f.WriteString(sb.String()); err != nil {
		f.Close()
		return fmt.Errorf("outputs: %w", err)
	}
	return f.Close()
}

// logTo is where the step's log goes: the workflow commands (::error::,
// ::notice::, ::add-mask::) and the lines that say what was done. In GitHub
// Actions the runner reads them from stdout. Outside it (no GITHUB_OUTPUT: a
// local run, another CI system), stdout is the outputs' JSON document and
// nothing else, so that it can be piped to a JSON reader; the log goes to
// stderr.
func logTo(getenv func(string) string, stdout, stderr io.Writer) io.Writer {
	if getenv("GITHUB_OUTPUT") == "" {
		return stderr
	}
	return stdout
}

// writeJSON prints the outputs as one JSON object: what a run outside GitHub
// Actions (no GITHUB_OUTPUT) gets on stdout, alone (see logTo).
func (o *outputs) writeJSON(w io.Writer) error {
	enc := json.NewEncoder(display.NewJSONWriter(w))
	enc.SetIndent("", "  ")
	return enc.Encode(o.values) // maps encode with sorted keys
}

func (o *outputs) keys() []string {
	keys := make([]string, 0, len(o.values))
	for k := range o.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
