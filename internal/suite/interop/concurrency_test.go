package interop

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

// concurrentWriters is how many separate processes attach to one subject at
// once in TestConcurrentAttach.
const concurrentWriters = 16

// TestConcurrentAttach is the lost-update race of the tag schema on a real
// registry without the API (distribution v3.1.2, which also ignores If-Match;
// RATIONALE.md): 16 separate `referrers attach` processes to one subject at
// once, for INTEROP_CONCURRENCY_ROUNDS rounds (default 2). Every attach must
// succeed and all 16 must be listed, by us, oras and regctl (distribution-spec v1.1.1, Pushing Manifests with Subject and Referrers Tag Schema).
// oras and regctl run the same race for the record; their survivors are
// logged, not asserted.
func TestConcurrentAttach(t *testing.T) {
	t.Parallel()
	rounds := 2
	if v, err := strconv.Atoi(os.Getenv("INTEROP_CONCURRENCY_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	reg := oracle.StartDistribution(t)
	cs := clients(t, reg.Host)
	survivors := map[string][]int{}
	for round := 1; round <= rounds; round++ {
		for _, producer := range []string{"referrers", "oras", "regctl"} {
			repo := fmt.Sprintf("race/%s/%d", producer, round)
			mustImage(t, repository(t, reg.Host, repo), repo, "v1")
			at := reg.Ref(repo, ":v1")
			produced, errs := raceAttach(t, producer, reg.Host, at)
			listed := byName(cs, "referrers").list(t, at, 1, "")
			n := 0
			for _, d := range produced {
				if _, k := find(listed, d); k == 1 {
					n++
				}
			}
			survivors[producer] = append(survivors[producer], n)
			t.Logf("round %d: %s: %d attaches succeeded, %d listed afterwards (%d errors)", round, producer, len(produced), n, len(errs))
			if producer != "referrers" {
				continue
			}
			for _, err := range errs {
				t.Errorf("referrers attach failed under concurrency: %v", err)
			}
			for _, consumer := range cs {
				got := consumer.list(t, at, 1, "")
				if len(got) != concurrentWriters {
					t.Errorf("round %d: %s lists %d referrers, want %d", round, consumer.name(), len(got), concurrentWriters)
				}
				for _, d := range produced {
					if _, k := find(got, d); k != 1 {
						t.Errorf("round %d: %s lists %s %d times, want once", round, consumer.name(), d, k)
					}
				}
			}
		}
	}
	t.Logf("concurrency survivors of %d writers per round on distribution: referrers %v, oras %v, regctl %v",
		concurrentWriters, survivors["referrers"], survivors["oras"], survivors["regctl"])
}

// raceAttach starts concurrentWriters processes of producer attaching a
// distinct artifact to subject, releases them together, and returns the
// digests the successful ones reported and the failures.
func raceAttach(t *testing.T, producer, host, subject string) ([]string, []error) {
	t.Helper()
	var (
		mu       sync.Mutex
		produced []string
		errs     []error
		wg       sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := make(chan struct{})
	for i := 0; i < concurrentWriters; i++ {
		var x *oracle.Tool
		switch producer {
		case "referrers":
			x = oracle.NewReferrers(t)
		case "oras":
			x = oracle.NewOras(t)
		default:
			x = oracle.NewRegctl(t, host)
		}
		name := fmt.Sprintf("w%02d.json", i)
		if err := os.WriteFile(x.Dir+"/"+name, []byte(fmt.Sprintf(`{"writer":%d}`, i)), 0o600); err != nil {
			t.Fatal(err)
		}
		var args []string
		id := "org.example.writer=" + strconv.Itoa(i)
		switch producer {
		case "referrers":
			args = []string{"attach", "--plain-http", "--format", "json", subject, name + ":application/json",
				"--artifact-type", "application/vnd.example.race", "--annotation", id}
		case "oras":
			args = []string{"attach", "--plain-http", "--format", "json", "--artifact-type", "application/vnd.example.race",
				"--annotation", id, subject, name + ":application/json"}
		default:
			args = []string{"artifact", "put", "--subject", subject, "--artifact-type", "application/vnd.example.race",
				"--annotation", id, "-f", name, "-m", "application/json", "--format", "{{.Manifest.GetDescriptor.Digest}}"}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := x.RunContext(ctx, args...)
			mu.Lock()
			defer mu.Unlock()
			if r.Err != nil {
				errs = append(errs, r.Err)
				return
			}
			d, err := digestOf(producer, r.Stdout)
			if err != nil {
				errs = append(errs, err)
				return
			}
			produced = append(produced, d)
		}()
	}
	close(start)
	wg.Wait()
	return produced, errs
}
