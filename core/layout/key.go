package layout

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/oci-referrers/referrers/core/internal/tree"
	"github.com/oci-referrers/referrers/core/target"
)

// key identifies one version of index.json: atomic replacement (ours and
// most tools') gives a new inode, an in-place rewrite a new modification
// time; blobs are content-addressed and never change.
type key struct {
	Size  int64  `json:"size"`
	MTime int64  `json:"mtime"`
	Inode uint64 `json:"inode"`
}

func (l *Layout) key() (key, error) {
	fi, err := tree.Stat(l.fsys, ocispec.ImageIndexFile)
	if err != nil {
		return key{}, fmt.Errorf("%s: %w", l.name, err)
	}
	if !fi.Mode().IsRegular() {
		return key{}, fmt.Errorf("%s: index.json: %w", l.name, tree.ErrUnsafePath)
	}
	return key{Size: fi.Size(), MTime: fi.ModTime().UnixNano(), Inode: inode(fi)}, nil
}

// cacheFormat changes when the snapshot's shape does.
const cacheFormat = "referrers-layout-cache-v1"

type diskSnapshot struct {
	Format string    `json:"format"`
	Dir    string    `json:"dir"`
	Snap   *snapshot `json:"snapshot"`
}

func (l *Layout) cachePath() string {
	if l.cacheDir == "" {
		return ""
	}
	abs, err := filepath.Abs(l.name)
	if err != nil {
		return ""
	}
	h := sha256.Sum256([]byte(abs))
	return filepath.Join(l.cacheDir, "layout-"+hex.EncodeToString(h[:16])+".json")
}

// loadDisk returns the on-disk snapshot for k, nil when there is none (a
// cache is only an optimisation: anything wrong with it means a scan).
func (l *Layout) loadDisk(k key) *snapshot {
	p := l.cachePath()
	if p == "" {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxIndexBytes))
	if err != nil {
		return nil
	}
	var d diskSnapshot
	abs, _ := filepath.Abs(l.name)
	if json.Unmarshal(b, &d) != nil || d.Format != cacheFormat || d.Dir != abs || d.Snap == nil || d.Snap.Key != k {
		return nil
	}
	d.Snap.Scanned = d.Snap.Referrers != nil
	return d.Snap
}

func (l *Layout) saveDisk(s *snapshot) {
	p := l.cachePath()
	if p == "" || !s.Scanned {
		return
	}
	abs, _ := filepath.Abs(l.name)
	ref := s.Referrers
	if ref == nil {
		ref = map[digest.Digest][]ocispec.Descriptor{}
	}
	cp := *s
	cp.Referrers = ref
	b, err := json.Marshal(diskSnapshot{Format: cacheFormat, Dir: abs, Snap: &cp})
	if err != nil {
		return
	}
	if err := os.MkdirAll(l.cacheDir, 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(l.cacheDir, ".tmp-layout-")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), p) != nil {
		os.Remove(tmp.Name())
	}
}

// scanAllBlobs scans every blob of blobs/ that could be a manifest: at most
// target.MaxManifestBytes, starting with '{', parsing as a manifest. Blobs
// that are not manifests (configs, layers) are skipped, not errors.
func (l *Layout) scanAllBlobs(ctx context.Context, subject digest.Digest) ([]ocispec.Descriptor, error) {
	algs, err := tree.ReadDir(l.fsys, "blobs")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.name, err)
	}
	var out []ocispec.Descriptor
	for _, a := range algs {
		alg := digest.Algorithm(a.Name())
		if !alg.Available() || !(a.IsDir() || a.Type()&fs.ModeSymlink != 0) {
			continue
		}
		// A symlink is followed while it stays in the tree and refused
		// (tree.ErrUnsafePath) when it leaves: never skipped, so that a scan
		// does not answer "no referrers" for blobs it could not read.
		files, err := tree.ReadDir(l.fsys, "blobs/"+a.Name())
		if err != nil {
			return nil, fmt.Errorf("%s: %w", l.name, err)
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if !(f.Type().IsRegular() || f.Type()&fs.ModeSymlink != 0) || strings.HasPrefix(f.Name(), ".") {
				continue
			}
			d := digest.NewDigestFromEncoded(alg, f.Name())
			if d.Validate() != nil {
				return nil, fmt.Errorf("%s: blobs/%s/%s is not named by a digest: %w", l.name, a.Name(), f.Name(), tree.ErrUnsafePath)
			}
			p := "blobs/" + a.Name() + "/" + f.Name()
			info, err := tree.Stat(l.fsys, p)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", l.name, err)
			}
			if !info.Mode().IsRegular() || info.Size() > target.MaxManifestBytes || info.Size() < 2 {
				continue
			}
			b, err := tree.ReadVerified(l.fsys, p, d, target.MaxManifestBytes)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", l.name, err)
			}
			if !bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{")) || !bytes.Contains(b, []byte(`"subject"`)) {
				continue
			}
			var m struct {
				MediaType string `json:"mediaType"`
			}
			if json.Unmarshal(b, &m) != nil || (m.MediaType != ocispec.MediaTypeImageManifest && m.MediaType != ocispec.MediaTypeImageIndex) {
				continue
			}
			e, s, err := target.ParseReferrer(ocispec.Descriptor{MediaType: m.MediaType, Digest: d, Size: int64(len(b))}, b)
			if err != nil || s == nil || s.Digest != subject {
				continue
			}
			out = append(out, e)
		}
	}
	sortDescs(out)
	return out, nil
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }
