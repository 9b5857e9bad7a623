package oracle

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Caddy is the name of the Caddy web server binary (v2.11.9): a plain web
// server with no registry code in it, which serves a static tree with the
// per-path headers `referrers index-for --all --headers caddy` prints.
const Caddy = "caddy"

// WebHost is a running web server that serves a directory as static files.
type WebHost struct {
	// Host is 127.0.0.1:PORT.
	Host string
	// Config is the Caddyfile it runs.
	Config string
	// LogPath receives the server's own log; AccessLogPath one JSON line per
	// request.
	LogPath, AccessLogPath string
}

// Log returns the server's log so far.
func (w *WebHost) Log() string {
	b, _ := os.ReadFile(w.LogPath)
	return string(b)
}

// AccessLog returns the access log so far (one JSON object per request).
func (w *WebHost) AccessLog() string {
	b, _ := os.ReadFile(w.AccessLogPath)
	return string(b)
}

// StartCaddy runs Caddy v2.11.9 on a free loopback port, serving root with
// file_server, and with site (Caddyfile directives, e.g. an import of a
// generated snippet) inside the site block before it. Caddy's admin endpoint,
// automatic HTTPS and its storage outside the test's temporary directory are
// off. It waits until the port answers HTTP (any status: a static host need
// not answer /v2/) and stops the server when the test ends.
func StartCaddy(t testing.TB, root, site string) *WebHost {
	t.Helper()
	bin := Require(t, Caddy)
	w := &WebHost{}
	mk := func(port int, dir string) *exec.Cmd {
		w.AccessLogPath = filepath.Join(dir, "access.log")
		w.Config = fmt.Sprintf(`{
	admin off
	auto_https off
	persist_config off
	skip_install_trust
	storage file_system %s
}

http://127.0.0.1:%d {
	bind 127.0.0.1
	log {
		output file %s
		format json
	}
	root * %s
%s
	file_server
}
`, quoteCaddy(filepath.Join(dir, "data")), port, quoteCaddy(w.AccessLogPath), quoteCaddy(root), site)
		cfg := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(cfg, []byte(w.Config), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "run", "--config", cfg, "--adapter", "caddyfile")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "data"),
			"XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
		return cmd
	}
	// Any HTTP answer will do: a static host need not answer /v2/.
	w.Host, _, w.LogPath = startProcess(t, Caddy, mk, func(host string, exited <-chan error) error {
		return waitFor(host, "/", exited, func(int) bool { return true })
	})
	return w
}

// quoteCaddy quotes a path as one Caddyfile token.
func quoteCaddy(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
