package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// docGoRun says how one go block of the documents runs: the block is
// recognised by its first line; rewrites (old, new pairs) point it at the
// test's stores; prologue declares what the block takes as given; epilogue
// checks what it did and prints what the test expects (want, a regexp of
// the whole output).
type docGoRun struct {
	first    string
	rewrites []string
	prologue string
	epilogue string
	want     string
}

// docGoRuns: every go block of the documents must have a row.
var docGoRuns = []docGoRun{
	{
		// library.md, a registry: the fake registry holding the golden index
		// (in a repository of its own: the copy below takes app's SBOMs)
		first: `client := registry.New(registry.WithCredentials(credential.Default(os.Getenv)))`,
		rewrites: []string{
			`registry.New(`, `registry.New(registry.WithPlainHTTP(true), `,
			`"registry.example/app:1.0"`, `docRegistry + "/attach:1.0"`,
			`"sbom.spdx.json"`, `docPath("sbom.spdx.json")`,
		},
		epilogue: `if err != nil { return err }
	found := false
	for _, n := range list.Referrers {
		found = found || n.Descriptor.Digest == res.Descriptor.Digest
	}
	fmt.Println("attached and listed:", found, len(list.Referrers) >= 3)`,
		want: `^attached and listed: true true\n$`,
	},
	{
		// library.md, on-disk trees: copies of the golden trees tagged 1.0
		first: `l, err := layout.Open("build/layout", layout.WithCacheDir(cacheDir)) // oci:`,
		rewrites: []string{
			`"build/layout"`, `docPath("build/layout")`,
			`static.Open("site", "app")`, `static.Open(docPath("site"), "app")`,
		},
		prologue: `cacheDir := docPath("cache")`,
		epilogue: `if err != nil { return err }
	fmt.Println("listed:", len(list.Referrers), "indexed:", len(idx.Manifests))`,
		want: `^listed: 2 indexed: 1\n$`, // the layout's 1.0 has a second SBOM (newShellWorld)
	},
	{
		// library.md, copy and delete: from the fake registry's app to its
		// repository copy; the signature attached when the registry was filled is deleted
		first:    `// the subject (an image, or an index with its children) and its referrers graph, src to dst:`,
		rewrites: []string{`"sha256:..."`, `docLeaf`},
		prologue: `client := registry.New(registry.WithPlainHTTP(true))
	sr, err := ref.Parse(docRegistry + "/app:1.0")
	if err != nil { return err }
	dr, err := ref.Parse(docRegistry + "/copy")
	if err != nil { return err }
	src, dst := client.Repository(sr), client.Repository(dr)
	repo := src
	subject, err := referrers.ResolveSubject(ctx, src, "1.0", "")
	if err != nil { return err }`,
		epilogue: `if err != nil { return err }
	copied, err := referrers.New().List(ctx, dst, subject, referrers.ListOptions{})
	if err != nil { return err }
	fmt.Println("copied:", res.Subject.Digest == subject.Digest, len(copied.Referrers), "deleted:", len(del.Deleted))`,
		want: `^copied: true 1 deleted: 1\n$`,
	},
	{
		// library.md, a registry over a static tree: http.ListenAndServe
		// stands for docListenAndServe, which serves on a free loopback port
		// for one pull of the tree's tag 1.0 and returns
		first: `srv, err := server.New("site", server.WithToken(token)) // a registry over the tree`,
		rewrites: []string{
			`server.New("site",`, `server.New(docPath("site"),`,
			`http.ListenAndServe(`, `docListenAndServe(`,
		},
		prologue: `token := "docs-token"`,
		epilogue: `if err != nil { return err }`,
		want:     `^GET /v2/app/manifests/1.0: 200 OK\n$`,
	},
	{
		// policy-hosts.md, a Pool: the golden layout's manifests as the
		// documents the engine holds, subject its image v1; the block's
		// deadlines are an engine's, made a minute so that a loaded machine
		// cannot fail the row (a timed assertion)
		first: `pool, err := host.NewPool(ctx,`,
		rewrites: []string{
			`host.WithTimeout(2*time.Second)`, `host.WithTimeout(time.Minute)`,
			`host.CallTimeout(200*time.Millisecond)`, `host.CallTimeout(time.Minute)`,
		},
		prologue: `cacheDir := docPath("wasm-cache")
	logWriter := os.Stderr
	docs, subject, err := docDocuments("v1")
	if err != nil { return err }`,
		epilogue: `if err != nil { return err }
	fmt.Println("pass:", resp.Result.Pass)`,
		want: `^pass: true\n$`,
	},
	{
		// policy-hosts.md, a Host: the golden layout mounted; the default
		// deadline of a call (10 s) made a minute, as for the Pool
		first: `h, err := host.New(ctx, host.WithCompilationCache(cacheDir)) // compile once`,
		rewrites: []string{
			`"/srv/layouts/app"`, `docGolden`,
			`host.New(ctx, host.WithCompilationCache(cacheDir))`, `host.New(ctx, host.WithCompilationCache(cacheDir), host.WithTimeout(time.Minute))`,
		},
		prologue: `cacheDir := docPath("wasm-cache")`,
		want:     `^true\n$`,
	},
}

// docGoImports are the packages the blocks and the harness may name.
var docGoImports = map[string]string{
	"context": "context", "errors": "errors", "fmt": "fmt", "http": "net/http", "io": "io", "os": "os",
	"filepath": "path/filepath", "time": "time", "json": "encoding/json", "net": "net",
	"digest":     "github.com/opencontainers/go-digest",
	"ocispec":    "github.com/opencontainers/image-spec/specs-go/v1",
	"credential": "github.com/oci-referrers/referrers/core/credential",
	"layout":     "github.com/oci-referrers/referrers/core/layout",
	"policy":     "github.com/oci-referrers/referrers/core/policy",
	"ref":        "github.com/oci-referrers/referrers/core/ref",
	"referrers":  "github.com/oci-referrers/referrers/core/referrers",
	"registry":   "github.com/oci-referrers/referrers/core/registry",
	"request":    "github.com/oci-referrers/referrers/core/request",
	"server":     "github.com/oci-referrers/referrers/core/server",
	"static":     "github.com/oci-referrers/referrers/core/static",
	"host":       "github.com/oci-referrers/referrers/wasm/host",
}

// docGoHarness is the rest of the program the blocks run in.
const docGoHarness = `
var (
	docRegistry = os.Getenv("DOCGO_REGISTRY")
	docGolden   = os.Getenv("DOCGO_GOLDEN")
	docLeaf     = os.Getenv("DOCGO_LEAF")
)

func docPath(p string) string { return filepath.Join(os.Getenv("DOCGO_DIR"), p) }

// docListenAndServe serves h on a free loopback port for one GET of the tree's
// tag 1.0, prints its status and returns.
func docListenAndServe(addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil { return err }
	hs := &http.Server{Handler: h}
	go hs.Serve(ln)
	defer hs.Close()
	resp, err := http.Get("http://" + ln.Addr().String() + "/v2/app/manifests/1.0")
	if err != nil { return err }
	resp.Body.Close()
	fmt.Println("GET /v2/app/manifests/1.0:", resp.Status)
	return nil
}

// docDocuments returns every manifest of the golden layout as a document,
// and the digest of the one tagged tag.
func docDocuments(tag string) ([]request.Document, digest.Digest, error) {
	b, err := os.ReadFile(filepath.Join(docGolden, "index.json"))
	if err != nil { return nil, "", err }
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil { return nil, "", err }
	var docs []request.Document
	var subject digest.Digest
	for _, m := range idx.Manifests {
		data, err := os.ReadFile(filepath.Join(docGolden, "blobs", m.Digest.Algorithm().String(), m.Digest.Encoded()))
		if err != nil { return nil, "", err }
		docs = append(docs, request.Document{MediaType: m.MediaType, Digest: m.Digest, Data: data})
		if m.Annotations[ocispec.AnnotationRefName] == tag {
			subject = m.Digest
		}
	}
	return docs, subject, nil
}

func main() {
	blocks := map[string]func(context.Context) error{
%s	}
	if err := blocks[os.Args[1]](context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`

var (
	goDefine    = regexp.MustCompile(`(?m)^\s*([A-Za-z_][A-Za-z0-9_]*(?:\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*)\s*:=`)
	goQualified = regexp.MustCompile(`\b([a-z][a-z0-9]*)\.`)
	goString    = regexp.MustCompile("\"(?:[^\"\\\\]|\\\\.)*\"|`[^`]*`")
)

// docGoProgram writes the blocks as functions of one program, each with its
// row's prologue and epilogue, and every name it declares used.
func docGoProgram(t *testing.T, blocks []docBlock) (string, map[string]docBlock) {
	t.Helper()
	var funcs, table strings.Builder
	names := map[string]docBlock{}
	used := map[string]docGoRun{}
	for _, b := range blocks {
		first := strings.TrimSpace(b.lines[0])
		var row *docGoRun
		for i := range docGoRuns {
			if docGoRuns[i].first == first {
				row = &docGoRuns[i]
			}
		}
		if row == nil {
			t.Errorf("%s: a go block TestDocGo has no row for (first line %q): add one to docGoRuns", b.where(), first)
			continue
		}
		used[row.first] = *row
		body := b.text()
		for i := 0; i+1 < len(row.rewrites); i += 2 {
			if !strings.Contains(body, row.rewrites[i]) {
				t.Errorf("%s: the block no longer contains %q (update its docGoRuns row)", b.where(), row.rewrites[i])
			}
			body = strings.ReplaceAll(body, row.rewrites[i], row.rewrites[i+1])
		}
		var keep []string
		seen := map[string]bool{}
		for _, m := range goDefine.FindAllStringSubmatch(row.prologue+"\n"+body, -1) {
			for _, n := range strings.Split(m[1], ",") {
				if n = strings.TrimSpace(n); n != "_" && !seen[n] {
					seen[n] = true
					keep = append(keep, "_ = "+n)
				}
			}
		}
		name := fmt.Sprintf("block%d", len(names))
		names[name] = b
		fmt.Fprintf(&funcs, "// %s\nfunc %s(ctx context.Context) error {\n\t%s\n\t{\n%s\n\t%s\n\t%s\n\t}\n\treturn nil\n}\n\n",
			b.where(), name, row.prologue, body, strings.Join(keep, "; "), row.epilogue)
		fmt.Fprintf(&table, "\t\t%q: %s,\n", name, name)
	}
	for _, r := range docGoRuns {
		if _, ok := used[r.first]; !ok {
			t.Errorf("docGoRuns: no go block of the documents begins with %q (remove the row or fix the block)", r.first)
		}
	}
	src := funcs.String() + fmt.Sprintf(docGoHarness, table.String())
	var imports []string
	seen := map[string]bool{}
	for _, m := range goQualified.FindAllStringSubmatch(goString.ReplaceAllString(src, `""`), -1) {
		if p, ok := docGoImports[m[1]]; ok && !seen[p] {
			seen[p] = true
			imports = append(imports, fmt.Sprintf("\t%s %q", m[1], p))
		}
	}
	sort.Strings(imports)
	return "package main\n\nimport (\n" + strings.Join(imports, "\n") + "\n)\n\n" + src, names
}

// TestDocGo builds every go block of the documents (docs/library.md,
// docs/policy-hosts.md) into one program inside the module, each block a
// function with the declarations its row gives, and runs each on loopback:
// the library's verbs against a fake registry seeded as TestDocShell's and
// copies of the golden trees, the server on a free port, the WASI module in
// wazero on the golden layout. A block that no longer compiles or does what
// its page says fails here.
func TestDocGo(t *testing.T) {
	t.Parallel()
	src, names := docGoProgram(t, docBlocksOf(t, "go"))
	if t.Failed() {
		return
	}
	root, err := filepath.Abs(docRoot)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	writeFile(t, filepath.Join(tmp, "main.go"), src)
	overlay, err := json.Marshal(map[string]any{"Replace": map[string]string{filepath.Join(root, "docs", "zz_docgo", "main.go"): filepath.Join(tmp, "main.go")}})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(tmp, "overlay.json"), string(overlay))
	bin := filepath.Join(tmp, "docgo")
	build := exec.Command("go", "build", "-overlay", filepath.Join(tmp, "overlay.json"), "-o", bin, "./docs/zz_docgo")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		var numbered []string
		for i, l := range strings.Split(src, "\n") {
			numbered = append(numbered, fmt.Sprintf("%4d %s", i+1, l))
		}
		t.Fatalf("the documents' go blocks do not build (each function names its block): %v\n%s\nthe program (docs/zz_docgo/main.go):\n%s", err, out, strings.Join(numbered, "\n"))
	}

	w := newShellWorld(t)
	w.seed("registry.example", "app", "1.0")
	w.seed("registry.example", "attach", "1.0")
	env := append(os.Environ(),
		"DOCGO_REGISTRY="+w.registry("registry.example").Host(),
		"DOCGO_DIR="+w.dir,
		"DOCGO_GOLDEN="+filepath.Join(root, "testdata/trees/layout"),
		"DOCGO_LEAF="+w.roles["registry.example/app leaf"].String(),
		"HOME="+w.env["HOME"],
	)
	var order []string
	for n := range names {
		order = append(order, n)
	}
	sort.Strings(order)
	for _, n := range order {
		b := names[n]
		var row docGoRun
		for _, r := range docGoRuns {
			if r.first == strings.TrimSpace(b.lines[0]) {
				row = r
			}
		}
		t.Run(fmt.Sprintf("%s:%d", b.file, b.line), func(t *testing.T) {
			cmd := exec.Command(bin, n)
			cmd.Env = env
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s: the block failed: %v\n%s%s", b.where(), err, stdout.String(), stderr.String())
			}
			if !regexp.MustCompile(row.want).MatchString(stdout.String()) {
				t.Errorf("%s: the block printed %q, want %s\nstderr:\n%s", b.where(), stdout.String(), row.want, stderr.String())
			}
		})
	}
}
