package interop

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

// TestMixedState covers a registry that has the Referrers API and also holds a
// fallback tag: oras, told to use the tag schema, wrote one on olareg. We list
// each referrer exactly once, the tag's and the API's (distribution-spec v1.1.1, Upgrade Procedures);
// peers, which read the API only, are recorded.
func TestMixedState(t *testing.T) {
	t.Parallel()
	reg := oracle.StartOlareg(t)
	cs := clients(t, reg.Host)
	const repo = "mixed/app"
	subject := mustImage(t, repository(t, reg.Host, repo), repo, "v1")
	at := reg.Ref(repo, ":v1")

	tagged := oracle.NewOras(t)
	art := artifact{
		artifactType: "application/vnd.example.tagschema",
		files:        []file{{"t.json", "application/json", `{"via":"tag schema"}`}},
		annotations:  map[string]string{"org.example.producer": "oras-tag-schema"},
	}
	art.writeFiles(t, tagged.Dir)
	out := tagged.Must("attach", "--plain-http", "--distribution-spec", "v1.1-referrers-tag",
		"--artifact-type", art.artifactType, "--annotation", "org.example.producer=oras-tag-schema",
		at, "t.json:application/json")
	if !strings.Contains(out, "sha256:") {
		t.Fatalf("oras attach printed no digest: %q", out)
	}
	// The state is mixed only if the fallback tag really exists.
	fallback := "sha256-" + subject.Digest.Encoded()
	resp, err := http.Head("http://" + reg.Host + "/v2/" + repo + "/manifests/" + fallback)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fallback tag %s: %d, want 200 (oras did not write it)", fallback, resp.StatusCode)
	}
	tagListed := byName(cs, "referrers").list(t, at, 1, "")
	if len(tagListed) != 1 {
		t.Fatalf("want oras's tag-schema referrer listed, got %v", digests(tagListed))
	}
	tagOnly := tagListed[0].Digest

	want := map[string]artifact{tagOnly: art}
	for _, p := range []string{"referrers", "regctl"} {
		a := artifact{
			artifactType: "application/vnd.example.api",
			files:        []file{{"a.json", "application/json", `{"via":"` + p + `"}`}},
			annotations:  map[string]string{"org.example.producer": p},
		}
		want[byName(cs, p).attach(t, at, a)] = a
	}

	// olareg v0.2.2's API does not list the referrer whose fallback tag oras
	// wrote (distribution-spec v1.1.1, Upgrade Procedures says it must). Assert it, so the day the pinned
	// registry changes, this test says so.
	api := getJSON(t, "http://"+reg.Host+"/v2/"+repo+"/referrers/"+subject.Digest.String())
	if strings.Contains(api, tagOnly) {
		t.Errorf("olareg's Referrers API now lists the tag-schema referrer; update this test and list.go's mergeTagSchema comment")
	}

	for _, c := range cs {
		t.Run("to-"+c.name(), func(t *testing.T) {
			record(t, "olareg", "mixed-state", "oras(tag)+referrers+regctl", c.name())
			got := c.list(t, at, 1, "")
			for d, a := range want {
				if d == tagOnly && c.name() != "referrers" {
					// Peers read the API only, which misses it: for the
					// record, and never twice.
					_, n := find(got, d)
					t.Logf("%s lists oras's tag-schema referrer %d time(s) (the registry's API misses it)", c.name(), n)
					if n > 1 {
						t.Errorf("%s lists it %d times", c.name(), n)
					}
					continue
				}
				expectOnce(t, got, d, a)
			}
			if c.name() == "referrers" && len(got) != len(want) {
				t.Errorf("listed %d referrers, want %d: %v", len(got), len(want), digests(got))
			}
		})
	}
	t.Run("tag-mode", func(t *testing.T) {
		// Told to read the tag schema only, we see exactly what the tag holds.
		c := &ours{oracle.NewReferrers(t)}
		got := c.listArgs(t, "list", "--plain-http", "--format", "json", "--referrers-mode", "tag", at)
		expectOnce(t, got, tagOnly, art)
		if len(got) != 1 {
			t.Errorf("tag mode listed %v, want only the tag's entry", digests(got))
		}
	})
}

func getJSON(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(b)
}
