package registry

import (
	"fmt"
	"net/url"
	"strings"
)

// NextLink returns the target of the first `rel="next"` link of an RFC 8288
// (RFC 5988) Link header value, or "" when there is none. Several link values may
// be comma-separated, and rel may list several relation types.
// distribution-spec v1.1.1, "Listing Referrers" (distribution-spec v1.1.1, Listing Referrers).
func NextLink(h string) string {
	if len(h) > maxChallengeHeader {
		h = h[:maxChallengeHeader]
	}
	for h != "" {
		h = strings.TrimLeft(h, " \t,")
		if !strings.HasPrefix(h, "<") {
			return ""
		}
		end := strings.IndexByte(h, '>')
		if end < 0 {
			return ""
		}
		target := h[1:end]
		h = h[end+1:]
		// parameters up to the next link value (a ',' outside quotes)
		params := ""
		inQuote := false
		i := 0
		for ; i < len(h); i++ {
			c := h[i]
			if c == '"' {
				inQuote = !inQuote
			}
			if c == ',' && !inQuote {
				break
			}
		}
		params, h = h[:i], h[i:]
		for _, p := range splitUnquoted(params, ';') {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "rel") {
				continue
			}
			v = strings.Trim(strings.TrimSpace(v), `"`)
			for _, rel := range strings.Fields(v) {
				if strings.EqualFold(rel, "next") {
					return target
				}
			}
		}
	}
	return ""
}

// splitUnquoted splits s at sep outside double quotes, so that a quoted
// parameter value such as title="a; rel=next" stays whole.
func splitUnquoted(s string, sep byte) []string {
	var out []string
	inQuote, start := false, 0
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			inQuote = !inQuote
		case s[i] == sep && !inQuote:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// resolveNext resolves a Link target against the URL of the page that carried it
// and refuses a change of scheme or host (a registry may not send us, with our
// credentials, elsewhere; bounded Link paging, a safeguard the spec leaves to clients).
func resolveNext(base *url.URL, link string) (*url.URL, error) {
	ref, err := url.Parse(link)
	if err != nil {
		return nil, fmt.Errorf("bad Link target %q", redactURL(link))
	}
	next := base.ResolveReference(ref)
	if next.Scheme != base.Scheme || next.Host != base.Host {
		return nil, fmt.Errorf("Link target %q leaves %s://%s", redactURL(next.String()), base.Scheme, base.Host)
	}
	return next, nil
}
