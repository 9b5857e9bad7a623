package oracle

import (
	"net/http"
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// TestRegistries checks that each registry starts and answers the Referrers
// API the way the interop tests assume (distribution-spec v1.1.1, Listing Referrers and Unavailable Referrers API).
func TestRegistries(t *testing.T) {
	t.Parallel()
	const empty = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	tests := []struct {
		name   string
		start  func(t *testing.T) *Registry
		status int
	}{
		{"olareg", func(t *testing.T) *Registry { return StartOlareg(t) }, http.StatusOK},
		{"olareg-no-api", func(t *testing.T) *Registry { return StartOlareg(t, WithoutReferrersAPI()) }, http.StatusMethodNotAllowed},
		{"distribution", func(t *testing.T) *Registry { return StartDistribution(t) }, http.StatusNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := tc.start(t)
			if !strings.HasPrefix(r.Host, "127.0.0.1:") {
				t.Fatalf("host %q does not bind loopback", r.Host)
			}
			resp, err := http.Get("http://" + r.Host + "/v2/app/referrers/" + empty)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("GET /referrers/: %d, want %d", resp.StatusCode, tc.status)
			}
		})
	}
}

func TestTools(t *testing.T) {
	t.Parallel()
	tools := map[string]*Tool{
		"referrers": NewReferrers(t),
		"oras":      NewOras(t),
		"regctl":    NewRegctl(t),
	}
	want := map[string]string{"oras": "1.3.6", "regctl": "v0.11.7", "referrers": "referrers"}
	for name, x := range tools {
		out := x.Must("version")
		if !strings.Contains(out, want[name]) {
			t.Errorf("%s version: %q does not contain %q", name, out, want[name])
		}
		if x.Home == "" || !strings.HasPrefix(x.Home, os.TempDir()) {
			t.Errorf("%s: HOME %q is not private", name, x.Home)
		}
	}
}

// TestCaddy checks that Caddy serves a directory with the headers its site
// directives set, the way the static-host interop tests use it: a file
// without an extension gets the Content-Type a header directive gives it.
func TestCaddy(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	if err := os.WriteFile(root+"/manifest", []byte(`{"schemaVersion":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	w := StartCaddy(t, root, "\theader /manifest Content-Type application/vnd.oci.image.manifest.v1+json\n\theader /manifest Docker-Content-Digest sha256:x")
	if !strings.HasPrefix(w.Host, "127.0.0.1:") {
		t.Fatalf("host %q does not bind loopback", w.Host)
	}
	resp, err := http.Head("http://" + w.Host + "/manifest")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK ||
		resp.Header.Get("Content-Type") != "application/vnd.oci.image.manifest.v1+json" ||
		resp.Header.Get("Docker-Content-Digest") != "sha256:x" {
		t.Fatalf("HEAD /manifest: %d %v", resp.StatusCode, resp.Header)
	}
	if !strings.Contains(w.AccessLog(), `"uri":"/manifest"`) {
		t.Errorf("access log has no line for /manifest:\n%s", w.AccessLog())
	}
}
