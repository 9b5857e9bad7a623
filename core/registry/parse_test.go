package registry

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func TestParseChallenges(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		want   []Challenge
	}{
		{"empty", "", nil},
		{"basic", `Basic realm="fake"`, []Challenge{{Scheme: "basic", Params: map[string]string{"realm": "fake"}}}},
		{
			"bearer distribution",
			`Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"`,
			[]Challenge{{Scheme: "bearer", Params: map[string]string{
				"realm": "https://auth.example/token", "service": "registry.example", "scope": "repository:a/b:pull",
			}}},
		},
		{
			"case and spaces",
			`BEARER Realm = "https://a/t" , Service=reg`,
			[]Challenge{{Scheme: "bearer", Params: map[string]string{"realm": "https://a/t", "service": "reg"}}},
		},
		{
			"two challenges",
			`Basic realm="b", Bearer realm="https://a/t",service="s"`,
			[]Challenge{
				{Scheme: "basic", Params: map[string]string{"realm": "b"}},
				{Scheme: "bearer", Params: map[string]string{"realm": "https://a/t", "service": "s"}},
			},
		},
		{
			"escaped quote",
			`Bearer realm="https://a/t",error="insufficient_scope",error_description="say \"hi\""`,
			[]Challenge{{Scheme: "bearer", Params: map[string]string{
				"realm": "https://a/t", "error": "insufficient_scope", "error_description": `say "hi"`,
			}}},
		},
		{
			"scheme without params",
			`Negotiate`,
			[]Challenge{{Scheme: "negotiate", Params: map[string]string{}}},
		},
		{
			// token68 is not interpreted (no scheme we speak uses it), but it
			// must not swallow the next challenge.
			"token68",
			`Negotiate abc==, Basic realm="r"`,
			[]Challenge{{Scheme: "negotiate", Params: map[string]string{"abc": ""}}, {Scheme: "basic", Params: map[string]string{"realm": "r"}}},
		},
		{
			"unterminated quote runs to the end",
			`Bearer realm="https://a/t`,
			[]Challenge{{Scheme: "bearer", Params: map[string]string{"realm": "https://a/t"}}},
		},
		{"junk", `"""===,,,`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, want := ParseChallenges(tt.header), tt.want
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ParseChallenges(%q)\n got %#v\nwant %#v", tt.header, got, want)
			}
		})
	}
}

func TestNextLink(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		want   string
	}{
		{"none", "", ""},
		{"relative", `</v2/a/b/referrers/sha256:x?last=y>; rel="next"`, "/v2/a/b/referrers/sha256:x?last=y"}, // distribution-spec v1.1.1, Listing Referrers
		{"unquoted rel", `</p2>; rel=next`, "/p2"},
		{"absolute", `<https://reg.example/v2/a/b/referrers/sha256:x?n=2>; rel="next"`, "https://reg.example/v2/a/b/referrers/sha256:x?n=2"},
		{"prev then next", `</p1>; rel="prev", </p3>; rel="next"`, "/p3"},
		{"several relation types", `</p2>; rel="last next"`, "/p2"},
		{"case", `</p2>; REL="Next"`, "/p2"},
		{"comma in quoted param", `</p1>; title="a, b"; rel="prev", </p2>; rel="next"`, "/p2"},
		{"only prev", `</p1>; rel="prev"`, ""},
		{"no angle brackets", `/p2; rel="next"`, ""},
		{"unclosed bracket", `</p2; rel="next"`, ""},
		{"other param named like rel", `</p2>; norel="next"`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, want := NextLink(tt.header), tt.want; got != want {
				t.Errorf("NextLink(%q) = %q, want %q", tt.header, got, want)
			}
		})
	}
}

// TestResolveNext: relative Link targets resolve against the page URL; a
// change of host or scheme is refused (distribution-spec v1.1.1, Listing Referrers; bounded Link paging, a safeguard the spec leaves to clients).
func TestResolveNext(t *testing.T) {
	t.Parallel()
	base, _ := url.Parse("https://reg.example/v2/a/b/referrers/sha256:x")
	tests := []struct {
		name    string
		link    string
		want    string
		wantErr bool
	}{
		{"absolute path", "/v2/a/b/referrers/sha256:x?last=y", "https://reg.example/v2/a/b/referrers/sha256:x?last=y", false},
		{"relative path", "./sha256:x?page=2", "https://reg.example/v2/a/b/referrers/sha256:x?page=2", false},
		{"colon segment reads as a scheme", "sha256:x?page=2", "", true},
		{"query only", "?last=z", "https://reg.example/v2/a/b/referrers/sha256:x?last=z", false},
		{"same host absolute", "https://reg.example/v2/a/b/referrers/sha256:x?p=2", "https://reg.example/v2/a/b/referrers/sha256:x?p=2", false},
		{"other host", "https://evil.example/v2/a/b/referrers/sha256:x", "", true},
		{"scheme-relative other host", "//evil.example/p", "", true},
		{"downgrade to http", "http://reg.example/v2/a/b/referrers/sha256:x", "", true},
		{"other port", "https://reg.example:444/v2/", "", true},
		{"bad URL", "https://reg.example/%zz", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := resolveNext(base, tt.link)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("resolveNext(%q) = %v, want an error", tt.link, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("resolveNext(%q): %v", tt.link, err)
			}
			if got, want := got.String(), tt.want; got != want {
				t.Errorf("resolveNext(%q) = %q, want %q", tt.link, got, want)
			}
		})
	}
}

func TestHTTPErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		url         string
		status      int
		body        string
		want        string
		wantMissing string
	}{
		{
			name: "JSON codes", url: "https://reg.example/v2/a/b/manifests/v1", status: 403,
			body: `{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}`,
			want: "GET https://reg.example/v2/a/b/manifests/v1: 403 Forbidden: DENIED requested access to the resource is denied",
		},
		{
			name: "HTML reduced", url: "https://reg.example/v2/", status: 502,
			body: "<!DOCTYPE html><html><body>gateway</body></html>",
			want: "GET https://reg.example/v2/: 502 Bad Gateway: (HTML page)",
		},
		{
			name: "text excerpt", url: "https://reg.example/v2/", status: 404, body: "404 page not found\n",
			want: "GET https://reg.example/v2/: 404 Not Found: 404 page not found",
		},
		{
			name: "terminal escapes made visible", url: "https://reg.example/v2/", status: 500, body: "boom\x1b[31mred\x07",
			want: `GET https://reg.example/v2/: 500 Internal Server Error: boom\x1b[31mred\a`, wantMissing: "\x1b",
		},
		{
			name: "forged line and workflow command", url: "https://reg.example/v2/", status: 400,
			body: `{"errors":[{"code":"X\u001b[2J","message":"ok\n::error::pwned \u202e ##[error]"}]}`,
			want: `GET https://reg.example/v2/: 400 Bad Request: X\x1b[2J ok\n::error::pwned \u202e \x23#[error]`, wantMissing: "\n",
		},
		{
			name: "long body cut whole", url: "https://reg.example/v2/", status: 500, body: strings.Repeat("x", 198) + "\x1b",
			want: "GET https://reg.example/v2/: 500 Internal Server Error: " + strings.Repeat("x", 198) + "…",
		},
		{
			name: "userinfo redacted", url: "https://user:secret@reg.example/v2/", status: 500,
			want: "GET https://reg.example/v2/: 500 Internal Server Error", wantMissing: "secret",
		},
		{
			name: "many codes capped", url: "https://reg.example/v2/", status: 400,
			body: `{"errors":[{"code":"A"},{"code":"B"},{"code":"C"},{"code":"D"},{"code":"E"}]}`,
			want: "GET https://reg.example/v2/: 400 Bad Request: A: B: C (+2 more)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := response("GET", tt.url, tt.status, "", "", tt.body)
			err := newHTTPError(resp, []byte(tt.body), nil)
			got := err.Error()
			if got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if tt.wantMissing != "" && strings.Contains(got, tt.wantMissing) {
				t.Errorf("Error() = %q contains %q", got, tt.wantMissing)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want string // a time.Duration's String, or ">0"
	}{
		{"", "0s"},
		{"0", "0s"},
		{"3", "3s"},
		{" 7 ", "7s"},
		{"-1", "0s"},
		{"soon", "0s"},
		{"99999999", "24h0m0s"},
		{"Wed, 21 Oct 2015 07:28:00 GMT", "0s"}, // in the past
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in).String(); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// A "rel=next" inside a quoted parameter value is not a relation (bounded Link paging, a safeguard the spec leaves to clients:
// a hostile registry must not steer paging through a title).
func TestNextLinkQuotedSemicolon(t *testing.T) {
	t.Parallel()
	if got := NextLink(`</evil>; title="x; rel=next"`); got != "" {
		t.Fatalf("NextLink = %q, want none", got)
	}
	if got, want := NextLink(`</a>; title="x; y", </b>; rel="next"`), "/b"; got != want {
		t.Fatalf("NextLink = %q, want %q", got, want)
	}
}
