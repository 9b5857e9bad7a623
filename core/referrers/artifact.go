package referrers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/target"
)

// Blob is content to push: its descriptor and a way to (re)open it.
type Blob struct {
	Descriptor ocispec.Descriptor
	Open       func() (io.ReadCloser, error)
	// lazy, for a large file, holds the digest once the content has been
	// read; Descriptor.Digest is empty until then (see FileBlob). Copies of
	// the Blob share it.
	lazy *lazyDigest
}

// lazyDigest is the digest of a blob, computed when its content is first
// read: while hashing it (Pack) or while sending it (Attach, to a target
// that can take a blob of unknown digest).
type lazyDigest struct {
	mu sync.Mutex
	d  digest.Digest
}

// StreamMin is the size from which FileBlob leaves the digest of a file to be
// computed as it is uploaded (one read of the file instead of two). Such a
// file is uploaded without first asking whether the registry has it, since
// that question needs the digest.
const StreamMin = 64 << 20

// known returns b with its digest, hashing the content if nobody has yet.
func (b Blob) known() (Blob, error) {
	if b.lazy == nil || b.Descriptor.Digest != "" {
		return b, nil
	}
	b.lazy.mu.Lock()
	defer b.lazy.mu.Unlock()
	if b.lazy.d == "" {
		rc, err := b.Open()
		if err != nil {
			return b, err
		}
		defer rc.Close()
		d := digest.Canonical.Digester()
		n, err := io.Copy(d.Hash(), rc)
		if err != nil {
			return b, err
		}
		if n != b.Descriptor.Size {
			return b, fmt.Errorf("%s changed while being read: %d bytes, then %d", b.Descriptor.Annotations[ocispec.AnnotationTitle], b.Descriptor.Size, n)
		}
		b.lazy.d = d.Digest()
	}
	b.Descriptor.Digest = b.lazy.d
	return b, nil
}

// BytesBlob makes a Blob of b.
func BytesBlob(mediaType string, b []byte) Blob {
	return Blob{
		Descriptor: ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(b), Size: int64(len(b))},
		Open:       func() (io.ReadCloser, error) { return bytesReadCloser{bytes.NewReader(b)}, nil },
	}
}

// bytesReadCloser keeps the reader's Seek, so a failed upload can be resent.
type bytesReadCloser struct{ *bytes.Reader }

func (bytesReadCloser) Close() error { return nil }

// FileBlob hashes the file at path (streaming: memory does not grow with the
// file) and returns a Blob that reopens it for the upload, with the annotation
// org.opencontainers.image.title set to the base name. An empty mediaType is
// application/octet-stream.
func FileBlob(path, mediaType string) (Blob, error) {
	if mediaType == "" {
		mediaType = "application/octet-stream"
	}
	if err := validMediaType(mediaType); err != nil {
		return Blob{}, fmt.Errorf("file %s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return Blob{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Blob{}, err
	}
	if !st.Mode().IsRegular() {
		return Blob{}, fmt.Errorf("file %s: not a regular file", path)
	}
	if st.Size() >= StreamMin {
		return lazyFileBlob(path, mediaType, st.Size()), nil
	}
	d := digest.Canonical.Digester()
	n, err := io.Copy(d.Hash(), f)
	if err != nil {
		return Blob{}, fmt.Errorf("read %s: %w", path, err)
	}
	return Blob{
		Descriptor: ocispec.Descriptor{
			MediaType:   mediaType,
			Digest:      d.Digest(),
			Size:        n,
			Annotations: map[string]string{ocispec.AnnotationTitle: filepath.Base(path)},
		},
		Open: func() (io.ReadCloser, error) { return os.Open(path) },
	}, nil
}

// lazyFileBlob is FileBlob for a file of size bytes whose digest is computed
// when it is first read.
func lazyFileBlob(path, mediaType string, size int64) Blob {
	return Blob{
		Descriptor: ocispec.Descriptor{
			MediaType:   mediaType,
			Size:        size,
			Annotations: map[string]string{ocispec.AnnotationTitle: filepath.Base(path)},
		},
		Open: func() (io.ReadCloser, error) { return os.Open(path) },
		lazy: &lazyDigest{},
	}
}

// Artifact is what Attach packs into an image manifest (image-spec v1.1.1,
// "Guidelines for Artifact Usage").
type Artifact struct {
	// ArtifactType is required unless Config has an artifact-specific media type
	// (image-spec v1.1.1, "Image Manifest": artifactType MUST be set when the
	// config is the empty descriptor).
	ArtifactType string
	// Config is nil for the empty descriptor.
	Config *Blob
	// Layers are the files; none means the empty descriptor as the only layer
	// (image-spec v1.1.1, "Image Manifest", layers: an artifact without files
	// SHOULD use the empty descriptor).
	Layers []Blob
	// Annotations of the manifest. Attach adds none on its own: it is
	// deterministic unless Created is set.
	Annotations map[string]string
	// Created, when set, becomes org.opencontainers.image.created (RFC 3339;
	// image-spec v1.1.1, "Pre-Defined Annotation Keys").
	Created string
}

// EmptyBlob is the empty descriptor's content, "{}" (image-spec v1.1.1,
// "Guidance for an Empty Descriptor").
func EmptyBlob() Blob {
	b := BytesBlob(ocispec.MediaTypeEmptyJSON, []byte("{}"))
	b.Descriptor.Data = []byte("{}")
	return b
}

// Pack builds the artifact's manifest for subject. It returns the manifest
// bytes, their descriptor and the blobs to push (config first). A blob whose
// digest is not known yet (a large file, see FileBlob) is hashed.
func Pack(subject ocispec.Descriptor, a Artifact) ([]byte, ocispec.Descriptor, []Blob, error) {
	cfg, layers, ann, err := a.parts()
	if err != nil {
		return nil, ocispec.Descriptor{}, nil, err
	}
	if cfg, err = cfg.known(); err != nil {
		return nil, ocispec.Descriptor{}, nil, err
	}
	for i := range layers {
		if layers[i], err = layers[i].known(); err != nil {
			return nil, ocispec.Descriptor{}, nil, err
		}
	}
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: a.ArtifactType,
		Config:       cfg.Descriptor,
		Annotations:  ann,
		Subject:      &ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size},
	}
	m.SchemaVersion = 2
	for _, l := range layers {
		m.Layers = append(m.Layers, l.Descriptor)
	}
	data, err := json.Marshal(m)
	if err != nil {
		return nil, ocispec.Descriptor{}, nil, err
	}
	if len(data) > target.MaxManifestBytes {
		return nil, ocispec.Descriptor{}, nil, fmt.Errorf("%w: manifest of %d bytes exceeds %d", ErrInvalidArtifact, len(data), target.MaxManifestBytes)
	}
	desc := ocispec.Descriptor{MediaType: m.MediaType, ArtifactType: m.ArtifactType, Digest: digest.FromBytes(data), Size: int64(len(data)), Annotations: m.Annotations}
	blobs := append([]Blob{cfg}, layers...)
	return data, desc, dedupeBlobs(blobs), nil
}

// parts checks a against image-spec v1.1.1 and returns its config (the empty
// descriptor when it has none), its layers (the empty descriptor when it has
// none; a new slice) and the manifest's annotations.
func (a Artifact) parts() (Blob, []Blob, map[string]string, error) {
	cfg := EmptyBlob()
	if a.Config != nil {
		cfg = *a.Config
		if cfg.Descriptor.MediaType == ocispec.MediaTypeImageConfig {
			// image-spec v1.1.1, Guidelines for Artifact Usage: artifacts must not pretend to be images
			return Blob{}, nil, nil, fmt.Errorf("%w: config media type %s is for images; use an artifact-specific type", ErrInvalidArtifact, ocispec.MediaTypeImageConfig)
		}
	}
	if a.ArtifactType == "" && cfg.Descriptor.MediaType == ocispec.MediaTypeEmptyJSON {
		return Blob{}, nil, nil, fmt.Errorf("%w: an artifact type is required (or a config with its own media type)", ErrInvalidArtifact)
	}
	if a.ArtifactType != "" {
		if err := validMediaType(a.ArtifactType); err != nil {
			return Blob{}, nil, nil, fmt.Errorf("%w: artifact type: %w", ErrInvalidArtifact, err)
		}
	}
	if err := validMediaType(cfg.Descriptor.MediaType); err != nil {
		return Blob{}, nil, nil, fmt.Errorf("%w: config: %w", ErrInvalidArtifact, err)
	}
	layers := append([]Blob(nil), a.Layers...)
	if len(layers) == 0 {
		layers = []Blob{EmptyBlob()}
	}
	titles := map[string]bool{}
	for _, l := range layers {
		if t := l.Descriptor.Annotations[ocispec.AnnotationTitle]; t != "" {
			if titles[t] {
				return Blob{}, nil, nil, fmt.Errorf("%w: two files named %q", ErrInvalidArtifact, t)
			}
			titles[t] = true
		}
	}
	ann := map[string]string{}
	for k, v := range a.Annotations {
		ann[k] = v
	}
	if a.Created != "" {
		if _, err := time.Parse(time.RFC3339, a.Created); err != nil {
			return Blob{}, nil, nil, fmt.Errorf("%w: created %q is not RFC 3339", ErrInvalidArtifact, a.Created)
		}
		ann[ocispec.AnnotationCreated] = a.Created
	}
	if len(ann) == 0 {
		ann = nil
	}
	return cfg, layers, ann, nil
}

func dedupeBlobs(bs []Blob) []Blob {
	seen := map[digest.Digest]bool{}
	out := bs[:0:0]
	for _, b := range bs {
		if !seen[b.Descriptor.Digest] {
			seen[b.Descriptor.Digest] = true
			out = append(out, b)
		}
	}
	return out
}

// ValidMediaType checks that mt is a media type name per RFC 6838 §4.2 (for
// --artifact-type and file media types, before anything is sent).
func ValidMediaType(mt string) error { return validMediaType(mt) }

// validMediaType checks RFC 6838 §4.2 naming: type "/" subtype, restricted
// names of at most 127 characters (image-spec v1.1.1, Guidelines for Artifact Usage).
func validMediaType(mt string) error {
	typ, sub, ok := strings.Cut(mt, "/")
	if !ok || !restrictedName(typ) || !restrictedName(sub) {
		return fmt.Errorf("media type %q is not of the form type/subtype (RFC 6838 §4.2)", mt)
	}
	return nil
}

func restrictedName(s string) bool {
	if s == "" || len(s) > 127 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if i == 0 && !alnum {
			return false
		}
		if !alnum && !strings.ContainsRune("!#$&-^_.+", rune(c)) {
			return false
		}
	}
	return true
}

// AnnotationFile is the oras annotation file format: "$manifest" holds the
// manifest's annotations, "$config" the config's, and any other key the
// annotations of the file of that title.
type AnnotationFile struct {
	Manifest map[string]string
	Config   map[string]string
	Files    map[string]map[string]string
}

// maxAnnotationFile caps an annotation file's size.
const maxAnnotationFile = 1 << 20

// ParseAnnotationFile decodes the oras format. Keys and values must be strings
// (image-spec v1.1.1, Pre-Defined Annotation Keys).
func ParseAnnotationFile(b []byte) (AnnotationFile, error) {
	if len(b) > maxAnnotationFile {
		return AnnotationFile{}, fmt.Errorf("annotation file larger than %d bytes", maxAnnotationFile)
	}
	var raw map[string]map[string]string
	if err := json.Unmarshal(b, &raw); err != nil {
		return AnnotationFile{}, fmt.Errorf("annotation file: want an object of objects of strings: %w", err)
	}
	af := AnnotationFile{Files: map[string]map[string]string{}}
	for k, v := range raw {
		switch k {
		case "$manifest":
			af.Manifest = v
		case "$config":
			af.Config = v
		default:
			af.Files[k] = v
		}
	}
	return af, nil
}

// ParseAnnotation parses "key=value"; the key must not be empty.
func ParseAnnotation(s string) (string, string, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" {
		return "", "", fmt.Errorf("annotation %q: want key=value", s)
	}
	return k, v, nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
