// Package faults checks the project's rule "never report no referrers / never
// lose an entry" when the network between the client and the registry fails.
//
// TestAttachThroughFaults starts distribution v3.1.2 (no Referrers API, If-Match
// ignored, so every attach takes the tag schema fallback with its plain pushes,
// staleness guard and settling wait) and puts a fault proxy in front of it.
// Driven by a seeded PCG (FAULT_SEED, logged), the proxy answers 503 to about
// 10% of the requests (some with Retry-After: 0 or 1), resets the connection
// before forwarding 5% and after the registry applied another 5% (a write
// happened, the client saw an error), and delays 10% by 20-200 ms. Four
// workers attach 100 distinct artifacts to one subject through the proxy, each
// attach with its own registry and referrers clients, like separate processes.
// Then, reading the registry directly in tag and auto mode, it proves that:
//
//   - no entry is lost: every attach that reported success is listed;
//   - no entry is listed twice, in the list or in the stored index;
//   - nothing else is listed: every entry is a manifest in the registry whose
//     subject is ours and whose org.example.id is one of the attempts;
//   - every failure is an error that names the operation, the registry and
//     repository, and the cause (the registry's answer or the network error),
//     not a bare "EOF" or "connection reset"; no attach hangs past 30 s.
//
// An attach that failed may still be listed (its tag push landed before the
// reset); those are counted and logged, not errors. A delay fault holds a push
// of the referrers tag after the registry applied it rather than before (see
// isTagWrite: a push held in flight beyond the other writers' settling wait is
// the documented limit of the unconditional fallback, not a network fault a
// client can survive).
//
// Replay a run with FAULT_SEED=<seed>; FAULT_TRACE=1 logs every request the
// proxy saw, by attach. On failure the test logs every request on the
// referrers tag with the entries each pushed index held.
package faults

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/registry"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

const (
	repoName     = "faults/app"
	subjectTag   = "v1"
	artifactType = "application/vnd.example.fault"
	payloadType  = "application/vnd.example.payload"
	idKey        = "org.example.id"

	attaches      = 100
	workers       = 4
	attachTimeout = 30 * time.Second
	// The registry client's retries: the CLI's 4 tries, with a first backoff
	// of 50 ms instead of 200 ms to keep the test short (the logic is the
	// same); a Retry-After of 1 s is still honoured.
	retryAttempts = 4
	retryBackoff  = 50 * time.Millisecond
	retryMaxWait  = 2 * time.Second
	// minSucceeded: below this the faults are too dense to prove anything.
	minSucceeded = 60
)

// attempt is the outcome of one attach.
type attempt struct {
	id   int
	want digest.Digest // the artifact's digest (attach is deterministic)
	got  digest.Digest // reported on success
	mode referrers.Mode
	err  error
	took time.Duration
}

func TestAttachThroughFaults(t *testing.T) {
	seed := faultSeed(t)
	reg := oracle.StartDistribution(t)
	ctx := context.Background()

	direct := directRepo(t, reg.Host)
	subject := pushSubject(t, ctx, direct)
	px := startProxy(t, reg.Host, seed, defaultMix)
	name := px.host + "/" + repoName // the target name every error should carry

	dir := t.TempDir()
	results := make([]attempt, attaches)
	for i := range results {
		results[i] = prepare(t, dir, subject, i)
	}

	ids := make(chan int)
	var wg sync.WaitGroup
	began := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				attachOne(ctx, px.host, dir, &results[id])
			}
		}()
	}
	for i := range attaches {
		ids <- i
	}
	close(ids)
	wg.Wait()
	elapsed := time.Since(began)

	// the attaches' own outcomes
	byDigest := map[digest.Digest]*attempt{}
	succeeded, failed, unclear := 0, 0, 0
	took := make([]time.Duration, 0, attaches)
	for i := range results {
		a := &results[i]
		byDigest[a.want] = a
		took = append(took, a.took)
		if a.err == nil {
			succeeded++
			if a.got != a.want {
				t.Errorf("attach %d: reported digest %s, want %s (the same inputs must give the same digest)", a.id, a.got, a.want)
			}
			if a.mode != referrers.ModeTag {
				t.Errorf("attach %d: mode %q, want %q on a registry without the Referrers API", a.id, a.mode, referrers.ModeTag)
			}
			continue
		}
		failed++
		msg := a.err.Error()
		t.Logf("attach %d failed after %s: %s", a.id, a.took.Round(time.Millisecond), msg)
		problem := ""
		switch {
		case errors.Is(a.err, context.DeadlineExceeded):
			problem = fmt.Sprintf("did not end within %s (a hang)", attachTimeout)
		case strings.TrimSpace(msg) == "":
			problem = "empty error message"
		case !strings.Contains(msg, name):
			problem = "the error does not name the registry and repository " + name
		case !saysWhat(msg, name):
			problem = "the error does not say which operation failed"
		case !saysWhy(msg):
			problem = "the error does not say why it failed (the registry's answer or the network error)"
		}
		if problem != "" {
			unclear++
			t.Errorf("attach %d: %s: %q", a.id, problem, msg)
		}
	}

	// what the registry holds, read directly
	tag := referrers.FallbackTag(subject.Digest)
	tagged, err := direct.FetchTagged(ctx, tag)
	if err != nil {
		t.Fatalf("read the referrers tag %s directly: %v", tag, err)
	}
	stored, err := target.DecodeIndex(tagged.Data)
	if err != nil {
		t.Fatalf("the referrers tag %s: %v", tag, err)
	}
	duplicates := 0
	seen := map[digest.Digest]bool{}
	for _, d := range stored.Manifests {
		if seen[d.Digest] {
			duplicates++
			t.Errorf("stored index %s lists %s twice", tag, d.Digest)
		}
		seen[d.Digest] = true
	}

	lost, failedListed := 0, 0
	var listed int
	for _, mode := range []referrers.Mode{referrers.ModeTag, referrers.ModeAuto} {
		res, err := referrers.New().List(ctx, direct, subject, referrers.ListOptions{Mode: mode})
		if err != nil {
			t.Fatalf("list in %s mode: %v", mode, err)
		}
		if res.Mode != referrers.ModeTag {
			t.Errorf("list in %s mode used %q, want %q", mode, res.Mode, referrers.ModeTag)
		}
		for _, w := range res.Warnings {
			t.Errorf("list in %s mode: warning %q", mode, w)
		}
		got := map[digest.Digest]bool{}
		for _, n := range res.Referrers {
			d := n.Descriptor
			if got[d.Digest] {
				duplicates++
				t.Errorf("list in %s mode: %s listed twice", mode, d.Digest)
			}
			got[d.Digest] = true
			if !seen[d.Digest] {
				t.Errorf("list in %s mode: %s is not in the stored index", mode, d.Digest)
			}
			checkEntry(t, ctx, direct, subject, d, byDigest, mode)
		}
		if len(got) != len(seen) {
			t.Errorf("list in %s mode: %d entries, the stored index has %d", mode, len(got), len(seen))
		}
		modeLost, modeFailedListed := 0, 0
		for i := range results {
			a := &results[i]
			switch {
			case a.err == nil && !got[a.want]:
				modeLost++
				t.Errorf("list in %s mode: attach %d reported success but %s is not listed (a lost entry)", mode, a.id, a.want)
			case a.err != nil && got[a.want]:
				modeFailedListed++
				if mode == referrers.ModeTag {
					t.Logf("attach %d reported failure but is listed (its write landed): %v", a.id, a.err)
				}
			}
		}
		if mode == referrers.ModeTag {
			lost, failedListed, listed = modeLost, modeFailedListed, len(got)
		}
	}

	total, counts := px.Counts()
	clarity := "clear errors"
	if unclear > 0 {
		clarity = fmt.Sprintf("%d unclear errors", unclear)
	}
	t.Logf("faults: %d attaches, %d succeeded, %d failed (%s), %d listed, %d lost, %d duplicate, %d failed-but-listed; "+
		"proxy: %d requests, %d 503, %d reset-before, %d reset-after, %d delayed; %s in all, attach p50 %s p90 %s max %s (seed %d)",
		attaches, succeeded, failed, clarity, listed, lost, duplicates, failedListed,
		total, counts[unavailable], counts[resetBefore], counts[resetAfter], counts[delay],
		elapsed.Round(time.Millisecond), quantile(took, 0.5), quantile(took, 0.9), quantile(took, 1), seed)

	if succeeded < minSucceeded {
		t.Errorf("only %d of %d attaches succeeded, want at least %d: the fault rates are too high to prove anything", succeeded, attaches, minSucceeded)
	}
	for k := unavailable; k < numKinds; k++ {
		if counts[k] == 0 {
			t.Errorf("the proxy never injected %s", k)
		}
	}
	if t.Failed() {
		logIndexPushes(t, px, tag)
	}
	if os.Getenv("FAULT_TRACE") != "" {
		logTrace(t, px)
	}
}

// quantile returns the q-quantile of ds, rounded to the millisecond.
func quantile(ds []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))].Round(time.Millisecond)
}

// logTrace logs every request the proxy saw (FAULT_TRACE=1), by attach.
func logTrace(t *testing.T, px *proxy) {
	t.Helper()
	evs := px.Events(func(event) bool { return true })
	sort.SliceStable(evs, func(i, j int) bool {
		if evs[i].who != evs[j].who {
			return evs[i].who < evs[j].who
		}
		return evs[i].start < evs[j].start
	})
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	t.Logf("every request (FAULT_TRACE):\n%s", b.String())
}

// why matches what a failure's cause looks like at the end of our errors: an
// HTTP status with its text, a network error, or one of the verbs' own.
var why = regexp.MustCompile(`: [1-5][0-9][0-9] [A-Z]|connection reset|EOF|broken pipe|closed network connection|connection refused|timeout|did not settle|not an image index`)

// saysWhy reports whether an error message carries the cause of the failure.
func saysWhy(msg string) bool { return why.MatchString(msg) }

// saysWhat reports whether an error message names the operation that failed
// on the repository name (HOST/REPO): our errors say "push blob D to NAME",
// "resolve NAME:TAG", "the referrers tag T was not updated", ...
func saysWhat(msg, name string) bool {
	n := regexp.QuoteMeta(name)
	return regexp.MustCompile(`\b(resolve|fetch|read|delete|list referrers of) ` + n +
		`|\b(push blob|check blob|fetch blob|push manifest) sha256:[0-9a-f]{64} (to|in|from) ` + n +
		`|referrers tag \S+ was not updated`).MatchString(msg)
}

// checkEntry checks that a listed descriptor is one of our attempts: a manifest
// in the registry, of our artifact type, whose subject is ours and whose
// annotation names an attempt with this very digest.
func checkEntry(t *testing.T, ctx context.Context, repo *registry.Repository, subject ocispec.Descriptor, d ocispec.Descriptor, byDigest map[digest.Digest]*attempt, mode referrers.Mode) {
	t.Helper()
	b, err := repo.FetchManifest(ctx, d)
	if err != nil {
		t.Errorf("list in %s mode: entry %s is not a manifest in the registry: %v", mode, d.Digest, err)
		return
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Errorf("list in %s mode: entry %s: %v", mode, d.Digest, err)
		return
	}
	if m.Subject == nil || m.Subject.Digest != subject.Digest {
		t.Errorf("list in %s mode: entry %s has subject %v, want %s", mode, d.Digest, m.Subject, subject.Digest)
	}
	if m.ArtifactType != artifactType || d.ArtifactType != artifactType {
		t.Errorf("list in %s mode: entry %s has artifact type %q (manifest %q), want %q", mode, d.Digest, d.ArtifactType, m.ArtifactType, artifactType)
	}
	id, err := strconv.Atoi(m.Annotations[idKey])
	a := byDigest[d.Digest]
	switch {
	case err != nil || id < 0 || id >= attaches:
		t.Errorf("list in %s mode: entry %s has %s=%q, not one of the %d attempts", mode, d.Digest, idKey, m.Annotations[idKey], attaches)
	case a == nil || a.id != id:
		t.Errorf("list in %s mode: entry %s claims attempt %d but is not its artifact", mode, d.Digest, id)
	case d.Annotations[idKey] != m.Annotations[idKey]:
		t.Errorf("list in %s mode: entry %s lists %s=%q, its manifest says %q", mode, d.Digest, idKey, d.Annotations[idKey], m.Annotations[idKey])
	}
}

// prepare writes attempt id's file and computes the digest its artifact will
// have.
func prepare(t *testing.T, dir string, subject ocispec.Descriptor, id int) attempt {
	t.Helper()
	p := filepath.Join(dir, fmt.Sprintf("fault-%03d.json", id))
	if err := os.WriteFile(p, []byte(fmt.Sprintf("{\"attempt\":%d}\n", id)), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := artifactOf(dir, id)
	if err != nil {
		t.Fatal(err)
	}
	_, desc, _, err := referrers.Pack(subject, a)
	if err != nil {
		t.Fatal(err)
	}
	return attempt{id: id, want: desc.Digest}
}

// artifactOf is attempt id's artifact: one file, and its id as annotation.
func artifactOf(dir string, id int) (referrers.Artifact, error) {
	f, err := referrers.FileBlob(filepath.Join(dir, fmt.Sprintf("fault-%03d.json", id)), payloadType)
	if err != nil {
		return referrers.Artifact{}, err
	}
	return referrers.Artifact{
		ArtifactType: artifactType,
		Layers:       []referrers.Blob{f},
		Annotations:  map[string]string{idKey: strconv.Itoa(id)},
	}, nil
}

// attachOne runs one attach through the proxy as a separate process would:
// its own registry and referrers clients (no shared connections, tokens,
// capability cache or lock), resolving the subject by tag first.
func attachOne(ctx context.Context, host, dir string, a *attempt) {
	began := time.Now()
	defer func() { a.took = time.Since(began) }()
	ctx, cancel := context.WithTimeout(ctx, attachTimeout)
	defer cancel()

	tr := http.DefaultTransport.(*http.Transport).Clone()
	defer tr.CloseIdleConnections()
	rc := registry.New(
		registry.WithHTTPClient(&http.Client{Transport: tr}),
		registry.WithPlainHTTP(true),
		registry.WithUserAgent(fmt.Sprintf("attach-%03d", a.id)),
		registry.WithRetry(retryAttempts, retryBackoff, retryMaxWait),
	)
	r, err := ref.Parse(host + "/" + repoName + ":" + subjectTag)
	if err != nil {
		a.err = err
		return
	}
	repo := rc.Repository(r)
	subject, err := referrers.ResolveSubject(ctx, repo, r.Ref(), "")
	if err != nil {
		a.err = err
		return
	}
	art, err := artifactOf(dir, a.id)
	if err != nil {
		a.err = err
		return
	}
	res, err := referrers.New().Attach(ctx, repo, subject, art, referrers.AttachOptions{Mode: referrers.ModeAuto})
	a.got, a.mode, a.err = res.Descriptor.Digest, res.Mode, err
}

// directRepo is a client of the registry itself, not through the proxy.
func directRepo(t *testing.T, host string) *registry.Repository {
	t.Helper()
	r, err := ref.Parse(host + "/" + repoName + ":" + subjectTag)
	if err != nil {
		t.Fatal(err)
	}
	return registry.New(registry.WithPlainHTTP(true)).Repository(r)
}

// pushSubject pushes a small image (config, one layer, manifest) under
// subjectTag, directly, and returns its descriptor.
func pushSubject(t *testing.T, ctx context.Context, repo *registry.Repository) ocispec.Descriptor {
	t.Helper()
	cfg := referrers.BytesBlob(ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	layer := referrers.BytesBlob(ocispec.MediaTypeImageLayer, []byte("the subject's only layer"))
	for _, b := range []referrers.Blob{cfg, layer} {
		rc, err := b.Open()
		if err != nil {
			t.Fatal(err)
		}
		err = repo.PushBlob(ctx, b.Descriptor, rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	m := ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    cfg.Descriptor,
		Layers:    []ocispec.Descriptor{layer.Descriptor},
	}
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(data), Size: int64(len(data))}
	if _, err := repo.PushManifest(ctx, desc, data, target.PushOptions{Tag: subjectTag}); err != nil {
		t.Fatal(err)
	}
	got, err := repo.Resolve(ctx, subjectTag)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != desc.Digest || got.Size != desc.Size {
		t.Fatalf("subject resolves to %v, pushed %v", got, desc)
	}
	return desc
}

// logIndexPushes logs, when the test failed, every request that touched the
// referrers tag, in the order they ended, with the ids each pushed index held:
// enough to see which push dropped which entry.
func logIndexPushes(t *testing.T, px *proxy, tag string) {
	t.Helper()
	evs := px.Events(func(e event) bool { return strings.HasSuffix(e.path, "/manifests/"+tag) })
	sort.Slice(evs, func(i, j int) bool { return evs[i].end < evs[j].end })
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	t.Logf("requests on the referrers tag %s (start, duration, seq, fault, method, path, attach):\n%s", tag, b.String())
}
