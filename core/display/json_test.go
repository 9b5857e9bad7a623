package display

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func TestJSON(t *testing.T) {
	values := []string{
		"plain", "\x1b]0;title\a", "\u202eevil", "\x7f", "\u0085", "##[error]x", "a ##vso[task] b",
		"\n::error::pwned", "\U000e0041tag", "\u2028", "#not-a-marker#", "日本語 ✓", "\xff",
	}
	for _, v := range values {
		doc := map[string]any{"k": v, "list": []string{v, v}}
		for _, indent := range []bool{false, true} {
			var b []byte
			var err error
			if indent {
				b, err = json.MarshalIndent(doc, "", "  ")
			} else {
				b, err = json.Marshal(doc)
			}
			if err != nil {
				t.Fatal(err)
			}
			got := JSON(b)
			var back, want any
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("%q: JSON(...) does not decode: %v\n%s", v, err, got)
			}
			json.Unmarshal(b, &want)
			if !reflect.DeepEqual(back, want) {
				t.Errorf("%q: decodes to %v, want %v", v, back, want)
			}
			for _, line := range strings.Split(string(got), "\n") {
				if Text(line) != line {
					t.Errorf("%q: line %q is not display-safe", v, line)
				}
			}
		}
	}
	if b := []byte(`{"a":"b"}`); &JSON(b)[0] != &b[0] {
		t.Error("a safe document is copied")
	}
}

func FuzzJSON(f *testing.F) {
	for _, s := range []string{"x", "\x1b[2J", "##[group]", "\u202e", "\U0001f600", "\x7f\u009b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := json.Marshal(map[string]string{s: s})
		if err != nil {
			t.Skip()
		}
		got := JSON(b)
		var back, want map[string]string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Fatalf("does not decode: %v\n%s", err, got)
		}
		json.Unmarshal(b, &want)
		if !reflect.DeepEqual(back, want) {
			t.Fatalf("decodes to %q, want %q", back, want)
		}
		if Text(string(got)) != string(got) {
			t.Fatalf("not display-safe: %q", got)
		}
	})
}
