// Package policy evaluates requirements on a subject's referrers: "is there
// an SBOM, a signature, a passing scan?". It is pure (descriptors in, verdict
// out, no I/O), so the CLI's `check`, the GitHub Action and the WASI module
// run the same code on whatever listing they obtained.
package policy

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrNotMet is returned (wrapped) by front ends when a policy is not met: a
// verdict, not a failure to evaluate it.
var ErrNotMet = errors.New("requirements not met")

// Requirement asks for at least Min referrers of ArtifactType carrying every
// annotation in Annotations.
type Requirement struct {
	ArtifactType string            `json:"artifactType"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	// Min is the number of matching referrers needed; 0 means 1.
	Min int `json:"min,omitempty"`
}

// Policy is a set of requirements, all of which must be met.
type Policy struct {
	Require []Requirement `json:"require"`
}

// Validate refuses a policy that cannot mean anything: no requirement, an
// empty artifactType, a negative minimum.
func (p Policy) Validate() error {
	if len(p.Require) == 0 {
		return errors.New("policy: no requirement")
	}
	for i, r := range p.Require {
		if strings.TrimSpace(r.ArtifactType) == "" {
			return fmt.Errorf("policy: requirement %d has no artifactType", i+1)
		}
		if r.Min < 0 {
			return fmt.Errorf("policy: requirement %d (%s): min %d is negative", i+1, r.ArtifactType, r.Min)
		}
		for k := range r.Annotations {
			if k == "" {
				return fmt.Errorf("policy: requirement %d (%s): empty annotation key", i+1, r.ArtifactType)
			}
		}
	}
	return nil
}

// Outcome is the verdict on one requirement.
type Outcome struct {
	Requirement
	// Found is how many referrers match; Matches lists them, sorted by digest.
	Found   int                  `json:"found"`
	Matches []ocispec.Descriptor `json:"matches"`
	Pass    bool                 `json:"pass"`
}

// Result is the verdict on a policy.
type Result struct {
	Subject      ocispec.Descriptor `json:"subject"`
	Pass         bool               `json:"pass"`
	Requirements []Outcome          `json:"requirements"`
}

// Evaluate checks p against the referrers of subject (their index entries,
// as a Referrers API or a tree lists them). A referrer counts for a
// requirement when its artifactType is the requirement's and it carries each
// required annotation with the required value.
func Evaluate(subject ocispec.Descriptor, referrers []ocispec.Descriptor, p Policy) Result {
	res := Result{Subject: subject, Pass: true, Requirements: make([]Outcome, 0, len(p.Require))}
	for _, r := range p.Require {
		o := Outcome{Requirement: r, Matches: []ocispec.Descriptor{}}
		min := max(r.Min, 1)
		for _, d := range referrers {
			if d.ArtifactType != r.ArtifactType || !hasAll(d.Annotations, r.Annotations) {
				continue
			}
			o.Matches = append(o.Matches, d)
		}
		sort.Slice(o.Matches, func(i, j int) bool { return o.Matches[i].Digest < o.Matches[j].Digest })
		o.Found = len(o.Matches)
		o.Pass = o.Found >= min
		res.Pass = res.Pass && o.Pass
		res.Requirements = append(res.Requirements, o)
	}
	return res
}

func hasAll(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}
