package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sethvargo/go-githubactions"

	"github.com/oci-referrers/referrers/core/credential"
	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/policy"
	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/registry"
	"github.com/oci-referrers/referrers/internal/frontend"
	"github.com/oci-referrers/referrers/internal/frontend/progress"
)

// Exit codes: 0 done (for check: the requirements are met, or not met with
// fail-on-missing false), 1 an error, 3 check's requirements not met. An
// error is never a verdict.
const (
	exitOK     = 0
	exitError  = 1
	exitNotMet = 3
)

// tokenHosts are the registries that accept the workflow's GITHUB_TOKEN
// (the github-token input) as a password.
var tokenHosts = map[string]bool{"ghcr.io": true}

// action is one run of the step.
type action struct {
	gha    *githubactions.Action
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
	now    func() time.Time
	random io.Reader // for the outputs delimiter
	out    *outputs
	// summary is the job summary's Markdown, written at the end.
	summary []*table
	in      inputs
	mu      sync.Mutex // serialises debug lines
}

func newAction(getenv func(string) string, stdout, stderr io.Writer) *action {
	return &action{
		gha:    githubactions.New(githubactions.WithWriter(logTo(getenv, stdout, stderr)), githubactions.WithGetenv(getenv)),
		getenv: getenv,
		stdout: stdout,
		stderr: stderr,
		now:    time.Now,
		random: rand.Reader,
		out:    newOutputs(),
	}
}

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "--version", "version":
			fmt.Fprintln(stdout, "referrers-action", version)
			return exitOK
		default:
			fmt.Fprintf(stderr, "referrers-action takes no arguments (got %s): it reads the step's inputs from INPUT_* variables.\nFor other CI systems, use the referrers command line.\n", display.Text(fmt.Sprintf("%q", args[0])))
			return exitError
		}
	}
	return newAction(getenv, stdout, stderr).run(ctx)
}

func (a *action) run(ctx context.Context) int {
	// Secrets are masked before anything else is written.
	for _, name := range []string{"password", "github-token"} {
		if v := input(a.getenv, name); v != "" {
			a.gha.AddMask(v)
		}
	}
	code := a.do(ctx)
	if err := a.finish(); err != nil {
		a.fail("referrers outputs", err)
		code = exitError
	}
	return code
}

// do runs the command and returns the exit code; outputs and the summary
// are collected for finish.
func (a *action) do(ctx context.Context) int {
	in, err := readInputs(a.getenv)
	if err != nil {
		a.fail("referrers inputs", err)
		return exitError
	}
	a.in = in
	ctx, cancel := in.withTimeout(ctx)
	defer cancel()
	err = in.explainTimeout(ctx, a.command(ctx))
	var nm notMet
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &nm) && !in.failOnMissing:
		a.gha.WithFieldsMap(map[string]string{"title": "referrers check"}).Warningf("%s (fail-on-missing is false: the step passes)", display.Text(err.Error()))
		return exitOK
	case errors.As(err, &nm):
		a.gha.WithFieldsMap(map[string]string{"title": "referrers check"}).Errorf("%s", display.Text(err.Error()))
		return exitNotMet
	default:
		a.fail("referrers "+in.command, err)
		return exitError
	}
}

// fail reports err as an error annotation with a title saying what failed.
// Like every message of the Action, it is rendered by package display: the
// error carries outside data, and go-githubactions escapes only '%', '\r' and
// '\n' of a message.
func (a *action) fail(title string, err error) {
	var ie inputError
	var he *registry.HTTPError
	switch {
	case errors.As(err, &ie), errors.Is(err, frontend.ErrInput):
		title = "referrers inputs"
	case errors.As(err, &he), errors.Is(err, registry.ErrAuth):
		title = "referrers registry"
	}
	a.gha.WithFieldsMap(map[string]string{"title": title}).Errorf("%s", display.Text(err.Error()))
}

// finish writes the outputs and the job summary.
func (a *action) finish() error {
	if a.in.summary && len(a.summary) > 0 && a.getenv("GITHUB_STEP_SUMMARY") != "" {
		var md strings.Builder
		budget := maxSummary
		for _, t := range a.summary {
			s := t.render(budget)
			budget -= len(s)
			md.WriteString(s)
		}
		if err := a.addSummary(md.String()); err != nil {
			a.gha.Warningf("job summary not written: %s", display.Text(err.Error()))
		}
	}
	if len(a.out.values) == 0 {
		return nil
	}
	if p := a.getenv("GITHUB_OUTPUT"); p != "" {
		return a.out.write(p, a.random)
	}
	// Not in GitHub Actions (a local run, another CI system): the outputs go
	// to stdout as JSON instead.
	return a.out.writeJSON(a.stdout)
}

// addSummary appends md to the job summary; go-githubactions panics when the
// file cannot be written, which here is an error.
func (a *action) addSummary(md string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	a.gha.AddStepSummary(md)
	return nil
}

// setOutput records an output; one that is too large is left out with a
// warning (the step has done its work; its full data is in the log).
func (a *action) setOutput(key, value string) {
	if err := a.out.set(key, value); err != nil {
		a.gha.Warningf("%s; it is left out", display.Text(err.Error()))
	}
}

func (a *action) command(ctx context.Context) error {
	in := a.in
	if in.command == "copy" {
		return a.copyCommand(ctx)
	}
	r, err := a.subjectRef()
	if err != nil {
		return err
	}
	mode, err := referrers.ParseMode(in.mode)
	if err != nil {
		return inputErrorf("input referrers-mode: %v", err)
	}
	// platform all (attach only: readInputs checked) keeps the index as the
	// subject; the verb picks its children
	all := in.platform == referrers.PlatformAll
	platform := in.platform
	if all {
		platform = ""
	} else if platform != "" {
		if _, err := referrers.ParsePlatform(platform); err != nil {
			return inputErrorf("input platform: %v, or %s (attach)", err, referrers.PlatformAll)
		}
	}
	var art referrers.Artifact
	if in.command == "attach" {
		// Files are read and hashed before the registry is contacted, so
		// that a typo in a path costs no request.
		if art, err = a.artifact(); err != nil {
			return err
		}
	}
	repo := a.repository(r)
	var subject ocispec.Descriptor
	if in.command == "attach" {
		subject, err = referrers.ResolveSubject(ctx, repo, r.Ref(), platform)
	} else {
		// list and check: a digest whose manifest is not there still has
		// referrers (they may be pushed first); attach needs the subject
		var missing bool
		subject, missing, err = referrers.ResolveListSubject(ctx, repo, r.Ref(), platform)
		if missing {
			a.gha.Infof("the subject manifest %s is not there; reading the referrers of its digest", display.Text(r.Repository+"@"+subject.Digest.String()))
		}
	}
	if err != nil {
		return a.explain(r, err)
	}
	a.setOutput("subject-digest", subject.Digest.String())
	switch {
	case in.command == "attach" && all:
		err = a.attachAll(ctx, r, repo, subject, art, mode)
	case in.command == "attach":
		err = a.attach(ctx, r, repo, subject, art, mode)
	case in.command == "list":
		err = a.list(ctx, r, repo, subject, mode)
	default:
		err = a.check(ctx, r, repo, subject, mode)
	}
	return a.explain(r, err)
}

// subjectRef parses the subject and subject-digest inputs.
func (a *action) subjectRef() (ref.Reference, error) {
	in := a.in
	if strings.HasPrefix(in.subject, "oci:") || strings.HasPrefix(in.subject, "static:") {
		return ref.Reference{}, inputErrorf("input subject %q: the action works on registries; for an on-disk tree, run the referrers command line", in.subject)
	}
	r, err := ref.Parse(in.subject)
	if err != nil {
		return r, inputErrorf("input subject: %v", err)
	}
	if in.subjectDigest != "" {
		d, err := ref.ParseDigest(in.subjectDigest)
		if err != nil {
			return r, inputErrorf("input subject-digest: %v", err)
		}
		if r.Digest != "" && r.Digest != d {
			return r, inputErrorf("input subject names digest %s but subject-digest is %s", r.Digest, d)
		}
		r = r.WithDigest(d)
	}
	if r.Tag == "" && r.Digest == "" {
		return r, inputErrorf("input subject %q has no tag or digest: give subject-digest (docker/build-push-action's digest output) or a tag", in.subject)
	}
	return r, nil
}

// repository builds the registry client with the credential chain: the
// username and password inputs; then the Docker config and containers
// auth.json files (where docker/login-action writes); then, for registries
// that take it, the github-token input. Every credential found is masked in
// the log before it is used.
func (a *action) repository(r ref.Reference) *registry.Repository {
	return a.client(r).Repository(r)
}

// debug reports whether the run has step debug logging on.
func (a *action) debug() bool { return a.getenv("RUNNER_DEBUG") == "1" }

// verbs returns the referrers client.
func (a *action) verbs() *referrers.Client {
	if a.debug() {
		return referrers.New(referrers.WithDebug(debugWriter{&a.mu, a.gha}))
	}
	return referrers.New()
}

// explain adds what the user can do about a refused credential.
func (a *action) explain(r ref.Reference, err error) error {
	var he *registry.HTTPError
	if errors.As(err, &he) && he.StatusCode == 401 || errors.Is(err, registry.ErrAuth) {
		how := "log in with docker/login-action before this step, or give the username and password inputs"
		if tokenHosts[r.Registry] {
			how += "; for the github-token, the job needs permissions: packages: write (attach) or packages: read"
		}
		return fmt.Errorf("%w (no credential for %s was accepted: %s)", err, r.Registry, how)
	}
	if err != nil && !a.in.plainHTTP && strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return fmt.Errorf("%w (for a registry without TLS, set plain-http: true)", err)
	}
	return err
}

func (a *action) artifact() (referrers.Artifact, error) {
	in := a.in
	if len(in.artifactTypes) == 0 {
		return referrers.Artifact{}, inputErrorf("input artifact-type is required for command attach (e.g. application/spdx+json)")
	}
	art, err := frontend.ArtifactSpec{
		ArtifactType:   in.artifactTypes[0],
		Files:          in.files,
		Annotations:    in.annotations,
		AnnotationFile: in.annotationFile,
		Created:        in.created,
		Names:          frontend.Names{ArtifactType: "input artifact-type", Created: "input created", Config: "config"},
	}.Build(a.getenv, a.now)
	if err != nil && !errors.Is(err, frontend.ErrInput) {
		err = inputError{err} // a file named in the inputs cannot be read
	}
	if err == nil {
		// An upload of progress.Threshold or more logs one line per quarter.
		progress.Artifact(&art, func(name string, total int64) *progress.Meter {
			return progress.New(infoLines{a}, progress.Quarters, name, total, a.now)
		})
	}
	return art, err
}

// infoLines writes each line it is given as an info line of the job log.
type infoLines struct{ a *action }

func (w infoLines) Write(p []byte) (int, error) {
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.a.gha.Infof("uploading %s", l)
	}
	return len(p), nil
}

// modeName describes how referrers are found or recorded.
func modeName(m referrers.Mode, tag string) string {
	if m == referrers.ModeTag {
		return "tag schema (" + tag + ")"
	}
	return "Referrers API"
}

// fallbackNotice says, once, that the registry has no Referrers API.
func (a *action) fallbackNotice(tag string, attached bool) {
	what := "referrers are read from"
	if attached {
		what = "the artifact is recorded in"
	}
	a.gha.WithFieldsMap(map[string]string{"title": "Referrers tag schema"}).Noticef(
		"The registry answered that it has no Referrers API, so %s the tag %s (distribution-spec v1.1, referrers tag schema). Registries that list tags show it, e.g. as a package version.", what, display.Text(tag))
}

func (a *action) warn(ws []string) {
	for _, w := range ws {
		a.gha.Warningf("%s", display.Text(w))
	}
}

func (a *action) attach(ctx context.Context, r ref.Reference, repo *registry.Repository, subject ocispec.Descriptor, art referrers.Artifact, mode referrers.Mode) error {
	res, err := a.verbs().Attach(ctx, repo, subject, art, referrers.AttachOptions{Mode: mode})
	a.warn(res.Warnings)
	if err != nil {
		return err
	}
	at := func(d digest.Digest) string {
		return ref.Reference{Registry: r.Registry, Repository: r.Repository, Digest: d}.String()
	}
	a.setOutput("digest", res.Descriptor.Digest.String())
	a.setOutput("reference", at(res.Descriptor.Digest))
	a.setOutput("mode", string(res.Mode))
	a.setOutput("fallback-tag", res.FallbackTag)
	if res.Mode == referrers.ModeTag && mode != referrers.ModeTag {
		a.fallbackNotice(res.FallbackTag, true)
	}
	// Infof writes its line as is: every value is rendered.
	a.gha.Infof("attached %s to %s via the %s", display.Text(res.Descriptor.Digest.String()), display.Text(subject.Digest.String()),
		display.Text(modeName(res.Mode, res.FallbackTag)))
	var total int64
	for _, l := range art.Layers {
		total += l.Descriptor.Size
	}
	a.summary = append(a.summary, &table{
		title:  "referrers attach",
		header: []string{"Subject", "Artifact", "artifactType", "Files", "Size", "Mode"},
		rows: [][]string{{at(subject.Digest), res.Descriptor.Digest.String(), art.ArtifactType,
			fmt.Sprint(len(art.Layers)), size(total), modeName(res.Mode, res.FallbackTag)}},
	})
	return nil
}

// attachAll is attach with platform all: the artifact is attached to each
// platform image manifest of the index subject (AttachOptions.AllPlatforms).
// The outputs digest and reference hold one line per child, in the index's
// order; mode is the first child's.
func (a *action) attachAll(ctx context.Context, r ref.Reference, repo *registry.Repository, subject ocispec.Descriptor, art referrers.Artifact, mode referrers.Mode) error {
	res, err := a.verbs().Attach(ctx, repo, subject, art, referrers.AttachOptions{Mode: mode, AllPlatforms: true})
	for _, s := range res.SkippedChildren {
		a.gha.Infof("platform %s: skipping %s", referrers.PlatformAll, display.Text(s.String()))
	}
	var pe *referrers.PlatformError
	if errors.As(err, &pe) {
		a.warn(pe.Result.Warnings)
	}
	at := func(d digest.Digest) string {
		return ref.Reference{Registry: r.Registry, Repository: r.Repository, Digest: d}.String()
	}
	var digests, references []string
	t := &table{
		title:  "referrers attach",
		header: []string{"Platform", "Subject", "Artifact", "artifactType", "Mode"},
	}
	noticed := false
	for _, c := range res.Platforms {
		a.warn(c.Warnings)
		digests = append(digests, c.Descriptor.Digest.String())
		references = append(references, at(c.Descriptor.Digest))
		if c.Mode == referrers.ModeTag && mode != referrers.ModeTag && !noticed {
			a.fallbackNotice(c.FallbackTag, true)
			noticed = true
		}
		a.gha.Infof("attached %s to %s (%s) via the %s", display.Text(c.Descriptor.Digest.String()), display.Text(c.Subject.Digest.String()),
			display.Text(c.Platform), display.Text(modeName(c.Mode, c.FallbackTag)))
		t.rows = append(t.rows, []string{c.Platform, at(c.Subject.Digest), c.Descriptor.Digest.String(), art.ArtifactType, modeName(c.Mode, c.FallbackTag)})
	}
	if len(res.Platforms) > 0 {
		a.setOutput("digest", strings.Join(digests, "\n"))
		a.setOutput("reference", strings.Join(references, "\n"))
		a.setOutput("mode", string(res.Platforms[0].Mode))
		a.summary = append(a.summary, t)
	}
	switch {
	case errors.Is(err, referrers.ErrNotIndex):
		return inputErrorf("input platform %s: %s is a single manifest (%s), not an index; attach to it without platform",
			referrers.PlatformAll, r.WithDigest(subject.Digest), subject.MediaType)
	case err != nil:
		return fmt.Errorf("platform %s: %w", referrers.PlatformAll, err)
	}
	return nil
}

// listed lists the subject's referrers and sets the outputs list and check
// share.
func (a *action) listed(ctx context.Context, repo *registry.Repository, subject ocispec.Descriptor, opts referrers.ListOptions) (referrers.ListResult, string, error) {
	res, err := a.verbs().List(ctx, repo, subject, opts)
	a.warn(res.Warnings)
	for _, ch := range res.Children {
		for _, w := range ch.Warnings {
			a.gha.Warningf("child %s %s: %s", display.Text(ch.Platform), display.Text(ch.Descriptor.Digest.String()), display.Text(w))
		}
	}
	if err != nil {
		return res, "", err
	}
	idx := res.Index()
	tag := ""
	if res.Mode == referrers.ModeTag {
		tag = referrers.FallbackTag(subject.Digest)
		if opts.Mode != referrers.ModeTag {
			a.fallbackNotice(tag, false)
		}
	}
	a.setOutput("referrers", compact(idx))
	a.setOutput("count", fmt.Sprint(len(idx.Manifests)))
	a.setOutput("mode", string(res.Mode))
	a.setOutput("fallback-tag", tag)
	if len(res.Children) > 0 {
		a.setOutput("children", compact(res.Children))
	}
	for _, ch := range res.Children {
		a.gha.Infof("child %s %s: %s", display.Text(ch.Platform), display.Text(ch.Descriptor.Digest.String()), referrersCount(len(ch.Referrers)))
	}
	return res, modeName(res.Mode, tag), nil
}

func (a *action) list(ctx context.Context, r ref.Reference, repo *registry.Repository, subject ocispec.Descriptor, mode referrers.Mode) error {
	in := a.in
	res, how, err := a.listed(ctx, repo, subject, referrers.ListOptions{Mode: mode, ArtifactTypes: in.artifactTypes,
		SortAnnotation: in.sortAnnotation, Latest: in.latest, IncludeChildren: in.includeChildren})
	if err != nil {
		return err
	}
	entries := res.Index().Manifests
	if in.includeChildren && !referrers.IsIndex(subject.MediaType) {
		a.gha.Infof("%s is not known to be an index (%s): include-children has no children to list",
			display.Text(subject.Digest.String()), display.Text(orNone(subject.MediaType)))
	}
	a.gha.Infof("%s of %s, found via the %s", referrersCount(len(entries)), display.Text(subject.Digest.String()), display.Text(how))
	t := &table{
		title:  "referrers list",
		header: []string{"Referrer", "artifactType", "Size", "Created"},
		notes:  []string{"Subject: " + cell(r.WithDigest(subject.Digest).String()) + " — " + referrersCount(len(entries)) + ", found via the " + cell(how)},
	}
	for _, d := range entries {
		t.rows = append(t.rows, []string{d.Digest.String(), d.ArtifactType, size(d.Size), d.Annotations[ocispec.AnnotationCreated]})
	}
	a.summary = append(a.summary, t)
	for _, ch := range res.Children {
		ct := &table{
			title:  "referrers list: child " + ch.Platform,
			header: t.header,
			notes:  []string{"Child: " + cell(r.WithDigest(ch.Descriptor.Digest).String()) + " — " + referrersCount(len(ch.Referrers))},
		}
		for _, n := range ch.Referrers {
			d := n.Descriptor
			ct.rows = append(ct.rows, []string{d.Digest.String(), d.ArtifactType, size(d.Size), d.Annotations[ocispec.AnnotationCreated]})
		}
		a.summary = append(a.summary, ct)
	}
	return nil
}

// orNone is s, or "no manifest" when it is empty (a subject whose manifest
// is not there).
func orNone(s string) string {
	if s == "" {
		return "no manifest"
	}
	return s
}

// notMet is check's verdict "requirements not met".
type notMet struct{ error }

func (n notMet) Unwrap() error { return n.error }

func (a *action) check(ctx context.Context, r ref.Reference, repo *registry.Repository, subject ocispec.Descriptor, mode referrers.Mode) error {
	in := a.in
	ann := map[string]string{}
	for _, s := range in.requireAnn {
		k, v, err := referrers.ParseAnnotation(s)
		if err != nil {
			return inputErrorf("input require-annotations: %v", err)
		}
		ann[k] = v
	}
	var p policy.Policy
	for _, t := range in.require {
		p.Require = append(p.Require, policy.Requirement{ArtifactType: t, Annotations: ann, Min: in.min})
	}
	if err := p.Validate(); err != nil {
		return inputErrorf("input require: %v", err)
	}
	res, how, err := a.listed(ctx, repo, subject, referrers.ListOptions{Mode: mode})
	if err != nil {
		return err // an error is never a verdict
	}
	verdict := policy.Evaluate(subject, res.Index().Manifests, p)
	a.setOutput("result", compact(verdict))
	t := &table{
		title:  "referrers check",
		header: []string{"Required artifactType", "Found", "Min", "Result"},
		notes:  []string{"Subject: " + cell(r.WithDigest(subject.Digest).String()) + " — referrers found via the " + cell(how)},
	}
	var missing []string
	for _, o := range verdict.Requirements {
		res := "✅ met"
		if !o.Pass {
			res = "❌ missing"
			missing = append(missing, fmt.Sprintf("%s (%d of %d)", o.ArtifactType, o.Found, max(o.Min, 1)))
		}
		t.rows = append(t.rows, []string{o.ArtifactType, fmt.Sprint(o.Found), fmt.Sprint(max(o.Min, 1)), res})
	}
	a.summary = append(a.summary, t)
	if !verdict.Pass {
		return notMet{fmt.Errorf("%w for %s: missing %s", policy.ErrNotMet, subject.Digest, strings.Join(missing, ", "))}
	}
	a.gha.Infof("requirements met for %s (%d required artifact types, found via the %s)", display.Text(subject.Digest.String()), len(p.Require), display.Text(how))
	return nil
}

func referrersCount(n int) string {
	if n == 1 {
		return "1 referrer"
	}
	return fmt.Sprintf("%d referrers", n)
}

// compact is v as compact JSON (an output read with fromJSON).
func compact(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return ""
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// maskStore masks every secret of the credentials it hands out.
type maskStore struct {
	credential.Store
	gha *githubactions.Action
}

func (m maskStore) Get(ctx context.Context, host string) (credential.Credential, error) {
	c, err := m.Store.Get(ctx, host)
	for _, s := range []string{c.Password, c.IdentityToken, c.RegistryToken} {
		if s != "" {
			m.gha.AddMask(s)
		}
	}
	return c, err
}

// debugWriter turns the client's debug trace into ::debug:: lines (shown
// when the run has step debug logging on), each rendered by package display
// (the trace carries registry data).
type debugWriter struct {
	mu  *sync.Mutex
	gha *githubactions.Action
}

func (d debugWriter) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, l := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		d.gha.Debugf("%s", display.Text(l))
	}
	return len(p), nil
}
