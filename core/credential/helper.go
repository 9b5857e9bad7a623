package credential

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

const (
	// maxHelperOutput caps what a credential helper may print on stdout.
	maxHelperOutput = 1 << 20
	// maxHelperStderr caps what is kept of a helper's stderr (the rest is dropped).
	maxHelperStderr = 64 << 10
	// helperTimeout bounds one run of a credential helper.
	helperTimeout = 30 * time.Second
	// helperNotFound is the standard answer of docker-credential-helpers for a
	// server they hold nothing for.
	helperNotFound = "credentials not found in native keychain"
	// tokenUser is the user name a helper answers with when Secret is an
	// identity token.
	tokenUser = "<token>"
)

// helperGet asks the credential helper name for host's credential. The
// helper's "credentials not found" answer, and an empty answer, are the empty
// Credential.
func (o *options) helperGet(ctx context.Context, name, host string) (Credential, error) {
	hctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	out, err := o.run(hctx, name, []byte(helperServer(host)))
	if err != nil {
		if bytes.Contains(out, []byte(helperNotFound)) || strings.Contains(err.Error(), helperNotFound) {
			return Credential{}, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Credential{}, fmt.Errorf("credential helper %q for %s: %w", name, host, ctxErr)
		}
		if errors.Is(hctx.Err(), context.DeadlineExceeded) {
			return Credential{}, fmt.Errorf("credential helper %q for %s: no answer within %s: %w",
				name, host, o.timeout, context.DeadlineExceeded)
		}
		return Credential{}, fmt.Errorf("credential helper %q for %s: %w", name, host, err)
	}
	if len(out) > maxHelperOutput {
		return Credential{}, fmt.Errorf("credential helper %q for %s: answer larger than %d bytes", name, host, maxHelperOutput)
	}
	if len(bytes.TrimSpace(out)) == 0 {
		return Credential{}, nil
	}
	var resp struct {
		ServerURL string
		Username  string
		Secret    string
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		// The answer is not quoted: it may hold the secret.
		return Credential{}, fmt.Errorf("credential helper %q for %s: answer is not the expected JSON object", name, host)
	}
	if resp.Username == tokenUser {
		return Credential{IdentityToken: resp.Secret}, nil
	}
	return Credential{Username: resp.Username, Password: resp.Secret}, nil
}

// execRunner is the default HelperRunner: it runs docker-credential-<helper> get,
// found with lookPath, with the process environment.
func execRunner(lookPath func(string) (string, error)) HelperRunner {
	return func(ctx context.Context, helper string, stdin []byte) ([]byte, error) {
		prog := "docker-credential-" + helper
		path, err := lookPath(prog)
		if err != nil {
			return nil, err
		}
		cmd := exec.CommandContext(ctx, path, "get")
		cmd.Stdin = bytes.NewReader(stdin)
		stdout := &cappedBuffer{max: maxHelperOutput}
		stderr := &cappedBuffer{max: maxHelperStderr, drop: true}
		cmd.Stdout, cmd.Stderr = stdout, stderr
		// A helper's children may keep the pipes open after it was killed.
		cmd.WaitDelay = time.Second
		err = cmd.Run()
		if stdout.over {
			return nil, fmt.Errorf("%s: answer larger than %d bytes", prog, maxHelperOutput)
		}
		if err != nil {
			msg := helperMessage(stderr.Bytes())
			if msg == "" {
				msg = helperMessage(stdout.Bytes())
			}
			if msg != "" {
				return stdout.Bytes(), fmt.Errorf("%s get: %w: %s", prog, err, msg)
			}
			return stdout.Bytes(), fmt.Errorf("%s get: %w", prog, err)
		}
		return stdout.Bytes(), nil
	}
}

// helperMessage is a printable first line of a failing helper's output, or ""
// when it looks like it could carry a credential.
func helperMessage(b []byte) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if s == "" || strings.HasPrefix(s, "{") || strings.Contains(s, "Secret") {
		return ""
	}
	var sb strings.Builder
	for _, r := range s {
		if sb.Len() >= 200 {
			sb.WriteString("...")
			break
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			continue
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// lookPathIn finds a program in the absolute directories of a PATH list (relative
// entries are skipped, as they would depend on the working directory).
func lookPathIn(pathList string) func(string) (string, error) {
	return func(name string) (string, error) {
		for _, dir := range filepath.SplitList(pathList) {
			if !filepath.IsAbs(dir) {
				continue
			}
			if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
				return p, nil
			}
		}
		return "", &exec.Error{Name: name, Err: exec.ErrNotFound}
	}
}

// cappedBuffer keeps at most max bytes. Past that it fails the write (stopping a
// runaway helper), or with drop, silently discards the rest.
type cappedBuffer struct {
	buf  bytes.Buffer
	max  int
	drop bool
	over bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	room := c.max - c.buf.Len()
	if len(p) <= room {
		return c.buf.Write(p)
	}
	c.over = true
	room = max(room, 0)
	c.buf.Write(p[:room])
	if c.drop {
		return len(p), nil
	}
	return room, errors.New("output too large")
}

func (c *cappedBuffer) Bytes() []byte { return c.buf.Bytes() }
