package credential

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// authsFile is a config with one auths entry per key, each with user "u-<key>".
func authsFile(keys ...string) string {
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%q: {\"auth\": %q}", k, b64(userFor(k)+":p-"+k)))
	}
	return `{"auths": {` + strings.Join(parts, ",") + `}}`
}

// userFor is the user name authsFile gives key (a user name has no colon).
func userFor(key string) string { return "u-" + strings.ReplaceAll(key, ":", "_") }

func withTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// fakeHelpers answers as helpers do: stdout, and an error for a non-zero exit.
type helperAnswer struct {
	out string
	err error
}

type fakeHelpers struct {
	mu      sync.Mutex
	answers map[string]map[string]helperAnswer // helper -> server -> answer; server "*" for any
	calls   []string                           // "helper<server"
}

func (f *fakeHelpers) run(_ context.Context, helper string, stdin []byte) ([]byte, error) {
	f.mu.Lock()
	f.calls = append(f.calls, helper+"<"+string(stdin))
	f.mu.Unlock()
	byServer, ok := f.answers[helper]
	if !ok {
		return nil, &exec.Error{Name: "docker-credential-" + helper, Err: exec.ErrNotFound}
	}
	a, ok := byServer[string(stdin)]
	if !ok {
		a, ok = byServer["*"]
	}
	if !ok {
		return []byte(helperNotFound + "\n"), errors.New("exit status 1")
	}
	return []byte(a.out), a.err
}

func (f *fakeHelpers) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func helperJSON(user, secret string) helperAnswer {
	return helperAnswer{out: fmt.Sprintf(`{"ServerURL":"x","Username":%q,"Secret":%q}`, user, secret)}
}

func TestKeyForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key   string
		query string
		match bool
	}{
		{"ghcr.io", "ghcr.io", true},
		{"ghcr.io", "GHCR.io", true},
		{"GHCR.IO", "ghcr.io", true},
		{"ghcr.io/", "ghcr.io", true},
		{"https://ghcr.io", "ghcr.io", true},
		{"https://ghcr.io/", "ghcr.io", true},
		{"HTTPS://ghcr.io/v2/", "ghcr.io", true},
		{"https://ghcr.io/v1/", "ghcr.io", true},
		{"ghcr.io/v2/", "ghcr.io", true},
		{"ghcr.io", "ghcr.io/owner/repo", true},
		{"ghcr.io", "https://ghcr.io/", true},
		{"localhost:5000", "localhost:5000", true},
		{"http://localhost:5000/v2/", "localhost:5000", true},
		{"http://localhost:5000", "localhost:5000", true},
		{"localhost:5000", "localhost", false},
		{"localhost:5000", "localhost:5001", false},
		{"localhost", "localhost:5000", false},
		{"[::1]:5000", "[::1]:5000", true},
		{"example.com", "ghcr.io", false},
		{"ghcr.io.evil.example", "ghcr.io", false},
		// containers auth.json namespaces
		{"quay.io/org", "quay.io", false},
		{"quay.io/org", "quay.io/org", true},
		{"quay.io/org", "quay.io/org/repo", true},
		{"quay.io/org", "quay.io/organisation/repo", false},
		{"quay.io/org/repo", "quay.io/org/repo", true},
		{"quay.io/org/repo/", "quay.io/org/repo", true},
		{"quay.io/org/repo", "quay.io/org", false},
		// a URL key names its whole host (docker's reading)
		{"https://quay.io/org", "quay.io", true},
		// not registry keys
		{"ftp://ghcr.io", "ghcr.io", false},
		{"", "ghcr.io", false},
		{"user@ghcr.io", "ghcr.io", false},
	}
	for _, tt := range tests {
		t.Run(tt.key+"→"+tt.query, func(t *testing.T) {
			t.Parallel()
			p := writeFile(t, t.TempDir(), "auth.json", authsFile(tt.key))
			got, err := FromFile(p).Get(context.Background(), tt.query)
			if err != nil {
				t.Fatal(err)
			}
			want := Credential{}
			if tt.match {
				want = Credential{Username: userFor(tt.key), Password: "p-" + tt.key}
			}
			if got != want {
				t.Errorf("Get(%q) with key %q = %v, want %v", tt.query, tt.key, got, want)
			}
		})
	}
}

func TestInvalidQuery(t *testing.T) {
	t.Parallel()
	p := writeFile(t, t.TempDir(), "auth.json", authsFile("ghcr.io"))
	for _, q := range []string{"", "   ", "user@ghcr.io", "ftp://ghcr.io", "host:/x"} {
		if _, err := FromFile(p).Get(context.Background(), q); err == nil {
			t.Errorf("Get(%q): no error", q)
		}
		if _, err := Static("ghcr.io", Credential{Username: "u"}).Get(context.Background(), q); err == nil {
			t.Errorf("Static.Get(%q): no error", q)
		}
	}
}

func TestMostSpecificKeyWins(t *testing.T) {
	t.Parallel()
	p := writeFile(t, t.TempDir(), "auth.json", authsFile("quay.io", "quay.io/org", "quay.io/org/repo", "https://quay.io/other"))
	tests := []struct{ query, wantKey string }{
		{"quay.io", "https://quay.io/other"}, // two host-wide keys: the first in byte order
		{"quay.io/org/repo", "quay.io/org/repo"},
		{"quay.io/org/repo2", "quay.io/org"},
		{"quay.io/org/repo/sub", "quay.io/org/repo"},
		{"quay.io/another", "https://quay.io/other"},
	}
	for _, tt := range tests {
		got, err := FromFile(p).Get(context.Background(), tt.query)
		if err != nil {
			t.Fatal(err)
		}
		if got.Username != userFor(tt.wantKey) {
			t.Errorf("Get(%q) = %v, want the entry of %q", tt.query, got, tt.wantKey)
		}
	}
}

func TestDockerHubAliases(t *testing.T) {
	t.Parallel()
	keys := []string{"https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io", "https://registry-1.docker.io/v2/"}
	hosts := []string{"docker.io", "index.docker.io", "registry-1.docker.io", "Docker.IO", "docker.io/library/alpine"}
	for _, key := range keys {
		p := writeFile(t, t.TempDir(), "config.json", authsFile(key))
		for _, host := range hosts {
			got, err := FromFile(p).Get(context.Background(), host)
			if err != nil {
				t.Fatal(err)
			}
			if got.Username != userFor(key) {
				t.Errorf("key %q, Get(%q) = %v", key, host, got)
			}
		}
		for _, other := range []string{"ghcr.io", "hub.docker.com"} {
			if got, _ := FromFile(p).Get(context.Background(), other); !got.IsEmpty() {
				t.Errorf("key %q, Get(%q) = %v, want nothing", key, other, got)
			}
		}
	}

	// Helpers are asked for Docker Hub with docker's server URL.
	f := &fakeHelpers{answers: map[string]map[string]helperAnswer{
		"store": {dockerHubServer: helperJSON("hubuser", "hubpass")},
	}}
	p := writeFile(t, t.TempDir(), "config.json", `{"credsStore": "store"}`)
	for _, host := range hosts {
		got, err := FromFile(p, WithHelperRunner(f.run)).Get(context.Background(), host)
		if err != nil {
			t.Fatal(err)
		}
		if want := (Credential{Username: "hubuser", Password: "hubpass"}); got != want {
			t.Errorf("Get(%q) = %v, want %v", host, got, want)
		}
	}
	for _, c := range f.Calls() {
		if c != "store<"+dockerHubServer {
			t.Errorf("helper call %q, want the server %q", c, dockerHubServer)
		}
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	notFound := helperAnswer{out: helperNotFound, err: errors.New("exit status 1")}
	tests := []struct {
		name      string
		config    string
		helpers   map[string]map[string]helperAnswer
		host      string
		want      Credential
		wantErr   string // substring; "" for no error
		wantCalls []string
	}{
		{
			name:      "credHelpers wins over credsStore and auths",
			config:    `{"auths": {"ghcr.io": {"auth": "` + b64("a:b") + `"}}, "credsStore": "store", "credHelpers": {"ghcr.io": "gh"}}`,
			helpers:   map[string]map[string]helperAnswer{"gh": {"ghcr.io": helperJSON("ghu", "ghp")}, "store": {"*": helperJSON("su", "sp")}},
			host:      "ghcr.io",
			want:      Credential{Username: "ghu", Password: "ghp"},
			wantCalls: []string{"gh<ghcr.io"},
		},
		{
			name:      "credHelpers not found is final for the file",
			config:    `{"auths": {"ghcr.io": {"auth": "` + b64("a:b") + `"}}, "credsStore": "store", "credHelpers": {"ghcr.io": "gh"}}`,
			helpers:   map[string]map[string]helperAnswer{"gh": {"ghcr.io": notFound}, "store": {"*": helperJSON("su", "sp")}},
			host:      "ghcr.io",
			want:      Credential{},
			wantCalls: []string{"gh<ghcr.io"},
		},
		{
			name:      "credHelpers URL key",
			config:    `{"credHelpers": {"https://ghcr.io/": "gh"}}`,
			helpers:   map[string]map[string]helperAnswer{"gh": {"ghcr.io": helperJSON("ghu", "ghp")}},
			host:      "ghcr.io",
			want:      Credential{Username: "ghu", Password: "ghp"},
			wantCalls: []string{"gh<ghcr.io"},
		},
		{
			name:      "credHelpers of another host: credsStore",
			config:    `{"credsStore": "store", "credHelpers": {"gcr.io": "gcloud"}}`,
			helpers:   map[string]map[string]helperAnswer{"store": {"*": helperJSON("su", "sp")}},
			host:      "ghcr.io",
			want:      Credential{Username: "su", Password: "sp"},
			wantCalls: []string{"store<ghcr.io"},
		},
		{
			name:    "namespaced credHelpers key is ignored",
			config:  `{"credHelpers": {"ghcr.io/org": "gh"}, "auths": {"ghcr.io": {"username": "a", "password": "b"}}}`,
			helpers: map[string]map[string]helperAnswer{"gh": {"*": helperJSON("ghu", "ghp")}},
			host:    "ghcr.io/org/repo",
			want:    Credential{Username: "a", Password: "b"},
		},
		{
			name:    "empty credHelpers name: auths, not credsStore",
			config:  `{"auths": {"ghcr.io": {"auth": "` + b64("a:b") + `"}}, "credsStore": "store", "credHelpers": {"ghcr.io": ""}}`,
			helpers: map[string]map[string]helperAnswer{"store": {"*": helperJSON("su", "sp")}},
			host:    "ghcr.io",
			want:    Credential{Username: "a", Password: "b"},
		},
		{
			name:      "credsStore wins over auths",
			config:    `{"auths": {"ghcr.io": {"auth": "` + b64("a:b") + `"}}, "credsStore": "store"}`,
			helpers:   map[string]map[string]helperAnswer{"store": {"ghcr.io": helperJSON("su", "sp")}},
			host:      "ghcr.io",
			want:      Credential{Username: "su", Password: "sp"},
			wantCalls: []string{"store<ghcr.io"},
		},
		{
			name:      "credsStore not found falls back to auths",
			config:    `{"auths": {"ghcr.io": {"auth": "` + b64("a:b") + `"}}, "credsStore": "store"}`,
			helpers:   map[string]map[string]helperAnswer{"store": {}},
			host:      "ghcr.io",
			want:      Credential{Username: "a", Password: "b"},
			wantCalls: []string{"store<ghcr.io"},
		},
		{
			name:      "credsStore not found and an empty auths entry (docker login's marker)",
			config:    `{"auths": {"ghcr.io": {}}, "credsStore": "store"}`,
			helpers:   map[string]map[string]helperAnswer{"store": {}},
			host:      "ghcr.io",
			want:      Credential{},
			wantCalls: []string{"store<ghcr.io"},
		},
		{
			name:      "credsStore not found on stderr only",
			config:    `{"credsStore": "store"}`,
			helpers:   map[string]map[string]helperAnswer{"store": {"*": {err: errors.New("exit status 1: " + helperNotFound)}}},
			host:      "ghcr.io",
			want:      Credential{},
			wantCalls: []string{"store<ghcr.io"},
		},
		{
			name:    "credsStore failure is an error, not a fallback",
			config:  `{"auths": {"ghcr.io": {"auth": "` + b64("a:b") + `"}}, "credsStore": "store"}`,
			helpers: map[string]map[string]helperAnswer{"store": {"*": {out: "", err: errors.New("exit status 1: keychain locked")}}},
			host:    "ghcr.io",
			wantErr: `credsStore: credential helper "store" for ghcr.io: exit status 1: keychain locked`,
		},
		{
			name:    "helper program missing is an error naming it",
			config:  `{"auths": {"ghcr.io": {"auth": "` + b64("a:b") + `"}}, "credsStore": "desktop"}`,
			host:    "ghcr.io",
			wantErr: `docker-credential-desktop`,
		},
		{
			name:    "credHelpers program missing",
			config:  `{"credHelpers": {"ghcr.io": "gh"}}`,
			host:    "ghcr.io",
			wantErr: `credHelpers["ghcr.io"]: credential helper "gh" for ghcr.io: exec: "docker-credential-gh"`,
		},
		{
			name:    "helper identity token",
			config:  `{"credHelpers": {"myregistry.azurecr.io": "acr"}}`,
			helpers: map[string]map[string]helperAnswer{"acr": {"*": helperJSON("<token>", "refresh-me")}},
			host:    "myregistry.azurecr.io",
			want:    Credential{IdentityToken: "refresh-me"},
		},
		{
			name:    "helper empty answer is no credential",
			config:  `{"credsStore": "store"}`,
			helpers: map[string]map[string]helperAnswer{"store": {"*": {out: "\n"}}},
			host:    "ghcr.io",
			want:    Credential{},
		},
		{
			name:    "helper answer not JSON",
			config:  `{"credsStore": "store"}`,
			helpers: map[string]map[string]helperAnswer{"store": {"*": {out: `{"Username":"u","Secret":"hunter2"`}}},
			host:    "ghcr.io",
			wantErr: `credential helper "store" for ghcr.io: answer is not the expected JSON object`,
		},
		{
			name:    "helper answer too large",
			config:  `{"credsStore": "store"}`,
			helpers: map[string]map[string]helperAnswer{"store": {"*": {out: strings.Repeat(" ", maxHelperOutput+1)}}},
			host:    "ghcr.io",
			wantErr: "answer larger than",
		},
		{
			name:   "identitytoken and registrytoken in auths",
			config: `{"auths": {"acr.example": {"username": "00000000-0000-0000-0000-000000000000", "identitytoken": "rt"}, "reg.example": {"registrytoken": "bt"}}}`,
			host:   "acr.example",
			want:   Credential{Username: "00000000-0000-0000-0000-000000000000", IdentityToken: "rt"},
		},
		{
			name:   "registrytoken in auths",
			config: `{"auths": {"acr.example": {"username": "x", "identitytoken": "rt"}, "reg.example": {"registrytoken": "bt"}}}`,
			host:   "reg.example",
			want:   Credential{RegistryToken: "bt"},
		},
		{
			name:   "auth overrides username and password fields",
			config: `{"auths": {"ghcr.io": {"auth": "` + b64("a:b:c") + `", "username": "x", "password": "y"}}}`,
			host:   "ghcr.io",
			want:   Credential{Username: "a", Password: "b:c"},
		},
		{
			name:   "username and password fields",
			config: `{"auths": {"ghcr.io": {"username": "x", "password": "y"}}}`,
			host:   "ghcr.io",
			want:   Credential{Username: "x", Password: "y"},
		},
		{
			name:   "auth without padding",
			config: `{"auths": {"ghcr.io": {"auth": "` + strings.TrimRight(b64("ab:c"), "=") + `"}}}`,
			host:   "ghcr.io",
			want:   Credential{Username: "ab", Password: "c"},
		},
		{
			name:   "other fields of config.json are ignored",
			config: `{"auths": {"ghcr.io": {"auth": "` + b64("a:b") + `", "email": "a@example.com"}}, "proxies": {"default": {}}, "HttpHeaders": {"X": "y"}, "currentContext": "default"}`,
			host:   "ghcr.io",
			want:   Credential{Username: "a", Password: "b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeHelpers{answers: tt.helpers}
			p := writeFile(t, t.TempDir(), "config.json", tt.config)
			got, err := FromFile(p, WithHelperRunner(f.run)).Get(context.Background(), tt.host)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Get = %v, want an error with %q", got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), p) {
					t.Errorf("error %q, want it to contain %q and the file name", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q quotes a secret", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Get = %v (%q/%q/%q/%q), want %v", got, got.Username, got.Password, got.IdentityToken, got.RegistryToken, tt.want)
			}
			if tt.wantCalls != nil && !reflect.DeepEqual(f.Calls(), tt.wantCalls) {
				t.Errorf("helper calls %q, want %q", f.Calls(), tt.wantCalls)
			}
		})
	}
}

func TestHelperTimeout(t *testing.T) {
	t.Parallel()
	p := writeFile(t, t.TempDir(), "config.json", `{"credsStore": "slow"}`)
	slow := func(ctx context.Context, _ string, _ []byte) ([]byte, error) {
		<-ctx.Done()
		return nil, errors.New("signal: killed")
	}
	start := time.Now()
	_, err := FromFile(p, WithHelperRunner(slow), withTimeout(50*time.Millisecond)).Get(context.Background(), "ghcr.io")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `"slow"`) {
		t.Errorf("error %v, want a deadline naming the helper", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %v", time.Since(start))
	}

	// The caller's cancellation is reported as such.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := FromFile(p, WithHelperRunner(slow)).Get(ctx, "ghcr.io"); !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
}

func TestMalformedFiles(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		wantErr string
	}{
		{"truncated JSON", `{"auths": {"ghcr.io": {"auth": "aHVudGVyMg`, "malformed JSON at byte offset"},
		{"bad character", `{"auths": {"ghcr.io": {"auth": hunter2}}}`, "malformed JSON at byte offset"},
		{"not an object", `["hunter2"]`, "malformed file: a JSON array, not an object"},
		{"auths not an object", `{"auths": "hunter2"}`, `"auths" holds a JSON string`},
		{"auth not a string", `{"auths": {"ghcr.io": {"auth": 12345}}}`, "holds a JSON number"},
		{"bad base64", `{"auths": {"ghcr.io": {"auth": "hunter2!!"}}}`, `auths["ghcr.io"]: "auth" is not valid base64`},
		{"auth without colon", `{"auths": {"ghcr.io": {"auth": "` + b64("hunter2") + `"}}}`, `auths["ghcr.io"]: "auth" does not decode to "username:password" (no colon)`},
		{"bad entry spoils the file", `{"auths": {"ghcr.io": {"auth": "` + b64("a:b") + `"}, "other.io": {"auth": "%%%"}}}`, `auths["other.io"]`},
		{"helper name with a path", `{"credsStore": "../../bin/sh"}`, "credsStore: invalid helper name"},
		{"credHelpers name with a path", `{"credHelpers": {"ghcr.io": "/tmp/x"}}`, `credHelpers["ghcr.io"]: invalid helper name`},
		{"too large", `{"auths": {}, "x": "` + strings.Repeat("a", maxConfigBytes) + `"}`, "file larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := writeFile(t, t.TempDir(), "config.json", tt.content)
			got, err := FromFile(p).Get(context.Background(), "ghcr.io")
			if err == nil {
				t.Fatalf("Get = %v, want an error", got)
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.wantErr) || !strings.Contains(msg, p) {
				t.Errorf("error %q, want it to contain %q and the file name", msg, tt.wantErr)
			}
			for _, secret := range []string{"hunter2", "aHVudGVyMg"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q quotes the secret %q", msg, secret)
				}
			}
		})
	}

	t.Run("directory", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		if _, err := FromFile(dir).Get(context.Background(), "ghcr.io"); err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("error %v, want one naming %s", err, dir)
		}
	})
}

func TestNoCredentials(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct{ name, path string }{
		{"missing file", filepath.Join(dir, "nope", "config.json")},
		{"empty path", ""},
		{"empty file", writeFile(t, dir, "empty.json", "")},
		{"blank file", writeFile(t, dir, "blank.json", " \n\t")},
		{"null", writeFile(t, dir, "null.json", "null")},
		{"empty object", writeFile(t, dir, "obj.json", "{}")},
		{"other hosts only", writeFile(t, dir, "other.json", authsFile("quay.io", "quay.io/ghcr.io"))},
		{"unusable keys", writeFile(t, dir, "keys.json", authsFile("", "ftp://ghcr.io", "ghcr.io:"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := FromFile(tt.path).Get(context.Background(), "ghcr.io")
			if err != nil || !got.IsEmpty() {
				t.Errorf("Get = %v, %v; want nothing", got, err)
			}
		})
	}
}

func TestDefaultPaths(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"nothing set", nil, nil},
		{
			"home only",
			map[string]string{"HOME": "/home/u"},
			[]string{"/home/u/.config/containers/auth.json", "/home/u/.docker/config.json"},
		},
		{
			"all set",
			map[string]string{
				"HOME": "/home/u", "REGISTRY_AUTH_FILE": "/etc/auth.json", "XDG_RUNTIME_DIR": "/run/user/1000",
				"XDG_CONFIG_HOME": "/cfg", "DOCKER_CONFIG": "/dock",
			},
			[]string{"/etc/auth.json", "/cfg/containers/auth.json", "/dock/config.json"},
		},
		{
			"runtime dir without REGISTRY_AUTH_FILE",
			map[string]string{"HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1000"},
			[]string{"/run/user/1000/containers/auth.json", "/home/u/.config/containers/auth.json", "/home/u/.docker/config.json"},
		},
		{
			"relative XDG dirs are ignored",
			map[string]string{"HOME": "/home/u", "XDG_RUNTIME_DIR": "run", "XDG_CONFIG_HOME": "cfg"},
			[]string{"/home/u/.config/containers/auth.json", "/home/u/.docker/config.json"},
		},
		{
			"duplicates once",
			map[string]string{"HOME": "/home/u", "REGISTRY_AUTH_FILE": "/home/u/.docker//config.json"},
			[]string{"/home/u/.docker/config.json", "/home/u/.config/containers/auth.json"},
		},
		{
			"USERPROFILE without HOME",
			map[string]string{"USERPROFILE": "/users/u"},
			[]string{"/users/u/.config/containers/auth.json", "/users/u/.docker/config.json"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if runtime.GOOS == "windows" {
				t.Skip("POSIX paths")
			}
			got := DefaultPaths(func(k string) string { return tt.env[k] })
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DefaultPaths = %q, want %q", got, tt.want)
			}
		})
	}
	if got := DefaultPaths(nil); got != nil {
		t.Errorf("DefaultPaths(nil) = %q", got)
	}
}

func TestDefaultOrder(t *testing.T) {
	t.Parallel()
	// Every file knows ghcr.io with its own user name; "only-<file>" hosts are in
	// one file each.
	files := []struct{ env, rel string }{
		{"REGISTRY_AUTH_FILE", "explicit/auth.json"},
		{"XDG_RUNTIME_DIR", "run/containers/auth.json"},
		{"XDG_CONFIG_HOME", "cfg/containers/auth.json"},
		{"HOME", "home/.config/containers/auth.json"},
		{"DOCKER_CONFIG", "dock/config.json"},
		{"HOME", "home/.docker/config.json"},
	}
	root := t.TempDir()
	for i, f := range files {
		content := fmt.Sprintf(`{"auths": {"ghcr.io": {"username": "file%d", "password": "p"}, "only%d.example": {"username": "file%d", "password": "p"}}}`, i, i, i)
		writeFile(t, root, f.rel, content)
	}
	full := map[string]string{
		"REGISTRY_AUTH_FILE": filepath.Join(root, "explicit/auth.json"),
		"XDG_RUNTIME_DIR":    filepath.Join(root, "run"),
		"XDG_CONFIG_HOME":    filepath.Join(root, "cfg"),
		"DOCKER_CONFIG":      filepath.Join(root, "dock"),
		"HOME":               filepath.Join(root, "home"),
	}
	without := func(keys ...string) map[string]string {
		m := map[string]string{}
		for k, v := range full {
			m[k] = v
		}
		for _, k := range keys {
			delete(m, k)
		}
		return m
	}
	tests := []struct {
		name string
		env  map[string]string
		host string
		want string // user name, "" for none
	}{
		{"REGISTRY_AUTH_FILE first", full, "ghcr.io", "file0"},
		{"REGISTRY_AUTH_FILE replaces the runtime file", full, "only1.example", ""},
		{"then XDG_CONFIG_HOME", full, "only2.example", "file2"},
		{"XDG_CONFIG_HOME replaces ~/.config", full, "only3.example", ""},
		{"then DOCKER_CONFIG", full, "only4.example", "file4"},
		{"DOCKER_CONFIG replaces ~/.docker", full, "only5.example", ""},
		{"runtime dir without REGISTRY_AUTH_FILE", without("REGISTRY_AUTH_FILE"), "ghcr.io", "file1"},
		{"~/.config without XDG_CONFIG_HOME", without("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME"), "ghcr.io", "file3"},
		{"auth.json before config.json", without("REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME"), "only5.example", ""},
		{"~/.docker without DOCKER_CONFIG", without("DOCKER_CONFIG"), "only5.example", "file5"},
		{"docker config alone", map[string]string{"DOCKER_CONFIG": filepath.Join(root, "dock")}, "ghcr.io", "file4"},
		{"missing files are skipped", map[string]string{"REGISTRY_AUTH_FILE": filepath.Join(root, "none.json"), "HOME": filepath.Join(root, "home")}, "ghcr.io", "file3"},
		{"empty environment", nil, "ghcr.io", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Default(func(k string) string { return tt.env[k] }).Get(context.Background(), tt.host)
			if err != nil {
				t.Fatal(err)
			}
			if got.Username != tt.want {
				t.Errorf("Get(%q) = %v, want user %q", tt.host, got, tt.want)
			}
		})
	}

	t.Run("a broken earlier file stops the lookup", func(t *testing.T) {
		t.Parallel()
		broken := writeFile(t, t.TempDir(), "auth.json", `{"auths": `)
		env := without()
		env["REGISTRY_AUTH_FILE"] = broken
		_, err := Default(func(k string) string { return env[k] }).Get(context.Background(), "ghcr.io")
		if err == nil || !strings.Contains(err.Error(), broken) {
			t.Errorf("error %v, want one naming %s", err, broken)
		}
	})

	t.Run("injected runner", func(t *testing.T) {
		t.Parallel()
		p := writeFile(t, t.TempDir(), "config.json", `{"credsStore": "x"}`)
		f := &fakeHelpers{answers: map[string]map[string]helperAnswer{"x": {"*": helperJSON("hu", "hp")}}}
		env := map[string]string{"REGISTRY_AUTH_FILE": p}
		got, err := Default(func(k string) string { return env[k] }, WithHelperRunner(f.run)).Get(context.Background(), "ghcr.io")
		if err != nil || got != (Credential{Username: "hu", Password: "hp"}) {
			t.Errorf("Get = %v, %v", got, err)
		}
	})
}

func TestStaticAndChain(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hub := Static("https://index.docker.io/v1/", Credential{Username: "hub"})
	for _, h := range []string{"docker.io", "registry-1.docker.io", "index.docker.io/library/alpine"} {
		if got, err := hub.Get(ctx, h); err != nil || got.Username != "hub" {
			t.Errorf("Static hub Get(%q) = %v, %v", h, got, err)
		}
	}
	if got, _ := hub.Get(ctx, "ghcr.io"); !got.IsEmpty() {
		t.Errorf("Static hub Get(ghcr.io) = %v", got)
	}
	if got, _ := Static("", Credential{Username: "x"}).Get(ctx, "ghcr.io"); !got.IsEmpty() {
		t.Errorf("Static with no host answered %v", got)
	}

	boom := errors.New("boom")
	var calls []string
	record := func(name string, c Credential, err error) Store {
		return StoreFunc(func(context.Context, string) (Credential, error) {
			calls = append(calls, name)
			return c, err
		})
	}
	tests := []struct {
		name      string
		stores    []Store
		want      Credential
		wantErr   error
		wantCalls []string
	}{
		{"empty chain", nil, Credential{}, nil, nil},
		{"first non-empty wins", []Store{record("a", Credential{}, nil), nil, record("b", Credential{Username: "b"}, nil), record("c", Credential{Username: "c"}, nil)}, Credential{Username: "b"}, nil, []string{"a", "b"}},
		{"an error stops the chain", []Store{record("a", Credential{}, nil), record("b", Credential{}, boom), record("c", Credential{Username: "c"}, nil)}, Credential{}, boom, []string{"a", "b"}},
		{"nothing anywhere", []Store{record("a", Credential{}, nil), record("b", Credential{}, nil)}, Credential{}, nil, []string{"a", "b"}},
	}
	for _, tt := range tests {
		calls = nil
		got, err := Chain(tt.stores...).Get(ctx, "ghcr.io")
		if got != tt.want || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) || !reflect.DeepEqual(calls, tt.wantCalls) {
			t.Errorf("%s: Get = %v, %v (calls %q); want %v, %v (calls %q)", tt.name, got, err, calls, tt.want, tt.wantErr, tt.wantCalls)
		}
	}
}

func TestCredentialString(t *testing.T) {
	t.Parallel()
	c := Credential{Username: "user", Password: "hunter2", IdentityToken: "idtok", RegistryToken: "regtok"}
	for _, s := range []string{c.String(), fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%v", &c)} {
		for _, secret := range []string{"hunter2", "idtok", "regtok"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q shows %q", s, secret)
			}
		}
		if !strings.Contains(s, "user") {
			t.Errorf("%q lacks the user name", s)
		}
	}
	if !(Credential{}).IsEmpty() || c.IsEmpty() || (Credential{RegistryToken: "x"}).IsEmpty() {
		t.Error("IsEmpty")
	}
}

// fakeHelperScript is a docker-credential-helpers lookalike.
const fakeHelperScript = `#!/bin/sh
if [ "$1" != get ]; then echo "unexpected arguments: $*" >&2; exit 3; fi
server=$(cat)
case "$server" in
ghcr.io) printf '{"ServerURL":"%s","Username":"ghuser","Secret":"ghpass"}\n' "$server" ;;
https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"<token>","Secret":"hub-refresh"}\n' "$server" ;;
slow.example) exec sleep 30 ;;
big.example) exec yes ;;
broken.example) echo "keychain is locked" >&2; exit 1 ;;
*) echo "credentials not found in native keychain"; exit 1 ;;
esac
`

// TestRealHelper runs a helper program found through the PATH given to Default
// (the process environment is left alone).
func TestRealHelper(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("shell script helper")
	}
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-fake"), []byte(fakeHelperScript), 0o755); err != nil {
		t.Fatal(err)
	}
	cfgDir := t.TempDir()
	fakeCfg := writeFile(t, cfgDir, "fake.json", `{"credsStore": "fake", "auths": {"fallback.example": {"auth": "`+b64("fb:pw")+`"}}}`)
	missingCfg := writeFile(t, cfgDir, "missing.json", `{"credHelpers": {"ghcr.io": "missing"}}`)
	getenv := func(cfg string) func(string) string {
		return func(k string) string {
			switch k {
			case "PATH":
				return "relative/dir" + string(os.PathListSeparator) + bin
			case "REGISTRY_AUTH_FILE":
				return cfg
			}
			return ""
		}
	}
	tests := []struct {
		name    string
		cfg     string
		host    string
		timeout time.Duration
		want    Credential
		wantErr string
		errIs   error
	}{
		{name: "user and secret", cfg: fakeCfg, host: "ghcr.io", want: Credential{Username: "ghuser", Password: "ghpass"}},
		{name: "identity token for Docker Hub", cfg: fakeCfg, host: "registry-1.docker.io", want: Credential{IdentityToken: "hub-refresh"}},
		{name: "not found", cfg: fakeCfg, host: "quay.io", want: Credential{}},
		{name: "not found falls back to auths", cfg: fakeCfg, host: "fallback.example", want: Credential{Username: "fb", Password: "pw"}},
		{name: "failure", cfg: fakeCfg, host: "broken.example", wantErr: `docker-credential-fake get: exit status 1: keychain is locked`},
		{name: "output too large", cfg: fakeCfg, host: "big.example", wantErr: "answer larger than 1048576 bytes"},
		{name: "deadline", cfg: fakeCfg, host: "slow.example", timeout: 300 * time.Millisecond, errIs: context.DeadlineExceeded},
		{name: "program missing", cfg: missingCfg, host: "ghcr.io", wantErr: `exec: "docker-credential-missing": executable file not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			start := time.Now()
			got, err := Default(getenv(tt.cfg)).Get(ctx, tt.host)
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			switch {
			case tt.wantErr != "" || tt.errIs != nil:
				if err == nil {
					t.Fatalf("Get = %v, want an error", got)
				}
				if tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q, want it to contain %q", err, tt.wantErr)
				}
				if tt.errIs != nil && !errors.Is(err, tt.errIs) {
					t.Errorf("error %q, want %v", err, tt.errIs)
				}
			case err != nil:
				t.Fatal(err)
			case got != tt.want:
				t.Errorf("Get = %v, want %v", got, tt.want)
			}
		})
	}

	// FromFile with a runner that execs the helper by absolute path.
	t.Run("runner by absolute path", func(t *testing.T) {
		t.Parallel()
		run := execRunner(func(name string) (string, error) { return filepath.Join(bin, name), nil })
		got, err := FromFile(fakeCfg, WithHelperRunner(run)).Get(context.Background(), "ghcr.io")
		if err != nil || got != (Credential{Username: "ghuser", Password: "ghpass"}) {
			t.Errorf("Get = %v, %v", got, err)
		}
	})
}

func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(authsFile("ghcr.io", "https://index.docker.io/v1/", "quay.io/org")))
	f.Add([]byte(`{"credsStore": "desktop", "credHelpers": {"gcr.io": "gcloud", "ghcr.io": ""}, "auths": {"ghcr.io": {}}}`))
	f.Add([]byte(`{"auths": {"x": {"auth": "!!"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseConfig(data)
		if err != nil {
			if cfg != nil {
				t.Fatal("config and error")
			}
			return
		}
		for _, a := range cfg.auths {
			s := a.key.host
			if a.key.path != "" {
				s += "/" + a.key.path
			}
			again, ok := parseKey(s)
			if !ok || again != a.key {
				t.Fatalf("key %q normalises to %+v, which parses again as %+v, %v", a.raw, a.key, again, ok)
			}
			if _, ok := a.key.matches(a.key); !ok {
				t.Fatalf("key %q does not match itself", a.raw)
			}
		}
		o := options{timeout: time.Second, run: func(context.Context, string, []byte) ([]byte, error) {
			return []byte(helperNotFound), errors.New("exit status 1")
		}}
		for _, h := range []string{"docker.io", "ghcr.io", "localhost:5000", "quay.io/org/repo"} {
			q, err := parseQuery(h)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cfg.lookup(context.Background(), q, &o); err != nil {
				t.Fatalf("lookup(%q): %v", h, err)
			}
		}
	})
}
