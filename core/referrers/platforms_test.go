package referrers

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// TestPlatformChildren checks which children of an index AllPlatforms
// attaches to.
func TestPlatformChildren(t *testing.T) {
	t.Parallel()
	d := func(s string) digest.Digest { return digest.FromString(s) }
	desc := func(name, mediaType string, p *ocispec.Platform, ann map[string]string) ocispec.Descriptor {
		return ocispec.Descriptor{MediaType: mediaType, Digest: d(name), Size: 1, Platform: p, Annotations: ann}
	}
	amd := &ocispec.Platform{OS: "linux", Architecture: "amd64"}
	idx := ocispec.Index{Manifests: []ocispec.Descriptor{
		desc("amd", ocispec.MediaTypeImageManifest, amd, map[string]string{"k": "v"}),
		desc("docker", "application/vnd.docker.distribution.manifest.v2+json", &ocispec.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, nil),
		desc("windows", ocispec.MediaTypeImageManifest, &ocispec.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.1"}, nil),
		desc("attestation", ocispec.MediaTypeImageManifest, &ocispec.Platform{OS: "unknown", Architecture: "unknown"},
			map[string]string{"vnd.docker.reference.type": "attestation-manifest"}),
		desc("attestation annotation", ocispec.MediaTypeImageManifest, amd, map[string]string{"vnd.docker.reference.type": "attestation-manifest"}),
		desc("nested", ocispec.MediaTypeImageIndex, amd, nil),
		desc("nested docker", "application/vnd.docker.distribution.manifest.list.v2+json", amd, nil),
		desc("no platform", ocispec.MediaTypeImageManifest, nil, nil),
		desc("no arch", ocispec.MediaTypeImageManifest, &ocispec.Platform{OS: "linux"}, nil),
		desc("other", "application/vnd.example+json", amd, nil),
	}}
	children, skipped := PlatformChildren(idx)
	var got []string
	for _, c := range children {
		if c.Descriptor.Platform != nil || c.Descriptor.Annotations != nil {
			t.Errorf("%s: the subject descriptor keeps %+v", c.Platform, c.Descriptor)
		}
		got = append(got, c.Platform+" "+c.Descriptor.MediaType+" "+c.Descriptor.Digest.String())
	}
	want := []string{
		"linux/amd64 " + ocispec.MediaTypeImageManifest + " " + d("amd").String(),
		"linux/arm/v7 application/vnd.docker.distribution.manifest.v2+json " + d("docker").String(),
		"windows/amd64 " + ocispec.MediaTypeImageManifest + " " + d("windows").String(),
	}
	if !slices.Equal(got, want) {
		t.Errorf("children:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantSkipped := []string{
		d("attestation").String() + ", an attestation manifest (platform unknown/unknown)",
		d("attestation annotation").String() + ", an attestation manifest (vnd.docker.reference.type)",
		d("nested").String() + ", an index: --platform all does not descend into nested indexes",
		d("nested docker").String() + ", an index: --platform all does not descend into nested indexes",
		d("no platform").String() + ", without a platform",
		d("no arch").String() + ", without a platform",
		d("other").String() + `, media type "application/vnd.example+json", not an image manifest`,
	}
	var gotSkipped []string
	for _, s := range skipped {
		gotSkipped = append(gotSkipped, s.String())
	}
	if !slices.Equal(gotSkipped, wantSkipped) {
		t.Errorf("skipped:\n%s\nwant:\n%s", strings.Join(gotSkipped, "\n"), strings.Join(wantSkipped, "\n"))
	}
}

// TestAttachAllPlatforms attaches one artifact with AllPlatforms to a
// two-platform index: each child gets its own referrer, in the index's order,
// the hooks see each child, and each blob is uploaded once (the second child
// finds it there): the request counts of the old front-end loop.
func TestAttachAllPlatforms(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mode fakeregistry.Mode
		want Mode
	}{
		{"API", fakeregistry.Mode{}, ModeAPI},
		{"tag schema", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText}, ModeTag},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.mode)
			index := putIndex(t, w.fake, "multi")
			repo := w.repo(t)
			var before []string
			var after []int
			w.fake.ResetRequests()
			res, err := New(WithSettle(fastSettle)).Attach(ctxT(t), repo, index, artifact(typeSBOM, "sbom", nil), AttachOptions{
				AllPlatforms: true,
				BeforePlatforms: func(children []PlatformChild) error {
					for _, ch := range children {
						before = append(before, ch.Platform)
					}
					return nil
				},
				AfterPlatform: func(i int, _ AttachResult) error { after = append(after, i); return nil },
			})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := before, []string{"linux/amd64", "linux/arm64/v8"}; !slices.Equal(got, want) {
				t.Errorf("BeforePlatforms saw %q, want %q", got, want)
			}
			if !slices.Equal(after, []int{0, 1}) {
				t.Errorf("AfterPlatform saw %v, want [0 1]", after)
			}
			if res.Subject.Digest != index.Digest || res.Descriptor.Digest != "" || len(res.SkippedChildren) != 0 {
				t.Errorf("result %+v, want only the index as subject", res)
			}
			if len(res.Platforms) != 2 {
				t.Fatalf("%d results, want 2", len(res.Platforms))
			}
			var blobs []digest.Digest
			for i, r := range res.Platforms {
				if r.Platform != before[i] || r.Mode != tc.want || r.Subject.Platform != nil {
					t.Errorf("result %d: platform %q, mode %q, subject %+v", i, r.Platform, r.Mode, r.Subject)
				}
				var m ocispec.Manifest
				if err := jsonUnmarshal(r.Manifest, &m); err != nil {
					t.Fatal(err)
				}
				if m.Subject == nil || m.Subject.Digest != r.Subject.Digest {
					t.Errorf("result %d: manifest subject %+v, want %s", i, m.Subject, r.Subject.Digest)
				}
				blobs = append(blobs, m.Config.Digest, m.Layers[0].Digest)
				got, err := New().List(ctxT(t), repo, r.Subject, ListOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if d := digests(got.Referrers); len(d) != 1 || d[0] != r.Descriptor.Digest {
					t.Errorf("child %s lists %v, want %s", r.Platform, d, r.Descriptor.Digest)
				}
			}
			if !slices.Equal(blobs[:2], blobs[2:]) {
				t.Errorf("blobs %v, want the same for both children", blobs)
			}
			if n := len(requestsMatching(w.fake, http.MethodPost, "/blobs/uploads/")); n != 2 {
				t.Errorf("%d upload sessions, want 2 (the config and the file, once)", n)
			}
			for _, b := range blobs[:2] {
				if n := len(requestsMatching(w.fake, http.MethodHead, b.String())); n != 2 {
					t.Errorf("blob %s: %d HEADs, want one per child", b, n)
				}
			}
			idx, _ := New().List(ctxT(t), repo, index, ListOptions{})
			if len(idx.Referrers) != 0 {
				t.Errorf("the index has referrers %v", digests(idx.Referrers))
			}
		})
	}
}

// TestAttachAllPlatformsErrors: a subject that is not an index, an index
// without platform children and a BeforePlatforms that refuses push
// nothing; a child that fails stops the attach with a *PlatformError saying
// which children were not tried, the ones before it attached.
func TestAttachAllPlatformsErrors(t *testing.T) {
	t.Parallel()
	errHook := errors.New("hook says no")
	tests := []struct {
		name     string
		subject  func(t *testing.T, w *world) ocispec.Descriptor
		opts     AttachOptions
		fail     func(w *world, index ocispec.Descriptor)
		wantIs   error
		wantErr  string
		attached int // children attached (res.Platforms)
		notTried int
	}{
		{name: "not an index", subject: func(t *testing.T, w *world) ocispec.Descriptor { return w.subject },
			wantIs: ErrNotIndex, wantErr: "is a single manifest (application/vnd.oci.image.manifest.v1+json)"},
		{name: "no platform child", subject: func(t *testing.T, w *world) ocispec.Descriptor {
			idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{
				{MediaType: ocispec.MediaTypeImageManifest, Digest: w.subject.Digest, Size: w.subject.Size}}}
			idx.SchemaVersion = 2
			b := mustJSON(t, idx)
			d := w.fake.PutManifest(testRepo, "bare", ocispec.MediaTypeImageIndex, b)
			return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: d, Size: int64(len(b))}
		}, wantErr: "has no image manifest with a platform to attach to"},
		{name: "BeforePlatforms refuses", opts: AttachOptions{BeforePlatforms: func([]PlatformChild) error { return errHook }},
			wantIs: errHook},
		{name: "the first child fails", fail: func(w *world, index ocispec.Descriptor) {
			w.fake.FailNext(http.MethodPut, "/manifests/sha256:", http.StatusForbidden, 1)
		}, wantErr: "platform linux/amd64 (", notTried: 1},
		{name: "AfterPlatform fails on the second", opts: AttachOptions{AfterPlatform: func(i int, _ AttachResult) error {
			if i == 1 {
				return errHook
			}
			return nil
		}}, wantIs: errHook, wantErr: "platform linux/arm64/v8 (", attached: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, fakeregistry.Mode{})
			index := putIndex(t, w.fake, "multi")
			if tt.subject != nil {
				index = tt.subject(t, w)
			}
			if tt.fail != nil {
				tt.fail(w, index)
			}
			w.fake.ResetRequests()
			opts := tt.opts
			opts.AllPlatforms = true
			res, err := New(WithSettle(fastSettle)).Attach(ctxT(t), w.repo(t), index, artifact(typeSig, "sig", nil), opts)
			if err == nil {
				t.Fatal("no error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want one that is %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want one containing %q", err, tt.wantErr)
			}
			if len(res.Platforms) != tt.attached {
				t.Errorf("%d children attached, want %d", len(res.Platforms), tt.attached)
			}
			var pe *PlatformError
			if errors.As(err, &pe) != (tt.fail != nil || tt.attached > 0) {
				t.Fatalf("err = %v (%T): a *PlatformError only for a child's failure", err, err)
			}
			if pe != nil && len(pe.NotTried) != tt.notTried {
				t.Errorf("not tried: %v, want %d", pe.NotTried, tt.notTried)
			}
			if pe == nil {
				for _, q := range w.fake.Requests() {
					if q.Method != http.MethodGet && q.Method != http.MethodHead {
						t.Errorf("%s %s sent; want nothing pushed", q.Method, q.Path)
					}
				}
			}
		})
	}
}
