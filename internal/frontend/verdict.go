package frontend

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/policy"
)

// WriteVerdict writes a policy verdict as the text table of `referrers
// check`: one row per requirement with what was found, the minimum and ok
// or MISSING. The artifactTypes (what the policy asked for, which may come from
// a file) are rendered by package display.
func WriteVerdict(w io.Writer, v policy.Result) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUIRED ARTIFACT TYPE\tFOUND\tMIN\tRESULT")
	for _, o := range v.Requirements {
		r := "ok"
		if !o.Pass {
			r = "MISSING"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", display.Text(o.ArtifactType), o.Found, max(o.Min, 1), r)
	}
	return tw.Flush()
}
