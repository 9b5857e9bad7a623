package registry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/credential"
	"github.com/oci-referrers/referrers/core/target"
	"github.com/oci-referrers/referrers/internal/testing/fakeregistry"
)

const (
	user = "alice"
	pass = "s3cret"
)

// TestAuth resolves a tag and lists referrers under each authentication
// scheme of the fake, with and without credentials.
func TestAuth(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		mode      fakeregistry.Mode
		cred      *credential.Credential // nil: no credential store at all
		credHost  string                 // "": the registry's host
		want      error                  // nil: ok; errPlain: plain error
		wantTok   int                    // token requests
		wantInErr string
	}{
		{name: "basic, right credentials", mode: fakeregistry.Mode{Auth: fakeregistry.AuthBasic, Username: user, Password: pass},
			cred: &credential.Credential{Username: user, Password: pass}},
		{name: "basic, wrong password", mode: fakeregistry.Mode{Auth: fakeregistry.AuthBasic, Username: user, Password: pass},
			cred: &credential.Credential{Username: user, Password: "nope"}, want: errPlain, wantInErr: "401"},
		{name: "basic, no store", mode: fakeregistry.Mode{Auth: fakeregistry.AuthBasic, Username: user, Password: pass},
			want: ErrAuth, wantInErr: "Basic"},
		{name: "basic, credentials for another host", mode: fakeregistry.Mode{Auth: fakeregistry.AuthBasic, Username: user, Password: pass},
			cred: &credential.Credential{Username: user, Password: pass}, credHost: "elsewhere.example", want: ErrAuth},
		{name: "bearer, anonymous", mode: fakeregistry.Mode{Auth: fakeregistry.AuthBearer}, wantTok: 1},
		{name: "bearer, anonymous with credentials", mode: fakeregistry.Mode{Auth: fakeregistry.AuthBearer},
			cred: &credential.Credential{Username: user, Password: pass}, wantTok: 1},
		{name: "bearer, right credentials", mode: fakeregistry.Mode{Auth: fakeregistry.AuthBearer, Username: user, Password: pass},
			cred: &credential.Credential{Username: user, Password: pass}, wantTok: 1},
		{name: "bearer, wrong password", mode: fakeregistry.Mode{Auth: fakeregistry.AuthBearer, Username: user, Password: pass},
			cred: &credential.Credential{Username: user, Password: "nope"}, want: ErrAuth, wantTok: 1, wantInErr: "401"},
		{name: "bearer, no credentials", mode: fakeregistry.Mode{Auth: fakeregistry.AuthBearer, Username: user, Password: pass},
			want: ErrAuth, wantTok: 1, wantInErr: "token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := fakeregistry.New(t, tt.mode)
			subject, _ := seedImage(t, reg, repoName, "v1")
			seedReferrer(t, reg, repoName, subject, sbomType, "a")
			var opts []Option
			if tt.cred != nil {
				host := tt.credHost
				if host == "" {
					host = reg.Host()
				}
				opts = append(opts, WithCredentials(credential.Static(host, *tt.cred)))
			}
			repo := repoAt(t, newClient(opts...), reg.Host(), repoName)

			got, err := repo.Resolve(t.Context(), "v1")
			if gotTok := reg.TokenRequests(); gotTok != tt.wantTok {
				t.Errorf("token requests = %d, want %d", gotTok, tt.wantTok)
			}
			switch tt.want {
			case nil:
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				if got.Digest != subject.Digest {
					t.Errorf("Resolve = %s, want %s", got.Digest, subject.Digest)
				}
			case errPlain:
				wantPlainError(t, err)
			default:
				if !errors.Is(err, tt.want) {
					t.Fatalf("Resolve = %v, want errors.Is %q", err, tt.want)
				}
			}
			if err != nil {
				if !strings.Contains(err.Error(), tt.wantInErr) {
					t.Errorf("error %q does not mention %q", err, tt.wantInErr)
				}
				if strings.Contains(err.Error(), pass) || strings.Contains(err.Error(), "nope") {
					t.Errorf("error %q carries a password", err)
				}
			}

			// An authentication failure on the referrers endpoint is never
			// "unsupported" (distribution-spec v1.1.1, Unavailable Referrers API).
			res, err := repo.Referrers(t.Context(), subject.Digest, "")
			if tt.want == nil {
				if err != nil || len(res.Manifests) != 1 {
					t.Errorf("Referrers = %d manifests, %v; want 1, nil", len(res.Manifests), err)
				}
			} else if err == nil || errors.Is(err, target.ErrUnsupported) {
				t.Errorf("Referrers = %v, want an error that is not ErrUnsupported", err)
			}
		})
	}
}

// TestBasicAuthSentUpFront: after the first challenge, Basic credentials go
// with every request (no second 401).
func TestBasicAuthSentUpFront(t *testing.T) {
	t.Parallel()
	reg := fakeregistry.New(t, fakeregistry.Mode{Auth: fakeregistry.AuthBasic, Username: user, Password: pass})
	seedImage(t, reg, repoName, "v1")
	repo := repoAt(t, newClient(WithCredentials(credential.Static(reg.Host(), credential.Credential{Username: user, Password: pass}))), reg.Host(), repoName)
	for range 3 {
		if _, err := repo.Resolve(t.Context(), "v1"); err != nil {
			t.Fatal(err)
		}
	}
	unauthorized := 0
	for _, q := range reg.Requests() {
		if q.Status == http.StatusUnauthorized {
			unauthorized++
		}
	}
	if got, want := unauthorized, 1; got != want {
		t.Errorf("401 answers = %d, want %d: %v", got, want, methods(reg.Requests()))
	}
}

// TestTokenReuse: requests on the same repository and scope share one token.
func TestTokenReuse(t *testing.T) {
	t.Parallel()
	reg := fakeregistry.New(t, fakeregistry.Mode{Auth: fakeregistry.AuthBearer})
	subject, _ := seedImage(t, reg, repoName, "v1")
	repo := repoAt(t, newClient(), reg.Host(), repoName)
	for range 5 {
		if _, err := repo.Resolve(t.Context(), "v1"); err != nil {
			t.Fatal(err)
		}
		if _, err := repo.FetchManifest(t.Context(), subject); err != nil {
			t.Fatal(err)
		}
		if _, err := repo.Referrers(t.Context(), subject.Digest, ""); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := reg.TokenRequests(), 1; got != want {
		t.Errorf("token requests = %d, want %d", got, want)
	}
}

// TestTokenReuseConcurrent: a burst of parallel requests (as the list verb
// makes) fetches one token, not one each.
func TestTokenReuseConcurrent(t *testing.T) {
	t.Parallel()
	reg := fakeregistry.New(t, fakeregistry.Mode{Auth: fakeregistry.AuthBearer, Username: user, Password: pass})
	seedImage(t, reg, repoName, "v1")
	repo := repoAt(t, newClient(WithCredentials(credential.Static(reg.Host(), credential.Credential{Username: user, Password: pass}))), reg.Host(), repoName)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			_, err := repo.Resolve(t.Context(), "v1")
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got, want := reg.TokenRequests(), 1; got != want {
		t.Errorf("token requests = %d, want %d", got, want)
	}
}

// TestTokenUpgrade: a pull token does not cover a push; the client asks for a
// pull,push token and then uses it.
func TestTokenUpgrade(t *testing.T) {
	t.Parallel()
	reg := fakeregistry.New(t, fakeregistry.Mode{Auth: fakeregistry.AuthBearer, LenientManifests: true})
	subject, _ := seedImage(t, reg, repoName, "v1")
	repo := repoAt(t, newClient(), reg.Host(), repoName)
	if _, err := repo.Resolve(t.Context(), "v1"); err != nil {
		t.Fatal(err)
	}
	desc, data := manifestBytes(t, sbomType, &subject, nil)
	if _, err := repo.PushManifest(t.Context(), desc, data, target.PushOptions{}); err != nil {
		t.Fatalf("PushManifest: %v", err)
	}
	if _, err := repo.PushManifest(t.Context(), desc, data, target.PushOptions{}); err != nil {
		t.Fatalf("second PushManifest: %v", err)
	}
	if got, want := reg.TokenRequests(), 2; got != want {
		t.Errorf("token requests = %d, want %d", got, want)
	}
	var scopes []string
	for _, q := range reg.Requests() {
		if strings.HasPrefix(q.Path, "/token") {
			scopes = append(scopes, q.Path)
		}
	}
	if len(scopes) != 2 || !strings.Contains(scopes[0], "%3Apull&") && !strings.HasSuffix(scopes[0], "%3Apull") ||
		!strings.Contains(scopes[1], "pull%2Cpush") {
		t.Errorf("token requests = %v, want a pull scope then a pull,push scope", scopes)
	}
}

// TestPushDenied: a token without push gives 403 DENIED on a push: a clear
// error, not "unsupported".
func TestPushDenied(t *testing.T) {
	t.Parallel()
	reg := fakeregistry.New(t, fakeregistry.Mode{Auth: fakeregistry.AuthBearer, GrantedActions: []string{"pull"}, LenientManifests: true})
	subject, _ := seedImage(t, reg, repoName, "v1")
	repo := repoAt(t, newClient(), reg.Host(), repoName)
	desc, data := manifestBytes(t, sbomType, &subject, nil)
	_, err := repo.PushManifest(t.Context(), desc, data, target.PushOptions{})
	wantPlainError(t, err)
	if got, want := httpStatus(err), http.StatusForbidden; got != want {
		t.Errorf("status = %d, want %d (%v)", got, want, err)
	}
	if !strings.Contains(err.Error(), "DENIED") || !strings.Contains(err.Error(), "push manifest") {
		t.Errorf("error %q does not say what was denied", err)
	}
	// Pulls still work with the same client.
	if _, err := repo.Resolve(t.Context(), "v1"); err != nil {
		t.Errorf("Resolve after a denied push: %v", err)
	}
	// A denied delete is an error too, not "unsupported" (distribution-spec v1.1.1, Referrers Tag Schema).
	if err := repo.DeleteManifest(t.Context(), subject.Digest); err == nil || errors.Is(err, target.ErrUnsupported) {
		t.Errorf("DeleteManifest = %v, want an error that is not ErrUnsupported", err)
	}
}

// TestBlobRedirect: blobs served from a CDN after a redirect arrive intact and
// the CDN never sees the registry's credentials.
func TestBlobRedirect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mode fakeregistry.Mode
		cred *credential.Credential
	}{
		{"anonymous", fakeregistry.Mode{BlobRedirect: true}, nil},
		{"bearer", fakeregistry.Mode{BlobRedirect: true, Auth: fakeregistry.AuthBearer, Username: user, Password: pass}, &credential.Credential{Username: user, Password: pass}},
		{"basic", fakeregistry.Mode{BlobRedirect: true, Auth: fakeregistry.AuthBasic, Username: user, Password: pass}, &credential.Credential{Username: user, Password: pass}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reg := fakeregistry.New(t, tt.mode)
			content := bytes.Repeat([]byte("blob "), 1000)
			desc := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: reg.PutBlob(repoName, content), Size: int64(len(content))}
			var opts []Option
			if tt.cred != nil {
				opts = append(opts, WithCredentials(credential.Static(reg.Host(), *tt.cred)))
			}
			repo := repoAt(t, newClient(opts...), reg.Host(), repoName)
			rc, err := repo.OpenBlob(t.Context(), desc)
			if err != nil {
				t.Fatalf("OpenBlob: %v", err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("read %d bytes, %v; want %d bytes", len(got), err, len(content))
			}
			if got, want := reg.CDNRequests(), 1; got != want {
				t.Errorf("CDN requests = %d, want %d", got, want)
			}
			if reg.CDNSawAuthorization() {
				t.Error("the CDN saw an Authorization header")
			}
		})
	}
}

// TestBearerRealmDowngrade: a registry served over https whose Bearer realm is
// plain http does not get the credentials; anonymous token requests may go.
func TestBearerRealmDowngrade(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cred     *credential.Credential
		want     error
		wantToks int32
	}{
		{"with credentials: refused", &credential.Credential{Username: user, Password: pass}, ErrAuth, 0},
		{"anonymous: allowed", nil, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var tokReqs atomic.Int32
			tokSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				tokReqs.Add(1)
				if _, _, ok := r.BasicAuth(); ok {
					t.Error("credentials reached the plain-http token server")
				}
				io.WriteString(w, `{"token":"anon"}`)
			}))
			t.Cleanup(tokSrv.Close)
			body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
			regSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer anon" {
					w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="reg"`, tokSrv.URL))
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				w.Write(body)
			}))
			t.Cleanup(regSrv.Close)
			host := strings.TrimPrefix(regSrv.URL, "https://")
			opts := []Option{WithHTTPClient(regSrv.Client()), testRetry}
			if tt.cred != nil {
				opts = append(opts, WithCredentials(credential.Static(host, *tt.cred)))
			}
			repo := repoAt(t, New(opts...), host, repoName)
			_, err := repo.FetchTagged(t.Context(), "v1")
			if tt.want == nil && err != nil {
				t.Fatalf("FetchTagged: %v", err)
			}
			if tt.want != nil {
				if !errors.Is(err, tt.want) {
					t.Fatalf("FetchTagged = %v, want errors.Is %q", err, tt.want)
				}
				if !strings.Contains(err.Error(), "plain http") {
					t.Errorf("error %q does not explain the refusal", err)
				}
			}
			if got, want := tokReqs.Load(), tt.wantToks; got != want {
				t.Errorf("token server requests = %d, want %d", got, want)
			}
		})
	}
}

// TestTokenRenewedAfterRejection: when the registry rejects a token the client
// still believes valid (revoked, expired early, clock skew), the client fetches
// a new one and uses it, not the rejected one.
func TestTokenRenewedAfterRejection(t *testing.T) {
	t.Parallel()
	var (
		mu      sync.Mutex
		issued  int
		current string
	)
	var srv *httptest.Server
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.URL.Path == "/token" {
			issued++
			current = fmt.Sprintf("tok-%d", issued)
			json.NewEncoder(w).Encode(map[string]any{"token": current, "expires_in": 300})
			return
		}
		if current == "" || r.Header.Get("Authorization") != "Bearer "+current {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="reg"`, srv.URL))
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	repo := repoAt(t, newClient(), strings.TrimPrefix(srv.URL, "http://"), repoName)
	if _, err := repo.FetchTagged(t.Context(), "v1"); err != nil {
		t.Fatalf("first FetchTagged: %v", err)
	}
	mu.Lock()
	current = "" // the registry revokes every token it issued
	mu.Unlock()
	if _, err := repo.FetchTagged(t.Context(), "v1"); err != nil {
		t.Fatalf("FetchTagged after the token was revoked: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if got, want := issued, 2; got != want {
		t.Errorf("tokens issued = %d, want %d", got, want)
	}
}

// TestTokenCredentials: an identity token (docker's "identitytoken", an OAuth2
// refresh token) is exchanged with a form POST (grant_type=refresh_token) for an
// access token; a registry token is used as the Bearer token directly, without
// asking the realm.
func TestTokenCredentials(t *testing.T) {
	t.Parallel()
	body := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
	tests := []struct {
		name       string
		cred       credential.Credential
		wantBearer string
		wantTokens int32
	}{
		{"identity token", credential.Credential{IdentityToken: "refresh-123"}, "access-for-refresh-123", 1},
		{"registry token", credential.Credential{RegistryToken: "raw-token"}, "raw-token", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var tokens atomic.Int32
			var srv *httptest.Server
			srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/token" {
					tokens.Add(1)
					if r.Method != http.MethodPost {
						http.Error(w, "want POST", http.StatusMethodNotAllowed)
						return
					}
					if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "refresh_token" ||
						r.PostForm.Get("service") != "reg" || !strings.HasPrefix(r.PostForm.Get("scope"), "repository:"+repoName+":") {
						http.Error(w, "bad form "+r.PostForm.Encode(), http.StatusBadRequest)
						return
					}
					json.NewEncoder(w).Encode(map[string]any{"access_token": "access-for-" + r.PostForm.Get("refresh_token"), "expires_in": 300})
					return
				}
				if r.Header.Get("Authorization") != "Bearer "+tt.wantBearer {
					w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="%s/token",service="reg"`, srv.URL))
					w.WriteHeader(http.StatusUnauthorized)
					return
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				w.Write(body)
			}))
			t.Cleanup(srv.Close)
			host := strings.TrimPrefix(srv.URL, "http://")
			c := newClient(WithCredentials(credential.Static(host, tt.cred)))
			repo := repoAt(t, c, host, repoName)
			if _, err := repo.FetchTagged(t.Context(), "v1"); err != nil {
				t.Fatalf("FetchTagged: %v", err)
			}
			if got := tokens.Load(); got != tt.wantTokens {
				t.Errorf("token requests = %d, want %d", got, tt.wantTokens)
			}
		})
	}
}
