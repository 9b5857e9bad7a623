package fakeregistry

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"
)

// Service is the service name used in Bearer challenges and expected by the token endpoint.
const Service = "fake"

// TokenTTL is the expires_in (seconds) reported by the token endpoint. Tokens never actually expire.
const TokenTTL = 300

var allActions = []string{"pull", "push", "delete"}

// authorize enforces mode.Auth for a request needing actions on repository
// name ("" for /v2/ itself, which only needs a valid credential). It writes
// the 401/403 response and returns false when the request must stop.
func (r *Registry) authorize(w http.ResponseWriter, req *http.Request, mode Mode, name string, actions []string) bool {
	switch mode.Auth {
	case AuthBasic:
		if u, p, ok := req.BasicAuth(); ok && u == mode.Username && p == mode.Password {
			return true
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
		return false
	case AuthBearer:
		scope := ""
		if name != "" {
			scope = "repository:" + name + ":" + strings.Join(actions, ",")
		}
		tok, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
		r.mu.Lock()
		grants, valid := r.tokens[strings.TrimSpace(tok)]
		var missing []string
		if ok && valid && name != "" {
			for _, a := range actions {
				if !grants[name][a] {
					missing = append(missing, a)
				}
			}
		}
		r.mu.Unlock()
		switch {
		case !ok || !valid:
			r.challenge(w, scope, "")
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "authentication required")
			return false
		case len(missing) == 0:
			return true
		case grantable(mode, missing):
			// A new token with a wider scope would help: challenge again.
			r.challenge(w, scope, "insufficient_scope")
			writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "insufficient scope")
			return false
		default:
			writeError(w, http.StatusForbidden, "DENIED", "requested access to the resource is denied")
			return false
		}
	}
	return true
}

func (r *Registry) challenge(w http.ResponseWriter, scope, errCode string) {
	c := fmt.Sprintf(`Bearer realm="%s/token",service="%s"`, r.srv.URL, Service)
	if scope != "" {
		c += fmt.Sprintf(`,scope="%s"`, scope)
	}
	if errCode != "" {
		c += fmt.Sprintf(`,error="%s"`, errCode)
	}
	w.Header().Set("WWW-Authenticate", c)
}

func grantableSet(mode Mode) map[string]bool {
	list := mode.GrantedActions
	if list == nil {
		list = allActions
	}
	set := map[string]bool{}
	for _, a := range list {
		set[a] = true
	}
	return set
}

func grantable(mode Mode, actions []string) bool {
	set := grantableSet(mode)
	for _, a := range actions {
		if !set[a] {
			return false
		}
	}
	return true
}

// serveToken implements a Docker-style token server at /token:
// GET with ?service=fake&scope=... (repeatable, space-separated) and optional
// Basic credentials, or POST form grant_type=password (OAuth2 style).
// Credentials are required when mode.Username is set; otherwise anonymous
// (and any credentials) are accepted. Granted actions are the requested ones
// limited to mode.GrantedActions ("*" requests all grantable actions).
func (r *Registry) serveToken(w http.ResponseWriter, req *http.Request, mode Mode) {
	r.mu.Lock()
	r.tokenReqs++
	r.mu.Unlock()

	var user, pass, service string
	var hasCreds bool
	var scopes []string
	switch req.Method {
	case http.MethodGet:
		q := req.URL.Query()
		user, pass, hasCreds = req.BasicAuth()
		service = q.Get("service")
		scopes = q["scope"]
	case http.MethodPost:
		if err := req.ParseForm(); err != nil {
			writeError(w, http.StatusBadRequest, "UNSUPPORTED", "bad form")
			return
		}
		if gt := req.PostForm.Get("grant_type"); gt != "password" {
			writeError(w, http.StatusBadRequest, "UNSUPPORTED", "unsupported grant_type "+gt)
			return
		}
		user, pass = req.PostForm.Get("username"), req.PostForm.Get("password")
		hasCreds = user != "" || pass != ""
		service = req.PostForm.Get("service")
		scopes = req.PostForm["scope"]
	default:
		methodNotAllowed(w)
		return
	}
	if service != Service {
		writeError(w, http.StatusBadRequest, "UNSUPPORTED", fmt.Sprintf("unknown service %q", service))
		return
	}
	if mode.Username != "" && (!hasCreds || user != mode.Username || pass != mode.Password) {
		w.Header().Set("WWW-Authenticate", `Basic realm="fake"`)
		writeError(w, http.StatusUnauthorized, "UNAUTHORIZED", "invalid credentials")
		return
	}

	allowed := grantableSet(mode)
	grants := map[string]map[string]bool{}
	for _, s := range scopes {
		for _, one := range strings.Fields(s) {
			typ, rest, ok := strings.Cut(one, ":")
			i := strings.LastIndex(rest, ":")
			if !ok || typ != "repository" || i <= 0 {
				continue
			}
			name, acts := rest[:i], rest[i+1:]
			for _, a := range strings.Split(acts, ",") {
				if a == "*" {
					for g := range allowed {
						addGrant(grants, name, g)
					}
				} else if allowed[a] {
					addGrant(grants, name, a)
				}
			}
		}
	}
	var granted []string
	for name, acts := range grants {
		list := make([]string, 0, len(acts))
		for a := range acts {
			list = append(list, a)
		}
		sort.Strings(list)
		granted = append(granted, "repository:"+name+":"+strings.Join(list, ","))
	}
	sort.Strings(granted)

	r.mu.Lock()
	tok := "fake." + base64.RawURLEncoding.EncodeToString([]byte(strings.Join(granted, " "))) + "." + r.nextID("")
	r.tokens[tok] = grants
	r.mu.Unlock()

	body, _ := json.Marshal(map[string]any{
		"token":        tok,
		"access_token": tok,
		"expires_in":   TokenTTL,
		"issued_at":    time.Now().UTC().Format(time.RFC3339),
	})
	writeJSON(w, http.StatusOK, "application/json", body)
}

func addGrant(g map[string]map[string]bool, name, action string) {
	if g[name] == nil {
		g[name] = map[string]bool{}
	}
	g[name][action] = true
}

// canPullForMount reports whether a cross-repository mount from repository
// from is allowed: with AuthBearer the request's token must grant pull on it.
func (r *Registry) canPullForMount(req *http.Request, mode Mode, from string) bool {
	if mode.Auth != AuthBearer {
		return true
	}
	tok, _ := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tokens[strings.TrimSpace(tok)][from]["pull"]
}
