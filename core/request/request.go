// Package request is the JSON protocol of the WASI module (wasm/) and of any
// host that wants its answers natively: one Request in, one Response out. A
// Request names a source (an OCI image layout or a static tree mounted in the
// file system, or inline documents the host fetched itself), a subject and a
// kind: List (the referrers, optionally nested and filtered), IndexFor (the
// `referrers index-for`: the referrers index built by scanning subject fields) or
// Check (package policy's verdict, as `referrers check` gives it).
//
// Handle is pure apart from reading the source: no network, no clock, no
// randomness, no writes. The same request gives the same bytes natively and
// inside the WASI sandbox (the differential tests in wasm/host check this).
//
// Errors are classified for the module's exit codes (see ExitCode): a request
// that cannot be decoded or makes no sense is ErrMalformed (2); a source that
// cannot be read, or that does not hold the subject, is ErrSource (3).
package request

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/policy"
	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/referrers"
)

// APIVersion is the protocol version every Request and Response carries.
const APIVersion = "referrers/v1"

// Kinds of request, and the kinds of their responses.
const (
	KindList     = "List"
	KindIndexFor = "IndexFor"
	KindCheck    = "Check"

	KindListResult     = "ListResult"
	KindIndexForResult = "IndexForResult"
	KindCheckResult    = "CheckResult"
	KindError          = "Error"
)

// Limits on what a request may ask for.
const (
	// MaxRequestBytes bounds an encoded request (inline documents included).
	MaxRequestBytes = 64 << 20
	// MaxDocuments bounds the inline documents of a request.
	MaxDocuments = 100_000
	// MaxDepth bounds List's depth, as the CLI does.
	MaxDepth = 64
)

// Sentinel errors; ExitCode maps them to the module's exit codes.
var (
	// ErrMalformed: the request cannot be decoded or is not valid.
	ErrMalformed = errors.New("malformed request")
	// ErrSource: the source cannot be read or does not hold the subject.
	ErrSource = errors.New("source unreadable")
)

// Request is one question. Fields a kind does not use must be left out.
type Request struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Source     Source `json:"source"`
	// Subject is a digest, or for a tree also a tag.
	Subject string `json:"subject"`
	// Platform ("os/arch[/variant]"), when the subject is an index, selects
	// its child for that platform.
	Platform string `json:"platform,omitempty"`

	// List: keep the subject's referrers of any of ArtifactTypes and with
	// every one of Annotations; Depth levels (default 1).
	ArtifactTypes []string          `json:"artifactTypes,omitempty"`
	Annotations   map[string]string `json:"annotations,omitempty"`
	Depth         int               `json:"depth,omitempty"`
	// List: sort the subject's referrers by the value of this annotation
	// (referrers.ListOptions.SortAnnotation), keep only the latest of them
	// (Latest), and for an index subject also list the referrers of each
	// of its children (IncludeChildren; not with Platform), as `referrers
	// list --sort-annotation, --latest, --include-children` do.
	SortAnnotation  string `json:"sortAnnotation,omitempty"`
	Latest          bool   `json:"latest,omitempty"`
	IncludeChildren bool   `json:"includeChildren,omitempty"`

	// Check: the requirements (package policy).
	Policy *policy.Policy `json:"policy,omitempty"`
}

// Source is where the manifests are: exactly one of Layout, Static (with
// Name) or Documents.
type Source struct {
	// Layout is the directory of an OCI image layout (image-spec v1.1.1,
	// "OCI Image Layout Specification").
	Layout string `json:"layout,omitempty"`
	// Static is the root of a registry-v2 static tree (files
	// v2/<Name>/manifests/<ref> and v2/<Name>/blobs/<digest>).
	Static string `json:"static,omitempty"`
	Name   string `json:"name,omitempty"`
	// Documents are manifests and indexes the host fetched, by digest.
	Documents []Document `json:"documents,omitempty"`
}

// Document is one manifest or index, with its exact bytes (base64 in JSON),
// which must match Digest.
type Document struct {
	MediaType string        `json:"mediaType"`
	Digest    digest.Digest `json:"digest"`
	Data      []byte        `json:"data"`
}

// Response is one answer. Exactly one of Referrers (with Subject and Mode),
// Index or Result is set, or Error.
type Response struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`

	Subject *ocispec.Descriptor `json:"subject,omitempty"`
	// Mode says how the subject's referrers were found (List, Check).
	Mode referrers.Mode `json:"mode,omitempty"`
	// Referrers is List's answer (nested when Depth > 1).
	Referrers []*referrers.Node `json:"referrers,omitempty"`
	// Children are, for List with IncludeChildren and an index subject, its
	// children in the index's order, each with its referrers.
	Children []referrers.Child `json:"children,omitempty"`
	// Index is IndexFor's answer.
	Index *ocispec.Index `json:"index,omitempty"`
	// Result is Check's verdict.
	Result *policy.Result `json:"result,omitempty"`
	// Warnings are problems that did not stop the answer, sorted.
	Warnings []string `json:"warnings,omitempty"`

	Error *Error `json:"error,omitempty"`
}

// Error is the body of an Error response.
type Error struct {
	// Code is MalformedRequest, SourceUnreadable or Internal.
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Decode reads one request: at most MaxRequestBytes, strict (an unknown
// field is an error, as is anything after the object), and checked by
// Validate. Every error wraps ErrMalformed.
func Decode(r io.Reader) (Request, error) {
	req, err := decode(r)
	if err != nil {
		return req, err
	}
	if err := req.Validate(); err != nil {
		return req, err
	}
	return req, nil
}

// Answer is Decode and Handle in one, as the WASI module answers: the same
// response and error, with each inline document's digest verified once
// (Decode and Handle each verify them).
func Answer(ctx context.Context, r io.Reader) (Response, error) {
	req, err := decode(r)
	if err != nil {
		return Response{}, err
	}
	return handle(ctx, req)
}

// AnswerData is Answer for a request whose inline documents are sent
// without their data (no "data" field, so no base64): the i-th document's
// data is data[i]. Hosts that hold the documents in memory use it.
func AnswerData(ctx context.Context, r io.Reader, data [][]byte) (Response, error) {
	req, err := decode(r)
	if err != nil {
		return Response{}, err
	}
	docs := req.Source.Documents
	if len(docs) != len(data) {
		return Response{}, fmt.Errorf("%w: %d documents and %d data", ErrMalformed, len(docs), len(data))
	}
	for i := range docs {
		if docs[i].Data != nil {
			return Response{}, fmt.Errorf("%w: documents[%d]: data given twice", ErrMalformed, i)
		}
		docs[i].Data = data[i]
	}
	return handle(ctx, req)
}

// decode is Decode without Validate.
func decode(r io.Reader) (Request, error) {
	var req Request
	b, err := io.ReadAll(io.LimitReader(r, MaxRequestBytes+1))
	if err != nil {
		return req, fmt.Errorf("%w: read: %v", ErrMalformed, err)
	}
	if len(b) > MaxRequestBytes {
		return req, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxRequestBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return req, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return req, fmt.Errorf("%w: data after the request object", ErrMalformed)
	}
	return req, nil
}

// Validate checks the request without reading its source. Errors wrap
// ErrMalformed.
func (r Request) Validate() error {
	if err := r.validate(); err != nil {
		return err
	}
	return verifyDocuments(r.Source.Documents)
}

// verifyDocuments checks that each document's data matches its digest.
func verifyDocuments(docs []Document) error {
	for i, d := range docs {
		if d.Digest.Algorithm().FromBytes(d.Data) != d.Digest {
			return fmt.Errorf("%w: documents[%d]: data does not match digest %s", ErrMalformed, i, d.Digest)
		}
	}
	return nil
}

// validate is Validate without hashing the documents.
func (r Request) validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	if r.APIVersion != APIVersion {
		return bad("apiVersion %q, want %q", r.APIVersion, APIVersion)
	}
	switch r.Kind {
	case KindList, KindIndexFor, KindCheck:
	default:
		return bad("kind %q is not %s, %s or %s", r.Kind, KindList, KindIndexFor, KindCheck)
	}
	s := r.Source
	n := 0
	for _, set := range []bool{s.Layout != "", s.Static != "", len(s.Documents) > 0} {
		if set {
			n++
		}
	}
	if n != 1 {
		return bad("source: give exactly one of layout, static (with name) or documents (at least one)")
	}
	if (s.Static != "") != (s.Name != "") {
		return bad("source: static and name go together")
	}
	if len(s.Documents) > MaxDocuments {
		return bad("source: %d documents, more than %d", len(s.Documents), MaxDocuments)
	}
	for i, d := range s.Documents {
		if err := d.Digest.Validate(); err != nil {
			return bad("documents[%d]: digest: %v", i, err)
		}
		if err := referrers.ValidMediaType(d.MediaType); err != nil {
			return bad("documents[%d]: mediaType: %v", i, err)
		}
	}
	if r.Subject == "" {
		return bad("subject is required (a digest, or for a tree a tag)")
	}
	if _, err := digest.Parse(r.Subject); err != nil {
		if len(s.Documents) > 0 || r.Kind == KindIndexFor {
			return bad("subject %q: want a digest here: %v", r.Subject, err)
		}
		if !ref.ValidTag(r.Subject) {
			return bad("subject %q is neither a digest nor a tag", r.Subject)
		}
	}
	if r.Platform != "" {
		if _, err := referrers.ParsePlatform(r.Platform); err != nil {
			return bad("platform: %v", err)
		}
	}
	if r.Kind != KindList && (len(r.ArtifactTypes) > 0 || len(r.Annotations) > 0 || r.Depth != 0 ||
		r.SortAnnotation != "" || r.Latest || r.IncludeChildren) {
		return bad("artifactTypes, annotations, depth, sortAnnotation, latest and includeChildren are for kind List")
	}
	if r.IncludeChildren && r.Platform != "" {
		return bad("includeChildren lists every child of the index and platform picks one: give one of them")
	}
	if r.Depth < 0 || r.Depth > MaxDepth {
		return bad("depth %d: want 1 to %d", r.Depth, MaxDepth)
	}
	for _, t := range r.ArtifactTypes {
		if err := referrers.ValidMediaType(t); err != nil {
			return bad("artifactTypes: %v", err)
		}
	}
	switch {
	case r.Kind == KindCheck && r.Policy == nil:
		return bad("kind Check needs a policy")
	case r.Kind == KindCheck:
		if err := r.Policy.Validate(); err != nil {
			return bad("policy: %v", err)
		}
	case r.Policy != nil:
		return bad("policy is for kind Check")
	}
	return nil
}

// ExitCode is the WASI module's exit code for Handle's error: 0 for nil, 2
// for ErrMalformed, 3 for ErrSource, 1 for anything else (an internal
// error). A Go runtime crash inside the module also exits with 2; hosts tell
// it from a malformed request by the Error response on stdout, which only a
// handled request writes.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, ErrMalformed):
		return 2
	case errors.Is(err, ErrSource):
		return 3
	default:
		return 1
	}
}

// ErrorResponse is the response for Handle's error.
func ErrorResponse(err error) Response {
	code := "Internal"
	switch ExitCode(err) {
	case 2:
		code = "MalformedRequest"
	case 3:
		code = "SourceUnreadable"
	}
	return Response{APIVersion: APIVersion, Kind: KindError, Error: &Error{Code: code, Message: err.Error()}}
}

// Encode writes r as one line of compact JSON: the bytes a host compares.
func (r Response) Encode(w io.Writer) error {
	slices.Sort(r.Warnings)
	for _, ch := range r.Children {
		slices.Sort(ch.Warnings)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

// String is the response as Encode writes it, without the newline.
func (r Response) String() string {
	var b strings.Builder
	if err := r.Encode(&b); err != nil {
		return ""
	}
	return strings.TrimSuffix(b.String(), "\n")
}
