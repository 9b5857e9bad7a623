package referrers

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/registry"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// graph is a subject with referrers at two levels, in testRepo of a fake:
// an SBOM and a signature of the subject, a signature of the SBOM.
type graph struct {
	subject       ocispec.Descriptor
	sbom, sig     ocispec.Descriptor
	sbomSig       ocispec.Descriptor
	childReferrer ocispec.Descriptor // of the first child, for an index subject
}

// seedGraph stores the graph through Attach (so that the source records it
// as a client would: by the API or the tag schema).
func seedGraph(t *testing.T, fake *fakeregistry.Registry, index bool) graph {
	t.Helper()
	ctx := ctxT(t)
	var g graph
	if index {
		g.subject = putIndex(t, fake, "v1")
	} else {
		g.subject = putImage(t, fake, "v1", "linux")
	}
	c := New(WithSettle(fastSettle))
	repo := repoOf(t, fake)
	at := func(s ocispec.Descriptor, typ, name string) ocispec.Descriptor {
		res, err := c.Attach(ctx, repo, s, artifact(typ, name, nil), AttachOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Descriptor
	}
	g.sbom = at(g.subject, typeSBOM, "sbom")
	g.sig = at(g.subject, typeSig, "sig")
	g.sbomSig = at(g.sbom, typeSig, "sbom-sig")
	if index {
		idx, err := fetchIndex(ctx, repo, g.subject)
		if err != nil {
			t.Fatal(err)
		}
		g.childReferrer = at(plain(idx.Manifests[0]), typeScan, "child-scan")
	}
	return g
}

// repoNamed is a fresh client's target for repository name in fake.
func repoNamed(t testing.TB, fake *fakeregistry.Registry, name string) *registry.Repository {
	t.Helper()
	r, err := ref.Parse(fake.Host() + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return registry.New(registry.WithPlainHTTP(true), registry.WithRetry(2, time.Millisecond, 10*time.Millisecond)).Repository(r)
}

// flat renders a listing as sorted "level digest" lines, children included.
func flat(res ListResult) []string {
	var out []string
	var walk func(prefix string, ns []*Node)
	walk = func(prefix string, ns []*Node) {
		for _, n := range ns {
			out = append(out, prefix+n.Descriptor.Digest.String()+" "+n.Descriptor.ArtifactType)
			walk(prefix+"  ", n.Referrers)
		}
	}
	walk("", res.Referrers)
	for _, ch := range res.Children {
		walk("child "+ch.Descriptor.Digest.String()+" ", ch.Referrers)
	}
	sort.Strings(out)
	return out
}

func listAll(t *testing.T, tg target.Target, subject ocispec.Descriptor) []string {
	t.Helper()
	res, err := New().List(ctxT(t), tg, subject, ListOptions{Depth: 8, IncludeChildren: true})
	if err != nil {
		t.Fatal(err)
	}
	return flat(res)
}

var (
	modeAPI = fakeregistry.Mode{}
	modeTag = fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, ETag: fakeregistry.ETagIgnored}
)

// TestCopy copies a graph between registries with and without the
// Referrers API, an image and an index subject: the destination lists the
// same graph as the source, recorded as the destination can; a second copy
// pushes nothing.
func TestCopy(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		src, dst fakeregistry.Mode
		index    bool
		wantMode Mode
	}{
		{"API to tag schema", modeAPI, modeTag, false, ModeTag},
		{"tag schema to API", modeTag, modeAPI, false, ModeAPI},
		{"API to API", modeAPI, modeAPI, false, ModeAPI},
		{"tag schema to tag schema, index", modeTag, modeTag, true, ModeTag},
		{"API to tag schema, index", modeAPI, modeTag, true, ModeTag},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			srcFake, dstFake := fakeregistry.New(t, tc.src), fakeregistry.New(t, tc.dst)
			g := seedGraph(t, srcFake, tc.index)
			src, dst := repoOf(t, srcFake), repoNamed(t, dstFake, "promoted")
			c := New(WithSettle(fastSettle))
			res, err := c.Copy(ctx, src, dst, g.subject, CopyOptions{Tag: "v1"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Mode != tc.wantMode {
				t.Errorf("mode %s, want %s", res.Mode, tc.wantMode)
			}
			if res.NothingCopied() {
				t.Error("NothingCopied after a first copy")
			}
			if got, want := listAll(t, dst, g.subject), listAll(t, src, g.subject); !slices.Equal(got, want) {
				t.Errorf("destination lists\n%s\nsource lists\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			if d, err := dst.Resolve(ctx, "v1"); err != nil || d.Digest != g.subject.Digest {
				t.Errorf("dst v1 = %v, %v; want %s", d.Digest, err, g.subject.Digest)
			}
			wantRefs := 3
			if tc.index {
				wantRefs = 4
			}
			if got := res.Copied.Manifests; got < wantRefs+1 {
				t.Errorf("copied %d manifests, want at least %d", got, wantRefs+1)
			}

			dstFake.ResetRequests()
			again, err := New(WithSettle(fastSettle)).Copy(ctx, repoOf(t, srcFake), repoNamed(t, dstFake, "promoted"), g.subject, CopyOptions{Tag: "v1"})
			if err != nil {
				t.Fatal(err)
			}
			if !again.NothingCopied() {
				t.Errorf("second copy: copied %+v, mounted %+v, recorded %d; want nothing", again.Copied, again.Mounted, again.Recorded)
			}
			for _, q := range dstFake.Requests() {
				if q.Method != http.MethodGet && q.Method != http.MethodHead {
					t.Errorf("second copy sent %s %s", q.Method, q.Path)
				}
			}
		})
	}
}

// TestCopyFilterAndDepth: ArtifactTypes filters the subject's referrers
// (their own referrers come whole), Depth bounds the levels.
func TestCopyFilterAndDepth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts CopyOptions
		want func(g graph) []digest.Digest
	}{
		{"all", CopyOptions{}, func(g graph) []digest.Digest { return []digest.Digest{g.sbom.Digest, g.sig.Digest, g.sbomSig.Digest} }},
		{"depth 1", CopyOptions{Depth: 1}, func(g graph) []digest.Digest { return []digest.Digest{g.sbom.Digest, g.sig.Digest} }},
		{"sbom and its signature", CopyOptions{ArtifactTypes: []string{typeSBOM}}, func(g graph) []digest.Digest { return []digest.Digest{g.sbom.Digest, g.sbomSig.Digest} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srcFake, dstFake := fakeregistry.New(t, modeAPI), fakeregistry.New(t, modeTag)
			g := seedGraph(t, srcFake, false)
			dst := repoNamed(t, dstFake, "p")
			if _, err := New(WithSettle(fastSettle)).Copy(ctxT(t), repoOf(t, srcFake), dst, g.subject, tc.opts); err != nil {
				t.Fatal(err)
			}
			res, err := New().List(ctxT(t), dst, g.subject, ListOptions{Depth: 8})
			if err != nil {
				t.Fatal(err)
			}
			var got []digest.Digest
			var walk func([]*Node)
			walk = func(ns []*Node) {
				for _, n := range ns {
					got = append(got, n.Descriptor.Digest)
					walk(n.Referrers)
				}
			}
			walk(res.Referrers)
			want := tc.want(g)
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

// TestCopyMount: on one registry, blobs are mounted, not moved.
func TestCopyMount(t *testing.T) {
	t.Parallel()
	fake := fakeregistry.New(t, modeAPI)
	g := seedGraph(t, fake, false)
	client := registry.New(registry.WithPlainHTTP(true))
	parse := func(s string) ref.Reference {
		r, err := ref.Parse(fake.Host() + "/" + s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	src, dst := client.Repository(parse(testRepo)), client.Repository(parse("other"))
	fake.ResetRequests()
	res, err := New().Copy(ctxT(t), src, dst, g.subject, CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Copied.Blobs != 0 || res.Mounted.Blobs == 0 {
		t.Errorf("copied %d blobs, mounted %d; want all mounted", res.Copied.Blobs, res.Mounted.Blobs)
	}
	for _, q := range fake.Requests() {
		if strings.Contains(q.Path, "/blobs/") && q.Method == http.MethodGet {
			t.Errorf("a mount read a blob: %s %s", q.Method, q.Path)
		}
	}
	if got, want := listAll(t, dst, g.subject), listAll(t, src, g.subject); !slices.Equal(got, want) {
		t.Errorf("destination lists %v, source %v", got, want)
	}
}

// TestCopyReferrersOnly: the subject must be at the destination; then only
// the referrers move.
func TestCopyReferrersOnly(t *testing.T) {
	t.Parallel()
	srcFake, dstFake := fakeregistry.New(t, modeAPI), fakeregistry.New(t, modeTag)
	g := seedGraph(t, srcFake, false)
	dst := repoNamed(t, dstFake, testRepo)
	_, err := New().Copy(ctxT(t), repoOf(t, srcFake), dst, g.subject, CopyOptions{ReferrersOnly: true})
	if !errors.Is(err, target.ErrNotFound) {
		t.Fatalf("copy onto a missing subject: %v, want ErrNotFound", err)
	}
	putImage(t, dstFake, "v1", "linux") // the same image: the same digest
	res, err := New(WithSettle(fastSettle)).Copy(ctxT(t), repoOf(t, srcFake), dst, g.subject, CopyOptions{ReferrersOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := listAll(t, dst, g.subject), listAll(t, repoOf(t, srcFake), g.subject); !slices.Equal(got, want) {
		t.Errorf("destination lists %v, source %v", got, want)
	}
	if res.Copied.Manifests != 3 {
		t.Errorf("copied %d manifests, want the 3 referrers", res.Copied.Manifests)
	}
}

// TestCopyPartialFailure: a copy that fails part way names what is at the
// destination and what is not, and the same copy again completes it.
func TestCopyPartialFailure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name         string
		dst          fakeregistry.Mode
		method, path string
	}{
		{"a referrer's manifest push", modeAPI, http.MethodPut, "/manifests/sha256:"},
		{"the tag schema update", modeTag, http.MethodPut, "/manifests/sha256-"},
		{"a blob upload", modeAPI, http.MethodPost, "/blobs/uploads/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srcFake, dstFake := fakeregistry.New(t, modeAPI), fakeregistry.New(t, tc.dst)
			g := seedGraph(t, srcFake, false)
			// the subject goes first: fail after it
			if _, err := New().Copy(ctxT(t), repoOf(t, srcFake), repoNamed(t, dstFake, "p"), g.subject, CopyOptions{Depth: -1}); err != nil {
				t.Fatal(err)
			}
			dstFake.FailNext(tc.method, tc.path, http.StatusForbidden, 1)
			_, err := New(WithSettle(fastSettle)).Copy(ctxT(t), repoOf(t, srcFake), repoNamed(t, dstFake, "p"), g.subject, CopyOptions{})
			var ce *CopyError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *CopyError", err)
			}
			if len(ce.Pending) == 0 || !slices.ContainsFunc(ce.Done, func(d ocispec.Descriptor) bool { return d.Digest == g.subject.Digest }) {
				t.Errorf("done %v, pending %v: want the subject done and something pending", ce.Done, ce.Pending)
			}
			if !strings.Contains(err.Error(), "run it again") {
				t.Errorf("error %q does not say to run again", err)
			}
			res, err := New(WithSettle(fastSettle)).Copy(ctxT(t), repoOf(t, srcFake), repoNamed(t, dstFake, "p"), g.subject, CopyOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if res.NothingCopied() {
				t.Error("the rerun copied nothing")
			}
			if got, want := listAll(t, repoNamed(t, dstFake, "p"), g.subject), listAll(t, repoOf(t, srcFake), g.subject); !slices.Equal(got, want) {
				t.Errorf("destination lists %v, source %v", got, want)
			}
		})
	}
}

// TestCopyConcurrentWithAttach: copies and attaches onto one subject of a
// registry without the Referrers API at once; every referrer is listed.
func TestCopyConcurrentWithAttach(t *testing.T) {
	t.Parallel()
	const n = 6
	dstFake := fakeregistry.New(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, ETag: fakeregistry.ETagIgnored, Latency: time.Millisecond})
	subject := putImage(t, dstFake, "v1", "linux")
	ctx := ctxT(t)
	var want []digest.Digest
	srcs := make([]*fakeregistry.Registry, n)
	for i := range n {
		srcs[i] = fakeregistry.New(t, modeAPI)
		putImage(t, srcs[i], "v1", "linux")
		res, err := New().Attach(ctx, repoOf(t, srcs[i]), subject, artifact(typeSBOM, fmt.Sprintf("copied-%d", i), nil), AttachOptions{})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, res.Descriptor.Digest)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	attached := make([]digest.Digest, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = New().Copy(ctx, repoOf(t, srcs[i]), repoOf(t, dstFake), subject, CopyOptions{})
		})
		wg.Go(func() {
			res, err := New().Attach(ctx, repoOf(t, dstFake), subject, artifact(typeSig, fmt.Sprintf("attached-%d", i), nil), AttachOptions{})
			errs[n+i], attached[i] = err, res.Descriptor.Digest
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}
	want = append(want, attached...)
	res, err := New().List(ctx, repoOf(t, dstFake), subject, ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[digest.Digest]bool{}
	for _, n := range res.Referrers {
		got[n.Descriptor.Digest] = true
	}
	for _, d := range want {
		if !got[d] {
			t.Errorf("lost %s", d)
		}
	}
}
