package main

import (
	"strings"
	"testing"

	"github.com/oci-referrers/referrers/core/ref"
)

func TestParseTreeRef(t *testing.T) {
	t.Parallel()
	const d = "sha256:43570db463657b2a0cc9cc722676a188f8f376602996f3fcaa80cfb5407206ac"
	for _, tc := range []struct {
		in                   string
		ok                   bool
		kind, dir, name, ref string
		err                  string
	}{
		{in: "registry.example/app:1", ok: false},
		{in: "oci:layout", ok: true, kind: "oci", dir: "layout", ref: "latest"},
		{in: "oci:layout:v1", ok: true, kind: "oci", dir: "layout", ref: "v1"},
		{in: "oci:/abs/layout@" + d, ok: true, kind: "oci", dir: "/abs/layout", ref: d},
		{in: "oci:c:/win:v1", ok: true, kind: "oci", dir: "c:/win", ref: "v1"},
		{in: "oci:dir:with:colons", ok: true, kind: "oci", dir: "dir:with", ref: "colons"},
		{in: "oci:mod@v1.2.3/layout:v1", ok: true, kind: "oci", dir: "mod@v1.2.3/layout", ref: "v1"},
		{in: "oci:a@b@" + d, ok: true, kind: "oci", dir: "a@b", ref: d},
		{in: "oci:layout@sha256:zz", ok: true, err: "digest"},
		{in: "oci:", ok: true, err: "empty directory"},
		{in: "oci::v1", ok: true, err: "empty directory"},
		{in: "static:site:app", ok: true, kind: "static", dir: "site", name: "app", ref: "latest"},
		{in: "static:site:org/app:1.0", ok: true, kind: "static", dir: "site", name: "org/app", ref: "1.0"},
		{in: "static:site:app@" + d, ok: true, kind: "static", dir: "site", name: "app", ref: d},
		{in: "static:site", ok: true, err: "want static:DIR:NAME"},
		{in: "static:site:../etc", ok: true, err: "repository"},
		{in: "static:site:App", ok: true, err: "repository"},
		{in: "static:site:app:../x", ok: true, err: "tag"},
	} {
		r, ok, err := parseTreeRef(tc.in)
		if ok != tc.ok {
			t.Errorf("%q: ok=%v, want %v", tc.in, ok, tc.ok)
			continue
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want one mentioning %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if ok && (r.kind != tc.kind || r.dir != tc.dir || r.name != tc.name || r.reference != tc.ref) {
			t.Errorf("%q: got %+v", tc.in, r)
		}
	}
}

// FuzzParseTreeRef: a tree reference from the command line never panics, and
// what it accepts has a non-empty directory, a valid tag or digest, and for
// static a valid repository name.
func FuzzParseTreeRef(f *testing.F) {
	for _, s := range []string{"oci:layout:v1", "static:site:app@sha256:43570db463657b2a0cc9cc722676a188f8f376602996f3fcaa80cfb5407206ac", "oci:a@b:c", "static::", "oci:@"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok, err := parseTreeRef(s)
		if !ok || err != nil {
			return
		}
		if r.dir == "" {
			t.Fatalf("%q: empty dir accepted", s)
		}
		if _, derr := ref.ParseDigest(r.reference); derr != nil && !ref.ValidTag(r.reference) {
			t.Fatalf("%q: reference %q is neither tag nor digest", s, r.reference)
		}
		if r.kind == "static" {
			if err := ref.ValidRepository(r.name); err != nil {
				t.Fatalf("%q: repository %q accepted: %v", s, r.name, err)
			}
		}
	})
}
