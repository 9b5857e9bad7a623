package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// runCLI runs the CLI in process with args, as invocation.run does, without a
// fake registry.
func runCLI(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, fakeGetenv(t, nil), strings.NewReader(""), &stdout, &stderr)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// listed is what a "list --format json" run printed: "digest artifactType"
// per referrer, in the printed order.
func listed(t *testing.T, r result, what string) []string {
	t.Helper()
	if r.code != exitOK {
		t.Fatalf("%s: exit %d\n%s", what, r.code, r.stderr)
	}
	var idx ocispec.Index
	if err := json.Unmarshal([]byte(r.stdout), &idx); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, r.stdout)
	}
	out := []string{}
	for _, d := range idx.Manifests {
		out = append(out, d.Digest.String()+" "+d.ArtifactType)
	}
	return out
}

// TestHeaderlessStaticHost serves the golden static tree with a plain
// http.FileServer (no Docker-Content-Digest, no registry Content-Types: what
// the file server sniffs, or application/octet-stream on everything) and lists
// each subject through it: the referrers are exactly those that "referrers
// list static:DIR:NAME:REF" finds offline (digests and artifactTypes), in JSON
// and in the table. A subject without a pre-rendered index (the amd64 child,
// which has no referrers) is answered 404 and read through the tag schema:
// empty, as offline, with mode "tag". Issue 18: the pre-rendered indexes came
// back as application/octet-stream, were taken for "no Referrers API", and
// every listing was empty with exit 0.
func TestHeaderlessStaticHost(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..", "testdata", "trees", "static")
	const sha512Subject = "sha512:4271793ec335016630c639d633b3356d0a39a58ed7e6626b249839db552dddd06a1d4d2f2dbf2778bc190d1947657f9366c9cbc78673d47f2cd564235d433cb1"
	const amd64Child = "sha256:47dbe44474bc10845f52bd91fdba38712fbc19786a600b6038ecf6cab0df49fe"
	fileServer := http.FileServer(http.Dir(root))
	for _, host := range []struct {
		name    string
		handler http.Handler
	}{
		{"file server", fileServer},
		{"octet-stream", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			fileServer.ServeHTTP(w, r)
		})},
	} {
		t.Run(host.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(host.handler)
			defer srv.Close()
			remote := strings.TrimPrefix(srv.URL, "http://") + "/app"
			for _, tc := range []struct {
				ref       string // ":TAG" or "@DIGEST"
				wantCount int
			}{
				{":v1", 2},
				{":multi", 1},
				{"@" + sha512Subject, 1},
				{":v512", 1}, // the tag of a manifest stored only under its sha512 digest
				{"@" + amd64Child, 0},
			} {
				offline := listed(t, runCLI(t, "list", "static:"+root+":app"+tc.ref, "--format", "json"), "offline "+tc.ref)
				if len(offline) != tc.wantCount {
					t.Fatalf("offline %s: %q, want %d referrers (has the golden tree changed?)", tc.ref, offline, tc.wantCount)
				}
				r := runCLI(t, "list", remote+tc.ref, "--plain-http", "--format", "json")
				if got := listed(t, r, "remote "+tc.ref); !slices.Equal(got, offline) {
					t.Errorf("remote %s lists %q, offline %q\n%s", tc.ref, got, offline, r.stderr)
				}
				if r.stderr != "" {
					t.Errorf("remote %s: stderr %q, want nothing", tc.ref, r.stderr)
				}
				table := runCLI(t, "list", remote+tc.ref, "--plain-http")
				if table.code != exitOK {
					t.Fatalf("remote %s table: exit %d\n%s", tc.ref, table.code, table.stderr)
				}
				for _, e := range offline {
					if d := strings.Fields(e)[0]; !strings.Contains(table.stdout, d) {
						t.Errorf("remote %s table lacks %s:\n%s", tc.ref, d, table.stdout)
					}
				}
			}

			// the mode says how each level was found: the pre-rendered
			// index as the API, the child without one through the tag schema
			r := runCLI(t, "list", remote+":multi", "--plain-http", "--include-children", "--format", "json")
			if r.code != exitOK {
				t.Fatalf("--include-children: exit %d\n%s", r.code, r.stderr)
			}
			var out struct {
				Mode     string
				Children []struct {
					Descriptor ocispec.Descriptor
					Mode       string
				}
			}
			if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
				t.Fatal(err)
			}
			if out.Mode != "api" {
				t.Errorf("multi: mode %q, want api (the pre-rendered index)", out.Mode)
			}
			for _, c := range out.Children {
				if c.Descriptor.Digest.String() == amd64Child && c.Mode != "tag" {
					t.Errorf("amd64 child: mode %q, want tag (no pre-rendered index: 404)", c.Mode)
				}
			}
		})
	}
}

// TestHeaderlessFalse200 serves the golden static tree behind a front end that
// answers every referrers URL with 200 and an HTML page (a web UI catching all
// paths): the listing reads the tag schema (the tree has none: no referrers)
// and says why on stderr, exit 0, never a silent empty list (issue 18).
func TestHeaderlessFalse200(t *testing.T) {
	t.Parallel()
	root := filepath.Join("..", "..", "testdata", "trees", "static")
	fileServer := http.FileServer(http.Dir(root))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "/referrers/") {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Write([]byte("<!DOCTYPE html><html><body>app</body></html>"))
			return
		}
		fileServer.ServeHTTP(w, r)
	}))
	defer srv.Close()
	remote := strings.TrimPrefix(srv.URL, "http://") + "/app:v1"
	r := runCLI(t, "list", remote, "--plain-http", "--format", "json")
	if got := listed(t, r, "remote v1"); len(got) != 0 {
		t.Errorf("lists %q, want none (the tree has no tag schema tags)", got)
	}
	const want = "referrers list: warning: the referrers endpoint answered 200 with Content-Type text/html; charset=utf-8, not an image index: read the tag schema instead\n"
	if r.stderr != want {
		t.Errorf("stderr %q, want %q", r.stderr, want)
	}
	// --referrers-mode api refuses, naming the answer
	r = runCLI(t, "list", remote, "--plain-http", "--referrers-mode", "api")
	if r.code == exitOK || !strings.Contains(r.stderr, "Content-Type text/html; charset=utf-8, not an image index") {
		t.Errorf("--referrers-mode api: exit %d, stderr %q; want an error naming the answer", r.code, r.stderr)
	}
}
