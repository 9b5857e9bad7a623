package hosting

import (
	"strings"
	"testing"
)

// FuzzValidMediaType checks the one parser of outside data here, the media
// type check of sidecars and mediaType fields: what it accepts is
// type/subtype of the RFC 6838 characters, and renders in every format as one
// line per value, with no quote, brace, space or line break to escape.
func FuzzValidMediaType(f *testing.F) {
	for _, s := range []string{
		"application/vnd.oci.image.manifest.v1+json",
		"application/vnd.docker.distribution.manifest.list.v2+json",
		"application/json; charset=utf-8",
		"a/b\n  X-Evil: 1",
		`a/b"; evil`,
		"a/{env.SECRET}",
		"/",
		"a/b/c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, mt string) {
		if ValidMediaType(mt) != nil {
			return
		}
		if strings.ContainsAny(mt, " \t\r\n\"'{};\\`") || strings.Count(mt, "/") != 1 || len(mt) > 255 {
			t.Fatalf("accepted %q", mt)
		}
		for _, f := range Formats {
			var b strings.Builder
			e := Entry{Path: "/v2/app/manifests/v1", Kind: Manifest, ContentType: mt}
			if err := Render(&b, f, []Entry{e}, Options{Repository: "app"}); err != nil {
				if f == Pages && strings.Contains(mt, "#") {
					continue
				}
				t.Fatalf("%s: %v", f, err)
			}
			if !strings.Contains(b.String(), mt) {
				t.Fatalf("%s: %q not rendered as it is", f, mt)
			}
		}
	})
}
