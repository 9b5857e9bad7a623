package tree

import (
	"io/fs"
	"os"
)

// ReadFS is the file system to read the tree in root through: root.FS(),
// and on wasip1 a view of it that also refuses, by itself, every symlink
// that leaves the tree (see guard_wasip1.go). os.Root refuses them wherever
// the system honours its no-follow opens; some WASI runtimes do not (node's
// WASI follows a symlink in path_open whatever the lookup flags say), so the
// WASI module checks each path's components with lstat (path_filestat_get
// without symlink_follow, WASI preview1), which those runtimes do answer.
func ReadFS(root *os.Root) fs.FS { return readFS(root) }
