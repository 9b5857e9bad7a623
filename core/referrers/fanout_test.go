package referrers

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestFanOut checks the one bounded fan-out of the verbs: at most limit calls
// at a time, the first error returned and no call started after it, the
// caller's cancellation ending it.
func TestFanOut(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	tests := []struct {
		name      string
		n, limit  int
		failAt    int // the call that fails; -1 for none
		cancelled bool
		wantErr   error
		wantCalls int // -1: any
	}{
		{name: "none", n: 0, limit: 4, failAt: -1, wantCalls: 0},
		{name: "all", n: 20, limit: 4, failAt: -1, wantCalls: 20},
		{name: "limit 0 is 1", n: 3, limit: 0, failAt: -1, wantCalls: 3},
		{name: "one at a time, the second fails", n: 5, limit: 1, failAt: 1, wantErr: errBoom, wantCalls: 2},
		{name: "parallel, one fails", n: 20, limit: 4, failAt: 7, wantErr: errBoom, wantCalls: -1},
		{name: "caller cancelled", n: 5, limit: 2, failAt: -1, cancelled: true, wantErr: context.Canceled, wantCalls: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if tt.cancelled {
				cancel()
			}
			var mu sync.Mutex
			calls, inflight, most := 0, 0, 0
			err := fanOut(ctx, tt.n, tt.limit, func(ctx context.Context, i int) error {
				mu.Lock()
				calls++
				inflight++
				most = max(most, inflight)
				mu.Unlock()
				defer func() { mu.Lock(); inflight--; mu.Unlock() }()
				if i == tt.failAt {
					return fmt.Errorf("call %d: %w", i, errBoom)
				}
				return nil
			})
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantCalls >= 0 && calls != tt.wantCalls {
				t.Errorf("%d calls, want %d", calls, tt.wantCalls)
			}
			if most > max(tt.limit, 1) {
				t.Errorf("%d calls at once, limit %d", most, tt.limit)
			}
		})
	}
}

func TestIsIndex(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mediaType string
		want      bool
	}{
		{ocispec.MediaTypeImageIndex, true},
		{"application/vnd.docker.distribution.manifest.list.v2+json", true},
		{ocispec.MediaTypeImageManifest, false},
		{"application/vnd.docker.distribution.manifest.v2+json", false},
		{"", false},
	} {
		if got := IsIndex(tc.mediaType); got != tc.want {
			t.Errorf("IsIndex(%q) = %v, want %v", tc.mediaType, got, tc.want)
		}
	}
}
