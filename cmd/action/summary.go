package main

import (
	"fmt"
	"strings"

	"github.com/oci-referrers/referrers/core/display"
)

// maxSummary is the budget of one step's job summary. GitHub refuses a step
// summary over 1024 KiB ("upload aborted"); rows past the budget are dropped
// and counted instead, leaving room for the note that says so.
const maxSummary = 512 << 10

// maxCell bounds one table cell, in runes: registry data can be long.
const maxCell = 200

// table is a Markdown table under a heading, with an optional note.
type table struct {
	title   string
	header  []string
	rows    [][]string
	notes   []string
	dropped int // rows left out to stay within the budget
}

// render returns the Markdown, at most budget bytes: whole rows are dropped
// from the end (and counted) when the table would not fit.
func (t *table) render(budget int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", cell(t.title))
	for _, n := range t.notes {
		fmt.Fprintf(&b, "%s\n\n", n)
	}
	b.WriteString(row(t.header))
	b.WriteString("|" + strings.Repeat(" --- |", len(t.header)) + "\n")
	const tail = 200 // room for the truncation note
	kept := 0
	for _, r := range t.rows {
		line := row(r)
		if b.Len()+len(line)+tail > budget {
			break
		}
		b.WriteString(line)
		kept++
	}
	if dropped := len(t.rows) - kept + t.dropped; dropped > 0 {
		fmt.Fprintf(&b, "\n%d more rows left out: a job summary is limited to 1 MiB. The step outputs have the full data.\n", dropped)
	}
	b.WriteString("\n")
	return b.String()
}

func row(cells []string) string {
	var b strings.Builder
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" " + cell(c) + " |")
	}
	b.WriteString("\n")
	return b.String()
}

// cell makes s safe as one cell of a Markdown table. First package display
// renders it: control and format characters (newlines and bidirectional
// controls included) and invalid UTF-8 become visible escapes such as \x1b,
// and a long value is cut to maxCell characters with an ellipsis, never
// within an escape. Then HTML's special characters become entities, and the
// ASCII punctuation that Markdown would read as syntax (emphasis, code,
// links, images, table pipes, and the backslash of an escape) is escaped
// with a backslash. With '<' an entity and '[' escaped, no link, image or
// raw HTML can form.
func cell(s string) string {
	s = display.Truncate(s, maxCell)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case strings.ContainsRune("\\`*_{}[]#!|~", r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// size renders a byte count for people.
func size(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	}
}
