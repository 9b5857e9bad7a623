package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/oci-referrers/referrers/core/display"
)

// HTTPError is the one typed error of this package: an unexpected HTTP answer,
// with the registry's error codes when its body carried them
// (distribution-spec v1.1.1, "Error Codes"). It wraps a sentinel of package
// target when the status has a meaning there (errors.Is works through it).
type HTTPError struct {
	Method     string
	URL        string
	StatusCode int
	// Errors are the codes and messages of the body's "errors" array.
	Errors []ErrorInfo
	// Detail is a short, sanitised excerpt of a body that was not a JSON error.
	Detail string
	// Kind is the sentinel this answer was judged to mean, or nil.
	Kind error
}

// ErrorInfo is one entry of a registry's JSON error body.
type ErrorInfo struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *HTTPError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: %d %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode))
	for i, ei := range e.Errors {
		if i == 3 {
			fmt.Fprintf(&b, " (+%d more)", len(e.Errors)-3)
			break
		}
		b.WriteString(": ")
		b.WriteString(ei.Code)
		if ei.Message != "" {
			b.WriteString(" ")
			b.WriteString(ei.Message)
		}
	}
	if len(e.Errors) == 0 && e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

func (e *HTTPError) Unwrap() error { return e.Kind }

// HasCode reports whether the registry's body carried the error code.
func (e *HTTPError) HasCode(code string) bool {
	for _, ei := range e.Errors {
		if ei.Code == code {
			return true
		}
	}
	return false
}

// newHTTPError builds the error from a response whose body (already capped) is b.
func newHTTPError(resp *http.Response, b []byte, kind error) *HTTPError {
	e := &HTTPError{StatusCode: resp.StatusCode, Kind: kind}
	if resp.Request != nil {
		e.Method = resp.Request.Method
		e.URL = redactURL(resp.Request.URL.String())
	}
	e.Errors = parseErrorBody(b)
	if len(e.Errors) == 0 {
		e.Detail = excerpt(b)
	}
	return e
}

// parseErrorBody reads the spec's {"errors":[{"code","message"}]} body; anything
// else yields nil.
func parseErrorBody(b []byte) []ErrorInfo {
	var body struct {
		Errors []ErrorInfo `json:"errors"`
	}
	if len(b) == 0 || json.Unmarshal(b, &body) != nil {
		return nil
	}
	out := body.Errors[:0]
	for _, e := range body.Errors {
		if e.Code != "" || e.Message != "" {
			e.Code, e.Message = sanitize(e.Code, 64), sanitize(e.Message, 200)
			out = append(out, e)
		}
	}
	return out
}

// excerpt returns a printable, short piece of a non-JSON body (HTML pages are
// reduced to a marker).
func excerpt(b []byte) string {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return ""
	}
	if strings.HasPrefix(strings.ToLower(s), "<!doctype") || strings.HasPrefix(strings.ToLower(s), "<html") {
		return "(HTML page)"
	}
	return sanitize(s, 200)
}

// sanitize renders s, a string a registry sent, for an error message: on
// one line, with every control, format character and invalid byte shown as
// an escape (nothing dropped) and no workflow command (see package display),
// cut to n characters.
func sanitize(s string, n int) string {
	return display.Truncate(s, n)
}

// readableQuery are the query parameters whose values redactURL keeps: those
// distribution-spec v1.1.1 defines and this client sends itself (n, last and
// artifactType when listing tags or referrers; digest, mount and from on
// uploads) and the public service and scope of the token flow (distribution's
// token authentication). Any other value, such as a CDN's X-Amz-Signature or
// an upload session's _state, is a secret as far as we know.
var readableQuery = map[string]bool{
	"n": true, "last": true, "artifactType": true,
	"digest": true, "mount": true, "from": true,
	"service": true, "scope": true,
}

// redactURL renders a URL for an error or a debug line: no userinfo, no
// fragment, and every query value REDACTED except those of readableQuery, and
// even those only when made of the characters such values use (so that a
// ';'-separated secret cannot hide behind an allowed name). Keys stay, so
// the reader sees the URL was signed. Controls are shown as escapes. A
// string that does not parse as a URL keeps only what precedes its query.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		if i := strings.IndexAny(s, "?#"); i >= 0 {
			s = s[:i] + "?REDACTED"
		}
		if i := strings.Index(s, "://"); i >= 0 {
			rest := s[i+3:]
			if at := strings.LastIndexByte(rest[:strings.IndexAny(rest+"/", "/")], '@'); at >= 0 {
				s = s[:i+3] + rest[at+1:]
			}
		}
		return sanitize(s, maxPrintedURL)
	}
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	u.ForceQuery = false
	if u.RawQuery != "" {
		u.RawQuery = redactQuery(u.RawQuery)
	}
	return sanitize(u.String(), maxPrintedURL)
}

const maxPrintedURL = 1024

func redactQuery(q string) string {
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			if p != "" {
				parts[i] = "REDACTED" // a bare word may be a token
			}
			continue
		}
		key, err := url.QueryUnescape(k)
		if err != nil || !readableQuery[key] || !readableValue(v) {
			if !readableValue(k) {
				k = "REDACTED"
			}
			parts[i] = k + "=REDACTED"
		}
	}
	return strings.Join(parts, "&")
}

// readableValue: only characters an escaped digest, tag, media type, scope
// or number uses.
func readableValue(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("._~:+/%-,", c) >= 0:
		default:
			return false
		}
	}
	return true
}
