package referrers

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// goldenSubject is a fixed subject: the descriptor a registry would resolve,
// with extra fields that must not leak into the artifact's subject.
var goldenSubject = ocispec.Descriptor{
	MediaType:    ocispec.MediaTypeImageManifest,
	Digest:       digest.Digest("sha256:" + strings.Repeat("ab", 32)),
	Size:         527,
	ArtifactType: "application/should.not.leak",
	Annotations:  map[string]string{"leak": "no"},
	Platform:     &ocispec.Platform{OS: "linux", Architecture: "amd64"},
}

// emptyDigest is the digest of "{}" (image-spec v1.1.1 manifest.md, "Guidance
// for an Empty Descriptor"; image-spec v1.1.1, Guidelines for Artifact Usage).
const emptyDigest = digest.Digest("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")

func TestPackNoFiles(t *testing.T) {
	t.Parallel()
	data, desc, blobs, err := Pack(goldenSubject, Artifact{ArtifactType: typeSig})
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := jsonUnmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	// image-spec v1.1.1, Guidelines for Artifact Usage: one layer, the empty descriptor; the config is empty too
	if len(m.Layers) != 1 {
		t.Fatalf("%d layers, want 1", len(m.Layers))
	}
	for what, d := range map[string]ocispec.Descriptor{"layer": m.Layers[0], "config": m.Config} {
		if d.MediaType != ocispec.MediaTypeEmptyJSON || d.Digest != emptyDigest || d.Size != 2 {
			t.Errorf("%s = %+v, want the empty descriptor", what, d)
		}
		if d.Data != nil && string(d.Data) != "{}" {
			t.Errorf("%s data %q, want {} (e30=)", what, d.Data)
		}
	}
	// the 2-byte blob is pushed once
	if len(blobs) != 1 || blobs[0].Descriptor.Digest != emptyDigest {
		t.Fatalf("blobs = %+v, want the empty blob once", blobs)
	}
	if got := readBlob(t, blobs[0]); string(got) != "{}" {
		t.Errorf("empty blob content %q, want {}", got)
	}
	if desc.Digest != digest.FromBytes(data) || desc.Size != int64(len(data)) || desc.MediaType != ocispec.MediaTypeImageManifest || desc.ArtifactType != typeSig {
		t.Errorf("descriptor %+v does not describe the manifest", desc)
	}
	if m.ArtifactType != typeSig || m.MediaType != ocispec.MediaTypeImageManifest || m.SchemaVersion != 2 {
		t.Errorf("manifest header %+v", m)
	}
	if m.Annotations != nil {
		t.Errorf("annotations %v, want none (no created unless asked; image-spec v1.1.1, Pre-Defined Annotation Keys)", m.Annotations)
	}
}

func TestPackSubjectExact(t *testing.T) {
	t.Parallel()
	data, _, _, err := Pack(goldenSubject, Artifact{ArtifactType: typeSig})
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Subject map[string]any `json:"subject"`
	}
	if err := jsonUnmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	// image-spec v1.1.1, Guidelines for Artifact Usage: exactly mediaType, digest and size of the resolved subject
	want := map[string]any{"mediaType": goldenSubject.MediaType, "digest": goldenSubject.Digest.String(), "size": float64(goldenSubject.Size)}
	if g, w := string(mustJSON(t, raw.Subject)), string(mustJSON(t, want)); g != w {
		t.Errorf("subject = %s, want %s", g, w)
	}
}

func TestPackErrors(t *testing.T) {
	t.Parallel()
	cfg := func(mt string) *Blob { b := BytesBlob(mt, []byte(`{"a":1}`)); return &b }
	titled := func(title, content string) Blob {
		b := BytesBlob("application/octet-stream", []byte(content))
		b.Descriptor.Annotations = map[string]string{ocispec.AnnotationTitle: title}
		return b
	}
	for _, tc := range []struct {
		name string
		a    Artifact
		ok   bool
	}{
		{"empty config without artifactType (image-spec v1.1.1, Guidelines for Artifact Usage)", Artifact{}, false},
		{"custom config without artifactType", Artifact{Config: cfg("application/vnd.example.config.v1+json")}, true},
		{"image config refused (image-spec v1.1.1, Guidelines for Artifact Usage)", Artifact{ArtifactType: typeSig, Config: cfg(ocispec.MediaTypeImageConfig)}, false},
		{"artifactType without slash (image-spec v1.1.1, Guidelines for Artifact Usage)", Artifact{ArtifactType: "signature"}, false},
		{"artifactType with a space (image-spec v1.1.1, Guidelines for Artifact Usage)", Artifact{ArtifactType: "application/x y"}, false},
		{"artifactType with empty subtype (image-spec v1.1.1, Guidelines for Artifact Usage)", Artifact{ArtifactType: "application/"}, false},
		{"artifactType starting with a symbol (image-spec v1.1.1, Guidelines for Artifact Usage)", Artifact{ArtifactType: "application/+json"}, false},
		{"config media type bad (image-spec v1.1.1, Guidelines for Artifact Usage)", Artifact{ArtifactType: typeSig, Config: cfg("nope")}, false},
		{"duplicate titles", Artifact{ArtifactType: typeSig, Layers: []Blob{titled("a.txt", "1"), titled("a.txt", "2")}}, false},
		{"distinct titles", Artifact{ArtifactType: typeSig, Layers: []Blob{titled("a.txt", "1"), titled("b.txt", "2")}}, true},
		{"created not RFC 3339 (image-spec v1.1.1, Pre-Defined Annotation Keys)", Artifact{ArtifactType: typeSig, Created: "yesterday"}, false},
		{"created RFC 3339", Artifact{ArtifactType: typeSig, Created: "2024-05-01T10:00:00Z"}, true},
		{"manifest over 4 MiB (distribution-spec v1.1.1, Pushing Manifests)", Artifact{ArtifactType: typeSig, Annotations: map[string]string{"big": strings.Repeat("x", 4<<20)}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, _, _, err := Pack(goldenSubject, tc.a)
			if tc.ok && err != nil {
				t.Fatalf("Pack: %v", err)
			}
			if !tc.ok && !errors.Is(err, ErrInvalidArtifact) {
				t.Fatalf("Pack: err = %v, want ErrInvalidArtifact", err)
			}
		})
	}
}

func TestPackCreated(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		created string
		want    map[string]string
	}{
		{"unset adds nothing", "", map[string]string{"k": "v"}},
		{"set adds org.opencontainers.image.created", "2024-05-01T10:00:00Z", map[string]string{"k": "v", ocispec.AnnotationCreated: "2024-05-01T10:00:00Z"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in := map[string]string{"k": "v"}
			data, desc, _, err := Pack(goldenSubject, Artifact{ArtifactType: typeSig, Annotations: in, Created: tc.created})
			if err != nil {
				t.Fatal(err)
			}
			var m ocispec.Manifest
			if err := jsonUnmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			if g, w := string(mustJSON(t, m.Annotations)), string(mustJSON(t, tc.want)); g != w {
				t.Errorf("annotations %s, want %s", g, w)
			}
			if g, w := string(mustJSON(t, desc.Annotations)), string(mustJSON(t, tc.want)); g != w {
				t.Errorf("descriptor annotations %s, want %s", g, w)
			}
			if len(in) != 1 {
				t.Errorf("Pack changed the caller's annotations: %v", in)
			}
		})
	}
}

// TestPackDeterministic: the same inputs give the same bytes, so a re-run
// attach adds no duplicate referrer (image-spec v1.1.1, Pre-Defined Annotation Keys).
func TestPackDeterministic(t *testing.T) {
	t.Parallel()
	mk := func() Artifact {
		ann := map[string]string{}
		for _, k := range []string{"z", "a", "m", "org.opencontainers.image.description", "b"} {
			ann[k] = "value of " + k
		}
		return Artifact{ArtifactType: typeSBOM, Layers: []Blob{titledBlob("sbom.json", `{"x":1}`), titledBlob("extra.txt", "x")}, Annotations: ann, Created: "2024-05-01T10:00:00Z"}
	}
	d1, desc1, _, err := Pack(goldenSubject, mk())
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		d2, desc2, _, err := Pack(goldenSubject, mk())
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d1, d2) || desc1.Digest != desc2.Digest {
			t.Fatalf("Pack is not deterministic:\n%s\n%s", d1, d2)
		}
	}
}

// TestPackGolden pins the exact bytes of one packed manifest (run with
// -update to rewrite testdata/pack.golden.json).
func TestPackGolden(t *testing.T) {
	t.Parallel()
	cfg := BytesBlob("application/vnd.example.sbom.config.v1+json", []byte(`{"tool":"example","version":"1.0"}`))
	a := Artifact{
		ArtifactType: typeSBOM,
		Config:       &cfg,
		Layers:       []Blob{titledBlob("sbom.spdx.json", `{"spdxVersion":"SPDX-2.3"}`)},
		Annotations:  map[string]string{"org.example.build": "42", "org.opencontainers.image.source": "https://example.com/repo"},
		Created:      "2024-05-01T10:00:00Z",
	}
	data, desc, blobs, err := Pack(goldenSubject, a)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "pack.golden.json")
	if *update {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestPackGolden -update)", err)
	}
	if !bytes.Equal(data, want) {
		t.Errorf("Pack bytes differ from %s:\ngot  %s\nwant %s", path, data, want)
	}
	if desc.Digest != digest.FromBytes(want) {
		t.Errorf("descriptor digest %s, want %s", desc.Digest, digest.FromBytes(want))
	}
	if len(blobs) != 2 || blobs[0].Descriptor.Digest != cfg.Descriptor.Digest {
		t.Errorf("blobs: want config first, then the layer; got %d", len(blobs))
	}
}

func TestFileBlob(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "report.json")
	content := []byte(`{"ok":true}`)
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := FileBlob(path, "")
	if err != nil {
		t.Fatal(err)
	}
	want := ocispec.Descriptor{MediaType: "application/octet-stream", Digest: digest.FromBytes(content), Size: int64(len(content)),
		Annotations: map[string]string{ocispec.AnnotationTitle: "report.json"}}
	if g, w := string(mustJSON(t, b.Descriptor)), string(mustJSON(t, want)); g != w {
		t.Errorf("descriptor %s, want %s", g, w)
	}
	if got := readBlob(t, b); !bytes.Equal(got, content) {
		t.Errorf("content %q", got)
	}
	if _, err := FileBlob(dir, ""); err == nil {
		t.Error("FileBlob of a directory: no error")
	}
	if _, err := FileBlob(path, "not a media type"); err == nil {
		t.Error("FileBlob with a bad media type: no error (image-spec v1.1.1, Guidelines for Artifact Usage)")
	}
	if _, err := FileBlob(filepath.Join(dir, "missing"), ""); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("FileBlob of a missing file: %v", err)
	}
}

func TestParseAnnotationFile(t *testing.T) {
	t.Parallel()
	af, err := ParseAnnotationFile([]byte(`{"$manifest":{"a":"1"},"$config":{"c":"2"},"sbom.json":{"f":"3"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if af.Manifest["a"] != "1" || af.Config["c"] != "2" || af.Files["sbom.json"]["f"] != "3" || len(af.Files) != 1 {
		t.Errorf("parsed %+v", af)
	}
	for _, bad := range []string{`{"$manifest":{"a":1}}`, `[]`, `{"x":"y"}`, `not json`} {
		if _, err := ParseAnnotationFile([]byte(bad)); err == nil {
			t.Errorf("ParseAnnotationFile(%s): no error (image-spec v1.1.1, Pre-Defined Annotation Keys)", bad)
		}
	}
	if _, err := ParseAnnotationFile(bytes.Repeat([]byte(" "), maxAnnotationFile+1)); err == nil {
		t.Error("oversized annotation file: no error")
	}
	for _, tc := range []struct {
		in   string
		k, v string
		ok   bool
	}{{"a=b", "a", "b", true}, {"a=", "a", "", true}, {"a=b=c", "a", "b=c", true}, {"=b", "", "", false}, {"ab", "", "", false}} {
		k, v, err := ParseAnnotation(tc.in)
		if (err == nil) != tc.ok || k != tc.k || v != tc.v {
			t.Errorf("ParseAnnotation(%q) = %q, %q, %v", tc.in, k, v, err)
		}
	}
}

func TestParseMode(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Mode{"": ModeAuto, "auto": ModeAuto, "api": ModeAPI, "tag": ModeTag} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseMode("API"); err == nil {
		t.Error(`ParseMode("API"): no error`)
	}
}

func titledBlob(title, content string) Blob {
	b := BytesBlob("application/vnd.example.file", []byte(content))
	b.Descriptor.Annotations = map[string]string{ocispec.AnnotationTitle: title}
	return b
}

func readBlob(t testing.TB, b Blob) []byte {
	t.Helper()
	rc, err := b.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
