// Package credential finds the credentials a registry client presents to a
// registry host, the way the CLI looks them up.
//
// # Lookup order
//
// Default chains the credential files below; the first file that yields a
// non-empty credential for the host wins, and a broken file or a failing
// credential helper stops the lookup with an error (it is never skipped
// silently, so a typo cannot make the client fall back to other, unexpected
// credentials). Missing files and unset variables are skipped.
//
//  1. $REGISTRY_AUTH_FILE, when set. Otherwise $XDG_RUNTIME_DIR/containers/auth.json
//     (when XDG_RUNTIME_DIR is set): the file "podman login" writes.
//  2. $XDG_CONFIG_HOME/containers/auth.json, else $HOME/.config/containers/auth.json.
//  3. $DOCKER_CONFIG/config.json, else $HOME/.docker/config.json.
//
// This is the order of podman, skopeo and buildah (containers-auth.json(5)):
// REGISTRY_AUTH_FILE is an explicit choice and takes the place of their primary,
// read-write file; the containers files come before docker's because they are
// the more specific configuration (only containers tools write them), while
// docker's config.json is the one file every tool (docker, oras, crane, podman)
// reads and so is kept as the shared fallback. A docker-only user loses nothing:
// without auth.json files, the lookup reaches config.json, exactly what docker
// reads. The legacy ~/.dockercfg and /run/containers/$UID/auth.json are not
// read.
//
// # Within one file
//
// The docker config.json and containers auth.json formats are the same, and one
// file is consulted as docker does, with one deliberate difference:
//
//  1. credHelpers: the helper named for the host answers for this file. Its
//     "credentials not found" means no credential in this file (the lookup goes
//     on to the next file); auths and credsStore are not consulted for the host.
//     An empty helper name means "use auths for this host, not credsStore"
//     (docker's meaning too).
//  2. credsStore: the default helper is asked for every host. Unlike docker,
//     when it answers "credentials not found", the auths entries are used:
//     CI systems commonly write plain auths entries into a config that a
//     desktop installation points at a keychain, and docker then ignores them.
//  3. auths: the entry whose key matches the host (see below). Entries without
//     secrets (docker login with a credsStore writes "host": {}) do not count.
//
// # Keys and hosts
//
// Stores are asked for "host[:port]", or for "host[:port]/repository" when the
// caller knows the repository (the full path, "docker.io/library/alpine"). Keys
// of auths are normalised: a URL key ("https://ghcr.io", "http://host:5000/v2/",
// "https://index.docker.io/v1/") names its whole host, its path ignored (docker's
// reading); a bare key is "host" or "host/namespace" (containers auth.json), with
// trailing slashes and a sole "/v1" or "/v2" path removed. Host names compare
// case-insensitively, and docker.io, index.docker.io and registry-1.docker.io
// are the same host (Docker Hub). A namespaced key ("quay.io/org") only matches
// lookups for a repository inside that namespace (a host-only lookup never gets
// a repository-scoped credential); the most specific matching key wins, and
// among keys that normalise alike, the first in byte order. credHelpers keys are
// matched by host only.
//
// # Credential helpers
//
// A helper "name" is the program docker-credential-name, run with the argument
// "get", the server on stdin ("https://index.docker.io/v1/" for Docker Hub, else
// "host[:port]"), answering JSON {"ServerURL","Username","Secret"}; the user
// name "<token>" marks Secret as an identity token. The helper's output is
// capped at 1 MiB and its run time at 30 seconds (or the context's deadline).
// The default runner finds the program in PATH (the PATH given by Default's
// getenv; the process PATH for FromFile) and runs it with the process
// environment; WithHelperRunner replaces it.
//
// The package reads no environment variable itself. Stores read their files on
// every Get (no caching) and are safe for concurrent use. Error messages name
// files, keys and helpers but never carry a secret.
package credential

import (
	"context"
	"fmt"
)

// Credential is what a registry host gets.
type Credential struct {
	// Username and Password are for HTTP Basic authentication or the token
	// endpoint's password grant.
	Username string
	Password string
	// IdentityToken is an OAuth2 refresh token (docker's "identitytoken"), sent as
	// refresh_token in the token endpoint's POST.
	IdentityToken string
	// RegistryToken is a bearer token (docker's "registrytoken") used as is.
	RegistryToken string
}

// IsEmpty reports whether c carries nothing at all.
func (c Credential) IsEmpty() bool { return c == Credential{} }

// String describes c without its secrets, so that a credential printed by
// mistake (%v, %+v) leaks nothing but the user name.
func (c Credential) String() string {
	set := func(s string) string {
		if s == "" {
			return "unset"
		}
		return "set"
	}
	return fmt.Sprintf("Credential{Username: %q, Password: %s, IdentityToken: %s, RegistryToken: %s}",
		c.Username, set(c.Password), set(c.IdentityToken), set(c.RegistryToken))
}

// GoString is String, for %#v.
func (c Credential) GoString() string { return c.String() }

// Store finds the credential for a registry host ("host[:port]", "docker.io"
// for Docker Hub; "host[:port]/repository" also works, see the package doc).
// A host with no credential returns the empty Credential and a nil error; a
// broken config file or a failing helper is an error.
type Store interface {
	Get(ctx context.Context, host string) (Credential, error)
}

// StoreFunc adapts a function to Store.
type StoreFunc func(ctx context.Context, host string) (Credential, error)

// Get calls f.
func (f StoreFunc) Get(ctx context.Context, host string) (Credential, error) { return f(ctx, host) }

// Static is a Store holding c for one host (keyed and matched like an auths key;
// Docker Hub's aliases match each other) and nothing for any other.
func Static(host string, c Credential) Store {
	key, ok := parseKey(host)
	return StoreFunc(func(_ context.Context, h string) (Credential, error) {
		q, err := parseQuery(h)
		if err != nil {
			return Credential{}, err
		}
		if _, match := key.matches(q); ok && match {
			return c, nil
		}
		return Credential{}, nil
	})
}

// Chain asks the stores in order: the first non-empty credential wins, an error
// stops the chain and is returned. Nil stores are skipped.
func Chain(stores ...Store) Store {
	stores = append([]Store(nil), stores...)
	return StoreFunc(func(ctx context.Context, host string) (Credential, error) {
		for _, s := range stores {
			if s == nil {
				continue
			}
			c, err := s.Get(ctx, host)
			if err != nil {
				return Credential{}, err
			}
			if !c.IsEmpty() {
				return c, nil
			}
		}
		return Credential{}, nil
	})
}

// Option configures FromFile and Default.
type Option func(*options)

// HelperRunner runs the credential helper docker-credential-<helper> with the
// argument "get" and stdin as its standard input, and returns its standard
// output. When the helper fails, it returns an error and whatever the helper
// printed (the "credentials not found" answer is recognised in either).
type HelperRunner func(ctx context.Context, helper string, stdin []byte) ([]byte, error)

// WithHelperRunner replaces how credential helpers are run (tests inject one);
// the default execs "docker-credential-"+helper with the argument "get". The
// output cap and the time limit still apply.
func WithHelperRunner(run HelperRunner) Option {
	return func(o *options) {
		if run != nil {
			o.run = run
		}
	}
}
