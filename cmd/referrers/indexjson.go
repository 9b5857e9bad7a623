package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/display"
	"github.com/oci-referrers/referrers/core/referrers"
)

// writeIndexJSON writes idx exactly as a json.Encoder with SetIndent("", "  ")
// writes it (TestWriteIndexJSON compares the two), one manifest descriptor at a
// time through a buffer. The encoder builds the whole document, then an
// indented copy of it, and display.JSON passes over it once more: for 2,000
// referrers that was over 40% of a list's CPU time and most of its garbage.
// Each write to the display.JSON writer is one descriptor or the text between
// two, so no string is split between two of its writes.
func writeIndexJSON(w io.Writer, idx ocispec.Index) error {
	return writeIndex(w, idx, len(idx.Manifests), func(i int) *ocispec.Descriptor { return &idx.Manifests[i] })
}

// writeListJSON writes res.Index() as writeIndexJSON does, from res's nodes:
// without the copy of every descriptor that building the index takes.
func writeListJSON(w io.Writer, res referrers.ListResult) error {
	idx := referrers.ListResult{}.Index()
	return writeIndex(w, idx, len(res.Referrers), func(i int) *ocispec.Descriptor { return &res.Referrers[i].Descriptor })
}

// writeIndex writes idx with its manifests replaced by the n descriptors
// entry returns.
func writeIndex(w io.Writer, idx ocispec.Index, n int, entry func(int) *ocispec.Descriptor) error {
	if n == 0 {
		enc := json.NewEncoder(display.NewJSONWriter(w))
		enc.SetIndent("", "  ")
		return enc.Encode(idx)
	}
	idx.Manifests = []ocispec.Descriptor{}
	head, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return err
	}
	// Only numbers and strings come before the manifests field
	// (schemaVersion, mediaType, artifactType), and quotes inside a string
	// are escaped, so the first match is the field.
	const empty = `"manifests": []`
	at := bytes.Index(head, []byte(empty))
	if at < 0 {
		return errors.New("encoding the index: no manifests field")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	jw := display.NewJSONWriter(bw)
	if _, err := jw.Write(head[:at+len(empty)-1]); err != nil {
		return err
	}
	buf := make([]byte, 0, 1024)
	for i := range n {
		buf = buf[:0]
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, "\n    "...)
		if buf, err = appendDescriptor(buf, entry(i)); err != nil {
			return err
		}
		if _, err := jw.Write(buf); err != nil {
			return err
		}
	}
	buf = append(append(append(buf[:0], "\n  ]"...), head[at+len(empty):]...), '\n')
	if _, err := jw.Write(buf); err != nil {
		return err
	}
	return bw.Flush()
}

// appendDescriptor appends d as json.MarshalIndent(d, "    ", "  ") would.
// Descriptors with fields a referrers list rarely has (urls, data, platform)
// go through json.MarshalIndent itself.
func appendDescriptor(b []byte, d *ocispec.Descriptor) ([]byte, error) {
	if d.URLs != nil || d.Data != nil || d.Platform != nil {
		m, err := json.MarshalIndent(d, "    ", "  ")
		return append(b, m...), err
	}
	b = append(b, "{\n      \"mediaType\": "...)
	b = appendJSONString(b, d.MediaType)
	b = append(b, ",\n      \"digest\": "...)
	b = appendJSONString(b, string(d.Digest))
	b = append(b, ",\n      \"size\": "...)
	b = strconv.AppendInt(b, d.Size, 10)
	if len(d.Annotations) > 0 {
		b = append(b, ",\n      \"annotations\": {"...)
		keys := make([]string, 0, len(d.Annotations))
		for k := range d.Annotations {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, "\n        "...)
			b = appendJSONString(b, k)
			b = append(b, ": "...)
			b = appendJSONString(b, d.Annotations[k])
		}
		b = append(b, "\n      }"...)
	}
	if d.ArtifactType != "" {
		b = append(b, ",\n      \"artifactType\": "...)
		b = appendJSONString(b, d.ArtifactType)
	}
	return append(b, "\n    }"...), nil
}

// appendJSONString appends s quoted as encoding/json quotes it: printable
// ASCII other than the quote, the backslash and the HTML characters < > & is
// written as is, anything else by json.Marshal itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			m, _ := json.Marshal(s) // a string always encodes
			return append(b, m...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
