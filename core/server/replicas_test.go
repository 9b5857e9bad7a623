package server

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
)

// Read-only servers over one tree that a third server writes answer
// identically after each write: the same bytes, ETag and Cache-Control for
// the subject's referrers, the tag and the manifests, which are also the
// writer's. The writer replaces referrers by others of the same size (the
// index keeps its size) while the readers are being read, so a reader that
// judged its decoded index by file sizes and times alone would answer the
// old list.
func TestReplicas(t *testing.T) {
	t.Parallel()
	w := newFixture(t, WithAllowPush(true), WithAllowDelete(true))
	var readers []*fixture
	for range 2 {
		s, err := New(w.dir)
		if err != nil {
			t.Fatal(err)
		}
		ts := httptest.NewServer(s)
		t.Cleanup(func() { ts.Close(); s.Close() })
		readers = append(readers, &fixture{t: t, dir: w.dir, s: s, url: ts.URL})
	}
	subject := image("subject", nil, "")
	w.pushManifest("app", "v1", subject)
	sd := digest.FromBytes(subject)
	list := "/v2/app/referrers/" + sd.String()

	// readers are asked all the time, so they decode the index at every
	// stage of the writes
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, r := range readers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(r.url + list)
				if err == nil {
					resp.Body.Close()
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()

	steps := 40
	if raceEnabled {
		steps = 12
	}
	var last digest.Digest
	for i := range steps {
		var what string
		m := image(fmt.Sprintf("r%03d", i), subjectOf(subject), "application/vnd.example")
		switch {
		case i%3 == 2 && last != "":
			// the last referrer gives way to one of the same size
			what = "replace " + last.String()
			w.want(w.do("DELETE", "/v2/app/manifests/"+last.String(), nil), http.StatusAccepted, "")
		case i%3 == 1:
			what = "move the tag"
			w.pushManifest("app", "latest", image(fmt.Sprintf("t%03d", i), nil, ""))
			m = nil
		default:
			what = "push a referrer"
		}
		if m != nil {
			last = digest.FromBytes(m)
			w.pushManifest("app", last.String(), m)
		}
		for _, path := range []string{
			list, list + "?n=1", list + "?artifactType=application/vnd.example",
			"/v2/app/manifests/latest", "/v2/app/manifests/" + last.String(),
			"/v2/app/tags/list", "/v2/_catalog",
		} {
			if i == 0 && path == "/v2/app/manifests/latest" {
				continue
			}
			want := w.do("GET", path, nil)
			w.want(want, http.StatusOK, "")
			for n, r := range readers {
				got := r.do("GET", path, nil)
				for _, h := range []string{"ETag", "Cache-Control", "Link", "Content-Type"} {
					if got.header.Get(h) != want.header.Get(h) {
						t.Errorf("step %d (%s): reader %d: GET %s: %s %q, writer %q", i, what, n, path, h, got.header.Get(h), want.header.Get(h))
					}
				}
				if got.status != want.status || string(got.body) != string(want.body) {
					t.Fatalf("step %d (%s): reader %d: GET %s: %d %s\nwriter: %d %s", i, what, n, path, got.status, got.body, want.status, want.body)
				}
			}
		}
	}
}

// Another tool replaces a subject's index by one of the same size within
// the file system's clock tick (here: with the same times, set back): a
// reader that read the old one lists the new one, because an index whose
// files are that young is not kept decoded (settled).
func TestReplicaSameTick(t *testing.T) {
	t.Parallel()
	w := newFixture(t, WithAllowPush(true))
	s, err := New(w.dir)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	r := &fixture{t: t, dir: w.dir, s: s, url: ts.URL}
	subject := image("subject", nil, "")
	w.pushManifest("app", "v1", subject)
	a := image("a", subjectOf(subject), "application/vnd.example")
	w.pushManifest("app", digest.FromBytes(a).String(), a)
	sd := digest.FromBytes(subject)
	if idx, _ := r.referrers("app", sd, ""); len(idx.Manifests) != 1 || idx.Manifests[0].Digest != digest.FromBytes(a) {
		t.Fatalf("before: %v", idx.Manifests)
	}
	p := filepath.Join(w.dir, "v2", "app", "referrers", sd.String())
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b := digest.FromString("b")
	if err := os.WriteFile(p, bytes.ReplaceAll(old, []byte(digest.FromBytes(a).Encoded()), []byte(b.Encoded())), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, fi.ModTime(), fi.ModTime()); err != nil {
		t.Fatal(err)
	}
	if idx, _ := r.referrers("app", sd, ""); len(idx.Manifests) != 1 || idx.Manifests[0].Digest != b {
		t.Errorf("after the same-size write: %v, want %s", idx.Manifests, b)
	}
}

func TestSettled(t *testing.T) {
	t.Parallel()
	now := time.Now()
	for _, c := range []struct {
		age  time.Duration
		want bool
	}{{-time.Hour, false}, {0, false}, {time.Second, false}, {racyWindow, false}, {racyWindow + time.Millisecond, true}, {time.Hour, true}} {
		if got := settled(now.Add(-c.age), now); got != c.want {
			t.Errorf("written %v ago: settled %v, want %v", c.age, got, c.want)
		}
	}
}
