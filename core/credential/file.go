package credential

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

const (
	// maxConfigBytes caps how much of a credential file is read.
	maxConfigBytes = 4 << 20

	// dockerHub is the host name of Docker Hub in lookups and normalised keys.
	dockerHub = "docker.io"
	// dockerHubServer is the server URL docker uses for Docker Hub in auths keys
	// and with credential helpers.
	dockerHubServer = "https://index.docker.io/v1/"
)

type options struct {
	run      HelperRunner
	lookPath func(string) (string, error)
	timeout  time.Duration
}

func buildOptions(opts []Option) options {
	o := options{lookPath: exec.LookPath, timeout: helperTimeout}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	if o.run == nil {
		o.run = execRunner(o.lookPath)
	}
	return o
}

// withLookPath sets how the default runner finds helper programs.
func withLookPath(f func(string) (string, error)) Option {
	return func(o *options) { o.lookPath = f }
}

// FromFile is a Store reading the credential file at path: a docker config.json
// or a containers auth.json (the same format). A missing file, or an empty path,
// holds no credentials; an unreadable, oversized (over 4 MiB) or malformed file is
// an error naming the file. The file is read again on every Get.
func FromFile(path string, opts ...Option) Store {
	return &fileStore{path: path, opts: buildOptions(opts)}
}

type fileStore struct {
	path string
	opts options
}

func (s *fileStore) Get(ctx context.Context, host string) (Credential, error) {
	q, err := parseQuery(host)
	if err != nil {
		return Credential{}, err
	}
	if s.path == "" {
		return Credential{}, nil
	}
	cfg, err := readConfig(s.path)
	if err != nil || cfg == nil {
		return Credential{}, err
	}
	c, err := cfg.lookup(ctx, q, &s.opts)
	if err != nil {
		return Credential{}, fmt.Errorf("credential: %s: %w", s.path, err)
	}
	return c, nil
}

// readConfig reads and parses the file at path; a missing file is (nil, nil).
func readConfig(path string) (*config, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("credential: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("credential: %w", err)
	}
	if len(data) > maxConfigBytes {
		return nil, fmt.Errorf("credential: %s: file larger than %d bytes", path, maxConfigBytes)
	}
	cfg, err := parseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("credential: %s: %w", path, err)
	}
	return cfg, nil
}

// config is a parsed, validated credential file.
type config struct {
	auths   []authEntry   // sorted by raw key
	helpers []helperEntry // sorted by raw key
	store   string        // credsStore, "" when none
}

type authEntry struct {
	raw  string
	key  serverKey
	cred Credential
}

type helperEntry struct {
	raw  string
	host string
	name string // "" means: use auths for this host
}

// fileJSON is the part of config.json / auth.json this package reads; other
// fields are ignored.
type fileJSON struct {
	Auths       map[string]authJSON `json:"auths"`
	CredHelpers map[string]string   `json:"credHelpers"`
	CredsStore  string              `json:"credsStore"`
}

type authJSON struct {
	Auth          string `json:"auth"`
	Username      string `json:"username"`
	Password      string `json:"password"`
	IdentityToken string `json:"identitytoken"`
	RegistryToken string `json:"registrytoken"`
}

// parseConfig parses and validates the bytes of a credential file. Empty (or
// blank) data and JSON null are an empty file. Errors never quote a secret.
func parseConfig(data []byte) (*config, error) {
	cfg := &config{}
	if len(strings.TrimSpace(string(data))) == 0 {
		return cfg, nil
	}
	var f fileJSON
	if err := json.Unmarshal(data, &f); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			// The syntax error's text quotes a character of the file, which could
			// belong to a secret: give the offset only.
			return nil, fmt.Errorf("malformed JSON at byte offset %d", syn.Offset)
		}
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) {
			if typ.Field == "" {
				return nil, fmt.Errorf("malformed file: a JSON %s, not an object", typ.Value)
			}
			return nil, fmt.Errorf("malformed file: %q holds a JSON %s", typ.Field, typ.Value)
		}
		return nil, errors.New("malformed JSON")
	}

	for raw, a := range f.Auths {
		key, ok := parseKey(raw)
		if !ok {
			continue // not a registry key (another scheme, no host): never matches
		}
		c := Credential{
			Username:      a.Username,
			Password:      a.Password,
			IdentityToken: a.IdentityToken,
			RegistryToken: a.RegistryToken,
		}
		if a.Auth != "" {
			user, pass, err := decodeAuth(a.Auth)
			if err != nil {
				return nil, fmt.Errorf("auths[%q]: %w", raw, err)
			}
			c.Username, c.Password = user, pass
		}
		cfg.auths = append(cfg.auths, authEntry{raw: raw, key: key, cred: c})
	}
	sort.Slice(cfg.auths, func(i, j int) bool { return cfg.auths[i].raw < cfg.auths[j].raw })

	for raw, name := range f.CredHelpers {
		if name != "" && !validHelperName(name) {
			return nil, fmt.Errorf("credHelpers[%q]: invalid helper name %q", raw, name)
		}
		key, ok := parseKey(raw)
		if !ok || key.path != "" {
			continue // helpers answer for whole hosts only
		}
		cfg.helpers = append(cfg.helpers, helperEntry{raw: raw, host: key.host, name: name})
	}
	sort.Slice(cfg.helpers, func(i, j int) bool { return cfg.helpers[i].raw < cfg.helpers[j].raw })

	if f.CredsStore != "" && !validHelperName(f.CredsStore) {
		return nil, fmt.Errorf("credsStore: invalid helper name %q", f.CredsStore)
	}
	cfg.store = f.CredsStore
	return cfg, nil
}

// decodeAuth decodes an auths entry's "auth": base64 of "user:password".
func decodeAuth(s string) (user, pass string, err error) {
	s = strings.TrimSpace(s)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		// Some writers drop the padding.
		if b, err = base64.RawStdEncoding.DecodeString(s); err != nil {
			return "", "", errors.New(`"auth" is not valid base64`)
		}
	}
	user, pass, ok := strings.Cut(string(b), ":")
	if !ok {
		return "", "", errors.New(`"auth" does not decode to "username:password" (no colon)`)
	}
	return user, pass, nil
}

// validHelperName accepts names that can only form a program name, never a path.
func validHelperName(name string) bool {
	if len(name) > 255 {
		return false
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' || r == ':' {
			return false
		}
	}
	return true
}

// lookup applies the precedence of one file (see the package doc).
func (c *config) lookup(ctx context.Context, q serverKey, o *options) (Credential, error) {
	for _, h := range c.helpers {
		if h.host != q.host {
			continue
		}
		if h.name == "" {
			return c.fromAuths(q), nil
		}
		cred, err := o.helperGet(ctx, h.name, q.host)
		if err != nil {
			return Credential{}, fmt.Errorf("credHelpers[%q]: %w", h.raw, err)
		}
		return cred, nil
	}
	if c.store != "" {
		cred, err := o.helperGet(ctx, c.store, q.host)
		if err != nil {
			return Credential{}, fmt.Errorf("credsStore: %w", err)
		}
		if !cred.IsEmpty() {
			return cred, nil
		}
	}
	return c.fromAuths(q), nil
}

// fromAuths returns the credential of the most specific auths key matching q.
func (c *config) fromAuths(q serverKey) Credential {
	var best Credential
	bestScore := -1
	for _, a := range c.auths {
		if a.cred.IsEmpty() {
			continue
		}
		if score, ok := a.key.matches(q); ok && score > bestScore {
			best, bestScore = a.cred, score
		}
	}
	return best
}

// serverKey is a normalised auths key or lookup: a lower-case host ("docker.io"
// for Docker Hub) and an optional repository path.
type serverKey struct {
	host string
	path string
}

// parseKey normalises an auths or credHelpers key, or a lookup (see the package
// doc). It reports false for what cannot name a registry.
func parseKey(s string) (serverKey, bool) {
	s = strings.TrimSpace(s)
	isURL := false
	for _, scheme := range []string{"https://", "http://"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			s, isURL = s[len(scheme):], true
			break
		}
	}
	host, path, _ := strings.Cut(s, "/")
	if isURL {
		path = "" // docker reads a URL key as its host
	}
	path = strings.Trim(path, "/")
	if path == "v1" || path == "v2" {
		path = ""
	}
	host = strings.ToLower(host)
	// Another scheme ("ftp://x") leaves a host ending in ':'.
	if host == "" || strings.HasSuffix(host, ":") || strings.ContainsAny(host, " \t\r\n@?#\\") {
		return serverKey{}, false
	}
	switch host {
	case "index.docker.io", "registry-1.docker.io":
		host = dockerHub
	}
	return serverKey{host: host, path: path}, true
}

// parseQuery normalises the host (or host/repository) a Store is asked for.
func parseQuery(s string) (serverKey, error) {
	q, ok := parseKey(s)
	if !ok {
		return serverKey{}, fmt.Errorf("credential: invalid registry host %q", s)
	}
	return q, nil
}

// matches reports whether key k applies to lookup q, and how specific it is
// (the length of its repository path; 0 for a whole host).
func (k serverKey) matches(q serverKey) (int, bool) {
	if k.host != q.host {
		return 0, false
	}
	if k.path == "" {
		return 0, true
	}
	if q.path == k.path || strings.HasPrefix(q.path, k.path+"/") {
		return len(k.path), true
	}
	return 0, false
}

// helperServer is what a credential helper is asked for on stdin.
func helperServer(host string) string {
	if host == dockerHub {
		return dockerHubServer
	}
	return host
}
