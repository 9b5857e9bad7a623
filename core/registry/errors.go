package registry

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
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

// sanitize drops control characters (no terminal escapes from a registry reach the
// user) and truncates.
func sanitize(s string, n int) string {
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= n {
			b.WriteString("...")
			break
		}
		switch {
		case r == '\n' || r == '\t' || r == '\r':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// redactURL removes userinfo and query values that might carry secrets.
func redactURL(s string) string {
	if i := strings.Index(s, "://"); i >= 0 {
		rest := s[i+3:]
		if at := strings.IndexByte(rest, '@'); at >= 0 && at < strings.IndexAny(rest+"/", "/") {
			s = s[:i+3] + rest[at+1:]
		}
	}
	return s
}
