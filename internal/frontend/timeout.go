package frontend

import (
	"errors"
	"fmt"
	"time"
)

// ParseTimeout parses the whole-command timeout both front ends take (the
// CLI's --timeout, the Action's timeout input): a Go duration, 0 for no limit.
func ParseTimeout(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, errors.New("want a duration such as 30s or 5m (0: no limit)")
	}
	return d, nil
}

// TimeoutExpired names the timeout (what: "--timeout", "input timeout") in
// the error its expiry caused, so the user sees which limit ended the command
// and not only the request it cut short.
func TimeoutExpired(what string, d time.Duration, err error) error {
	return fmt.Errorf("%s %s expired while %w", what, d, err)
}
