package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

// sortedTree is treeDigests with its lines sorted: listings order their
// entries differently (by digest, as the registry answered).
func sortedTree(ss []seen) string {
	lines := strings.Split(treeDigests(ss), "\n")
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// copyGraph attaches, with our CLI, an SBOM and a signature to subject and a
// signature to the SBOM, and returns the SBOM's digest.
func copyGraph(t *testing.T, subject string) {
	t.Helper()
	us := &ours{oracle.NewReferrers(t)}
	sbom := us.attach(t, subject, artifact{artifactType: "application/spdx+json",
		files: []file{{"sbom.json", "application/spdx+json", `{"spdxVersion":"SPDX-2.3"}`}}})
	us.attach(t, subject, artifact{artifactType: "application/vnd.example.signature",
		files: []file{{"sig.bin", "application/octet-stream", "signature of the image"}}})
	us.attach(t, repoOf(subject)+"@"+sbom, artifact{artifactType: "application/vnd.example.signature",
		files: []file{{"sig.bin", "application/octet-stream", "signature of the SBOM"}}})
}

// listings are what oras and regctl list, two levels deep, at reference.
func listings(t *testing.T, host, reference string) map[string]string {
	t.Helper()
	return map[string]string{
		"oras":   sortedTree((&oras{oracle.NewOras(t)}).list(t, reference, 2, "")),
		"regctl": sortedTree((&regctl{oracle.NewRegctl(t, host)}).list(t, reference, 2, "")),
	}
}

// TestCopyInterop copies a two-level referrer graph with our CLI from
// olareg (Referrers API) to distribution (referrers tag schema) and back, to
// an OCI layout and from it to distribution, and from the layout to a
// static tree; and, side by side, the first copy with `oras cp -r` and
// `regctl image copy --referrers`. oras and regctl list every registry
// destination as they list the source; the layout is listed by oras and
// the static tree by us (no peer reads static trees). A second copy pushes
// nothing.
func TestCopyInterop(t *testing.T) {
	t.Parallel()
	api, tag := oracle.StartOlareg(t), oracle.StartDistribution(t)
	hosts := []string{api.Host, tag.Host}
	mustImage(t, repository(t, api.Host, "app"), "copy-interop", "v1")
	src := api.Ref("app", ":v1")
	copyGraph(t, src)
	want := listings(t, api.Host, src)
	if want["oras"] == "" || want["oras"] != want["regctl"] {
		t.Fatalf("source: oras lists\n%s\nregctl lists\n%s", want["oras"], want["regctl"])
	}

	us := oracle.NewReferrers(t)
	cp := func(args ...string) {
		t.Helper()
		us.Must(append([]string{"copy", "--plain-http"}, args...)...)
	}
	layoutDir := filepath.Join(t.TempDir(), "airgap")
	staticDir := filepath.Join(t.TempDir(), "static")

	// ours: API → tag schema → API
	cp(src, tag.Ref("ours", ":v1"))
	cp(tag.Ref("ours", ":v1"), api.Ref("back", ""))
	// ours: registry → oci: → registry, oci: → static:
	cp(src, "oci:"+layoutDir+":v1")
	cp("oci:"+layoutDir+":v1", tag.Ref("from-oci", ":v1"))
	cp("oci:"+layoutDir+":v1", "static:"+staticDir+":app:v1")
	// the peers, side by side
	oracle.NewOras(t).Must("cp", "-r", "--from-plain-http", "--to-plain-http", src, tag.Ref("oras", ":v1"))
	oracle.NewRegctl(t, hosts...).Must("image", "copy", "--referrers", src, tag.Ref("regctl", ":v1"))

	for _, dst := range []struct{ host, ref string }{
		{tag.Host, tag.Ref("ours", ":v1")},
		{api.Host, api.Ref("back", ":v1")},
		{tag.Host, tag.Ref("from-oci", ":v1")},
		{tag.Host, tag.Ref("oras", ":v1")},
		{tag.Host, tag.Ref("regctl", ":v1")},
	} {
		got := listings(t, dst.host, dst.ref)
		for _, tool := range []string{"oras", "regctl"} {
			if got[tool] != want[tool] {
				t.Errorf("%s lists %s as\n%s\nwant (the source)\n%s", tool, dst.ref, got[tool], want[tool])
			}
		}
	}
	lay := (&orasLayout{oracle.NewOras(t)}).list(t, layoutDir+":v1", 2, "")
	if got := sortedTree(lay); got != want["oras"] {
		t.Errorf("oras lists the layout as\n%s\nwant\n%s", got, want["oras"])
	}
	var st staticListing
	if err := json.Unmarshal([]byte(us.Must("list", "--format", "json", "--depth", "2", "static:"+staticDir+":app:v1")), &st); err != nil {
		t.Fatal(err)
	}
	if got := sortedTree(st.seen()); got != want["oras"] {
		t.Errorf("the static tree lists\n%s\nwant\n%s", got, want["oras"])
	}

	// idempotence: a second copy pushes nothing and says so
	for _, args := range [][]string{
		{src, tag.Ref("ours", ":v1")},
		{src, "oci:" + layoutDir + ":v1"},
		{"oci:" + layoutDir + ":v1", "static:" + staticDir + ":app:v1"},
	} {
		var out struct {
			NothingCopied bool `json:"nothingCopied"`
			Copied        struct{ Manifests, Blobs int }
		}
		if err := json.Unmarshal([]byte(us.Must(append([]string{"copy", "--plain-http", "--format", "json"}, args...)...)), &out); err != nil {
			t.Fatal(err)
		}
		if !out.NothingCopied {
			t.Errorf("copy %v again: copied %+v, want nothing", args, out.Copied)
		}
	}
}

// copyWriters is how many copies and how many attaches run at once in
// TestConcurrentCopyAttach.
const copyWriters = 8

// TestConcurrentCopyAttach runs 8 `referrers copy` processes (each bringing
// two referrers from its own source repository) and 8 `referrers attach`
// processes onto one subject of distribution (no Referrers API: every one
// of them updates the one referrers tag schema index) at once. None is lost:
// all 24 referrers are listed by us, oras and regctl.
func TestConcurrentCopyAttach(t *testing.T) {
	t.Parallel()
	reg := oracle.StartDistribution(t)
	const repo = "race/copy"
	mustImage(t, repository(t, reg.Host, repo), "copy-race", "v1")
	subject := reg.Ref(repo, ":v1")
	// the sources: the same image in repositories of their own, each with
	// two referrers of its own
	var want []string
	us := &ours{oracle.NewReferrers(t)}
	for i := range copyWriters {
		src := fmt.Sprintf("race/src%d", i)
		mustImage(t, repository(t, reg.Host, src), "copy-race", "v1")
		for j := range 2 {
			want = append(want, us.attach(t, reg.Ref(src, ":v1"), artifact{artifactType: "application/vnd.example.copied",
				files: []file{{"f.json", "application/json", fmt.Sprintf(`{"source":%d,"n":%d}`, i, j)}}}))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs []error
	)
	start := make(chan struct{})
	for i := range copyWriters {
		x := oracle.NewReferrers(t)
		wg.Go(func() {
			<-start
			r := x.RunContext(ctx, "copy", "--plain-http", "--progress", "never", reg.Ref(fmt.Sprintf("race/src%d", i), ":v1"), subject)
			mu.Lock()
			defer mu.Unlock()
			if r.Err != nil {
				errs = append(errs, fmt.Errorf("copy %d: %v: %s", i, r.Err, r.Stderr))
			}
		})
		a := oracle.NewReferrers(t)
		name := "w.json"
		wg.Go(func() {
			a.Dir = t.TempDir()
			if err := os.WriteFile(filepath.Join(a.Dir, name), []byte(`{"attach":`+strconv.Itoa(i)+`}`), 0o600); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
				return
			}
			<-start
			r := a.RunContext(ctx, "attach", "--plain-http", "--format", "json", subject, name+":application/json",
				"--artifact-type", "application/vnd.example.attached")
			mu.Lock()
			defer mu.Unlock()
			if r.Err != nil {
				errs = append(errs, fmt.Errorf("attach %d: %v: %s", i, r.Err, r.Stderr))
				return
			}
			d, err := digestOf("referrers", r.Stdout)
			if err != nil {
				errs = append(errs, err)
				return
			}
			want = append(want, d)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		t.Error(err)
	}
	for _, consumer := range clients(t, reg.Host) {
		got := consumer.list(t, subject, 1, "")
		if len(got) != len(want) {
			t.Errorf("%s lists %d referrers, want %d", consumer.name(), len(got), len(want))
		}
		for _, d := range want {
			if _, k := find(got, d); k != 1 {
				t.Errorf("%s lists %s %d times, want once", consumer.name(), d, k)
			}
		}
	}
}
