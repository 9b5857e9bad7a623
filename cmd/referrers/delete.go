package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opencontainers/go-digest"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/target"
)

func cmdDelete(ctx context.Context, e env, args []string) (err error) {
	var c common
	defer func() { err = c.explain(err) }()
	fs := c.flags("delete", e, "text or json", "text")
	recursive := fs.Bool("recursive", false, "also delete the referrer's own referrers (and theirs), each before what it refers to")
	gc := fs.Bool("gc-fallback-index", false, "delete the superseded referrers tag index, and referrers tags left empty (needs delete permission)")
	subject := fs.String("subject", "", "`DIGEST` of the subject, for a referrer whose manifest is already gone:\n"+
		"its entry is removed from that subject's referrers tag (a rerun after another tool's delete)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Usage: referrers delete REFERENCE [flags]")
		fmt.Fprintln(fs.Output(), "REFERENCE names a referrer (an artifact with a subject), best by digest: HOST/REPO@DIGEST,\n"+
			"oci:DIR@DIGEST or static:DIR:NAME@DIGEST. Its entry leaves the subject's referrers tag, then the manifest\n"+
			"is deleted; a manifest without a subject is not deleted.")
		printDefaults(fs)
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one REFERENCE, got %d arguments", len(pos))
	}
	if c.format != "text" && c.format != "json" {
		return usagef("--format must be text or json")
	}
	if c.platform != "" {
		return usagef("--platform does not apply: name the referrer itself")
	}
	mode, err := referrers.ParseMode(c.mode)
	if err != nil {
		return usageError{err}
	}
	opts := referrers.DeleteOptions{Mode: mode, Recursive: *recursive, GCFallbackIndex: *gc}
	if *subject != "" {
		d, err := ref.ParseDigest(*subject)
		if err != nil {
			return usagef("--subject: %w", err)
		}
		opts.Subject = d
	}
	loc, err := c.openLocation(ctx, e, pos[0])
	if err != nil {
		return err
	}
	defer loc.close()
	// a digest whose manifest is gone is the bare {Digest}: Delete then
	// needs --subject
	desc, _, err := referrers.ResolveListSubject(ctx, loc.target, loc.reference, "")
	if err != nil {
		return err
	}
	res, err := c.verbs(e).Delete(ctx, loc.target, desc, opts)
	for _, w := range res.Warnings {
		fmt.Fprintln(e.stderr, "referrers delete: warning:", display.Text(w))
	}
	if c.format == "json" && (err == nil || len(res.Deleted) > 0) {
		if jerr := writeDeleteJSON(e, loc, res); jerr != nil && err == nil {
			err = jerr
		}
	} else {
		writeDeleteText(e, loc, res)
	}
	return deleteHint(err, loc, desc.Digest, opts.Subject != "")
}

// deleteOutput is the json output: the referrers deleted, in order.
type deleteOutput struct {
	Deleted []deletedOutput `json:"deleted"`
}

type deletedOutput struct {
	Digest      string `json:"digest"`
	Reference   string `json:"reference"`
	Subject     string `json:"subject"`
	FallbackTag string `json:"fallbackTag,omitempty"`
	// Gone: the manifest was already gone; only its entry was removed.
	Gone bool `json:"gone,omitempty"`
}

func writeDeleteJSON(e env, loc *location, res referrers.DeleteResult) error {
	out := deleteOutput{Deleted: []deletedOutput{}}
	for _, d := range res.Deleted {
		out.Deleted = append(out.Deleted, deletedOutput{
			Digest:      d.Descriptor.Digest.String(),
			Reference:   loc.at(d.Descriptor.Digest),
			Subject:     loc.at(d.Subject),
			FallbackTag: d.FallbackTag,
			Gone:        d.Gone,
		})
	}
	enc := json.NewEncoder(display.NewJSONWriter(e.stdout))
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// writeDeleteText prints one reference a line on stdout, the deleted ones in
// order, and on stderr what else happened to each.
func writeDeleteText(e env, loc *location, res referrers.DeleteResult) {
	for _, d := range res.Deleted {
		fmt.Fprintln(e.stdout, display.Text(loc.at(d.Descriptor.Digest)))
		switch {
		case d.Gone:
			fmt.Fprintf(e.stderr, "referrers delete: %s was already gone; removed its stale entry from the referrers tag %s\n",
				display.Text(d.Descriptor.Digest.String()), display.Text(d.FallbackTag))
		case d.FallbackTag != "":
			fmt.Fprintf(e.stderr, "referrers delete: removed %s from the referrers tag %s\n",
				display.Text(d.Descriptor.Digest.String()), display.Text(d.FallbackTag))
		}
	}
}

// deleteHint names the flag or the command that gets past an error.
func deleteHint(err error, loc *location, d digest.Digest, subjectGiven bool) error {
	var ie *referrers.DeleteIncompleteError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ie):
		return fmt.Errorf("%w (run: referrers delete %s)", err, loc.at(ie.Referrer))
	case errors.Is(err, referrers.ErrHasReferrers):
		return fmt.Errorf("%w (--recursive deletes them too)", err)
	case errors.Is(err, referrers.ErrNotReferrer):
		return fmt.Errorf("%w: referrers delete removes artifacts attached to an image, not images", err)
	case errors.Is(err, target.ErrNotFound) && !subjectGiven:
		return fmt.Errorf("%w (for a stale entry of a deleted referrer: referrers delete %s --subject SUBJECT-DIGEST)", err, loc.at(d))
	}
	return err
}
