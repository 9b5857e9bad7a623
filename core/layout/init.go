package layout

import (
	"errors"
	"fmt"
	"io/fs"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/internal/tree"
)

// Init makes dir an empty OCI image layout (image-spec v1.1.1
// image-layout.md): it creates the directory, the oci-layout file and an empty
// index.json, keeping any that exist.
func Init(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create layout %s: %w", dir, err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("open layout %s: %w", dir, err)
	}
	defer root.Close()
	files := []struct{ name, content string }{
		{ocispec.ImageLayoutFile, `{"imageLayoutVersion":"` + ocispec.ImageLayoutVersion + `"}`},
		{ocispec.ImageIndexFile, `{"schemaVersion":2,"mediaType":"` + ocispec.MediaTypeImageIndex + `","manifests":[]}`},
	}
	for _, f := range files {
		if _, err := root.Lstat(f.name); err == nil {
			continue
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("layout %s: %w", dir, err)
		}
		if err := tree.WriteFile(root, f.name, []byte(f.content)); err != nil {
			return fmt.Errorf("layout %s: %w", dir, err)
		}
	}
	return root.MkdirAll("blobs/sha256", 0o755)
}
