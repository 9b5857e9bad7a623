package server

import (
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxCached bounds the referrers indexes kept decoded in memory.
const maxCached = 1024

// indexCache keeps decoded referrers indexes, so the pages of one list (each
// page a request) decode the subject's index once, not once per page. An
// entry is used only while its stamp is unchanged.
type indexCache struct {
	mu sync.Mutex
	m  map[string]cachedIndex
}

type cachedIndex struct {
	stamp   string
	entries []ocispec.Descriptor // sorted by digest; never modified
}

func (c *indexCache) get(key, stamp string) ([]ocispec.Descriptor, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || e.stamp != stamp {
		return nil, false
	}
	return e.entries, true
}

func (c *indexCache) put(key, stamp string, entries []ocispec.Descriptor) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedIndex{}
	}
	if len(c.m) >= maxCached {
		for k := range c.m { // drop an arbitrary half: cheap, and rare
			if len(c.m) < maxCached/2 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[key] = cachedIndex{stamp: stamp, entries: entries}
}

// stamp says which state of the tree a decoded index belongs to: the count
// of the server's own writes (exact; server-wide, so that it survives the
// removal of an idle repository's lock), and the size and
// time of the files that decide whether the pre-rendered index is trusted
// (static tree layout: v2/<name>/referrers/<digest>, v2/<name>/manifests,
// v2/<name>/referrers/.complete), for writes by other tools (another server
// writing a tree this one reads). newest is the latest of those times.
func (s *Server) stamp(name string, d digest.Digest, writes uint64) (stamp string, newest time.Time) {
	var b strings.Builder
	fmt.Fprintf(&b, "%d", writes)
	for _, p := range []string{"v2/" + name + "/referrers/" + d.String(), "v2/" + name + "/manifests", "v2/" + name + "/referrers/.complete"} {
		if fi, err := fs.Stat(s.root.FS(), p); err == nil {
			fmt.Fprintf(&b, ";%d@%d", fi.Size(), fi.ModTime().UnixNano())
			if fi.ModTime().After(newest) {
				newest = fi.ModTime()
			}
		} else {
			b.WriteString(";-")
		}
	}
	return b.String(), newest
}

// settled reports whether an index read under a stamp whose newest time is
// newest may be kept. File times are coarse (a clock tick of some ms, or a
// whole second or two on some file systems): another tool may replace an
// index by one of the same size within the tick of the stamp's times, and
// the stamp would not change. Only an index whose files are older than
// racyWindow is kept; a later write then has a later time (the same
// reasoning as Git's "racily clean" index entries). Times in the future
// (another clock) are never settled.
func settled(newest, now time.Time) bool { return now.Sub(newest) > racyWindow }

// racyWindow is longer than the coarsest clock tick of common file systems
// (2 s on FAT; 1 s on ext4 with small inodes, HFS+ and some NFS servers).
const racyWindow = 3 * time.Second

// sorted returns entries sorted by digest, copying only when they are not.
func sorted(entries []ocispec.Descriptor) []ocispec.Descriptor {
	less := func(a, b ocispec.Descriptor) int { return strings.Compare(string(a.Digest), string(b.Digest)) }
	if slices.IsSortedFunc(entries, less) {
		return entries
	}
	out := slices.Clone(entries)
	slices.SortFunc(out, less)
	return out
}
