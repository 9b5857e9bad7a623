package server

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// rules is the built-in Authorizer: pulls are anonymous; pushes and deletes
// are open to anyone when allowed, else to holders of the token, else refused.
type rules struct {
	allowPush, allowDelete bool
	token                  string
}

func (r rules) Authorize(req *http.Request, a Access) error {
	switch {
	case a.Action == ActionPull:
		return nil
	case a.Action == ActionPush && r.allowPush, a.Action == ActionDelete && r.allowDelete:
		return nil
	case r.token == "":
		return ErrReadOnly
	}
	got, ok := credential(req)
	if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(r.token)) != 1 {
		return ErrUnauthorized
	}
	return nil
}

func (r rules) Challenge() string {
	if r.token == "" {
		return ""
	}
	return `Basic realm="referrers"`
}

// credential is the secret of an Authorization header: a Bearer token or the
// password of Basic credentials.
func credential(req *http.Request) (string, bool) {
	h := req.Header.Get("Authorization")
	if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		tok = strings.TrimSpace(tok)
		return tok, tok != ""
	}
	if _, pw, ok := req.BasicAuth(); ok {
		return pw, pw != ""
	}
	return "", false
}
