package treegen_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/oci-referrers/referrers/core/layout"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/static"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/tools/gentree/treegen"
)

var small = treegen.Spec{Manifests: 40, Referrers: 7}

func listed(t *testing.T, tg target.Target) ([]digest.Digest, referrers.Mode) {
	t.Helper()
	ctx := context.Background()
	subject, err := referrers.ResolveSubject(ctx, tg, treegen.SubjectTag, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := referrers.New().List(ctx, tg, subject, referrers.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []digest.Digest
	for _, n := range res.Referrers {
		if n.Descriptor.ArtifactType != treegen.DefaultArtifactType {
			t.Errorf("referrer %s has artifactType %q", n.Descriptor.Digest, n.Descriptor.ArtifactType)
		}
		out = append(out, n.Descriptor.Digest)
	}
	return out, res.Mode
}

func TestLayoutIsListedWhole(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res, err := treegen.Layout(dir, small)
	if err != nil {
		t.Fatal(err)
	}
	if res.Manifests != small.Manifests || res.Images != small.Manifests-small.Referrers || len(res.Referrers) != small.Referrers {
		t.Fatalf("result %+v does not match the spec %+v", res, small)
	}
	// 33 images, each with its own config; 7 referrers; 3 layers and the empty blob.
	if n, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256")); err != nil || len(n) != 33*2+7+3+1 {
		t.Fatalf("%d blobs (%v)", len(n), err)
	}
	l, err := layout.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got, mode := listed(t, l)
	if !slices.Equal(got, res.Referrers) || mode != referrers.ModeScan {
		t.Fatalf("listed %v (mode %s), generated %v", got, mode, res.Referrers)
	}
}

func TestStaticIsListedWhole(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	res, err := treegen.Static(dir, "bench/app", small)
	if err != nil {
		t.Fatal(err)
	}
	st, err := static.Open(dir, "bench/app")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, mode := listed(t, st)
	if !slices.Equal(got, res.Referrers) || mode != referrers.ModeScan {
		t.Fatalf("listed %v (mode %s), generated %v", got, mode, res.Referrers)
	}
	all, err := st.IndexForAll(context.Background(), true)
	if err != nil || len(all.Subjects) != 1 || all.Manifests != small.Manifests {
		t.Fatalf("IndexForAll: %d subjects, %d manifests (%v)", len(all.Subjects), all.Manifests, err)
	}
	got, mode = listed(t, st)
	if !slices.Equal(got, res.Referrers) || mode != referrers.ModeIndex {
		t.Fatalf("after IndexForAll listed %v (mode %s), generated %v", got, mode, res.Referrers)
	}
}

func TestDeterministic(t *testing.T) {
	t.Parallel()
	a, b := t.TempDir(), t.TempDir()
	ra, err := treegen.Layout(a, small)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := treegen.Layout(b, small)
	if err != nil {
		t.Fatal(err)
	}
	ia, _ := os.ReadFile(filepath.Join(a, "index.json"))
	ib, _ := os.ReadFile(filepath.Join(b, "index.json"))
	if !bytes.Equal(ia, ib) || ra.Subject.Digest != rb.Subject.Digest || !slices.Equal(ra.Referrers, rb.Referrers) {
		t.Fatal("two generations of one spec differ")
	}
	rs, err := treegen.Static(t.TempDir(), "x", small)
	if err != nil {
		t.Fatal(err)
	}
	if rs.Subject.Digest != ra.Subject.Digest || !slices.Equal(rs.Referrers, ra.Referrers) {
		t.Fatal("the static tree holds other manifests than the layout")
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	for _, s := range []treegen.Spec{{Manifests: 5, Referrers: 5}, {Manifests: 0}, {Manifests: 3, Referrers: -1}} {
		if _, err := treegen.Layout(t.TempDir(), s); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := treegen.Layout(dir, small); err == nil {
		t.Error("wrote into a directory that is not empty")
	}
}
