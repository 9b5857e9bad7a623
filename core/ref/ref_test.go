package ref

import (
	"errors"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	const h = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	tests := []struct {
		in   string
		want string // canonical String(), "" when an error is expected
	}{
		{"alpine", "docker.io/library/alpine"},
		{"alpine:3.20", "docker.io/library/alpine:3.20"},
		{"docker://alpine@" + h, "docker.io/library/alpine@" + h},
		{"user/app", "docker.io/user/app"},
		{"index.docker.io/library/alpine", "docker.io/library/alpine"},
		{"registry-1.docker.io/alpine", "docker.io/library/alpine"},
		{"ghcr.io/org/team/app:v1", "ghcr.io/org/team/app:v1"},
		{"127.0.0.1:5000/app:v1@" + h, "127.0.0.1:5000/app:v1@" + h},
		{"localhost/app", "localhost/app"},
		{"[::1]:5000/app", "[::1]:5000/app"},
		{"host:5000/a__b/c-d/e.f", "host:5000/a__b/c-d/e.f"},
		{"", ""},
		{"docker://", ""},
		{"Alpine", ""},           // upper case repository
		{"host:5000/", ""},       // empty repository
		{"host:5000/app:", ""},   // empty tag
		{"host:5000/app:-x", ""}, // tag starts with '-'
		{"host:5000/app:" + strings.Repeat("a", 129), ""},          // tag too long
		{"host:5000/app@sha256:abc", ""},                           // short digest
		{"host:5000/app@md5:d41d8cd98f00b204e9800998ecf8427e", ""}, // unknown algorithm
		{"host:5000/a..b", ""},
		{"host:5000/a/../b", ""},
		{"host:/app", ""},
		{"ho st/app", ""},
		{"host:5000/app:v1 ", ""},
		{"-host.io/app", ""},
		{"host.io:99999999/app", ""},
		{"host.io/" + strings.Repeat("a", 256), ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.in)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %v, want an error", tt.in, got)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("error %v does not wrap ErrInvalid", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if got.String() != tt.want {
				t.Fatalf("Parse(%q) = %q, want %q", tt.in, got.String(), tt.want)
			}
		})
	}
}

func TestEndpointAndDefaults(t *testing.T) {
	t.Parallel()
	r, err := Parse("alpine")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := r.Endpoint(), "registry-1.docker.io"; got != want {
		t.Errorf("Endpoint = %q, want %q", got, want)
	}
	if got, want := r.WithDefaultTag().Ref(), "latest"; got != want {
		t.Errorf("default Ref = %q, want %q", got, want)
	}
	r2, _ := Parse("127.0.0.1:5000/x:t")
	if got, want := r2.Endpoint(), "127.0.0.1:5000"; got != want {
		t.Errorf("Endpoint = %q, want %q", got, want)
	}
	const d = "sha512:" + "ab" + "cdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
	r3, err := Parse("127.0.0.1:5000/x@" + d)
	if err != nil {
		t.Fatalf("sha512 digest: %v", err)
	}
	if got := r3.Ref(); got != d {
		t.Errorf("Ref = %q, want %q", got, d)
	}
}

// FuzzParse: Parse never panics, and what it accepts renders to a string that
// parses to the same reference.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"alpine", "ghcr.io/a/b:c", "127.0.0.1:5000/x@sha256:0000000000000000000000000000000000000000000000000000000000000000", "[::1]:1/a"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s)
		if err != nil {
			return
		}
		again, err := Parse(r.String())
		if err != nil {
			t.Fatalf("Parse(%q) ok, but its String %q does not parse: %v", s, r.String(), err)
		}
		if again != r {
			t.Fatalf("round trip of %q: %+v != %+v", s, again, r)
		}
	})
}
