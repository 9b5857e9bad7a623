//go:build !wasip1

package tree

import (
	"io/fs"
	"os"
)

func readFS(root *os.Root) fs.FS { return root.FS() }
