package interop

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

// client is one tool seen as a producer and as a consumer.
type client interface {
	name() string
	// attach attaches a to subject (a full reference) and returns the
	// artifact manifest's digest as the tool reports it.
	attach(t *testing.T, subject string, a artifact) string
	// list lists the referrers of subject down to depth levels (1 or 2),
	// on platform's child when platform is set.
	list(t *testing.T, subject string, depth int, platform string) []seen
	// supports says why the tool cannot produce a, or "" when it can.
	cannotProduce(a artifact) string
}

func clients(t *testing.T, host string) []client {
	return []client{
		&ours{oracle.NewReferrers(t)},
		&oras{oracle.NewOras(t)},
		&regctl{oracle.NewRegctl(t, host)},
	}
}

// ---- referrers (ours) ----

type ours struct{ x *oracle.Tool }

func (c *ours) name() string                    { return "referrers" }
func (c *ours) cannotProduce(a artifact) string { return "" }

func (c *ours) attach(t *testing.T, subject string, a artifact) string {
	t.Helper()
	return attachFiles(t, c.x, c.name(), a, true, "attach", "--plain-http", "--format", "json", subject, "--artifact-type", a.artifactType)
}

type ourNode struct {
	Descriptor struct {
		Digest       string            `json:"digest"`
		ArtifactType string            `json:"artifactType"`
		Annotations  map[string]string `json:"annotations"`
	} `json:"descriptor"`
	Referrers []ourNode `json:"referrers"`
}

func (n ourNode) seen() seen {
	s := seen{Digest: n.Descriptor.Digest, ArtifactType: n.Descriptor.ArtifactType, Annotations: n.Descriptor.Annotations}
	for _, c := range n.Referrers {
		s.Children = append(s.Children, c.seen())
	}
	return s
}

func (c *ours) list(t *testing.T, subject string, depth int, platform string) []seen {
	t.Helper()
	args := []string{"list", "--plain-http", "--format", "json", "--depth", strconv.Itoa(depth), subject}
	if platform != "" {
		args = append(args, "--platform", platform)
	}
	return c.listArgs(t, args...)
}

// listArgs runs `referrers` with args (a list command with --format json) and
// returns what it listed.
func (c *ours) listArgs(t *testing.T, args ...string) []seen {
	t.Helper()
	// At depth 1 the JSON is the referrers index itself (an OCI image index,
	// as the Referrers API answers); deeper, it is a tree of nodes.
	var out struct {
		Referrers []ourNode
		Manifests []struct {
			Digest       string            `json:"digest"`
			ArtifactType string            `json:"artifactType"`
			Annotations  map[string]string `json:"annotations"`
		}
	}
	if err := json.Unmarshal([]byte(c.x.Must(args...)), &out); err != nil {
		t.Fatalf("referrers list output: %v", err)
	}
	var ss []seen
	for _, n := range out.Referrers {
		ss = append(ss, n.seen())
	}
	for _, m := range out.Manifests {
		ss = append(ss, seen{Digest: m.Digest, ArtifactType: m.ArtifactType, Annotations: m.Annotations})
	}
	return ss
}

func annotationArgs(a artifact, annFile string) []string {
	if annFile != "" {
		return []string{"--annotation-file", annFile}
	}
	var args []string
	for k, v := range a.annotations {
		args = append(args, "--annotation", k+"="+v)
	}
	return args
}

// ---- oras ----

type oras struct{ x *oracle.Tool }

func (c *oras) name() string                    { return "oras" }
func (c *oras) cannotProduce(a artifact) string { return "" }

func (c *oras) attach(t *testing.T, subject string, a artifact) string {
	t.Helper()
	return attachFiles(t, c.x, c.name(), a, true, "attach", "--plain-http", "--format", "json", "--artifact-type", a.artifactType, subject)
}

// attachFiles runs an attach by our CLI or oras (the same FILE:TYPE arguments
// and annotation flags) from a new directory that holds a's files, as oras
// refuses absolute file paths: args, then the files and the annotations, and
// --platform when withPlatform and a has one. It returns the digest of the
// producer's output.
func attachFiles(t *testing.T, x *oracle.Tool, producer string, a artifact, withPlatform bool, args ...string) string {
	t.Helper()
	x.Dir = t.TempDir()
	annFile := a.writeFiles(t, x.Dir)
	for _, f := range a.files {
		args = append(args, f.name+":"+f.mediaType)
	}
	args = append(args, annotationArgs(a, annFile)...)
	if withPlatform && a.platform != "" {
		args = append(args, "--platform", a.platform)
	}
	d, err := digestOf(producer, x.Must(args...))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type orasNode struct {
	Digest       string            `json:"digest"`
	ArtifactType string            `json:"artifactType"`
	Annotations  map[string]string `json:"annotations"`
	Referrers    []orasNode        `json:"referrers"`
}

func (n orasNode) seen() seen {
	s := seen{Digest: n.Digest, ArtifactType: n.ArtifactType, Annotations: n.Annotations}
	for _, c := range n.Referrers {
		s.Children = append(s.Children, c.seen())
	}
	return s
}

func (c *oras) list(t *testing.T, subject string, depth int, platform string) []seen {
	t.Helper()
	args := []string{"discover", "--plain-http", "--format", "json", "--depth", strconv.Itoa(depth), subject}
	if platform != "" {
		args = append(args, "--platform", platform)
	}
	var out orasNode
	if err := json.Unmarshal([]byte(c.x.Must(args...)), &out); err != nil {
		t.Fatalf("oras discover output: %v", err)
	}
	return out.seen().Children
}

// ---- regctl ----

type regctl struct{ x *oracle.Tool }

func (c *regctl) name() string { return "regctl" }

func (c *regctl) cannotProduce(a artifact) string {
	if a.annotationFile {
		return "regctl has no annotation-file flag"
	}
	return ""
}

func (c *regctl) attach(t *testing.T, subject string, a artifact) string {
	t.Helper()
	c.x.Dir = t.TempDir()
	a.writeFiles(t, c.x.Dir)
	args := []string{"artifact", "put", "--subject", subject, "--artifact-type", a.artifactType,
		"--format", "{{.Manifest.GetDescriptor.Digest}}"}
	for _, f := range a.files {
		args = append(args, "-f", f.name, "-m", f.mediaType)
	}
	for k, v := range a.annotations {
		args = append(args, "--annotation", k+"="+v)
	}
	if a.platform != "" {
		args = append(args, "--platform", a.platform)
	}
	d, err := digestOf(c.name(), c.x.Must(args...))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

type regctlList struct {
	Descriptors []struct {
		Digest       string            `json:"digest"`
		ArtifactType string            `json:"artifactType"`
		Annotations  map[string]string `json:"annotations"`
	} `json:"descriptors"`
}

// list lists one level with `regctl artifact list`; regctl has no depth, so a
// second level is one more listing per referrer, by digest.
func (c *regctl) list(t *testing.T, subject string, depth int, platform string) []seen {
	t.Helper()
	args := []string{"artifact", "list", subject, "--format", "{{json .}}"}
	if platform != "" {
		args = append(args, "--platform", platform)
	}
	var out regctlList
	if err := json.Unmarshal([]byte(c.x.Must(args...)), &out); err != nil {
		t.Fatalf("regctl artifact list output: %v", err)
	}
	var ss []seen
	for _, d := range out.Descriptors {
		s := seen{Digest: d.Digest, ArtifactType: d.ArtifactType, Annotations: d.Annotations}
		if depth > 1 {
			s.Children = c.list(t, repoOf(subject)+"@"+d.Digest, depth-1, "")
		}
		ss = append(ss, s)
	}
	return ss
}

// repoOf strips the tag or digest from a reference.
func repoOf(r string) string {
	if i := strings.Index(r, "@"); i >= 0 {
		r = r[:i]
	}
	if i := strings.LastIndex(r, ":"); i > strings.LastIndex(r, "/") {
		r = r[:i]
	}
	return r
}

// digestOf reads the artifact digest from what producer's attach printed:
// JSON with a digest field (referrers, oras) or the bare digest (regctl, with
// our --format template).
func digestOf(producer, stdout string) (string, error) {
	d := strings.TrimSpace(stdout)
	if producer != "regctl" {
		var out struct{ Digest string }
		if err := json.Unmarshal([]byte(stdout), &out); err != nil {
			return "", fmt.Errorf("%s attach output %q: %w", producer, stdout, err)
		}
		d = out.Digest
	}
	if !strings.HasPrefix(d, "sha256:") && !strings.HasPrefix(d, "sha512:") {
		return "", fmt.Errorf("%s attach printed %q, not a digest", producer, stdout)
	}
	return d, nil
}
