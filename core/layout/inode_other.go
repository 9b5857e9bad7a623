//go:build !unix

package layout

import "io/fs"

// inode is unknown here; size and modification time still key the cache.
func inode(fs.FileInfo) uint64 { return 0 }
