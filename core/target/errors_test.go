package target

import (
	"errors"
	"fmt"
	"testing"
)

func TestUnsupportedReason(t *testing.T) {
	ua := &UnsupportedAnswer{Reason: "a 200 that is not an image index", Err: fmt.Errorf("GET x: %w", ErrUnsupported)}
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"nil", nil, ""},
		{"plain unsupported", ErrUnsupported, ""},
		{"itself", ua, ua.Reason},
		{"wrapped", fmt.Errorf("list: %w", ua), ua.Reason},
		{"joined", errors.Join(errors.New("other"), fmt.Errorf("x: %w", ua)), ua.Reason},
		{"two %w", fmt.Errorf("%w and %w", ErrNotFound, ua), ua.Reason},
	} {
		if got := UnsupportedReason(tc.err); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
		if tc.want != "" && !errors.Is(tc.err, ErrUnsupported) {
			t.Errorf("%s: not errors.Is ErrUnsupported", tc.name)
		}
	}
}
