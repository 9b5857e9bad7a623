// Package treetest fingerprints directory trees for the tests of the on-disk
// stores: two equal fingerprints mean nothing was written.
package treetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Hash fingerprints every entry under dir: files by content (files over
// 64 MiB, the sparse giants of the hostile tests, by size, modification time
// and inode, which any write changes), symlinks by target, directories by
// presence.
func Hash(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "symlink " + l
		case d.IsDir():
			out[rel] = "dir"
		default:
			fi, err := d.Info()
			if err != nil {
				return err
			}
			if fi.Size() > 64<<20 {
				out[rel] = fmt.Sprintf("big %d %d %d", fi.Size(), fi.ModTime().UnixNano(), inode(fi))
				return nil
			}
			fh, err := os.Open(p)
			if err != nil {
				return err
			}
			defer fh.Close()
			h := sha256.New()
			if _, err := io.Copy(h, fh); err != nil {
				return err
			}
			out[rel] = hex.EncodeToString(h.Sum(nil))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Diff lists what changed between two fingerprints, sorted.
func Diff(before, after map[string]string) []string {
	var diff []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			diff = append(diff, "removed "+k)
		} else if w != v {
			diff = append(diff, "changed "+k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			diff = append(diff, "added "+k)
		}
	}
	sort.Strings(diff)
	return diff
}

// Same fails the test with the differences when two fingerprints differ.
func Same(t testing.TB, what string, before, after map[string]string) {
	t.Helper()
	if d := Diff(before, after); len(d) > 0 {
		t.Fatalf("%s wrote to the tree: %s", what, strings.Join(d, ", "))
	}
}
