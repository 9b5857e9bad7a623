package referrers

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// node is a referrer named by the first character of its digest's hex ("a"
// is sha256:aaaa...), with annotations kv ("key=value" pairs).
func node(name string, kv ...string) *Node {
	d := digest.NewDigestFromEncoded(digest.SHA256, strings.Repeat(name, 64))
	n := &Node{Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d}}
	if len(kv) > 0 {
		n.Descriptor.Annotations = map[string]string{}
		for _, p := range kv {
			k, v, _ := strings.Cut(p, "=")
			n.Descriptor.Annotations[k] = v
		}
	}
	return n
}

// names renders ns as their names ("a b c").
func names(ns []*Node) string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Descriptor.Digest.Encoded()[:1])
	}
	return strings.Join(out, " ")
}

func TestSortByAnnotation(t *testing.T) {
	t.Parallel()
	const k = "k"
	tests := []struct {
		name string
		in   []*Node
		want string
	}{
		{"empty", nil, ""},
		{"by value, not digest", []*Node{node("a", "k=3"), node("b", "k=1"), node("c", "k=2")}, "b c a"},
		{"missing last, in digest order", []*Node{node("c"), node("a", "other=1"), node("b", "k=9")}, "b a c"},
		{"ties by digest", []*Node{node("d", "k=1"), node("b", "k=1"), node("c", "k=0"), node("a", "k=1")}, "c a b d"},
		{"empty value is a value", []*Node{node("a"), node("b", "k=")}, "b a"},
		{"strings, not numbers", []*Node{node("a", "k=10"), node("b", "k=9")}, "a b"},
		{"RFC 3339 UTC times", []*Node{
			node("a", "k=2024-03-01T00:00:00Z"), node("b", "k=2023-12-31T23:59:59Z"), node("c", "k=2024-01-02T03:04:05Z"),
		}, "b c a"},
		{"nested levels untouched", []*Node{
			{Descriptor: node("b", "k=2").Descriptor, Referrers: []*Node{node("e", "k=2"), node("d", "k=1")}},
			node("a", "k=3"),
		}, "b a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sortByAnnotation(tt.in, k)
			if got := names(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			for _, n := range tt.in {
				if len(n.Referrers) > 0 && names(n.Referrers) != "e d" {
					t.Errorf("nested referrers reordered: %q", names(n.Referrers))
				}
			}
		})
	}
}

func TestOrder(t *testing.T) {
	t.Parallel()
	const created = ocispec.AnnotationCreated
	tests := []struct {
		name        string
		in          []*Node
		opts        ListOptions
		want        string
		wantWarning string // substring; "" = no warning
		wantErr     string // substring; "" = no error
	}{
		{name: "nothing asked: digest order kept", in: []*Node{node("b", "k=1"), node("a", "k=2")}, want: "b a"},
		{name: "sort", in: []*Node{node("a", "k=2"), node("b", "k=1")}, opts: ListOptions{SortAnnotation: "k"}, want: "b a"},
		{name: "latest by created", in: []*Node{
			node("a", created+"=2024-01-02T00:00:00Z"), node("b", created+"=2024-03-01T00:00:00Z"), node("c", created+"=2023-01-01T00:00:00Z"),
		}, opts: ListOptions{Latest: true}, want: "b"},
		{name: "latest by key", in: []*Node{node("a", "k=2", created+"=9"), node("b", "k=1", created+"=1")},
			opts: ListOptions{SortAnnotation: "k", Latest: true}, want: "a"},
		{name: "latest of a tie: the last by digest", in: []*Node{node("c", "k=1"), node("a", "k=1"), node("b", "k=0")},
			opts: ListOptions{SortAnnotation: "k", Latest: true}, want: "c"},
		{name: "latest skips the referrers without the key", in: []*Node{node("a", "k=1"), node("f"), node("e")},
			opts: ListOptions{SortAnnotation: "k", Latest: true}, want: "a", wantWarning: "skipped 2 of the 3 referrers: no annotation k"},
		{name: "latest of none", opts: ListOptions{Latest: true}, want: ""},
		{name: "latest when none has the key", in: []*Node{node("a", "k=1"), node("b")},
			opts: ListOptions{Latest: true}, wantErr: "no referrer of the 2 listed carries the annotation " + created},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, warning, err := order(tt.in, tt.opts)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatal(err)
			}
			if names(got) != tt.want {
				t.Errorf("got %q, want %q", names(got), tt.want)
			}
			if (tt.wantWarning == "") != (warning == "") || !strings.Contains(warning, tt.wantWarning) {
				t.Errorf("warning = %q, want %q", warning, tt.wantWarning)
			}
		})
	}
}
