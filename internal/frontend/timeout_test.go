package frontend

import (
	"errors"
	"testing"
	"time"
)

func TestParseTimeout(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30s", 30 * time.Second, true},
		{"0", 0, true},
		{"1h2m", time.Hour + 2*time.Minute, true},
		{"-1s", 0, false},
		{"10", 0, false},
		{"", 0, false},
		{"soon", 0, false},
	} {
		got, err := ParseTimeout(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseTimeout(%q) = %v, %v; want %v, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
	cause := errors.New("GET x: context deadline exceeded")
	err := TimeoutExpired("--timeout", 2*time.Second, cause)
	if !errors.Is(err, cause) || err.Error() != "--timeout 2s expired while GET x: context deadline exceeded" {
		t.Errorf("TimeoutExpired = %q", err)
	}
}
