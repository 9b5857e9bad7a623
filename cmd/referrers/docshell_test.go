package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

// docHost is how TestDocShell stands in for a registry host the documents
// name: a fake registry on 127.0.0.1 of its own.
type docHost struct {
	seeded bool // holds the image (and its referrers) the commands name
	auth   bool // demands a token, as the real one does (credentials in the environment)
}

// docHosts are the registry hosts of the documents' commands. A host not
// listed here fails the test: add it, seeded when the commands read from it.
var docHosts = map[string]docHost{
	"registry.example":    {seeded: true},
	"staging.example.com": {seeded: true},
	"ghcr.io":             {seeded: true, auth: true},
	"prod.example.com":    {},
	"registry.internal":   {},
}

// docPlaceholders stand for references in the documents' commands.
var docPlaceholders = strings.NewReplacer(
	"SRC", "staging.example.com/app:1.2",
	"DST", "prod.example.com/app:1.2",
)

// docEnv is the environment of the documents' commands: credentials for the
// hosts that demand them, and what a command line expands.
var docEnv = map[string]string{
	"REFERRERS_USERNAME": "docs",
	"REFERRERS_PASSWORD": "docs-password",
	"TOKEN":              "docs-serve-token",
}

// docStdin is what a command piped into `referrers` writes.
var docStdin = map[string]string{
	"make-sbom": `{"spdxVersion":"SPDX-2.3","name":"from-stdin"}` + "\n",
}

// shellWorld is what one document's shell blocks run against: a working
// directory holding the files and trees the commands name, fake registries
// for their hosts, `referrers serve` processes they started.
type shellWorld struct {
	t     *testing.T
	dir   string
	multi digest.Digest // the golden trees' index "multi", tagged 1.0 and 1.2 in the copies
	env   map[string]string

	mu     sync.Mutex
	regs   map[string]*fakeregistry.Registry // by document host
	seeded map[string]bool                   // "host/repo:tag"
	roles  map[string]digest.Digest          // "host/repo role": subject, leaf, sbom, stale
	addrs  map[string]string                 // a serve address of the documents -> the real one
	stops  []func()
}

func newShellWorld(t *testing.T) *shellWorld {
	t.Helper()
	w := &shellWorld{
		t: t, dir: t.TempDir(), env: map[string]string{},
		regs: map[string]*fakeregistry.Registry{}, seeded: map[string]bool{},
		roles: map[string]digest.Digest{}, addrs: map[string]string{},
	}
	for k, v := range docEnv {
		w.env[k] = v
	}
	w.env["HOME"] = filepath.Join(w.dir, "home")
	w.env["REFERRERS_CACHE_DIR"] = filepath.Join(w.dir, "cache")
	root := filepath.FromSlash(docRoot)
	copyDocTree(t, filepath.Join(root, "testdata/trees/layout"), filepath.Join(w.dir, "build/layout"))
	copyDocTree(t, filepath.Join(root, "testdata/trees/static"), filepath.Join(w.dir, "site"))
	copyDocTree(t, filepath.Join(root, "testdata/trees/static"), filepath.Join(w.dir, "srv/tree"))
	copyDocTree(t, filepath.Join(root, "testdata/trees/layout"), filepath.Join(w.dir, "golden"))
	w.multi = tagLayout(t, filepath.Join(w.dir, "build/layout"), "multi", "1.0", "1.2")
	for _, tree := range []string{"site", "srv/tree"} {
		for _, tag := range []string{"1.0", "1.2"} {
			for _, ext := range []string{"", ".mediatype"} {
				b, err := os.ReadFile(filepath.Join(w.dir, tree, "v2/app/manifests/multi"+ext))
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(w.dir, tree, "v2/app/manifests", tag+ext), string(b))
			}
		}
	}
	sbom, err := os.ReadFile(filepath.Join(root, "testdata/demo/sbom.spdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(w.dir, "sbom.spdx.json"), string(sbom))
	writeFile(t, filepath.Join(w.dir, "sbom.json"), string(sbom))
	writeFile(t, filepath.Join(w.dir, "app.sig"), "a signature of the image\n")
	writeFile(t, filepath.Join(w.dir, "seed/sig.bin"), "a signature attached when the registry is filled\n")
	t.Cleanup(w.stop)
	// a second, newer SBOM of the layout's 1.0, which --latest must pick
	out := w.mustCLI("attach", "oci:"+w.path("build/layout")+":1.0", w.path("sbom.spdx.json")+":application/spdx+json",
		"--artifact-type", "application/spdx+json", "--created", "2030-01-02T03:04:05Z", "--format", "json")
	w.roles["build/layout newest"] = jsonDigest(t, out, "digest")
	return w
}

// copyDocTree copies a directory tree.
func copyDocTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
}

// tagLayout adds tags to a layout's index.json for the manifest tagged from,
// and returns its digest.
func tagLayout(t *testing.T, dir, from string, tags ...string) digest.Digest {
	t.Helper()
	p := filepath.Join(dir, "index.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	var found *ocispec.Descriptor
	for i, m := range idx.Manifests {
		if m.Annotations[ocispec.AnnotationRefName] == from {
			found = &idx.Manifests[i]
		}
	}
	if found == nil {
		t.Fatalf("%s: no manifest tagged %q", p, from)
	}
	for _, tag := range tags {
		d := *found
		d.Annotations = map[string]string{ocispec.AnnotationRefName: tag}
		idx.Manifests = append(idx.Manifests, d)
	}
	writeFile(t, p, string(mustJSON(t, idx)))
	return found.Digest
}

func (w *shellWorld) stop() {
	w.mu.Lock()
	stops := w.stops
	w.stops = nil
	w.mu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
}

// getenv is the environment of the commands: docEnv, a private HOME and cache.
func (w *shellWorld) getenv(k string) string { return w.env[k] }

// cli runs the CLI in-process with args as given (no rewriting).
func (w *shellWorld) cli(stdin string, args ...string) (int, string, string) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, w.getenv, strings.NewReader(stdin), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// mustCLI runs the CLI and fails the test unless it exits 0; it returns stdout.
func (w *shellWorld) mustCLI(args ...string) string {
	w.t.Helper()
	code, out, errs := w.cli("", args...)
	if code != 0 {
		w.t.Fatalf("seeding: referrers %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errs)
	}
	return out
}

// registry returns the fake registry standing for a document host.
func (w *shellWorld) registry(host string) *fakeregistry.Registry {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r, ok := w.regs[host]; ok {
		return r
	}
	mode := fakeregistry.Mode{}
	if docHosts[host].auth {
		mode = fakeregistry.Mode{Auth: fakeregistry.AuthBearer, Username: docEnv["REFERRERS_USERNAME"], Password: docEnv["REFERRERS_PASSWORD"]}
	}
	r := fakeregistry.New(w.t, mode)
	w.regs[host] = r
	return r
}

// seed puts the golden index (tag multi of testdata/trees/layout, with its
// SBOMs) into host/repo:tag with our own copy, then a signature of the index
// (role leaf: a referrer without referrers) and a signature of the index's
// SBOM (so the SBOM is role sbom: a referrer with referrers).
func (w *shellWorld) seed(host, repo, tag string) {
	w.t.Helper()
	key := host + "/" + repo
	if w.seeded[key+":"+tag] {
		return
	}
	w.seeded[key+":"+tag] = true
	fake := w.registry(host).Host() + "/" + repo
	w.mustCLI("copy", "--plain-http", "oci:"+filepath.Join(w.dir, "golden")+":multi", fake+":"+tag)
	w.roles[key+" subject"] = w.multi
	if _, ok := w.roles[key+" leaf"]; ok {
		return
	}
	sig := filepath.Join(w.dir, "seed/sig.bin")
	out := w.mustCLI("attach", "--plain-http", fake+":"+tag, sig+":application/vnd.example.sig", "--artifact-type", "application/vnd.example.sig", "--format", "json")
	w.roles[key+" leaf"] = jsonDigest(w.t, out, "digest")
	var idx ocispec.Index
	if err := json.Unmarshal([]byte(w.mustCLI("list", "--plain-http", fake+"@"+w.multi.String(), "--artifact-type", "application/spdx+json", "--format", "json")), &idx); err != nil || len(idx.Manifests) != 1 {
		w.t.Fatalf("seeding: the golden index's SBOM: %v, %d found", err, len(idx.Manifests))
	}
	w.roles[key+" sbom"] = idx.Manifests[0].Digest
	w.mustCLI("attach", "--plain-http", fake+"@"+idx.Manifests[0].Digest.String(), sig+":application/vnd.example.signature", "--artifact-type", "application/vnd.example.signature")
}

// stale makes a referrer whose manifest is gone while its entry stays in the
// subject's referrers tag (another tool deleted the manifest), and returns it.
func (w *shellWorld) stale(host, repo string) digest.Digest {
	w.t.Helper()
	key := host + "/" + repo
	if d, ok := w.roles[key+" stale"]; ok {
		return d
	}
	fake := w.registry(host)
	out := w.mustCLI("attach", "--plain-http", "--referrers-mode", "tag", fake.Host()+"/"+repo+"@"+w.multi.String(),
		filepath.Join(w.dir, "seed/sig.bin")+":application/vnd.example.sig", "--artifact-type", "application/vnd.example.stale", "--format", "json")
	d := jsonDigest(w.t, out, "digest")
	req, err := http.NewRequest(http.MethodDelete, fake.URL()+"/v2/"+repo+"/manifests/"+d.String(), nil)
	if err != nil {
		w.t.Fatal(err)
	}
	if mode := fake.Mode(); mode.Auth != fakeregistry.AuthNone {
		w.t.Fatalf("seeding: %s demands auth: make the stale referrer on a host without", host)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		w.t.Fatalf("seeding: DELETE %s: %s", d, resp.Status)
	}
	w.roles[key+" stale"] = d
	return d
}

func jsonDigest(t *testing.T, out, field string) digest.Digest {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatalf("seeding: %v\n%s", err, out)
	}
	d, err := digest.Parse(fmt.Sprint(m[field]))
	if err != nil {
		t.Fatalf("seeding: %q: %v", field, err)
	}
	return d
}

// shellLine is one logical line of a block: continuation lines joined, the
// trailing comment apart.
type shellLine struct {
	n       int // the document's line number of its first line
	cmd     string
	comment string
}

// shellLines splits a block into logical lines.
func shellLines(b docBlock) []shellLine {
	var out []shellLine
	var cur string
	start := 0
	for i, raw := range b.lines {
		trim := strings.TrimSpace(raw)
		if cur == "" {
			start = b.lineOf(i)
		}
		if strings.HasSuffix(trim, `\`) {
			cur += strings.TrimSuffix(trim, `\`) + " "
			continue
		}
		cur += trim
		line := shellLine{n: start, cmd: cur}
		cur = ""
		if strings.HasPrefix(line.cmd, "#") {
			line.cmd, line.comment = "", strings.TrimSpace(strings.TrimPrefix(line.cmd, "#"))
		} else if i := strings.Index(line.cmd, " #"); i >= 0 {
			line.cmd, line.comment = strings.TrimSpace(line.cmd[:i]), strings.TrimSpace(line.cmd[i+2:])
		}
		if line.cmd != "" || line.comment != "" {
			out = append(out, line)
		}
	}
	return out
}

// shellResult is what a command printed.
type shellResult struct {
	code           int
	stdout, stderr string
}

// runLine runs one command line of a document: `A && B`, `PRODUCER | referrers ...`,
// `source <(referrers ...)`, `echo ... > FILE`, `referrers ...` (with a
// redirect of stdout), and `oras ...`. It returns the last command's result.
func (w *shellWorld) runLine(where, line string) shellResult {
	w.t.Helper()
	var last shellResult
	for _, part := range strings.Split(line, "&&") {
		part = strings.TrimSpace(part)
		stdin := ""
		if producer, rest, ok := strings.Cut(part, "|"); ok {
			in, known := docStdin[strings.TrimSpace(producer)]
			if !known {
				w.t.Errorf("%s: %q: TestDocShell knows no producer %q (add it to docStdin)", where, line, producer)
				return shellResult{code: -1}
			}
			stdin, part = in, strings.TrimSpace(rest)
		}
		if inner, ok := strings.CutPrefix(part, "source <("); ok {
			last = w.runCommand(where, strings.TrimSuffix(inner, ")"), stdin)
			if last.code == 0 {
				cmd := exec.Command("bash", "-n")
				cmd.Stdin = strings.NewReader(last.stdout)
				if out, err := cmd.CombinedOutput(); err != nil {
					w.t.Errorf("%s: %q: what bash would source does not parse: %v\n%s", where, line, err, out)
				}
			}
			continue
		}
		last = w.runCommand(where, part, stdin)
		if last.code != 0 {
			return last
		}
	}
	return last
}

// runCommand runs one simple command with its redirect.
func (w *shellWorld) runCommand(where, part, stdin string) shellResult {
	w.t.Helper()
	args := words(part)
	redirect := ""
	if i := indexOfRedirect(args); i >= 0 {
		if args[i] != ">" || i+2 != len(args) {
			w.t.Errorf("%s: %q: TestDocShell runs only `> FILE` redirects", where, part)
			return shellResult{code: -1}
		}
		redirect, args = args[i+1], args[:i]
	}
	var r shellResult
	switch args[0] {
	case "referrers":
		r = w.referrers(where, args[1:], stdin)
	case "echo":
		r = shellResult{stdout: os.Expand(strings.Join(args[1:], " "), w.getenv) + "\n"}
	case "oras":
		r = w.oras(args[1:])
	default:
		w.t.Errorf("%s: %q: TestDocShell cannot run %q: teach it, or mark the block <!-- not run: WHY -->", where, part, args[0])
		return shellResult{code: -1}
	}
	if redirect != "" && !strings.ContainsAny(redirect, "$~") {
		writeFile(w.t, w.path(redirect), r.stdout)
	}
	return r
}

// path maps a path of the documents into the working directory.
func (w *shellWorld) path(p string) string { return filepath.Join(w.dir, filepath.FromSlash(p)) }

var docAddr = regexp.MustCompile(`^(127\.0\.0\.1|0\.0\.0\.0):[0-9]+`)

// rewrite turns a document's arguments into ones that run here: registry
// hosts become their fakes (seeded on first use), oci: and static: paths and
// files the working directory's, serve addresses the real ones, `sha256:...`
// the digest the command means. It reports whether a registry is involved.
func (w *shellWorld) rewrite(where string, args []string) ([]string, bool) {
	w.t.Helper()
	verb := ""
	if len(args) > 0 {
		verb = args[0]
	}
	has := func(flag string) bool {
		for _, a := range args {
			if a == flag {
				return true
			}
		}
		return false
	}
	out := make([]string, 0, len(args)+1)
	registry := false
	lastKey := ""
	for i, a := range args {
		a = docPlaceholders.Replace(a)
		switch {
		case i > 0 && args[i-1] == "--addr" && verb == "serve":
			// the serve itself: mapped when it starts
		case w.isFile(a) && i > 0 && !docNameFlags[args[i-1]]:
			file, mt, _ := strings.Cut(a, ":")
			a = w.path(file)
			if mt != "" {
				a += ":" + mt
			}
		case i > 0 && args[i-1] == "--subject" && a == "sha256:...":
			a = w.roles[lastKey+" subject"].String()
		case strings.HasPrefix(a, "oci:") || strings.HasPrefix(a, "static:"):
			kind, rest, _ := strings.Cut(a, ":")
			end := strings.IndexAny(rest, ":@")
			if end < 0 {
				end = len(rest)
			}
			a = kind + ":" + w.path(rest[:end]) + strings.ReplaceAll(rest[end:], "sha256:...", w.multi.String())
		case docAddr.MatchString(a):
			w.mu.Lock()
			real, ok := w.addrs[docAddr.FindString(a)]
			w.mu.Unlock()
			if !ok {
				w.t.Errorf("%s: %s: no `referrers serve` of this block listens there", where, a)
			}
			a = real + strings.TrimPrefix(a, docAddr.FindString(a))
			registry = true
		case strings.Contains(a, "/") && !strings.HasPrefix(a, "-"):
			host, rest, _ := strings.Cut(strings.TrimPrefix(a, "docker://"), "/")
			h, ok := docHosts[host]
			if !ok {
				if strings.Contains(host, ".") {
					w.t.Errorf("%s: %q: no fake registry stands for host %q (add it to docHosts)", where, a, host)
				}
				break
			}
			repo, ref := rest, ""
			if j := strings.IndexAny(rest, ":@"); j >= 0 {
				repo, ref = rest[:j], rest[j:]
			}
			lastKey = host + "/" + repo
			if h.seeded {
				tag := "1.0"
				if strings.HasPrefix(ref, ":") {
					tag, _, _ = strings.Cut(ref[1:], "@")
				}
				w.seed(host, repo, tag)
			}
			if strings.Contains(ref, "sha256:...") {
				role := "subject"
				if verb == "delete" || verb == "rm" {
					switch {
					case has("--subject"):
						w.stale(host, repo)
						role = "stale"
					case has("--recursive"):
						role = "sbom"
					default:
						role = "leaf"
					}
				}
				d, ok := w.roles[lastKey+" "+role]
				if !ok {
					w.t.Errorf("%s: %q: no %s digest to stand for sha256:... (host %s is not seeded)", where, a, role, host)
				}
				ref = strings.ReplaceAll(ref, "sha256:...", d.String())
			}
			a = w.registry(host).Host() + "/" + repo + ref
			registry = true
		}
		out = append(out, a)
	}
	return out, registry
}

// docNameFlags take a name, never a file of the working directory.
var docNameFlags = map[string]bool{"--stdin-name": true, "--artifact-type": true, "--annotation": true, "--require": true}

// isFile reports whether a FILE[:MEDIATYPE] argument names a file of the
// working directory.
func (w *shellWorld) isFile(a string) bool {
	file, _, _ := strings.Cut(a, ":")
	if file == "" || strings.HasPrefix(a, "-") {
		return false
	}
	fi, err := os.Stat(w.path(file))
	return err == nil && !fi.IsDir()
}

// referrers runs our CLI in-process; `serve` is started in the background
// until the end of the test, its address mapped.
func (w *shellWorld) referrers(where string, docArgs []string, stdin string) shellResult {
	w.t.Helper()
	args, registry := w.rewrite(where, docArgs)
	for _, a := range args {
		if strings.Contains(a, "sha256:...") {
			w.t.Errorf("%s: %q: TestDocShell does not know which digest sha256:... stands for here", where, a)
			return shellResult{code: -1}
		}
	}
	if len(args) > 0 && args[0] == "serve" {
		return w.serve(where, args)
	}
	if registry {
		args = append(args, "--plain-http")
	}
	code, stdout, stderr := w.cli(stdin, args...)
	return shellResult{code: code, stdout: stdout, stderr: stderr}
}

var servingLine = regexp.MustCompile(`serving static:.* on https?://(\S+) `)

// serve starts `referrers serve` on a free loopback port in place of the
// address the document gives, and maps that address to it.
func (w *shellWorld) serve(where string, args []string) shellResult {
	w.t.Helper()
	docAddress := "127.0.0.1:5000"
	for i := 1; i < len(args); i++ {
		if args[i] == "--addr" && i+1 < len(args) {
			docAddress, args[i+1] = args[i+1], "127.0.0.1:0"
		}
	}
	if docAddress == "127.0.0.1:5000" {
		args = append(args, "--addr", "127.0.0.1:0")
	}
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &lockedBuffer{}
	var stdout bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, w.getenv, strings.NewReader(""), &stdout, stderr) }()
	deadline := time.Now().Add(30 * time.Second)
	var real string
	for real == "" {
		if m := servingLine.FindStringSubmatch(stderr.String()); m != nil {
			real = m[1]
			break
		}
		select {
		case code := <-done:
			cancel()
			return shellResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cancel()
			w.t.Fatalf("%s: referrers %s printed no address in 30 s:\n%s", where, strings.Join(args, " "), stderr.String())
		}
	}
	w.mu.Lock()
	w.addrs[docAddress] = real
	w.stops = append(w.stops, func() {
		cancel()
		if code := <-done; code != 0 {
			w.t.Errorf("%s: referrers %s: exit %d when stopped\n%s", where, strings.Join(args, " "), code, stderr.String())
		}
	})
	w.mu.Unlock()
	return shellResult{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// oras runs the oras oracle in the working directory (its file arguments are
// relative names there), addresses mapped.
func (w *shellWorld) oras(docArgs []string) shellResult {
	w.t.Helper()
	x := oracle.NewOras(w.t)
	x.Dir = w.dir
	args := make([]string, len(docArgs))
	for i, a := range docArgs {
		if m := docAddr.FindString(a); m != "" {
			w.mu.Lock()
			real, ok := w.addrs[m]
			w.mu.Unlock()
			if !ok {
				w.t.Errorf("oras %s: no `referrers serve` of this block listens on %s", strings.Join(docArgs, " "), m)
			}
			a = real + strings.TrimPrefix(a, m)
		}
		args[i] = a
	}
	r := x.Run(args...)
	code := 0
	if r.Err != nil {
		code = 1
		if ee, ok := r.Err.(interface{ ExitCode() int }); ok {
			code = ee.ExitCode()
		}
	}
	return shellResult{code: code, stdout: r.Stdout, stderr: r.Stderr}
}

// expected turns a `# -> OUTPUT (note)` comment into a pattern of stdout:
// `sha256:...` is any digest, a registry host its fake.
func (w *shellWorld) expected(comment string) (*regexp.Regexp, bool) {
	text, ok := strings.CutPrefix(comment, "-> ")
	if !ok {
		return nil, false
	}
	if i := strings.Index(text, " ("); i >= 0 {
		text = text[:i]
	}
	pat := regexp.QuoteMeta(strings.TrimSpace(text))
	pat = strings.ReplaceAll(pat, regexp.QuoteMeta("sha256:..."), "sha256:[0-9a-f]{64}")
	for host := range docHosts {
		if strings.Contains(text, host+"/") {
			pat = strings.ReplaceAll(pat, regexp.QuoteMeta(host+"/"), regexp.QuoteMeta(w.registry(host).Host()+"/"))
		}
	}
	return regexp.MustCompile("^" + pat + "$"), true
}

// docClaims check what a command's comment says beyond its exit code, by
// "FILE: COMMENT": prev is the result of the command before (nil if none).
var docClaims = map[string]func(w *shellWorld, prev *shellResult, r shellResult) error{
	"docs/cli.md: the referrers image index": func(_ *shellWorld, _ *shellResult, r shellResult) error {
		var idx ocispec.Index
		if err := json.Unmarshal([]byte(r.stdout), &idx); err != nil || idx.MediaType != ocispec.MediaTypeImageIndex || len(idx.Manifests) == 0 {
			return fmt.Errorf("not an image index of referrers (%v):\n%s", err, r.stdout)
		}
		return nil
	},
	"docs/cli.md: the newest SBOM": func(w *shellWorld, _ *shellResult, r shellResult) error {
		// the layout has the golden SBOM and one created in 2030
		if n := strings.Count(r.stdout, "\nsha256:"); n != 1 || !strings.Contains(r.stdout, w.roles["build/layout newest"].String()) {
			return fmt.Errorf("%d referrers listed, want the one created in 2030 alone:\n%s", n, r.stdout)
		}
		return nil
	},
	"docs/cli.md: air gap: carry over": func(w *shellWorld, _ *shellResult, _ shellResult) error {
		b, err := os.ReadFile(w.path("airgap/index.json"))
		if err != nil || !strings.Contains(string(b), `"org.opencontainers.image.ref.name":"app-1.2"`) {
			return fmt.Errorf("the layout ./airgap has no tag app-1.2 (%v):\n%s", err, b)
		}
		return nil
	},
	"docs/cli.md: one referrer": func(_ *shellWorld, _ *shellResult, r shellResult) error {
		if n := strings.Count(r.stdout, "@sha256:"); n != 1 {
			return fmt.Errorf("%d references deleted, want 1:\n%s", n, r.stdout)
		}
		return nil
	},
	"docs/cli.md: and its own referrers (signatures of an SBOM)": func(w *shellWorld, _ *shellResult, r shellResult) error {
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if sbom := w.roles["registry.example/app sbom"].String(); len(lines) != 2 || !strings.HasSuffix(lines[1], sbom) {
			return fmt.Errorf("want the SBOM's signature, then the SBOM %s, deleted:\n%s", sbom, r.stdout)
		}
		return nil
	},
	"docs/cli.md: and store it as the pre-rendered file": func(w *shellWorld, _ *shellResult, _ shellResult) error {
		_, err := os.Stat(w.path("site/v2/app/referrers/" + w.multi.String()))
		return err
	},
	"docs/cli.md: + empty indexes, + the headers a web server must send": func(w *shellWorld, _ *shellResult, _ shellResult) error {
		b, err := os.ReadFile(w.path("app.caddy"))
		if err != nil || !strings.Contains(string(b), "Docker-Content-Digest") {
			return fmt.Errorf("app.caddy has no Docker-Content-Digest header (%v)", err)
		}
		return nil
	},
	"docs/serve.md: read-only on 127.0.0.1:5000": func(w *shellWorld, _ *shellResult, _ shellResult) error {
		return w.startUpload("127.0.0.1:5000", "", http.StatusMethodNotAllowed)
	},
	"docs/serve.md: writes need the token": func(w *shellWorld, _ *shellResult, _ shellResult) error {
		if err := w.startUpload("127.0.0.1:5000", "", http.StatusUnauthorized); err != nil {
			return err
		}
		return w.startUpload("127.0.0.1:5000", "Bearer "+w.env["TOKEN"], http.StatusAccepted)
	},
	"docs/serve.md: the same referrers, offline": func(w *shellWorld, prev *shellResult, r shellResult) error {
		m := regexp.MustCompile(`(?m)^Digest: (sha256:[0-9a-f]{64})$`).FindStringSubmatch(prev.stdout)
		if m == nil {
			return fmt.Errorf("the oras attach before printed no digest:\n%s", prev.stdout)
		}
		if !strings.Contains(r.stdout, m[1]) {
			return fmt.Errorf("the referrer oras attached through serve, %s, is not listed offline:\n%s", m[1], r.stdout)
		}
		return nil
	},
}

// startUpload starts a blob upload at the serve standing for a document's
// address, with an Authorization header if given, and wants status.
func (w *shellWorld) startUpload(docAddress, auth string, want int) error {
	w.mu.Lock()
	real, ok := w.addrs[docAddress]
	w.mu.Unlock()
	if !ok {
		return fmt.Errorf("no serve for %s", docAddress)
	}
	req, err := http.NewRequest(http.MethodPost, "http://"+real+"/v2/app/blobs/uploads/", nil)
	if err != nil {
		return err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("POST /v2/app/blobs/uploads/ (Authorization %q): %s, want %d", auth, resp.Status, want)
	}
	return nil
}

// runShellBlock runs a block's lines in order in w; a `# -> OUTPUT` comment
// line after a command is what the command must print.
func (w *shellWorld) runShellBlock(b docBlock) int {
	w.t.Helper()
	ran := 0
	var last *shellResult
	var lastWhere, lastCmd string
	for _, l := range shellLines(b) {
		where := fmt.Sprintf("%s:%d", b.file, l.n)
		if l.cmd == "" {
			if re, ok := w.expected(l.comment); ok {
				if last == nil {
					w.t.Errorf("%s: an expected output with no command before it", where)
				} else if got := strings.TrimSpace(last.stdout); !re.MatchString(got) {
					w.t.Errorf("%s: %q printed %q, the document shows %q", lastWhere, lastCmd, got, l.comment)
				}
			}
			continue
		}
		r := w.runLine(where, l.cmd)
		ran++
		if r.code != 0 {
			if r.code != -1 {
				w.t.Errorf("%s: %q: exit %d, want 0\nstdout:\n%s\nstderr:\n%s", where, l.cmd, r.code, r.stdout, r.stderr)
			}
			last = nil
			continue
		}
		if claim, ok := docClaims[b.file+": "+l.comment]; ok {
			if err := claim(w, last, r); err != nil {
				w.t.Errorf("%s: %q: not as the comment says (%s): %v", where, l.cmd, l.comment, err)
			}
		}
		last, lastWhere, lastCmd = &r, where, l.cmd
		if re, ok := w.expected(l.comment); ok && !re.MatchString(strings.TrimSpace(r.stdout)) {
			w.t.Errorf("%s: %q printed %q, the document shows %q", where, l.cmd, strings.TrimSpace(r.stdout), l.comment)
		}
	}
	return ran
}

// TestDocShell runs every shell block of the documents that is not marked
// "not run", each in a world of its own and its lines in order: fake
// registries on 127.0.0.1 for its registry hosts (seeded with the golden
// index and its referrers, one demanding credentials as ghcr.io does), copies
// of the golden trees for its oci: and static: paths, and `referrers serve` on
// free ports for its addresses; our CLI runs in-process, oras as the oracle.
// Every command must exit 0, print what a `# -> OUTPUT` comment shows, and do
// what its comment says where docClaims has a row for it. The blocks that are
// not run get TestDocNotRun's checks.
func TestDocShell(t *testing.T) {
	t.Parallel()
	byFile := map[string][]docBlock{}
	var files []string
	comments := map[string]bool{}
	for _, b := range docBlocksOf(t, "sh") {
		if b.marked {
			continue
		}
		if byFile[b.file] == nil {
			files = append(files, b.file)
		}
		byFile[b.file] = append(byFile[b.file], b)
		for _, l := range shellLines(b) {
			comments[b.file+": "+l.comment] = true
		}
	}
	total := 0
	var mu sync.Mutex
	t.Run("blocks", func(t *testing.T) {
		for _, f := range files {
			t.Run(f, func(t *testing.T) {
				t.Parallel()
				for _, b := range byFile[f] {
					t.Run(fmt.Sprintf("line%d", b.line), func(t *testing.T) {
						w := newShellWorld(t)
						n := w.runShellBlock(b)
						w.stop()
						mu.Lock()
						total += n
						mu.Unlock()
						if n == 0 {
							t.Errorf("%s: a shell block with no command", b.where())
						}
					})
				}
			})
		}
	})
	t.Logf("ran %d command lines of the documents", total)
	for c := range docClaims { // whether or not their block ran
		if !comments[c] {
			t.Errorf("docClaims: no command of the documents has the comment %q (fix the comment or the row)", c)
		}
	}
	if total < 40 {
		t.Errorf("ran %d command lines of the documents: the extraction is broken", total)
	}
}
