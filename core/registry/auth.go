package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/oci-referrers/referrers/core/credential"
)

// ErrAuth is wrapped by authentication failures (no credentials where the
// registry demands them, a token endpoint that refuses them).
var ErrAuth = errors.New("authentication failed")

// authorization returns the Authorization header value the client holds for host
// and scope, or "".
func (c *Client) authorization(host, repo string, actions []string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cr, ok := c.basic[host]; ok {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(cr.Username+":"+cr.Password))
	}
	now := time.Now()
	// newest first: a token fetched after the registry rejected an older one
	// must win over it
	toks := c.tokens[host]
	for i := len(toks) - 1; i >= 0; i-- {
		if t := toks[i]; t.repo == repo && now.Before(t.expires) && covers(t.actions, actions) {
			return "Bearer " + t.value
		}
	}
	return ""
}

func keys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	return out
}

func covers(have map[string]bool, want []string) bool {
	if have["*"] {
		return true
	}
	for _, a := range want {
		if !have[a] {
			return false
		}
	}
	return true
}

// authenticate answers a 401 challenge for req: Basic stores the credentials for
// the host; Bearer fetches a token for the request's scope (distribution's token
// authentication: realm, service, scope). sent is the Authorization header the
// rejected request carried.
func (c *Client) authenticate(ctx context.Context, req request, challenges []Challenge, sent string) error {
	u, err := url.Parse(req.url)
	if err != nil {
		return err
	}
	host := u.Host
	var bearer, basic *Challenge
	for i := range challenges {
		switch challenges[i].Scheme {
		case "bearer":
			bearer = &challenges[i]
		case "basic":
			basic = &challenges[i]
		}
	}
	cred, err := c.credentialFor(ctx, host)
	if err != nil {
		return err
	}
	switch {
	case bearer != nil:
		return c.fetchToken(ctx, u, req, *bearer, cred, sent)
	case basic != nil:
		if cred.Username == "" && cred.Password == "" {
			return fmt.Errorf("%w: %s asks for Basic credentials and none are configured", ErrAuth, host)
		}
		c.mu.Lock()
		c.basic[host] = cred
		c.mu.Unlock()
		return nil
	}
	return fmt.Errorf("%w: %s asks for an unsupported authentication scheme %q", ErrAuth, host, challenges[0].Scheme)
}

func (c *Client) credentialFor(ctx context.Context, host string) (credential.Credential, error) {
	if c.creds == nil {
		return credential.Credential{}, nil
	}
	key := host
	if key == "registry-1.docker.io" {
		key = "docker.io"
	}
	cr, err := c.creds.Get(ctx, key)
	if err != nil {
		return credential.Credential{}, fmt.Errorf("credentials for %s: %w", key, err)
	}
	return cr, nil
}

type tokenResponse struct {
	Token       string `json:"token"`
	AccessToken string `json:"access_token"`
	ExpiresIn   int    `json:"expires_in"`
}

// fetchToken answers a Bearer challenge (distribution's token authentication
// specification): a cached token another request just fetched, the
// credential's registry token, or a token from the challenge's realm, which
// it caches for the host, repository and actions.
func (c *Client) fetchToken(ctx context.Context, regURL *url.URL, req request, ch Challenge, cred credential.Credential, sent string) error {
	host := regURL.Host
	actions := append([]string(nil), req.actions...)
	sort.Strings(actions)
	scope := ""
	if req.repo != "" {
		scope = "repository:" + req.repo + ":" + strings.Join(actions, ",")
	}

	// One fetch per host and scope at a time; a request that waited for
	// another's fetch uses its token (unless it is the one just rejected).
	unlock := c.lockFetch(host + " " + scope)
	defer unlock()
	if a := c.authorization(host, req.repo, req.actions); strings.HasPrefix(a, "Bearer ") && a != sent {
		return nil
	}
	if cred.RegistryToken != "" {
		c.storeToken(host, req.repo, actions, cred.RegistryToken, 3600)
		return nil
	}
	tr, realm, err := tokenRequest(regURL, req.repo, scope, ch, cred)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, tr)
	if err != nil {
		return fmt.Errorf("%w: token from %s: %w", ErrAuth, realm.Host, err)
	}
	defer resp.Body.Close()
	value, expiresIn, err := readToken(resp, realm.Host)
	if err != nil {
		return err
	}
	c.storeToken(host, req.repo, actions, value, expiresIn)
	return nil
}

// lockFetch takes the lock of one token fetch (host and scope) and returns
// its unlock.
func (c *Client) lockFetch(key string) (unlock func()) {
	c.mu.Lock()
	m := c.fetch[key]
	if m == nil {
		m = &sync.Mutex{}
		c.fetch[key] = m
	}
	c.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// storeToken caches a token of host for repo and actions (sorted), valid for
// expiresIn seconds (60 when the answer gave none: distribution's token
// authentication specification's default) less a 10 s margin. It drops the
// tokens the new one supersedes (same repository, no more actions, or
// expired), so the list does not grow with every renewal.
func (c *Client) storeToken(host, repo string, actions []string, value string, expiresIn int) {
	if expiresIn <= 0 {
		expiresIn = 60
	}
	set := map[string]bool{}
	for _, a := range actions {
		set[a] = true
	}
	exp := time.Now().Add(time.Duration(expiresIn)*time.Second - 10*time.Second)
	c.mu.Lock()
	defer c.mu.Unlock()
	kept := c.tokens[host][:0]
	for _, t := range c.tokens[host] {
		if time.Now().Before(t.expires) && !(t.repo == repo && covers(set, keys(t.actions))) {
			kept = append(kept, t)
		}
	}
	c.tokens[host] = append(kept, token{repo: repo, actions: set, value: value, expires: exp})
}

// tokenRequest builds the request to the Bearer challenge's realm: an OAuth2
// refresh-token POST when cred holds an identity token, else a GET with the
// service and scopes in the query and Basic credentials when there are any.
// A realm that is not an absolute http(s) URL, or an http realm asked to
// receive the credentials of an https registry, is refused.
func tokenRequest(regURL *url.URL, repo, scope string, ch Challenge, cred credential.Credential) (request, *url.URL, error) {
	host := regURL.Host
	realm, err := url.Parse(ch.Params["realm"])
	if err != nil || realm.Host == "" || (realm.Scheme != "https" && realm.Scheme != "http") {
		return request{}, nil, fmt.Errorf("%w: %s sent a Bearer challenge with a bad realm %q", ErrAuth, host, redactURL(ch.Params["realm"]))
	}
	if !cred.IsEmpty() && realm.Scheme == "http" && regURL.Scheme == "https" {
		return request{}, nil, fmt.Errorf("%w: %s asks to send credentials over plain http to %s; refused", ErrAuth, host, realm.Host)
	}
	service := ch.Params["service"]
	scopes := []string{}
	if scope != "" {
		scopes = append(scopes, scope)
	}
	if s := ch.Params["scope"]; s != "" && s != scope && !strings.HasPrefix(s, "repository:"+repo+":") {
		scopes = append(scopes, s)
	}

	tr := request{url: realm.String(), noAuth: true}
	if cred.IdentityToken != "" {
		form := url.Values{}
		form.Set("grant_type", "refresh_token")
		form.Set("refresh_token", cred.IdentityToken)
		form.Set("client_id", "referrers")
		if service != "" {
			form.Set("service", service)
		}
		if len(scopes) > 0 {
			form.Set("scope", strings.Join(scopes, " "))
		}
		body := form.Encode()
		tr.method = http.MethodPost
		tr.header = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		tr.body = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
		tr.length = int64(len(body))
		return tr, realm, nil
	}
	q := url.Values{}
	if service != "" {
		q.Set("service", service)
	}
	for _, s := range scopes {
		q.Add("scope", s)
	}
	rq := *realm
	if rq.RawQuery != "" {
		rq.RawQuery += "&" + q.Encode()
	} else {
		rq.RawQuery = q.Encode()
	}
	tr.method = http.MethodGet
	tr.url = rq.String()
	tr.header = http.Header{}
	if cred.Username != "" || cred.Password != "" {
		tr.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred.Username+":"+cred.Password)))
	}
	return tr, realm, nil
}

// readToken reads a token endpoint's answer (capped at maxTokenBody): the
// token ("token", else "access_token") and its lifetime in seconds.
func readToken(resp *http.Response, realmHost string) (value string, expiresIn int, err error) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody+1))
	if err != nil {
		return "", 0, fmt.Errorf("%w: token from %s: %w", ErrAuth, realmHost, err)
	}
	if ok, _ := judge(opToken, answer{status: resp.StatusCode}); !ok {
		return "", 0, fmt.Errorf("%w: token from %s: %w", ErrAuth, realmHost, newHTTPError(resp, b, nil))
	}
	if len(b) > maxTokenBody {
		return "", 0, fmt.Errorf("%w: token response from %s is larger than %d bytes", ErrAuth, realmHost, maxTokenBody)
	}
	var t tokenResponse
	if err := json.Unmarshal(b, &t); err != nil {
		return "", 0, fmt.Errorf("%w: token response from %s is not JSON: %w", ErrAuth, realmHost, err)
	}
	value = t.Token
	if value == "" {
		value = t.AccessToken
	}
	if value == "" {
		return "", 0, fmt.Errorf("%w: token response from %s has no token", ErrAuth, realmHost)
	}
	return value, t.ExpiresIn, nil
}
