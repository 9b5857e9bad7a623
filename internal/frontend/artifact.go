// Package frontend holds what the front ends (the CLI and the GitHub Action)
// share above the verbs: turning user input (file arguments, annotations, an
// annotation file, a created time) into a referrers.Artifact. It reads files,
// the standard input and the environment it is given; the core packages never
// do.
package frontend

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/referrers"
)

// ErrInput marks an error in the user's input (a flag or an Action input), as
// opposed to a file that cannot be read or a registry that fails. The CLI
// reports it with its usage exit code.
var ErrInput = errors.New("invalid input")

// inputError is an input error; its message does not repeat ErrInput's.
type inputError struct{ error }

func (inputError) Is(target error) bool { return target == ErrInput }
func (e inputError) Unwrap() error      { return e.error }

// inputf returns an error that is ErrInput.
func inputf(format string, a ...any) error { return inputError{fmt.Errorf(format, a...)} }

// MaxAnnotationFile bounds an annotation file (it is JSON read whole).
const MaxAnnotationFile = 1 << 20

// ArtifactSpec is an artifact as a user describes it. Names says how the
// front end calls each field in its error messages ("--artifact-type" or
// "artifact-type").
type ArtifactSpec struct {
	ArtifactType string
	// Files are "path[:mediatype]" (see SplitFileArg).
	Files []string
	// Annotations are "key=value".
	Annotations []string
	// AnnotationFile is a JSON file in the oras format ($manifest, $config and
	// per-file keys); "" for none.
	AnnotationFile string
	// Config is "path:mediatype" to use as the config instead of the empty
	// descriptor; "" for none.
	Config string
	// Created is the created time: "", "none", "now" or RFC 3339; see Created.
	Created string
	// Stdin, when set, is what the file "-" (StdinFile, with or without
	// ":MEDIATYPE") reads; "-" may then appear once, and needs StdinName. When
	// nil, "-" is an ordinary file name.
	Stdin io.Reader
	// StdinName is the org.opencontainers.image.title of the layer read from
	// Stdin: a base name, as the other files' titles are.
	StdinName string
	// SpoolDir is an existing directory where Stdin is copied before it is
	// hashed, since a blob is read twice (hashed here, streamed again by the
	// push) and a pipe can be read once. The caller creates it and removes it
	// once the artifact is pushed. Required when Stdin is read.
	SpoolDir string
	Names    Names
}

// StdinFile is the file argument that reads ArtifactSpec.Stdin.
const StdinFile = "-"

// Names are the user-facing names of ArtifactSpec's fields.
type Names struct {
	ArtifactType, Created, Config, StdinName string
}

// CLINames are the CLI's flag names.
var CLINames = Names{ArtifactType: "--artifact-type", Created: "--created", Config: "--config", StdinName: "--stdin-name"}

// Build checks the spec and opens its files (hashing them; they are streamed
// again when pushed); the file "-" is Stdin, spooled to SpoolDir first (its
// size is not capped: it takes that much disk). Input errors wrap ErrInput.
func (s ArtifactSpec) Build(getenv func(string) string, now func() time.Time) (referrers.Artifact, error) {
	n := s.Names
	if n == (Names{}) {
		n = CLINames
	}
	if s.ArtifactType == "" && s.Config == "" {
		return referrers.Artifact{}, inputf("%s is required (or %s FILE:MEDIATYPE with an artifact-specific media type)", n.ArtifactType, n.Config)
	}
	if s.ArtifactType != "" {
		if err := referrers.ValidMediaType(s.ArtifactType); err != nil {
			return referrers.Artifact{}, inputf("%s: %v", n.ArtifactType, err)
		}
	}
	if err := s.checkStdin(n); err != nil {
		return referrers.Artifact{}, err
	}
	art := referrers.Artifact{ArtifactType: s.ArtifactType, Annotations: map[string]string{}}
	var af referrers.AnnotationFile
	if s.AnnotationFile != "" {
		b, err := ReadSmallFile(s.AnnotationFile, MaxAnnotationFile)
		if err != nil {
			return art, err
		}
		if af, err = referrers.ParseAnnotationFile(b); err != nil {
			return art, fmt.Errorf("%s: %w", s.AnnotationFile, err)
		}
		for k, v := range af.Manifest {
			art.Annotations[k] = v
		}
	}
	for _, a := range s.Annotations {
		k, v, err := referrers.ParseAnnotation(a)
		if err != nil {
			return art, inputError{err}
		}
		art.Annotations[k] = v
	}
	var err error
	if art.Created, err = Created(s.Created, n.Created, getenv, now); err != nil {
		return art, err
	}
	if s.Config != "" {
		path, mt := SplitFileArg(s.Config)
		if mt == "" {
			return art, inputf("%s wants FILE:MEDIATYPE", n.Config)
		}
		b, err := referrers.FileBlob(path, mt)
		if err != nil {
			return art, err
		}
		b.Descriptor.Annotations = mergeAnn(nil, af.Config)
		art.Config = &b
	}
	used := map[string]bool{}
	for _, f := range s.Files {
		b, err := s.fileBlob(f)
		if err != nil {
			return art, err
		}
		title := b.Descriptor.Annotations[ocispec.AnnotationTitle]
		used[title] = true
		b.Descriptor.Annotations = mergeAnn(b.Descriptor.Annotations, af.Files[title])
		art.Layers = append(art.Layers, b)
	}
	for title := range af.Files {
		if !used[title] {
			return art, inputf("annotation file names %q, which is not one of the files", title)
		}
	}
	return art, nil
}

// fileBlob opens the file argument f: a file, or Stdin for StdinFile.
func (s ArtifactSpec) fileBlob(f string) (referrers.Blob, error) {
	path, mt := SplitFileArg(f)
	if path == StdinFile && s.Stdin != nil {
		return s.stdinBlob(mt)
	}
	return referrers.FileBlob(path, mt)
}

// ReadsStdin reports whether the file arguments name StdinFile, so that the
// caller reads standard input for nothing else (a password) and makes a
// SpoolDir.
func ReadsStdin(files []string) bool { return stdinCount(files) > 0 }

func stdinCount(files []string) int {
	n := 0
	for _, f := range files {
		if path, _ := SplitFileArg(f); path == StdinFile {
			n++
		}
	}
	return n
}

// checkStdin checks the use of StdinFile before anything is read: once at
// most, with a StdinName that is a base name, and no StdinName without it.
func (s ArtifactSpec) checkStdin(n Names) error {
	if s.Stdin == nil {
		return nil
	}
	switch count := stdinCount(s.Files); {
	case count > 1:
		return inputf("the file %s (standard input) can be given only once", StdinFile)
	case count == 0 && s.StdinName != "":
		return inputf("%s names the file %s (standard input), which is not among the files", n.StdinName, StdinFile)
	case count == 0:
		return nil
	case s.StdinName == "":
		return inputf("the file %s (standard input) needs %s NAME, its title", StdinFile, n.StdinName)
	case s.StdinName == "." || s.StdinName == ".." || strings.ContainsAny(s.StdinName, `/\`):
		return inputf("%s %q: want a file name without a directory", n.StdinName, s.StdinName)
	}
	return nil
}

// stdinBlob copies Stdin to a file in SpoolDir and returns it as a blob titled
// StdinName. A bad media type is found before Stdin is read.
func (s ArtifactSpec) stdinBlob(mediaType string) (referrers.Blob, error) {
	if mediaType != "" {
		if err := referrers.ValidMediaType(mediaType); err != nil {
			return referrers.Blob{}, fmt.Errorf("file %s: %w", StdinFile, err)
		}
	}
	if s.SpoolDir == "" {
		return referrers.Blob{}, errors.New("frontend: reading standard input needs a SpoolDir")
	}
	f, err := os.CreateTemp(s.SpoolDir, "stdin-*")
	if err != nil {
		return referrers.Blob{}, fmt.Errorf("spool standard input: %w", err)
	}
	_, err = io.Copy(f, s.Stdin)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return referrers.Blob{}, fmt.Errorf("spool standard input: %w", err)
	}
	b, err := referrers.FileBlob(f.Name(), mediaType)
	if err != nil {
		return b, err
	}
	b.Descriptor.Annotations[ocispec.AnnotationTitle] = s.StdinName
	return b, nil
}

// SplitFileArg splits "path[:mediatype]"; the part after the last ':' is a
// media type only if it has a '/', so paths with colons still work. When that
// split names no file but the whole argument does ("build:2024/out.txt"), the
// whole argument is the path.
func SplitFileArg(s string) (path, mediaType string) {
	if i := strings.LastIndexByte(s, ':'); i > 0 && strings.Contains(s[i+1:], "/") {
		path, mediaType = s[:i], s[i+1:]
		if _, err := os.Stat(path); err != nil {
			if st, err := os.Stat(s); err == nil && st.Mode().IsRegular() {
				return s, ""
			}
		}
		return path, mediaType
	}
	return s, ""
}

// Created turns a created value (named name in errors) or SOURCE_DATE_EPOCH
// into an RFC 3339 string; "" means no created annotation (the default:
// deterministic digests). "none" ignores SOURCE_DATE_EPOCH, "now" is now in
// UTC, anything else must be an RFC 3339 time. Errors wrap ErrInput.
func Created(value, name string, getenv func(string) string, now func() time.Time) (string, error) {
	switch value {
	case "none":
		return "", nil
	case "now":
		return now().UTC().Format(time.RFC3339), nil
	case "":
		if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil || n < 0 {
				return "", inputf("SOURCE_DATE_EPOCH %q is not a non-negative integer", s)
			}
			return time.Unix(n, 0).UTC().Format(time.RFC3339), nil
		}
		return "", nil
	}
	t, err := time.Parse(time.RFC3339, value)
	if err != nil {
		return "", inputf("%s %q: want now, none or an RFC 3339 time", name, value)
	}
	return t.Format(time.RFC3339), nil
}

func mergeAnn(a, b map[string]string) map[string]string {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// ReadSmallFile reads a whole file of at most limit bytes.
func ReadSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	b := make([]byte, st.Size())
	_, err = io.ReadFull(f, b)
	return b, err
}
