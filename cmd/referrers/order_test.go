package main

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/referrers"
)

// node is a referrer named by the first character of its digest's hex ("a"
// is sha256:aaaa...), with annotations kv ("key=value" pairs).
func node(name string, kv ...string) *referrers.Node {
	d := digest.NewDigestFromEncoded(digest.SHA256, strings.Repeat(name, 64))
	n := &referrers.Node{Descriptor: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: d}}
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
func names(ns []*referrers.Node) string {
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
		in   []*referrers.Node
		want string
	}{
		{"empty", nil, ""},
		{"by value, not digest", []*referrers.Node{node("a", "k=3"), node("b", "k=1"), node("c", "k=2")}, "b c a"},
		{"missing last, in digest order", []*referrers.Node{node("c"), node("a", "other=1"), node("b", "k=9")}, "b a c"},
		{"ties by digest", []*referrers.Node{node("d", "k=1"), node("b", "k=1"), node("c", "k=0"), node("a", "k=1")}, "c a b d"},
		{"empty value is a value", []*referrers.Node{node("a"), node("b", "k=")}, "b a"},
		{"strings, not numbers", []*referrers.Node{node("a", "k=10"), node("b", "k=9")}, "a b"},
		{"RFC 3339 UTC times", []*referrers.Node{
			node("a", "k=2024-03-01T00:00:00Z"), node("b", "k=2023-12-31T23:59:59Z"), node("c", "k=2024-01-02T03:04:05Z"),
		}, "b c a"},
		{"nested levels untouched", []*referrers.Node{
			{Descriptor: node("b", "k=2").Descriptor, Referrers: []*referrers.Node{node("e", "k=2"), node("d", "k=1")}},
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
		in          []*referrers.Node
		opts        orderOptions
		want        string
		wantWarning string // substring; "" = no warning
		wantErr     string // substring; "" = no error
	}{
		{name: "nothing asked: digest order kept", in: []*referrers.Node{node("b", "k=1"), node("a", "k=2")}, want: "b a"},
		{name: "sort", in: []*referrers.Node{node("a", "k=2"), node("b", "k=1")}, opts: orderOptions{sortKey: "k"}, want: "b a"},
		{name: "latest by created", in: []*referrers.Node{
			node("a", created+"=2024-01-02T00:00:00Z"), node("b", created+"=2024-03-01T00:00:00Z"), node("c", created+"=2023-01-01T00:00:00Z"),
		}, opts: orderOptions{latest: true}, want: "b"},
		{name: "latest by key", in: []*referrers.Node{node("a", "k=2", created+"=9"), node("b", "k=1", created+"=1")},
			opts: orderOptions{sortKey: "k", latest: true}, want: "a"},
		{name: "latest of a tie: the last by digest", in: []*referrers.Node{node("c", "k=1"), node("a", "k=1"), node("b", "k=0")},
			opts: orderOptions{sortKey: "k", latest: true}, want: "c"},
		{name: "latest skips the referrers without the key", in: []*referrers.Node{node("a", "k=1"), node("f"), node("e")},
			opts: orderOptions{sortKey: "k", latest: true}, want: "a", wantWarning: "skipped 2 of the 3 referrers: no annotation k"},
		{name: "latest of none", opts: orderOptions{latest: true}, want: ""},
		{name: "latest when none has the key", in: []*referrers.Node{node("a", "k=1"), node("b")},
			opts: orderOptions{latest: true}, wantErr: "no referrer of the 2 listed carries the annotation " + created},
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

// TestCtxReader: a read waiting on a reader that never answers (a terminal)
// gives up when the context ends.
func TestCtxReader(t *testing.T) {
	t.Parallel()
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	r := ctxReader{ctx, pr}
	go func() {
		_, _ = pw.Write([]byte("hi"))
		time.Sleep(10 * time.Millisecond)
		cancel()
	}()
	b := make([]byte, 8)
	if n, err := r.Read(b); err != nil || string(b[:n]) != "hi" {
		t.Fatalf("Read = %q, %v; want \"hi\", nil", b[:n], err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(r)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the read did not give up when the context ended")
	}
}
