package referrers

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

func TestFallbackTag(t *testing.T) {
	t.Parallel()
	hex64 := strings.Repeat("0123456789abcdef", 4)
	hex128 := strings.Repeat("fedcba9876543210", 8)
	for _, tc := range []struct {
		name string
		in   digest.Digest
		want string
	}{
		// distribution-spec v1.1.1, Referrers Tag Schema: v1.1.1 and main agree for sha256
		{"sha256", digest.Digest("sha256:" + hex64), "sha256-" + hex64},
		// distribution-spec v1.1.1, Referrers Tag Schema: main's table maps sha512 to the first 64 hex characters
		{"sha512 truncated to 64", digest.Digest("sha512:" + hex128), "sha512-" + hex128[:64]},
		{"sha512 of real content", digest.SHA512.FromString("x"), "sha512-" + digest.SHA512.FromString("x").Encoded()[:64]},
		// distribution-spec v1.1.1, Referrers Tag Schema: algorithm truncated to 32, '+' (legal in an algorithm,
		// not in a tag) replaced by '-'
		{
			"long algorithm with separators",
			digest.Digest("alg+x" + strings.Repeat("y", 40) + ":" + hex128),
			"alg-x" + strings.Repeat("y", 27) + "-" + hex128[:64],
		},
		{"other separators", digest.Digest("a.b_c+d:" + hex64), "a.b_c-d-" + hex64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := FallbackTag(tc.in)
			if got != tc.want {
				t.Errorf("FallbackTag(%s) = %q, want %q", tc.in, got, tc.want)
			}
			if len(got) > 128 {
				t.Errorf("tag of %d characters, more than 128", len(got))
			}
			for i, c := range got {
				ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || (i > 0 && (c == '.' || c == '-'))
				if !ok {
					t.Errorf("tag %q: character %q at %d is not allowed in a tag", got, c, i)
				}
			}
		})
	}
}

func TestEntryFor(t *testing.T) {
	t.Parallel()
	d := digest.FromString("referrer")
	for _, tc := range []struct {
		name     string
		desc     ocispec.Descriptor
		manifest string
		want     ocispec.Descriptor
	}{
		{
			// distribution-spec v1.1.1, Referrers Tag Schema
			name:     "artifactType and all annotations",
			desc:     ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: 10},
			manifest: `{"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/x.a","config":{"mediaType":"application/vnd.oci.empty.v1+json"},"annotations":{"a":"1","org.opencontainers.image.created":"2020-01-01T00:00:00Z","z":""}}`,
			want: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: 10, ArtifactType: "application/x.a",
				Annotations: map[string]string{"a": "1", "org.opencontainers.image.created": "2020-01-01T00:00:00Z", "z": ""}},
		},
		{
			// distribution-spec v1.1.1, Referrers Tag Schema: no artifactType: the config's media type
			name:     "config media type",
			desc:     ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: 10},
			manifest: `{"config":{"mediaType":"application/x.cfg"}}`,
			want:     ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d, Size: 10, ArtifactType: "application/x.cfg"},
		},
		{
			// distribution-spec v1.1.1, Referrers Tag Schema and Listing Referrers: an index without artifactType has none
			name:     "index without artifactType",
			desc:     ocispec.Descriptor{Digest: d, Size: 10},
			manifest: `{"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`,
			want:     ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: d, Size: 10},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := EntryFor(tc.desc, []byte(tc.manifest))
			if err != nil {
				t.Fatal(err)
			}
			if g, w := string(mustJSON(t, got)), string(mustJSON(t, tc.want)); g != w {
				t.Errorf("EntryFor =\n%s\nwant\n%s", g, w)
			}
		})
	}
	if _, err := EntryFor(ocispec.Descriptor{Digest: d}, []byte("not json")); err == nil {
		t.Error("EntryFor of garbage: no error")
	}
}

func TestMerge(t *testing.T) {
	t.Parallel()
	a := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("a"), Size: 1}
	b := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("b"), Size: 2}
	corrupt := a
	corrupt.Size = 99
	for _, tc := range []struct {
		name        string
		start       []ocispec.Descriptor
		add         ocispec.Descriptor
		wantChanged bool
		want        []ocispec.Descriptor
	}{
		{"into empty", nil, a, true, []ocispec.Descriptor{a}},
		{"append", []ocispec.Descriptor{a}, b, true, []ocispec.Descriptor{a, b}},
		{"duplicate is no change (distribution-spec v1.1.1, Referrers Tag Schema)", []ocispec.Descriptor{a, b}, a, false, []ocispec.Descriptor{a, b}},
		{"same digest, other size replaces the corrupt entry (distribution-spec v1.1.1, Referrers Tag Schema)", []ocispec.Descriptor{corrupt, b}, a, true, []ocispec.Descriptor{a, b}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			idx := emptyIndex()
			idx.Manifests = append(idx.Manifests, tc.start...)
			if got := merge(&idx, tc.add); got != tc.wantChanged {
				t.Errorf("changed = %v, want %v", got, tc.wantChanged)
			}
			if g, w := string(mustJSON(t, idx.Manifests)), string(mustJSON(t, tc.want)); g != w {
				t.Errorf("manifests = %s, want %s", g, w)
			}
		})
	}
}

// TestEncodeIndexDeterministic: the same set of referrers always makes the
// same bytes, whatever order they were merged in.
func TestEncodeIndexDeterministic(t *testing.T) {
	t.Parallel()
	a := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("a"), Size: 1}
	b := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("b"), Size: 2}
	i1, i2 := emptyIndex(), emptyIndex()
	merge(&i1, a)
	merge(&i1, b)
	merge(&i2, b)
	merge(&i2, a)
	b1, d1, err := encodeIndex(i1)
	if err != nil {
		t.Fatal(err)
	}
	b2, d2, err := encodeIndex(i2)
	if err != nil {
		t.Fatal(err)
	}
	if string(b1) != string(b2) || d1.Digest != d2.Digest {
		t.Errorf("order changes the index:\n%s\n%s", b1, b2)
	}
	if d1.MediaType != ocispec.MediaTypeImageIndex || d1.Size != int64(len(b1)) {
		t.Errorf("descriptor %+v", d1)
	}
}

// scriptedSleeps replaces c's sleeps: each sleep runs the next step (what
// other writers do while this one waits) and returns at once. rest runs the
// steps no sleep consumed.
type scriptedSleeps struct {
	steps []func()
	slept int
}

func (s *scriptedSleeps) install(c *Client) {
	c.sleep = func(ctx context.Context, d time.Duration) error {
		s.slept++
		if len(s.steps) > 0 {
			step := s.steps[0]
			s.steps = s.steps[1:]
			step()
		}
		return ctx.Err()
	}
}

func (s *scriptedSleeps) rest() {
	for _, step := range s.steps {
		step()
	}
	s.steps = nil
}

// TestFallbackSchedules scripts other writers around one Attach on registries
// whose conditions do not work (If-Match ignored; no ETag at all). Every
// simulated writer obeys the staleness guard: it pushes within the guard of
// its own read. A, the attach under test, must keep its entry (distribution-spec
// v1.1.1, Referrers Tag Schema).
//
// "stale writer": A reads {X} and pushes {X,A} (the If-Match probe is ignored
// and lands as a plain push); B, which read {X} before that, pushes {X,B}
// after it. A must not trust its push before it has settled.
//
// "entry found in another writer's push":
//
//  1. A reads {X}, pushes {X,A} and waits the guard.
//  2. B, which read {X} before A's push, pushes {X,B}: A's entry is gone.
//  3. A verifies, misses its entry, backs off.
//  4. E, which read {X,A} before B's push, pushes {X,A,E}.
//  5. A reads again and finds its entry, in E's push.
//  6. D, which read {X,B} after B's push and before E's, pushes {X,B,D}.
//
// E will merge its own entry again, but only A merges A's. So A must not trust
// the entry it found in E's push before it has waited and looked again.
func TestFallbackSchedules(t *testing.T) {
	t.Parallel()
	type entries struct{ a, b, d, e, x ocispec.Descriptor }
	schedules := []struct {
		name  string
		steps func(push func(...ocispec.Descriptor) func(), v entries) []func()
	}{
		{"stale writer", func(push func(...ocispec.Descriptor) func(), v entries) []func() {
			return []func(){push(v.x, v.b)}
		}},
		{"entry found in another writer's push", func(push func(...ocispec.Descriptor) func(), v entries) []func() {
			return []func(){
				push(v.x, v.b),      // 2. during A's settle wait
				push(v.x, v.a, v.e), // 4. during A's backoff
				push(v.x, v.b, v.d), // 6. while A looks again, or after it returned
			}
		}},
	}
	for _, sc := range schedules {
		for _, etag := range []struct {
			name string
			b    fakeregistry.ETagBehavior
		}{{"ETagIgnored", fakeregistry.ETagIgnored}, {"ETagNone", fakeregistry.ETagNone}} {
			t.Run(sc.name+"/"+etag.name, func(t *testing.T) {
				t.Parallel()
				w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, ETag: etag.b})
				other := func(name string) ocispec.Descriptor {
					return putReferrer(t, w.fake, w.subject, typeScan, name, nil)
				}
				v := entries{b: other("B"), d: other("D"), e: other("E"), x: other("X")}
				seedIndex(t, w.fake, w.subject.Digest, v.x)

				art := artifact(typeSig, "A", nil)
				data, desc, _, err := Pack(w.subject, art)
				if err != nil {
					t.Fatal(err)
				}
				if v.a, err = EntryFor(desc, data); err != nil {
					t.Fatal(err)
				}
				push := func(es ...ocispec.Descriptor) func() {
					return func() { seedIndex(t, w.fake, w.subject.Digest, es...) }
				}
				script := &scriptedSleeps{steps: sc.steps(push, v)}
				c := New() // the default guard: the steps run inside it
				script.install(c)
				res, err := c.Attach(ctxT(t), w.repo(t), w.subject, art, AttachOptions{})
				script.rest()
				if err != nil {
					t.Fatal(err)
				}
				if res.Mode != ModeTag {
					t.Fatalf("mode %s, want tag", res.Mode)
				}
				idx, _ := fallbackIndex(t, w.fake, w.subject.Digest)
				if !contains(idx, v.a.Digest) {
					t.Errorf("A's entry was lost: the index holds %v (Attach returned after %d sleeps)", digestsOf(idx), script.slept)
				}
			})
		}
	}
}

func digestsOf(idx ocispec.Index) []digest.Digest {
	out := make([]digest.Digest, len(idx.Manifests))
	for i, m := range idx.Manifests {
		out[i] = m.Digest
	}
	return out
}

// TestReadFallback covers the validation of what the tag holds (distribution-spec v1.1.1, Referrers Tag Schema,
// 35, 36).
func TestReadFallback(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
	ctx := ctxT(t)
	repo := w.repo(t)

	fb, err := readFallback(ctx, repo, w.subject.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if fb.exists || fb.index.SchemaVersion != 2 || fb.index.MediaType != ocispec.MediaTypeImageIndex || fb.index.Manifests == nil || len(fb.index.Manifests) != 0 {
		t.Errorf("missing tag: got %+v, want an empty index (distribution-spec v1.1.1, Referrers Tag Schema)", fb)
	}

	other := putImage(t, w.fake, "other", "plan9")
	w.fake.PutManifest(testRepo, FallbackTag(other.Digest), "", mustJSON(t, map[string]any{"schemaVersion": 2, "mediaType": ocispec.MediaTypeImageManifest, "config": ocispec.DescriptorEmptyJSON}))
	if _, err := readFallback(ctx, repo, other.Digest); !errors.Is(err, ErrFallbackInvalid) {
		t.Errorf("tag holding an image manifest: err = %v, want ErrFallbackInvalid (distribution-spec v1.1.1, Referrers Tag Schema)", err)
	}
}
