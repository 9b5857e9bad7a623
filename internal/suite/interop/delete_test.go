package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

// kept is an artifact of producer p, distinct by n.
func kept(p string, n int) artifact {
	return artifact{
		artifactType: "application/vnd.example.kept",
		files:        []file{{"k.json", "application/json", fmt.Sprintf(`{"producer":%q,"n":%d}`, p, n)}},
		annotations:  map[string]string{"org.example.producer": p, "org.example.n": strconv.Itoa(n)},
	}
}

var sbomArt = artifact{
	artifactType: "application/spdx+json",
	files:        []file{{"sbom.spdx.json", "application/spdx+json", `{"spdxVersion":"SPDX-2.3","name":"delete"}`}},
	annotations:  map[string]string{"org.example.kind": "sbom"},
}

// ourDelete runs `referrers delete` with args and returns the error, if any,
// with its stderr.
func ourDelete(t *testing.T, args ...string) oracle.Result {
	t.Helper()
	return oracle.NewReferrers(t).Run(append([]string{"delete"}, args...)...)
}

// TestDelete deletes our SBOM (with the signature of the SBOM, so
// --recursive) from olareg (Referrers API), distribution (tag schema) and
// distribution with deletes disabled. Before it, oras and regctl attach
// their own referrers to the same subject; afterwards ours, oras and regctl
// list exactly theirs, none of ours, and on distribution the referrers tag
// lists them and nothing else. Deletes disabled: a clear error, and every
// consumer still lists everything.
func TestDelete(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		start    func(t testing.TB) *oracle.Registry
		disabled bool
	}{
		{"olareg", func(t testing.TB) *oracle.Registry { return oracle.StartOlareg(t) }, false},
		{"distribution", func(t testing.TB) *oracle.Registry { return oracle.StartDistribution(t) }, false},
		{"distribution-no-delete", func(t testing.TB) *oracle.Registry { return oracle.StartDistributionWith(t, oracle.WithoutDeletes()) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			reg := tc.start(t)
			cs := clients(t, reg.Host)
			const repo = "delete/app"
			subject := mustImage(t, repository(t, reg.Host, repo), repo, "v1")
			at := reg.Ref(repo, ":v1")
			our := byName(cs, "referrers")
			sbom := our.attach(t, at, sbomArt)
			sig := our.attach(t, reg.Ref(repo, "@"+sbom), signature)
			others := map[string]artifact{}
			for i, p := range []string{"oras", "regctl", "referrers"} {
				a := kept(p, i)
				others[byName(cs, p).attach(t, at, a)] = a
			}

			r := ourDelete(t, "--plain-http", reg.Ref(repo, "@"+sbom))
			if r.Err == nil || !strings.Contains(r.Stderr, "--recursive") {
				t.Fatalf("delete without --recursive: %v, want a refusal naming --recursive", r.Err)
			}
			r = ourDelete(t, "--plain-http", "--recursive", "--format", "json", reg.Ref(repo, "@"+sbom))
			want := others
			if tc.disabled {
				if r.Err == nil || !strings.Contains(r.Stderr, "refuses to delete") || !strings.Contains(r.Stderr, "nothing was changed") {
					t.Fatalf("delete with deletes disabled: %v, want a clear refusal", r.Err)
				}
				t.Logf("deletes disabled: %s", strings.TrimSpace(r.Stderr))
				want = map[string]artifact{sbom: sbomArt}
				for d, a := range others {
					want[d] = a
				}
			} else if r.Err != nil {
				t.Fatal(r.Err)
			} else {
				var out struct {
					Deleted []struct{ Digest string } `json:"deleted"`
				}
				if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
					t.Fatal(err)
				}
				if len(out.Deleted) != 2 || out.Deleted[0].Digest != sig || out.Deleted[1].Digest != sbom {
					t.Errorf("deleted %+v, want the signature then the SBOM", out.Deleted)
				}
			}
			for _, c := range cs {
				t.Run("to-"+c.name(), func(t *testing.T) {
					record(t, tc.name, "delete --recursive", "referrers", c.name())
					got := c.list(t, at, 1, "")
					for d, a := range want {
						expectOnce(t, got, d, a)
					}
					if len(got) != len(want) {
						t.Errorf("%s lists %v, want %d", c.name(), digests(got), len(want))
					}
				})
			}
			if reg.API {
				return
			}
			idx := tagIndex(t, reg, repo, subject.Digest)
			var listed []string
			for _, m := range idx {
				listed = append(listed, m)
			}
			wantDigests := make([]string, 0, len(want))
			for d := range want {
				wantDigests = append(wantDigests, d)
			}
			sort.Strings(listed)
			sort.Strings(wantDigests)
			if strings.Join(listed, ",") != strings.Join(wantDigests, ",") {
				t.Errorf("referrers tag lists %v, want %v", listed, wantDigests)
			}
		})
	}
}

// tagIndex returns the digests the referrers tag of subject lists.
func tagIndex(t *testing.T, reg *oracle.Registry, repo string, subject digest.Digest) []string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+reg.Host+"/v2/"+repo+"/manifests/"+fallbackTagOf(subject), nil)
	req.Header.Set("Accept", "application/vnd.oci.image.index.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	var idx struct {
		Manifests []struct{ Digest string } `json:"manifests"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&idx); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range idx.Manifests {
		out = append(out, m.Digest)
	}
	return out
}

// TestDeleteMixedState: on olareg (Referrers API), oras in tag-schema mode
// wrote the referrers tag; our delete of that referrer removes its entry
// from the tag too, and nobody lists it afterwards.
func TestDeleteMixedState(t *testing.T) {
	t.Parallel()
	reg := oracle.StartOlareg(t)
	const repo = "delete/mixed"
	subject := mustImage(t, repository(t, reg.Host, repo), repo, "v1")
	at := reg.Ref(repo, ":v1")
	x := oracle.NewOras(t)
	a := kept("oras-tag", 0)
	a.writeFiles(t, x.Dir)
	d, err := digestOf("oras", x.Must("attach", "--plain-http", "--format", "json", "--distribution-spec", "v1.1-referrers-tag",
		"--artifact-type", a.artifactType, at, "k.json:application/json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := tagIndex(t, reg, repo, subject.Digest); len(got) != 1 || got[0] != d {
		t.Fatalf("the referrers tag lists %v, want oras's %s", got, d)
	}
	r := ourDelete(t, "--plain-http", reg.Ref(repo, "@"+d))
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	if !strings.Contains(r.Stderr, "referrers tag") {
		t.Errorf("stderr %q does not say the referrers tag was updated", r.Stderr)
	}
	if got := tagIndex(t, reg, repo, subject.Digest); len(got) != 0 {
		t.Errorf("the referrers tag still lists %v", got)
	}
	for _, c := range clients(t, reg.Host) {
		if got := c.list(t, at, 1, ""); len(got) != 0 {
			t.Errorf("%s lists %v after the delete", c.name(), digests(got))
		}
	}
}

// TestDeleteTrees deletes from an OCI layout and a static tree: the layout's
// both records go (oras and regctl, which read one each, see only what is
// left), the static tree's pre-rendered index follows.
func TestDeleteTrees(t *testing.T) {
	t.Parallel()
	t.Run("oci", func(t *testing.T) {
		t.Parallel()
		record(t, layoutColumn, "delete", "referrers", "oras+regctl")
		dir, _ := newOCILayout(t)
		our := layoutTool(t, "referrers")
		gone := our.attach(t, our.ref(dir, ":v1"), sbomArt)
		keep := kept("referrers", 1)
		kd := our.attach(t, our.ref(dir, ":v1"), keep)
		if r := ourDelete(t, "oci:"+dir+"@"+gone); r.Err != nil {
			t.Fatal(r.Err)
		}
		for _, cn := range []string{"referrers", "oras", "regctl"} {
			c := layoutTool(t, cn)
			got := c.list(t, c.ref(dir, ":v1"), 1, "")
			expectOnce(t, got, kd, keep)
			if len(got) != 1 {
				t.Errorf("%s lists %v after the delete, want only %s", cn, digests(got), kd)
			}
		}
	})
	t.Run("static", func(t *testing.T) {
		t.Parallel()
		record(t, "static-tree", "delete", "referrers", "referrers")
		dir, _ := newStaticTree(t)
		our := &ours{oracle.NewReferrers(t)}
		at := "static:" + dir + ":app"
		gone := our.attach(t, at+":v1", sbomArt)
		keep := kept("referrers", 2)
		kd := our.attach(t, at+":v1", keep)
		if r := ourDelete(t, at+"@"+gone); r.Err != nil {
			t.Fatal(r.Err)
		}
		got := our.list(t, at+":v1", 1, "")
		expectOnce(t, got, kd, keep)
		if len(got) != 1 {
			t.Errorf("lists %v after the delete, want only %s", digests(got), kd)
		}
		if _, err := os.Stat(dir + "/v2/app/manifests/" + gone); !os.IsNotExist(err) {
			t.Errorf("the deleted manifest's file: %v, want it gone", err)
		}
	})
}

// TestConcurrentAttachDelete: on distribution (no Referrers API, If-Match
// ignored), 8 `referrers delete` processes remove the 8 referrers a subject
// had while 8 `referrers attach` processes add new ones, all at once, for
// INTEROP_CONCURRENCY_ROUNDS rounds (default 2). Both take effect: ours,
// oras and regctl list exactly the 8 new ones.
func TestConcurrentAttachDelete(t *testing.T) {
	t.Parallel()
	rounds := 2
	if v, err := strconv.Atoi(os.Getenv("INTEROP_CONCURRENCY_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	const n = 8
	reg := oracle.StartDistribution(t)
	cs := clients(t, reg.Host)
	our := byName(cs, "referrers")
	for round := 1; round <= rounds; round++ {
		repo := fmt.Sprintf("race/delete/%d", round)
		mustImage(t, repository(t, reg.Host, repo), repo, "v1")
		at := reg.Ref(repo, ":v1")
		var old []string
		for i := 0; i < n; i++ {
			old = append(old, our.attach(t, at, kept("old", i)))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		var (
			mu    sync.Mutex
			added []string
			errs  []error
			wg    sync.WaitGroup
		)
		start := make(chan struct{})
		for i := 0; i < 2*n; i++ {
			x := oracle.NewReferrers(t)
			var args []string
			if i < n {
				args = []string{"delete", "--plain-http", reg.Ref(repo, "@"+old[i])}
			} else {
				name := fmt.Sprintf("new%02d.json", i)
				if err := os.WriteFile(x.Dir+"/"+name, []byte(fmt.Sprintf(`{"new":%d}`, i)), 0o600); err != nil {
					t.Fatal(err)
				}
				args = []string{"attach", "--plain-http", "--format", "json", at, name + ":application/json",
					"--artifact-type", "application/vnd.example.race"}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r := x.RunContext(ctx, args...)
				mu.Lock()
				defer mu.Unlock()
				if r.Err != nil {
					errs = append(errs, r.Err)
					return
				}
				if args[0] == "attach" {
					d, err := digestOf("referrers", r.Stdout)
					if err != nil {
						errs = append(errs, err)
						return
					}
					added = append(added, d)
				}
			}()
		}
		close(start)
		wg.Wait()
		cancel()
		for _, err := range errs {
			t.Errorf("round %d: %v", round, err)
		}
		sort.Strings(added)
		for _, c := range cs {
			got := digests(c.list(t, at, 1, ""))
			if strings.Join(got, ",") != strings.Join(added, ",") {
				t.Errorf("round %d: %s lists %d %v\nwant the %d new ones %v", round, c.name(), len(got), got, len(added), added)
			}
		}
		t.Logf("round %d: %d deletes and %d attaches at once; every consumer lists exactly the new ones", round, n, len(added))
	}
}
