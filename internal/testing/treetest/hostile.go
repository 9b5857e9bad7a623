package treetest

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/target"
)

// HostileOp is one thing a user does to a hostile tree, and the error it
// must end with (nil: it must succeed).
//
// The operations every store has: resolve ARG (Resolve, then
// referrers.ResolveSubject), fetch (the subject's manifest; with ARG, the
// manifest of that digest, said to be 1 GiB), fetch-tagged ARG, push-tag
// ARG (an empty index, IfNoneMatch), list, attach and attach-tag (an attach
// in tag mode), open-blob ARG (target.BlobReader's OpenBlob of the blob
// whose content should be ARG, read to its end; see SpoilBlobs). The
// store's HostileOp adds its own.
type HostileOp struct {
	Op    string
	Arg   string // the reference, tag or digest the op uses ("SUBJECT": the subject's digest)
	Err   error
	Names string // a part of the message: the file at fault ("SUBJECT": the subject's digest, "SUBJECTHEX": its encoded part)
}

// HostileCase is one hostile tree: Prep spoils a new fixture F (outside is
// a directory outside the tree, for symlinks to point at), then Ops run on
// it in order.
type HostileCase[F any] struct {
	Name string
	Prep func(t *testing.T, f F, outside string)
	Ops  []HostileOp
}

// RunHostile runs each case on a new fixture, in parallel subtests: each
// operation ends with its error (errors.Is the sentinel, the message naming
// the file), never a panic, and nothing is written outside the tree nor,
// but what the store's AllowedWrite allows, inside it.
func RunHostile[F interface{ Base() *Fixture }](t *testing.T, newFixture func(testing.TB) F, cases []HostileCase[F]) {
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			t.Parallel()
			ff := newFixture(t)
			f := ff.Base()
			outside := t.TempDir()
			if tc.Prep != nil {
				tc.Prep(t, ff, outside)
			}
			before, beforeOut := Hash(t, f.Dir), Hash(t, outside)
			ctx := context.Background()
			subst := strings.NewReplacer("SUBJECTHEX", f.Subject.Digest.Encoded(), "SUBJECT", f.Subject.Digest.String())
			attached := false
			for _, op := range tc.Ops {
				arg := subst.Replace(op.Arg)
				var err error
				func() {
					defer func() {
						if p := recover(); p != nil {
							t.Fatalf("%s %s: panic: %v", op.Op, arg, p)
						}
					}()
					err = runHostileOp(ctx, t, f, op.Op, arg)
				}()
				attached = attached || strings.HasPrefix(op.Op, "attach")
				if op.Err == nil {
					if err != nil {
						t.Errorf("%s %s: %v, want success", op.Op, arg, err)
					}
					continue
				}
				if !errors.Is(err, op.Err) {
					t.Errorf("%s %s: %v, want %v", op.Op, arg, err, op.Err)
					continue
				}
				if names := subst.Replace(op.Names); !strings.Contains(err.Error(), names) {
					t.Errorf("%s %s: error %q does not name %q", op.Op, arg, err, names)
				}
			}
			what := "the operations on a hostile " + f.Store.Name
			Same(t, what+" (outside)", beforeOut, Hash(t, outside))
			var bad []string
			for _, d := range Diff(before, Hash(t, f.Dir)) {
				if f.Store.AllowedWrite == nil || !f.Store.AllowedWrite(t, f, d, attached) {
					bad = append(bad, d)
				}
			}
			if len(bad) > 0 {
				t.Fatalf("%s wrote to the tree: %s", what, strings.Join(bad, ", "))
			}
		})
	}
}

func runHostileOp(ctx context.Context, t *testing.T, f *Fixture, op, arg string) error {
	if f.Store.HostileOp != nil {
		if err, ok := f.Store.HostileOp(ctx, t, f, op, arg); ok {
			return err
		}
	}
	tg, err := f.Store.Open(f.Dir)
	if err != nil {
		return err
	}
	defer tg.Close()
	c := referrers.New()
	switch op {
	case "resolve":
		if _, err := tg.Resolve(ctx, arg); err != nil {
			return err
		}
		_, err = referrers.ResolveSubject(ctx, tg, arg, "")
		return err
	case "fetch":
		desc := f.Subject
		if arg != "" {
			desc = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest(arg), Size: 1 << 30}
		}
		_, err = tg.FetchManifest(ctx, desc)
		return err
	case "fetch-tagged":
		_, err = tg.FetchTagged(ctx, arg)
		return err
	case "push-tag":
		b := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
		_, err = tg.PushManifest(ctx, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(b), Size: int64(len(b))}, b, target.PushOptions{Tag: arg, IfNoneMatch: true})
		return err
	case "list":
		_, err = c.List(ctx, tg, f.Subject, referrers.ListOptions{})
		return err
	case "open-blob":
		br, ok := tg.(target.BlobReader)
		if !ok {
			t.Fatalf("a %s is not a target.BlobReader", f.Store.Name)
		}
		rc, err := br.OpenBlob(ctx, BlobDescriptor(arg))
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(io.Discard, rc)
		return err
	case "attach":
		_, err = c.Attach(ctx, tg, f.Subject, Artifact(TypeSBOM, "hostile attach"), referrers.AttachOptions{})
		return err
	case "attach-tag":
		_, err = c.Attach(ctx, tg, f.Subject, Artifact(TypeSBOM, "hostile attach by tag"), referrers.AttachOptions{Mode: referrers.ModeTag})
		return err
	}
	t.Fatalf("unknown op %q", op)
	return nil
}

// BlobDescriptor describes the blob of content (the op open-blob).
func BlobDescriptor(content string) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromString(content), Size: int64(len(content))}
}

// SpoilBlobs stores the blobs a store's open-blob rows read, path being a
// blob's file in f's tree: "kept" as it is, "linked out" as a symlink to a
// copy in outside, "a directory" as a directory, "altered" with other
// content of the same size; "missing" is not stored.
func SpoilBlobs(t *testing.T, f *Fixture, outside string, path func(digest.Digest) string) {
	t.Helper()
	f.PutBlob(t, "application/octet-stream", []byte("kept"))
	WriteFile(t, filepath.Join(outside, "linked out"), []byte("linked out"))
	Symlink(t, filepath.Join(outside, "linked out"), path(digest.FromString("linked out")))
	if err := os.MkdirAll(path(digest.FromString("a directory")), 0o755); err != nil {
		t.Fatal(err)
	}
	WriteFile(t, path(digest.FromString("altered")), []byte("ALTERED"))
}
