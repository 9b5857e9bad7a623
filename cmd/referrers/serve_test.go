package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestServe runs `referrers serve` in-process on a free loopback port: it
// prints where it listens, answers, and stops cleanly when its context ends.
func TestServe(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "tree") // created because pushes are allowed
	token := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(token, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := startServe(ctx, t, "static:"+dir, "--addr", "127.0.0.1:0", "--allow-delete", "--token-file", token)
	first, code := p.first, p.code
	m := regexp.MustCompile(`^serving static:(.+) on (http://127\.0\.0\.1:\d+) \((.*)\)$`).FindStringSubmatch(first)
	if m == nil || m[1] != dir {
		t.Fatalf("first line %q", first)
	}
	if want := "anyone may pull and delete; token holders may also push and delete"; m[3] != want {
		t.Errorf("access %q, want %q", m[3], want)
	}
	rest := p.rest()
	for _, c := range []struct {
		method, path, auth string
		want               int
	}{
		{"GET", "/v2/", "", 200},
		{"POST", "/v2/app/blobs/uploads/", "", 401},
		{"POST", "/v2/app/blobs/uploads/", "Bearer s3cret", 202},
		{"GET", "/v2/app/tags/list", "", 404},
	} {
		req, _ := http.NewRequest(c.method, m[2]+c.path, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.want)
		}
	}
	cancel()
	select {
	case got := <-code:
		if got != exitOK {
			t.Errorf("exit %d after the context ended", got)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop")
	}
	if out := <-rest; out != "stopped\n" {
		t.Errorf("after the first line: %q", out)
	}
}

func TestServeUsage(t *testing.T) {
	t.Parallel()
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"no tree", []string{"serve"}, exitUsage, "want exactly one static:DIR"},
		{"not static", []string{"serve", "oci:x"}, exitUsage, "serve takes static:DIR"},
		{"with a name", []string{"serve", "static:dir:app"}, exitUsage, "without :NAME"},
		{"empty token", []string{"serve", "static:" + t.TempDir(), "--token-file", empty}, exitUsage, "is empty"},
		{"missing tree, read-only", []string{"serve", "static:" + filepath.Join(t.TempDir(), "nope"), "--addr", "127.0.0.1:0"}, exitError, "serve static tree"},
		{"bad address", []string{"serve", "static:" + t.TempDir(), "--addr", "127.0.0.1:99999"}, exitError, "listen on 127.0.0.1:99999"},
		{"bad flag", []string{"serve", "static:x", "--nope"}, exitUsage, "unknown flag --nope"},
		{"negative max-age", []string{"serve", "static:x", "--cache-max-age", "-1s"}, exitUsage, "want 0 or more"},
		{"key without cert", []string{"serve", "static:x", "--tls-key", "k"}, exitUsage, "go together"},
		{"bad cert", []string{"serve", "static:" + t.TempDir(), "--tls-cert", empty, "--tls-key", empty}, exitError, "TLS:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var stderr strings.Builder
			got := run(context.Background(), c.args, noEnv, strings.NewReader(""), io.Discard, &stderr)
			if got != c.code || !strings.Contains(stderr.String(), c.msg) {
				t.Errorf("exit %d, stderr %q; want %d and %q", got, stderr.String(), c.code, c.msg)
			}
		})
	}
}

func noEnv(string) string { return "" }

// serveProcess is `referrers serve` run in-process by startServe.
type serveProcess struct {
	first string         // the first line it printed (where it listens)
	lines *bufio.Scanner // what it prints after that
	code  chan int       // its exit code, once its context ends
}

// startServe runs `referrers serve ARGS` until ctx ends and returns once it
// printed its first line.
func startServe(ctx context.Context, t *testing.T, args ...string) *serveProcess {
	t.Helper()
	pr, pw := io.Pipe()
	p := &serveProcess{lines: bufio.NewScanner(pr), code: make(chan int, 1)}
	go func() {
		p.code <- run(ctx, append([]string{"serve"}, args...), noEnv, strings.NewReader(""), io.Discard, pw)
		pw.Close()
	}()
	if !p.lines.Scan() {
		t.Fatalf("serve printed nothing; exit %d", <-p.code)
	}
	p.first = p.lines.Text()
	return p
}

// rest reads what serve prints after its first line (so it never blocks on
// its output) and yields it once serve has stopped.
func (p *serveProcess) rest() <-chan string {
	out := make(chan string, 1)
	go func() {
		var b strings.Builder
		for p.lines.Scan() {
			b.WriteString(p.lines.Text() + "\n")
		}
		out <- b.String()
	}()
	return out
}

// TestServeTLS serves HTTPS with a certificate made here, trusted by the
// client alone.
func TestServeTLS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := startServe(ctx, t, "static:"+dir, "--addr", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile)
	code := p.code
	m := regexp.MustCompile(` on (https://127\.0\.0\.1:\d+) `).FindStringSubmatch(p.first)
	if m == nil {
		t.Fatalf("first line %q", p.first)
	}
	p.rest()
	pool := x509.NewCertPool()
	pool.AddCert(must(x509.ParseCertificate(der)))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(m[1] + "/v2/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /v2/ over TLS: %d", resp.StatusCode)
	}
	// plain HTTP gets Go's 400 "Client sent an HTTP request to an HTTPS server"
	if resp, err := http.Get(strings.Replace(m[1], "https:", "http:", 1) + "/v2/"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP on the TLS port: %d", resp.StatusCode)
		}
	}
	cancel()
	if got := <-code; got != exitOK {
		t.Errorf("exit %d", got)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestServeBodyIdle: --body-idle-timeout reaches the server: a chunk whose
// client stalls is answered 408 within the limit, and the one upload slot
// (--max-uploads 1) it held is free again.
func TestServeBodyIdle(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := startServe(ctx, t, "static:"+t.TempDir(), "--addr", "127.0.0.1:0", "--allow-push", "--max-uploads", "1", "--body-idle-timeout", "300ms")
	code := p.code
	p.rest()
	m := regexp.MustCompile(`on http://(127\.0\.0\.1:\d+) `).FindStringSubmatch(p.first)
	if m == nil {
		t.Fatalf("first line %q", p.first)
	}
	post := func() *http.Response {
		resp, err := http.Post("http://"+m[1]+"/v2/app/blobs/uploads/", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := post()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %d", resp.StatusCode)
	}
	conn, err := net.Dial("tcp", m[1])
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "PATCH "+resp.Header.Get("Location")+" HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled chunk: %v", err)
	}
	got.Body.Close()
	if got.StatusCode != http.StatusRequestTimeout || time.Since(start) > 5*time.Second {
		t.Errorf("stalled chunk: %d after %v", got.StatusCode, time.Since(start))
	}
	if resp := post(); resp.StatusCode != http.StatusAccepted {
		t.Errorf("the slot is not free: %d", resp.StatusCode)
	}
	cancel()
	<-code
}

// TestServeCacheFlags: --cache-max-age and --no-cache-headers reach the
// server (a tags list is the short-lived kind of answer; a 404 is never
// stored).
func TestServeCacheFlags(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		args      []string
		list, err string
	}{
		{"default", nil, "public, max-age=10", "no-store"},
		{"max-age", []string{"--cache-max-age", "1m"}, "public, max-age=60", "no-store"},
		{"revalidate", []string{"--cache-max-age", "0"}, "public, no-cache", "no-store"},
		{"off", []string{"--no-cache-headers"}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}`)
			for p, b := range map[string][]byte{"manifests/v1": m, "manifests/v1.mediatype": []byte("application/vnd.oci.image.manifest.v1+json")} {
				p = filepath.Join(dir, "v2", "app", p)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p := startServe(ctx, t, append([]string{"static:" + dir, "--addr", "127.0.0.1:0"}, c.args...)...)
			p.rest()
			u := regexp.MustCompile(`on (http://127\.0\.0\.1:\d+) `).FindStringSubmatch(p.first)
			if u == nil {
				t.Fatalf("first line %q", p.first)
			}
			for path, want := range map[string]string{"/v2/app/tags/list": c.list, "/v2/app/manifests/nope": c.err} {
				resp, err := http.Get(u[1] + path)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if got := resp.Header.Get("Cache-Control"); got != want {
					t.Errorf("GET %s: %d, Cache-Control %q, want %q", path, resp.StatusCode, got, want)
				}
			}
			cancel()
			<-p.code
		})
	}
}
