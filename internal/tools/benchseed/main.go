// Command benchseed prepares the registries that scripts/bench-peers.sh
// benchmarks our CLI, oras and regctl against. It uses only our own library
// (core/...) and the standard library.
//
//	benchseed port                       print a free TCP port on 127.0.0.1
//	benchseed wait HOST:PORT             wait until GET /v2/ answers 200
//	benchseed image HOST:PORT/REPO:TAG   push a small image (the subject)
//	benchseed seed [-n N] [-parallel P] [-artifact-type T] HOST:PORT/REPO:TAG
//	                                     attach N small referrers quickly
//	benchseed bigfile [-size S] [-registry HOST:PORT -repo REPO [-storage DIR]] [-clean] PATH
//	                                     give PATH new content for one attach run
//	benchseed stats FILE.json...         summarise hyperfine JSON exports as CSV
//
// seed pushes the referrer manifests by digest, P at a time. When the registry
// does not answer OCI-Subject (no Referrers API) it then writes one referrers
// tag schema index that lists all of them (merged with the index already
// there), instead of N read-modify-write updates.
//
// bigfile makes PATH a sparse file of S bytes whose first bytes are unique, so
// that each benchmarked attach uploads a blob the registry does not have yet;
// it records the file's digest in PATH.digest. With -registry and -repo it first
// deletes the blob of the previous content from the registry, so the registry's
// memory does not grow with the number of runs; distribution's DELETE only
// unlinks the blob from the repository, so -storage (the root directory of its
// filesystem store) also removes the blob's data. -clean deletes that blob and
// the files, and writes nothing new.
//
// stats merges the timed runs of several hyperfine JSON exports (rounds of the
// same commands, run in turn so that a burst of load from other processes
// does not land on one tool alone) and prints, per command name in the order
// first seen, CSV: command,mean,stddev,median,min,max,runs (seconds).
//
// Only plain HTTP is spoken: the registries are local oracles.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oci-referrers/referrers/core/ref"
	"github.com/oci-referrers/referrers/core/referrers"
	"github.com/oci-referrers/referrers/core/registry"
	"github.com/oci-referrers/referrers/core/target"
)

const (
	mediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	mediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	mediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx := context.Background()
	var err error
	switch cmd, args := os.Args[1], os.Args[2:]; cmd {
	case "port":
		err = cmdPort()
	case "wait":
		err = cmdWait(args)
	case "image":
		err = cmdImage(ctx, args)
	case "seed":
		err = cmdSeed(ctx, args)
	case "bigfile":
		err = cmdBigfile(args)
	case "stats":
		err = cmdStats(args)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchseed:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: benchseed port | wait HOST:PORT | image REF | seed [-n N] [-parallel P] [-artifact-type T] REF | bigfile [-size S] [-registry HOST:PORT -repo REPO [-storage DIR]] [-clean] PATH | stats FILE.json...")
	os.Exit(2)
}

func cmdPort() error {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer l.Close()
	fmt.Println(l.Addr().(*net.TCPAddr).Port)
	return nil
}

func cmdWait(args []string) error {
	if len(args) != 1 {
		usage()
	}
	hc := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := hc.Get("http://" + args[0] + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s: no 200 on /v2/ within 20 s", args[0])
}

// open returns the reference and the repository it names, over plain HTTP with
// up to conns connections kept open to the registry.
func open(s string, conns int) (ref.Reference, *registry.Repository, error) {
	r, err := ref.Parse(s)
	if err != nil {
		return ref.Reference{}, nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = conns
	c := registry.New(registry.WithPlainHTTP(true), registry.WithHTTPClient(&http.Client{Transport: tr}),
		registry.WithUserAgent("referrers-benchseed"))
	return r, c.Repository(r.WithDefaultTag()), nil
}

func pushBlob(ctx context.Context, repo *registry.Repository, b referrers.Blob) error {
	rc, err := b.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	return repo.PushBlob(ctx, b.Descriptor, rc)
}

// cmdImage pushes a one-layer image under the reference's tag.
func cmdImage(ctx context.Context, args []string) error {
	if len(args) != 1 {
		usage()
	}
	r, repo, err := open(args[0], 2)
	if err != nil {
		return err
	}
	layer := referrers.BytesBlob(mediaTypeLayer, []byte("referrers benchmark subject layer\n"))
	cfg, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layer.Descriptor.Digest.String()}},
	})
	if err != nil {
		return err
	}
	config := referrers.BytesBlob(mediaTypeConfig, cfg)
	for _, b := range []referrers.Blob{config, layer} {
		if err := pushBlob(ctx, repo, b); err != nil {
			return err
		}
	}
	m, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaTypeManifest,
		"config":        config.Descriptor,
		"layers":        []any{layer.Descriptor},
	})
	if err != nil {
		return err
	}
	mdesc := referrers.BytesBlob(mediaTypeManifest, m).Descriptor
	tag := strings.TrimPrefix(r.WithDefaultTag().Ref(), ":")
	if _, err := repo.PushManifest(ctx, mdesc, m, target.PushOptions{Tag: tag}); err != nil {
		return err
	}
	fmt.Println(r.WithDigest(mdesc.Digest).String())
	return nil
}

// cmdSeed attaches n referrers to the subject, parallel at a time.
func cmdSeed(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	n := fs.Int("n", 2000, "number of referrers")
	parallel := fs.Int("parallel", 16, "manifest pushes at once")
	artifactType := fs.String("artifact-type", "application/vnd.example.bench.seed", "artifact type of the referrers")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *n < 1 || *parallel < 1 {
		usage()
	}
	start := time.Now()
	r, repo, err := open(fs.Arg(0), *parallel)
	if err != nil {
		return err
	}
	subject, err := referrers.ResolveSubject(ctx, repo, r.WithDefaultTag().Ref(), "")
	if err != nil {
		return err
	}

	// Pack every manifest first: the blobs (the empty descriptor as config and
	// layer) are the same for all, so they are pushed once.
	all := make([]referrer, *n)
	for i := range all {
		data, desc, blobs, err := referrers.Pack(subject, referrers.Artifact{
			ArtifactType: *artifactType,
			Annotations:  map[string]string{"bench.seq": strconv.Itoa(i)},
		})
		if err != nil {
			return err
		}
		if i == 0 {
			for _, b := range blobs {
				if err := pushBlob(ctx, repo, b); err != nil {
					return err
				}
			}
		}
		all[i] = referrer{data: data, manifest: referrers.Blob{Descriptor: desc}}
	}

	// The first push tells whether the registry indexes the subject itself
	// (OCI-Subject: a Referrers API). Such a registry gets the others one at a
	// time: olareg v0.2.2 updates its referrers index without a lock and kept
	// 426 of 2,000 referrers pushed 16 at a time. Without the API the pushes
	// are independent, so they go parallel at a time, and one tag schema index
	// lists them all.
	first, err := repo.PushManifest(ctx, all[0].manifest.Descriptor, all[0].data, target.PushOptions{})
	if err != nil {
		return fmt.Errorf("referrer 0: %w", err)
	}
	mode, workers := "api", 1
	if !first.SubjectRecorded {
		mode, workers = "tag", *parallel
	}
	if err := pushAll(ctx, repo, all[1:], workers, first.SubjectRecorded); err != nil {
		return err
	}
	if mode == "tag" {
		if err := writeFallback(ctx, repo, referrers.FallbackTag(subject.Digest), all); err != nil {
			return err
		}
	}

	// Check that the registry lists every one of them.
	list, err := referrers.New().List(ctx, repo, subject, referrers.ListOptions{ArtifactTypes: []string{*artifactType}})
	if err != nil {
		return err
	}
	listed := map[string]bool{}
	for _, nd := range list.Referrers {
		listed[nd.Descriptor.Digest.String()] = true
	}
	kept := 0
	for _, p := range all {
		if listed[p.manifest.Descriptor.Digest.String()] {
			kept++
		}
	}
	if kept != len(all) {
		return fmt.Errorf("the registry lists %d of the %d referrers pushed (%s mode)", kept, len(all), list.Mode)
	}
	fmt.Printf("seeded %d referrers of %s (%s) in %.1f s\n", *n, r.WithDigest(subject.Digest), mode, time.Since(start).Seconds())
	return nil
}

// pushAll pushes the referrer manifests by digest, workers at a time. Every
// answer must say the same as the first about OCI-Subject.
func pushAll(ctx context.Context, repo *registry.Repository, all []referrer, workers int, recorded bool) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) { errOnce.Do(func() { firstErr = err; cancel() }) }
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(all) || ctx.Err() != nil {
					return
				}
				res, err := repo.PushManifest(ctx, all[i].manifest.Descriptor, all[i].data, target.PushOptions{})
				if err != nil {
					fail(fmt.Errorf("referrer %s: %w", all[i].manifest.Descriptor.Digest, err))
					return
				}
				if res.SubjectRecorded != recorded {
					fail(fmt.Errorf("the registry answered OCI-Subject to some pushes and not to others"))
					return
				}
			}
		}()
	}
	wg.Wait()
	return firstErr
}

// referrer is one packed referrer manifest: its bytes, and its descriptor
// (carried in a Blob, whose Open is unused).
type referrer struct {
	data     []byte
	manifest referrers.Blob
}

// writeFallback merges an entry for each referrer into the referrers tag schema
// index under tag (the subject's) and pushes it once. Entries are sorted by
// digest, as our attach writes them.
func writeFallback(ctx context.Context, repo *registry.Repository, tag string, all []referrer) error {
	current := []byte(`{"schemaVersion":2,"mediaType":"` + mediaTypeIndex + `","manifests":[]}`)
	tagged, err := repo.FetchTagged(ctx, tag)
	switch {
	case err == nil:
		current = tagged.Data
	case !errors.Is(err, target.ErrNotFound):
		return err
	}
	idx, err := target.DecodeIndex(current)
	if err != nil {
		return fmt.Errorf("tag %s: %w", tag, err)
	}
	entries := idx.Manifests
	seen := map[string]bool{}
	for _, e := range entries {
		seen[e.Digest.String()] = true
	}
	for _, r := range all {
		e, err := referrers.EntryFor(r.manifest.Descriptor, r.data)
		if err != nil {
			return err
		}
		if !seen[e.Digest.String()] {
			seen[e.Digest.String()] = true
			entries = append(entries, e)
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Digest < entries[j].Digest })
	b, err := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mediaTypeIndex, "manifests": entries})
	if err != nil {
		return err
	}
	if len(b) > target.MaxManifestBytes {
		return fmt.Errorf("tag %s: the index would be %d bytes, more than %d", tag, len(b), target.MaxManifestBytes)
	}
	desc := referrers.BytesBlob(mediaTypeIndex, b).Descriptor
	_, err = repo.PushManifest(ctx, desc, b, target.PushOptions{Tag: tag})
	return err
}

// cmdBigfile gives PATH new, unique content of the given size (sparse after
// the first bytes) and records its digest in PATH.digest, after deleting the
// blob of the previous content from the registry.
func cmdBigfile(args []string) error {
	fs := flag.NewFlagSet("bigfile", flag.ExitOnError)
	size := fs.Int64("size", 1<<30, "file size in bytes")
	host := fs.String("registry", "", "HOST:PORT of the registry to delete the previous blob from")
	repo := fs.String("repo", "", "repository of that blob")
	storage := fs.String("storage", "", "root directory of a distribution filesystem store to remove the blob's data from")
	clean := fs.Bool("clean", false, "only delete the previous blob and the files")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *size < 64 || (*host == "") != (*repo == "") || (*storage != "" && *host == "") {
		usage()
	}
	path := fs.Arg(0)
	digestPath := path + ".digest"
	if prev, err := os.ReadFile(digestPath); err == nil && *host != "" {
		d := strings.TrimSpace(string(prev))
		if err := deleteBlob(*host, *repo, d); err != nil {
			return err
		}
		if *storage != "" {
			if err := removeBlobData(*storage, d); err != nil {
				return err
			}
		}
	}
	if *clean {
		for _, p := range []string{path, digestPath} {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		return nil
	}

	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(*size); err != nil {
		return err
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	header := fmt.Sprintf("referrers bench %s %d\n", hex.EncodeToString(nonce), time.Now().UnixNano())
	if _, err := f.WriteAt([]byte(header), 0); err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, 0, *size)); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(digestPath, []byte("sha256:"+hex.EncodeToString(h.Sum(nil))+"\n"), 0o644)
}

// removeBlobData removes a blob's data from a distribution filesystem store
// (docker/registry/v2/blobs/sha256/XX/HEX under its root directory).
func removeBlobData(root, digest string) error {
	hexPart, ok := strings.CutPrefix(digest, "sha256:")
	if _, err := hex.DecodeString(hexPart); !ok || err != nil || len(hexPart) != 64 {
		return fmt.Errorf("not a sha256 digest: %q", digest)
	}
	return os.RemoveAll(filepath.Join(root, "docker", "registry", "v2", "blobs", "sha256", hexPart[:2], hexPart))
}

// deleteBlob deletes a blob; one that is not there is fine.
func deleteBlob(host, repo, digest string) error {
	req, err := http.NewRequest(http.MethodDelete, "http://"+host+"/v2/"+repo+"/blobs/"+digest, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	switch resp.StatusCode {
	case http.StatusAccepted, http.StatusOK, http.StatusNoContent, http.StatusNotFound:
		return nil
	}
	return fmt.Errorf("DELETE blob %s in %s: %s", digest, repo, resp.Status)
}

// cmdStats prints the summary of the runs of each command over all files.
func cmdStats(files []string) error {
	if len(files) == 0 {
		usage()
	}
	var names []string
	times := map[string][]float64{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var export struct {
			Results []struct {
				Command string    `json:"command"`
				Times   []float64 `json:"times"`
			} `json:"results"`
		}
		if err := json.Unmarshal(b, &export); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, r := range export.Results {
			if _, ok := times[r.Command]; !ok {
				names = append(names, r.Command)
			}
			times[r.Command] = append(times[r.Command], r.Times...)
		}
	}
	fmt.Println("command,mean,stddev,median,min,max,runs")
	for _, name := range names {
		t := times[name]
		if len(t) == 0 {
			return fmt.Errorf("%s: no timed runs", name)
		}
		sort.Float64s(t)
		sum := 0.0
		for _, v := range t {
			sum += v
		}
		mean := sum / float64(len(t))
		sd := 0.0
		if len(t) > 1 {
			for _, v := range t {
				sd += (v - mean) * (v - mean)
			}
			sd = math.Sqrt(sd / float64(len(t)-1))
		}
		median := t[len(t)/2]
		if len(t)%2 == 0 {
			median = (t[len(t)/2-1] + t[len(t)/2]) / 2
		}
		fmt.Printf("%s,%g,%g,%g,%g,%g,%d\n", name, mean, sd, median, t[0], t[len(t)-1], len(t))
	}
	return nil
}
