//go:build !unix

package treetest

import "io/fs"

// inode is 0 where os.FileInfo has no inode number (Windows): big files are
// then told apart by size and modification time only.
func inode(fs.FileInfo) uint64 { return 0 }
