//go:build wasip1

package tree

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
)

func readFS(root *os.Root) fs.FS { return newGuard(root) }

// errEscapes is the error for a path through a symlink that leaves the tree.
var errEscapes = errors.New("a symlink leaves the tree")

// maxLinks bounds the symlinks one path may pass through, as POSIX's
// SYMLOOP_MAX does.
const maxLinks = 40

// guard is root.FS() that checks every path before using it: no component
// may be a symlink whose target, resolved lexically, leaves the tree. The
// directories it has checked are remembered for the life of the guard (one
// request), so a file costs one lstat, not one per component.
type guard struct {
	root *os.Root
	fsys fs.FS
	mu   sync.Mutex
	ok   map[string]bool // directories checked
}

func newGuard(root *os.Root) *guard {
	return &guard{root: root, fsys: root.FS(), ok: map[string]bool{".": true}}
}

// check refuses name when one of its components is a symlink out of the
// tree. It leaves every other error to the call that follows.
func (g *guard) check(op, name string) error {
	if !fs.ValidPath(name) {
		return nil // fsys refuses it
	}
	g.mu.Lock()
	err := g.walk(name, 0)
	g.mu.Unlock()
	if err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	return nil
}

func (g *guard) walk(name string, links int) error {
	parts := strings.Split(name, "/")
	for i := range parts {
		p := strings.Join(parts[:i+1], "/")
		last := i == len(parts)-1
		if !last && g.ok[p] {
			continue
		}
		fi, err := g.root.Lstat(p)
		if err != nil {
			return nil // the open fails, or the runtime does not say
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			if !last && fi.IsDir() {
				g.ok[p] = true
			}
			continue
		}
		if links >= maxLinks {
			return errEscapes
		}
		target, err := g.root.Readlink(p)
		if err != nil || path.IsAbs(target) {
			return errEscapes
		}
		next := path.Join(path.Dir(p), target)
		if next == ".." || strings.HasPrefix(next, "../") {
			return errEscapes
		}
		if rest := parts[i+1:]; len(rest) > 0 {
			next = path.Join(next, strings.Join(rest, "/"))
		}
		return g.walk(next, links+1)
	}
	return nil
}

func (g *guard) Open(name string) (fs.File, error) {
	if err := g.check("open", name); err != nil {
		return nil, err
	}
	return g.fsys.Open(name)
}

func (g *guard) Stat(name string) (fs.FileInfo, error) {
	if err := g.check("stat", name); err != nil {
		return nil, err
	}
	return fs.Stat(g.fsys, name)
}

func (g *guard) ReadFile(name string) ([]byte, error) {
	if err := g.check("open", name); err != nil {
		return nil, err
	}
	return fs.ReadFile(g.fsys, name)
}

func (g *guard) ReadDir(name string) ([]fs.DirEntry, error) {
	if err := g.check("open", name); err != nil {
		return nil, err
	}
	return fs.ReadDir(g.fsys, name)
}
