package referrers

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

// attachT attaches a one-file artifact of typ named name to subject.
func attachT(t *testing.T, c *Client, w *world, subject ocispec.Descriptor, typ, name string) ocispec.Descriptor {
	t.Helper()
	res, err := c.Attach(ctxT(t), w.repo(t), subject, artifact(typ, name, nil), AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Descriptor
}

// tagEntries returns the digests the subject's referrers tag lists, sorted;
// nil when there is no tag.
func tagEntries(t *testing.T, w *world, subject digest.Digest) []string {
	t.Helper()
	idx, ok := fallbackIndex(t, w.fake, subject)
	if !ok {
		return nil
	}
	out := []string{}
	for _, m := range idx.Manifests {
		out = append(out, m.Digest.String())
	}
	sort.Strings(out)
	return out
}

func has(w *world, d digest.Digest) bool {
	_, _, ok := w.fake.Manifest(testRepo, d.String())
	return ok
}

// TestDelete deletes one of two referrers on a registry with the Referrers
// API, one without it, and one with the API whose referrers tag another
// client wrote (mixed state): the manifest goes, its tag entry goes, the
// other referrer and its entry stay.
func TestDelete(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		mode    fakeregistry.Mode
		seedTag bool // write the tag schema index by hand (mixed state)
		wantTag bool // the delete reports the tag
	}{
		{"api", fakeregistry.Mode{}, false, false},
		{"tag schema", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText}, false, true},
		{"api with a tag (mixed state)", fakeregistry.Mode{}, true, true},
		{"tag schema, conditions ignored", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, ETag: fakeregistry.ETagIgnored}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.mode)
			c := New(WithSettle(fastSettle))
			keep := attachT(t, c, w, w.subject, typeSBOM, "keep")
			gone := attachT(t, c, w, w.subject, typeSig, "gone")
			if tc.seedTag {
				k, _ := EntryFor(keep, mustManifest(t, w, keep))
				g, _ := EntryFor(gone, mustManifest(t, w, gone))
				seedIndex(t, w.fake, w.subject.Digest, k, g)
			}
			res, err := New(WithSettle(fastSettle)).Delete(ctxT(t), w.repo(t), gone, DeleteOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Deleted) != 1 || res.Deleted[0].Descriptor.Digest != gone.Digest || res.Deleted[0].Subject != w.subject.Digest || res.Deleted[0].Gone {
				t.Fatalf("deleted %+v", res.Deleted)
			}
			if got := res.Deleted[0].FallbackTag != ""; got != tc.wantTag {
				t.Errorf("fallback tag %q, want one: %v", res.Deleted[0].FallbackTag, tc.wantTag)
			}
			if has(w, gone.Digest) || !has(w, keep.Digest) {
				t.Errorf("after the delete: deleted one present %v, other present %v", has(w, gone.Digest), has(w, keep.Digest))
			}
			if got := tagEntries(t, w, w.subject.Digest); got != nil && strings.Join(got, ",") != keep.Digest.String() {
				t.Errorf("tag lists %v, want only %s", got, keep.Digest)
			}
			l, err := New().List(ctxT(t), w.repo(t), w.subject, ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := digests(l.Referrers); len(got) != 1 || got[0] != keep.Digest {
				t.Errorf("listed %v, want only %s", got, keep.Digest)
			}
		})
	}
}

func mustManifest(t *testing.T, w *world, d ocispec.Descriptor) []byte {
	t.Helper()
	_, b, ok := w.fake.Manifest(testRepo, d.Digest.String())
	if !ok {
		t.Fatalf("no manifest %s", d.Digest)
	}
	return b
}

// TestDeleteRefusals: what Delete refuses, and that it then changes nothing.
func TestDeleteRefusals(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		mode   fakeregistry.Mode
		target func(w *world, sbom ocispec.Descriptor) ocispec.Descriptor
		opts   DeleteOptions
		want   error
	}{
		{"has referrers", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText},
			func(w *world, sbom ocispec.Descriptor) ocispec.Descriptor { return sbom }, DeleteOptions{}, ErrHasReferrers},
		{"not a referrer", fakeregistry.Mode{},
			func(w *world, sbom ocispec.Descriptor) ocispec.Descriptor { return w.subject }, DeleteOptions{Recursive: true}, ErrNotReferrer},
		{"deletes disabled", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText, DeleteDisabled: true},
			func(w *world, sbom ocispec.Descriptor) ocispec.Descriptor { return sbom }, DeleteOptions{Recursive: true}, target.ErrUnsupported},
		{"missing, no subject given", fakeregistry.Mode{},
			func(w *world, sbom ocispec.Descriptor) ocispec.Descriptor {
				return ocispec.Descriptor{Digest: digest.FromString("nothing")}
			}, DeleteOptions{}, target.ErrNotFound},
		{"missing and unlisted", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText},
			func(w *world, sbom ocispec.Descriptor) ocispec.Descriptor {
				return ocispec.Descriptor{Digest: digest.FromString("nothing")}
			}, DeleteOptions{Subject: ""}, target.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.mode)
			c := New(WithSettle(fastSettle))
			sbom := attachT(t, c, w, w.subject, typeSBOM, "sbom")
			sig := attachT(t, c, w, sbom, typeSig, "sig")
			before := tagEntries(t, w, w.subject.Digest)
			opts := tc.opts
			if tc.name == "missing and unlisted" {
				opts.Subject = w.subject.Digest
			}
			_, err := c.Delete(ctxT(t), w.repo(t), tc.target(w, sbom), opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err %v, want %v", err, tc.want)
			}
			t.Log(err)
			for _, d := range []ocispec.Descriptor{w.subject, sbom, sig} {
				if !has(w, d.Digest) {
					t.Errorf("%s was deleted", d.Digest)
				}
			}
			if got := tagEntries(t, w, w.subject.Digest); strings.Join(got, ",") != strings.Join(before, ",") {
				t.Errorf("tag lists %v, was %v", got, before)
			}
		})
	}
}

// TestDeleteRecursive deletes an SBOM with its signature and the
// signature's countersignature: deepest first, every tag entry removed, the
// subject's other referrer kept; with GC the emptied tags of the deleted
// referrers go too.
func TestDeleteRecursive(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		mode fakeregistry.Mode
		gc   bool
	}{
		{"api", fakeregistry.Mode{}, false},
		{"tag schema", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText}, false},
		{"tag schema with gc", fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, tc.mode)
			c := New(WithSettle(fastSettle))
			other := attachT(t, c, w, w.subject, typeScan, "scan")
			sbom := attachT(t, c, w, w.subject, typeSBOM, "sbom")
			sig := attachT(t, c, w, sbom, typeSig, "sig")
			counter := attachT(t, c, w, sig, typeSig, "counter")
			res, err := c.Delete(ctxT(t), w.repo(t), sbom, DeleteOptions{Recursive: true, GCFallbackIndex: tc.gc})
			if err != nil {
				t.Fatal(err)
			}
			var order []digest.Digest
			for _, d := range res.Deleted {
				order = append(order, d.Descriptor.Digest)
			}
			want := []digest.Digest{counter.Digest, sig.Digest, sbom.Digest}
			if len(order) != 3 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] {
				t.Errorf("deleted %v, want %v", order, want)
			}
			for _, d := range want {
				if has(w, d) {
					t.Errorf("%s still there", d)
				}
			}
			if !has(w, other.Digest) {
				t.Error("the subject's other referrer was deleted")
			}
			if got := tagEntries(t, w, w.subject.Digest); got != nil && strings.Join(got, ",") != other.Digest.String() {
				t.Errorf("subject's tag lists %v, want %s", got, other.Digest)
			}
			for _, d := range []digest.Digest{sbom.Digest, sig.Digest} {
				idx, ok := fallbackIndex(t, w.fake, d)
				switch {
				case tc.gc && ok:
					t.Errorf("the emptied tag of %s is still there with GC", d)
				case ok && len(idx.Manifests) != 0:
					t.Errorf("the tag of deleted %s lists %v", d, idx.Manifests)
				}
			}
		})
	}
}

// failing is a target whose manifest deletes of one digest fail, and whose
// tag pushes fail once such a delete failed (when pushes is set).
type failing struct {
	target.Target
	digest digest.Digest
	pushes bool
	failed bool
}

func (f *failing) DeleteManifest(ctx context.Context, d digest.Digest) error {
	if d == f.digest {
		f.failed = true
		return fmt.Errorf("delete %s: injected: %w", d, errInjected)
	}
	return f.Target.DeleteManifest(ctx, d)
}

func (f *failing) PushManifest(ctx context.Context, desc ocispec.Descriptor, data []byte, opts target.PushOptions) (target.PushResult, error) {
	if f.pushes && f.failed && opts.Tag != "" {
		return target.PushResult{}, fmt.Errorf("push %s: injected: %w", opts.Tag, errInjected)
	}
	return f.Target.PushManifest(ctx, desc, data, opts)
}

var errInjected = errors.New("injected fault")

// TestDeleteFailures: the entry leaves the tag before the manifest is
// deleted; a delete that then fails puts the entry back, and when that fails
// too the error names the referrer, the tag and the subject; either way a
// rerun completes the delete. The other referrer's entry stays throughout.
func TestDeleteFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		pushes     bool // the restoring push fails too
		incomplete bool
		tagAfter   int // entries the tag lists after the failed delete
	}{
		{"delete fails, entry restored", false, false, 2},
		{"delete and restore fail", true, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
			c := New(WithSettle(fastSettle))
			keep := attachT(t, c, w, w.subject, typeSBOM, "keep")
			gone := attachT(t, c, w, w.subject, typeSig, "gone")
			tag := FallbackTag(w.subject.Digest)
			f := &failing{Target: w.repo(t), digest: gone.Digest, pushes: tc.pushes}
			_, err := c.Delete(ctxT(t), f, gone, DeleteOptions{})
			if !errors.Is(err, errInjected) {
				t.Fatalf("err %v, want the injected fault", err)
			}
			var ie *DeleteIncompleteError
			if got := errors.As(err, &ie); got != tc.incomplete {
				t.Fatalf("err %v: a DeleteIncompleteError: %v, want %v", err, got, tc.incomplete)
			}
			t.Log(err)
			for _, s := range []string{gone.Digest.String(), tag} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not name %s", err, s)
				}
			}
			if !has(w, gone.Digest) {
				t.Fatal("the manifest was deleted")
			}
			if got := tagEntries(t, w, w.subject.Digest); len(got) != tc.tagAfter {
				t.Fatalf("tag lists %v, want %d entries", got, tc.tagAfter)
			}
			res, err := c.Delete(ctxT(t), w.repo(t), gone, DeleteOptions{})
			if err != nil {
				t.Fatalf("rerun: %v", err)
			}
			if len(res.Deleted) != 1 || res.Deleted[0].Gone {
				t.Errorf("rerun deleted %+v", res.Deleted)
			}
			if has(w, gone.Digest) {
				t.Error("the rerun did not delete the manifest")
			}
			if got := tagEntries(t, w, w.subject.Digest); strings.Join(got, ",") != keep.Digest.String() {
				t.Errorf("tag lists %v, want only %s", got, keep.Digest)
			}
		})
	}
}

// TestDeleteStaleEntry: another tool deleted a referrer's manifest and left
// its entry in the subject's referrers tag. Delete without the subject says
// to give it; with it, the entry is removed and reported as already gone; a
// third run finds nothing to do.
func TestDeleteStaleEntry(t *testing.T) {
	t.Parallel()
	w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundText})
	c := New(WithSettle(fastSettle))
	keep := attachT(t, c, w, w.subject, typeSBOM, "keep")
	gone := attachT(t, c, w, w.subject, typeSig, "gone")
	if err := w.repo(t).DeleteManifest(ctxT(t), gone.Digest); err != nil {
		t.Fatal(err)
	}
	bare := ocispec.Descriptor{Digest: gone.Digest}
	_, err := c.Delete(ctxT(t), w.repo(t), bare, DeleteOptions{})
	if !errors.Is(err, target.ErrNotFound) || !strings.Contains(err.Error(), "give its subject") {
		t.Errorf("without the subject: %v, want not found and a hint to give the subject", err)
	}
	res, err := c.Delete(ctxT(t), w.repo(t), bare, DeleteOptions{Subject: w.subject.Digest})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Deleted) != 1 || !res.Deleted[0].Gone || res.Deleted[0].FallbackTag != FallbackTag(w.subject.Digest) {
		t.Errorf("result %+v, want the entry of a gone manifest removed from the tag", res.Deleted)
	}
	if got := tagEntries(t, w, w.subject.Digest); strings.Join(got, ",") != keep.Digest.String() {
		t.Errorf("tag lists %v, want only %s", got, keep.Digest)
	}
	if _, err := c.Delete(ctxT(t), w.repo(t), bare, DeleteOptions{Subject: w.subject.Digest}); !errors.Is(err, target.ErrNotFound) {
		t.Errorf("third run: %v, want not found", err)
	}
}

// TestConcurrentAttachDelete: on a registry without the Referrers API, 8
// separate writers delete the 8 referrers a subject had while 8 others attach
// new ones, all at once. Both take effect: the tag schema index lists exactly
// the 8 new referrers (distribution-spec v1.1.1, "Deleting Manifests" and
// "Pushing Manifests with Subject").
func TestConcurrentAttachDelete(t *testing.T) {
	t.Parallel()
	const n = 8
	for _, tc := range []struct {
		name string
		etag fakeregistry.ETagBehavior
	}{
		{"ETagHonoured", fakeregistry.ETagHonoured},
		{"ETagRejected", fakeregistry.ETagRejected},
		{"ETagIgnored", fakeregistry.ETagIgnored},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, fakeregistry.Mode{Referrers: fakeregistry.ReferrersNotFoundJSON, ETag: tc.etag, Latency: 1500 * time.Microsecond})
			ctx := ctxT(t)
			old := make([]ocispec.Descriptor, n)
			for i := range old {
				old[i] = attachT(t, New(WithSettle(fastSettle)), w, w.subject, typeSBOM, fmt.Sprintf("old-%d", i))
			}
			start := make(chan struct{})
			var wg sync.WaitGroup
			errs := make([]error, 2*n)
			added := make([]digest.Digest, n)
			for i := range 2 * n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, repo := New(), w.repo(t) // separate processes: no shared lock
					<-start
					if i < n {
						_, errs[i] = c.Delete(ctx, repo, old[i], DeleteOptions{})
						return
					}
					res, err := c.Attach(ctx, repo, w.subject, artifact(typeSig, fmt.Sprintf("new-%d", i), nil), AttachOptions{})
					errs[i], added[i-n] = err, res.Descriptor.Digest
				}()
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("writer %d: %v", i, err)
				}
			}
			want := make([]string, n)
			for i, d := range added {
				want[i] = d.String()
			}
			sort.Strings(want)
			if got := tagEntries(t, w, w.subject.Digest); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("tag lists %d entries %v\nwant the %d new ones %v", len(got), got, n, want)
			}
		})
	}
}
