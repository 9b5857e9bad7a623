//go:build !unix

package tree

import (
	"context"
	"os"
	"sync"
)

var locks sync.Map // name -> *sync.Mutex

// Lock serializes the read-modify-write of an index within this process where
// the OS offers no flock (Windows, WASI): concurrent processes are not
// excluded there.
func Lock(ctx context.Context, root *os.Root, name string) (func(), error) {
	if err := CheckPath(name); err != nil {
		return nil, err
	}
	m, _ := locks.LoadOrStore(root.Name()+"\x00"+name, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock, nil
}
