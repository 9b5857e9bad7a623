package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/policy"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/internal/frontend"
)

// exitNotMet is check's exit code for a policy that is not met (0: met,
// 1: an error, never a verdict).
const exitNotMet = 3

// cmdCheck is `referrers check SUBJECT --require TYPE[,TYPE...]`: a gate on
// the subject's referrers, evaluated by package policy.
func cmdCheck(ctx context.Context, e env, args []string) (err error) {
	var c common
	defer func() { err = c.explain(err) }()
	fs := c.flags("check", e, "text or json", "text")
	var require, annotations repeated
	fs.Var(&require, "require", "an artifactType that must have a referrer (repeatable, or comma-separated)")
	fs.Var(&annotations, "require-annotation", "key=value every counted referrer must carry (repeatable: all of them)")
	min := fs.Int("min", 1, "referrers needed per required artifactType")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: referrers check SUBJECT --require TYPE[,TYPE...] [--require-annotation k=v] [--min N]\nExit codes: 0 met, 3 not met, 1 error, 2 usage.")
		printDefaults(fs)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one SUBJECT, got %d arguments", len(pos))
	}
	if c.format != "text" && c.format != "json" {
		return usagef("--format must be text or json")
	}
	if *min < 1 {
		return usagef("--min must be at least 1")
	}
	mode, err := referrers.ParseMode(c.mode)
	if err != nil {
		return usageError{err}
	}
	ann := map[string]string{}
	for _, a := range annotations {
		k, v, err := referrers.ParseAnnotation(a)
		if err != nil {
			return usageError{err}
		}
		ann[k] = v
	}
	var p policy.Policy
	for _, r := range require {
		for _, typ := range strings.Split(r, ",") {
			if typ = strings.TrimSpace(typ); typ != "" {
				p.Require = append(p.Require, policy.Requirement{ArtifactType: typ, Annotations: ann, Min: *min})
			}
		}
	}
	if err := p.Validate(); err != nil {
		return usagef("%v (give --require TYPE)", err)
	}
	loc, err := c.openLocation(ctx, e, pos[0])
	if err != nil {
		return err
	}
	defer loc.close()
	// as list: a digest whose manifest is not there still has referrers
	subject, missing, err := referrers.ResolveListSubject(ctx, loc.target, loc.reference, c.platform)
	if err != nil {
		return err
	}
	if missing {
		fmt.Fprintf(e.stderr, "referrers check: note: the subject manifest %s is not there; checking the referrers of its digest\n",
			display.Text(loc.at(subject.Digest)))
	}
	res, err := c.verbs(e).List(ctx, loc.target, subject, referrers.ListOptions{Mode: mode})
	if err != nil {
		return err // an error is never a verdict
	}
	for _, w := range res.Warnings {
		fmt.Fprintln(e.stderr, "referrers check: warning:", display.Text(w))
	}
	var entries = res.Index().Manifests
	verdict := policy.Evaluate(subject, entries, p)
	if c.format == "json" {
		enc := json.NewEncoder(display.NewJSONWriter(e.stdout))
		enc.SetIndent("", "  ")
		if err := enc.Encode(verdict); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(e.stdout, display.Text(loc.at(subject.Digest)))
		if err := frontend.WriteVerdict(e.stdout, verdict); err != nil {
			return err
		}
	}
	if !verdict.Pass {
		return notMet{fmt.Errorf("%w for %s", policy.ErrNotMet, loc.at(subject.Digest))}
	}
	return nil
}

// notMet is a verdict, reported with exit code 3.
type notMet struct{ error }

func (n notMet) Unwrap() error { return n.error }
