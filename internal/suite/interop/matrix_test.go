package interop

import (
	"fmt"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

// registries are the two real registries of the matrix: one with the
// Referrers API (distribution-spec v1.1.1, Listing Referrers) and one without it, where every tool must
// use the tag schema (distribution-spec v1.1.1, Unavailable Referrers API, Referrers Tag Schema and Pushing Manifests with Subject).
var registries = []struct {
	name  string
	start func(t testing.TB) *oracle.Registry
}{
	{"olareg", func(t testing.TB) *oracle.Registry { return oracle.StartOlareg(t) }},
	{"distribution", func(t testing.TB) *oracle.Registry { return oracle.StartDistribution(t) }},
}

// matrixCase is one kind of artifact each producer makes.
type matrixCase struct {
	name string
	art  artifact
	// subject pushes the subject and returns the reference producers attach
	// to, the reference consumers list, and the platform consumers pass.
	subject func(t *testing.T, reg *oracle.Registry, repo string) (attachTo, listAt, platform string)
	// depth2 attaches a signature to the artifact and lists with depth 2.
	depth2 bool
}

func plainSubject(t *testing.T, reg *oracle.Registry, repo string) (string, string, string) {
	mustImage(t, repository(t, reg.Host, repo), repo, "v1")
	r := reg.Ref(repo, ":v1")
	return r, r, ""
}

var matrixCases = []matrixCase{
	{
		name: "one-file",
		art: artifact{
			artifactType: "application/spdx+json",
			files:        []file{{"sbom.spdx.json", "application/spdx+json", `{"spdxVersion":"SPDX-2.3"}`}},
			annotations:  map[string]string{"org.example.case": "one-file"},
		},
		subject: plainSubject,
	},
	{
		name: "several-files",
		art: artifact{
			artifactType: "application/vnd.example.bundle",
			files: []file{
				{"a.json", "application/vnd.example.a+json", `{"a":1}`},
				{"b.txt", "text/plain", "bee\n"},
				{"c.bin", "application/octet-stream", "\x00\x01\x02"},
			},
			annotations: map[string]string{"org.example.case": "several-files", "org.example.n": "3"},
		},
		subject: plainSubject,
	},
	{
		name: "no-files",
		art: artifact{
			artifactType: "application/vnd.example.attestation",
			annotations:  map[string]string{"org.example.case": "no-files", "org.example.verdict": "pass"},
		},
		subject: plainSubject,
	},
	{
		name: "annotation-file",
		art: artifact{
			artifactType:   "application/vnd.example.scan+json",
			files:          []file{{"scan.json", "application/vnd.example.scan+json", `{"ok":true}`}},
			annotations:    map[string]string{"org.example.case": "annotation-file", "org.example.scanner": "x 1.0"},
			annotationFile: true,
		},
		subject: plainSubject,
	},
	{
		name: "platform",
		art: artifact{
			artifactType: "application/spdx+json",
			files:        []file{{"arm.spdx.json", "application/spdx+json", `{"arch":"arm64"}`}},
			annotations:  map[string]string{"org.example.case": "platform"},
			platform:     "linux/arm64",
		},
		subject: func(t *testing.T, reg *oracle.Registry, repo string) (string, string, string) {
			pushMultiArch(t, repository(t, reg.Host, repo), "multi")
			r := reg.Ref(repo, ":multi")
			return r, r, "linux/arm64"
		},
	},
	{
		name: "sha512-subject",
		art: artifact{
			artifactType: "application/spdx+json",
			files:        []file{{"sbom.json", "application/spdx+json", `{"alg":"sha512"}`}},
			annotations:  map[string]string{"org.example.case": "sha512"},
		},
		subject: func(t *testing.T, reg *oracle.Registry, repo string) (string, string, string) {
			d, err := pushImage(t, repository(t, reg.Host, repo), repo, "", digest.SHA512)
			if err != nil {
				t.Fatalf("push sha512 subject: %v", err)
			}
			r := reg.Ref(repo, "@"+d.Digest.String())
			return r, r, ""
		},
	},
	{
		name: "depth2",
		art: artifact{
			artifactType: "application/spdx+json",
			files:        []file{{"sbom.json", "application/spdx+json", `{"depth":2}`}},
			annotations:  map[string]string{"org.example.case": "depth2"},
		},
		subject: plainSubject,
		depth2:  true,
	},
}

// signature is what depth2 attaches to the SBOM.
var signature = artifact{
	artifactType: "application/vnd.example.signature",
	files:        []file{{"sig.bin", "application/vnd.example.signature", "signature bytes"}},
	annotations:  map[string]string{"org.example.case": "signature-of-sbom"},
}

// TestMatrix is the asymmetric interop matrix: producer × consumer × registry,
// for each kind of artifact. The consumer must list the producer's artifact
// exactly once, with the digest the producer reported, its artifactType and
// its annotations (distribution-spec v1.1.1, Listing Referrers and Unavailable Referrers API; image-spec v1.1.1, Guidelines for Artifact Usage).
func TestMatrix(t *testing.T) {
	t.Parallel()
	for _, rg := range registries {
		t.Run(rg.name, func(t *testing.T) {
			t.Parallel()
			reg := rg.start(t)
			if rg.name == "distribution" {
				// distribution v3.1.2 refuses a manifest pushed under a sha512
				// digest (400 DIGEST_INVALID): it digests manifests with sha256
				// only. Assert that, so the cell is n/a for a stated reason.
				_, err := pushImage(t, repository(t, reg.Host, "probe512"), "probe", "", digest.SHA512)
				if err == nil || !strings.Contains(err.Error(), "400") {
					t.Fatalf("distribution accepted a sha512 manifest (err %v): enable the sha512 cells", err)
				}
			}
			for _, kase := range matrixCases {
				for _, producer := range []string{"referrers", "oras", "regctl"} {
					t.Run(kase.name+"/"+producer, func(t *testing.T) {
						t.Parallel()
						runCell(t, reg, rg.name, kase, producer)
					})
				}
			}
		})
	}
}

func byName(cs []client, name string) client {
	for _, c := range cs {
		if c.name() == name {
			return c
		}
	}
	panic(name)
}

func runCell(t *testing.T, reg *oracle.Registry, regName string, kase matrixCase, producerName string) {
	cs := clients(t, reg.Host)
	producer := byName(cs, producerName)
	if kase.name == "sha512-subject" && regName == "distribution" {
		for _, c := range cs {
			recordNA(regName, kase.name, producerName, c.name(), "registry refuses sha512 manifests (400)")
		}
		return
	}
	if why := producer.cannotProduce(kase.art); why != "" {
		for _, c := range cs {
			recordNA(regName, kase.name, producerName, c.name(), why)
		}
		return
	}
	repo := fmt.Sprintf("matrix/%s/%s", kase.name, producerName)
	attachTo, listAt, platform := kase.subject(t, reg, repo)
	art := kase.art
	art.annotations = withProducer(art.annotations, producerName)
	produced := producer.attach(t, attachTo, art)
	var sig string
	if kase.depth2 {
		sig = producer.attach(t, reg.Ref(repo, "@"+produced), signature)
	}

	for _, consumer := range cs {
		t.Run("to-"+consumer.name(), func(t *testing.T) {
			record(t, regName, kase.name, producerName, consumer.name())
			depth := 1
			if kase.depth2 {
				depth = 2
			}
			got := consumer.list(t, listAt, depth, platform)
			s := expectOnce(t, got, produced, art)
			if kase.depth2 {
				expectOnce(t, s.Children, sig, signature)
			}
			if kase.art.platform != "" {
				// The artifact hangs off the arm64 child, not the index.
				if _, n := find(consumer.list(t, listAt, 1, ""), produced); n != 0 {
					t.Errorf("%s lists the platform artifact on the index itself", consumer.name())
				}
			}
		})
	}
}

func withProducer(m map[string]string, producer string) map[string]string {
	out := map[string]string{"org.example.producer": producer}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// expectOnce asserts that got lists d exactly once, with a's artifactType and
// (at least) a's annotations.
func expectOnce(t *testing.T, got []seen, d string, a artifact) seen {
	t.Helper()
	s, n := find(got, d)
	if n != 1 {
		t.Fatalf("artifact %s listed %d times; listed: %v", d, n, digests(got))
	}
	if s.ArtifactType != a.artifactType {
		t.Errorf("artifactType = %q, want %q", s.ArtifactType, a.artifactType)
	}
	for k, v := range a.annotations {
		if s.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q (all: %v)", k, s.Annotations[k], v, s.Annotations)
		}
	}
	return s
}
