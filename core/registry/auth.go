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
	key := host + " " + scope
	c.mu.Lock()
	m := c.fetch[key]
	if m == nil {
		m = &sync.Mutex{}
		c.fetch[key] = m
	}
	c.mu.Unlock()
	m.Lock()
	defer m.Unlock()
	if a := c.authorization(host, req.repo, req.actions); strings.HasPrefix(a, "Bearer ") && a != sent {
		return nil
	}

	store := func(value string, expiresIn int) {
		if expiresIn <= 0 {
			expiresIn = 60 // distribution's token spec default
		}
		set := map[string]bool{}
		for _, a := range actions {
			set[a] = true
		}
		exp := time.Now().Add(time.Duration(expiresIn)*time.Second - 10*time.Second)
		c.mu.Lock()
		// drop the tokens the new one supersedes (same repository, no more
		// actions, or expired), so the list does not grow with every renewal
		kept := c.tokens[host][:0]
		for _, t := range c.tokens[host] {
			if time.Now().Before(t.expires) && !(t.repo == req.repo && covers(set, keys(t.actions))) {
				kept = append(kept, t)
			}
		}
		c.tokens[host] = append(kept, token{repo: req.repo, actions: set, value: value, expires: exp})
		c.mu.Unlock()
	}
	if cred.RegistryToken != "" {
		store(cred.RegistryToken, 3600)
		return nil
	}
	realm, err := url.Parse(ch.Params["realm"])
	if err != nil || realm.Host == "" || (realm.Scheme != "https" && realm.Scheme != "http") {
		return fmt.Errorf("%w: %s sent a Bearer challenge with a bad realm %q", ErrAuth, host, redactURL(ch.Params["realm"]))
	}
	hasCred := !cred.IsEmpty()
	if hasCred && realm.Scheme == "http" && regURL.Scheme == "https" {
		return fmt.Errorf("%w: %s asks to send credentials over plain http to %s; refused", ErrAuth, host, realm.Host)
	}
	q := url.Values{}
	if s := ch.Params["service"]; s != "" {
		q.Set("service", s)
	}
	scopes := []string{}
	if scope != "" {
		scopes = append(scopes, scope)
	}
	if s := ch.Params["scope"]; s != "" && s != scope && !strings.HasPrefix(s, "repository:"+req.repo+":") {
		scopes = append(scopes, s)
	}

	tr := request{url: realm.String(), noAuth: true}
	if cred.IdentityToken != "" {
		form := url.Values{}
		form.Set("grant_type", "refresh_token")
		form.Set("refresh_token", cred.IdentityToken)
		form.Set("client_id", "referrers")
		if s := q.Get("service"); s != "" {
			form.Set("service", s)
		}
		if len(scopes) > 0 {
			form.Set("scope", strings.Join(scopes, " "))
		}
		body := form.Encode()
		tr.method = http.MethodPost
		tr.header = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		tr.body = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(body)), nil }
		tr.length = int64(len(body))
	} else {
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
	}
	resp, err := c.do(ctx, tr)
	if err != nil {
		return fmt.Errorf("%w: token from %s: %w", ErrAuth, realm.Host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenBody+1))
	if err != nil {
		return fmt.Errorf("%w: token from %s: %w", ErrAuth, realm.Host, err)
	}
	if ok, _ := judge(opToken, answer{status: resp.StatusCode}); !ok {
		return fmt.Errorf("%w: token from %s: %w", ErrAuth, realm.Host, newHTTPError(resp, b, nil))
	}
	if len(b) > maxTokenBody {
		return fmt.Errorf("%w: token response from %s is larger than %d bytes", ErrAuth, realm.Host, maxTokenBody)
	}
	var t tokenResponse
	if err := json.Unmarshal(b, &t); err != nil {
		return fmt.Errorf("%w: token response from %s is not JSON: %w", ErrAuth, realm.Host, err)
	}
	v := t.Token
	if v == "" {
		v = t.AccessToken
	}
	if v == "" {
		return fmt.Errorf("%w: token response from %s has no token", ErrAuth, realm.Host)
	}
	store(v, t.ExpiresIn)
	return nil
}
