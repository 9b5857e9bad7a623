package conformance

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/oci-referrers/referrers/internal/testing/oracle"
)

func TestMain(m *testing.M) {
	code := m.Run()
	oracle.Cleanup()
	os.Exit(code)
}

// suiteTimeout bounds one run of the suite (a run takes seconds).
const suiteTimeout = 5 * time.Minute

// minPassed is the floor of passed tests in a run with every area on (about
// 1000 in the pinned suite): a run that tested little or nothing, e.g. the
// suite giving up early on a configuration problem (it then exits 0), fails.
const minPassed = 900

// minCases is the floor of test cases (leaves) in junit.xml.
const minCases = 700

// allAreas turns every test area of the suite on, the default-on ones too, so
// that a change of the suite's defaults cannot silently drop one. OCI_VERSION
// pins the spec version the defaults come from.
var allAreas = map[string]string{
	"OCI_VERSION":                     "1.1",
	"OCI_API_PING":                    "true",
	"OCI_API_PULL":                    "true",
	"OCI_API_PUSH":                    "true",
	"OCI_API_BLOBS_ATOMIC":            "true",
	"OCI_API_BLOBS_DELETE":            "true",
	"OCI_API_BLOBS_DIGEST_HEADER":     "true",
	"OCI_API_BLOBS_MOUNT_ANONYMOUS":   "true",
	"OCI_API_BLOBS_UPLOAD_CANCEL":     "true",
	"OCI_API_MANIFESTS_ATOMIC":        "true",
	"OCI_API_MANIFESTS_DELETE":        "true",
	"OCI_API_MANIFESTS_DIGEST_HEADER": "true",
	"OCI_API_MANIFESTS_TAG_PARAM":     "true",
	"OCI_API_TAGS_ATOMIC":             "true",
	"OCI_API_TAGS_DELETE":             "true",
	"OCI_API_TAGS_LIST":               "true",
	"OCI_API_REFERRER":                "true",
	"OCI_DATA_IMAGE":                  "true",
	"OCI_DATA_INDEX":                  "true",
	"OCI_DATA_INDEX_LIST":             "true",
	"OCI_DATA_SPARSE":                 "true",
	"OCI_DATA_ARTIFACT":               "true",
	"OCI_DATA_SUBJECT":                "true",
	"OCI_DATA_SUBJECT_MISSING":        "true",
	"OCI_DATA_ARTIFACT_LIST":          "true",
	"OCI_DATA_SUBJECT_LIST":           "true",
	"OCI_DATA_DATA_FIELD":             "true",
	"OCI_DATA_NONDISTRIBUTABLE":       "true",
	"OCI_DATA_CUSTOM_FIELDS":          "true",
	"OCI_DATA_NO_LAYERS":              "true",
	"OCI_DATA_EMPTY_BLOB":             "true",
	"OCI_DATA_SHA512":                 "true",
}

// requiredAreas must appear in results.yaml (the opt-in areas and the ones
// this project is about), so a run that left them out fails.
var requiredAreas = []string{
	"apis/Referrers", "apis/Manifest put with subject", "apis/Blob upload cancel",
	"apis/Manifest put with tag params", "apis/Blob anonymous mount", "apis/Tag listing",
	"data/Artifacts with Subject", "data/Index with Subject", "data/Missing Subject",
	"data/Sparse Manifests", "data/Digest Algorithm sha512", "data/Blobs sha512",
	"data/Tag Param sha512",
}

// want is what one run must show beyond "everything passed".
type want struct {
	// skipped lists the junit.xml test cases allowed (and required) to be
	// skipped, by name, one entry per skipped case.
	skipped []string
	// status gives the results.yaml entries ("apis/NAME", "data/NAME") whose
	// status is not Pass.
	status map[string]string
}

// TestConformance runs the whole suite against `referrers serve` over an
// empty static tree, open to pushes and deletes.
func TestConformance(t *testing.T) {
	suite := oracle.Require(t, oracle.Conformance)
	srv := oracle.StartServe(t, t.TempDir(), "--allow-push", "--allow-delete")
	t.Log(srv.Line)
	out := runSuite(t, suite, srv.Host, nil)
	out.check(t, want{})
	if err := srv.Stop(); err != nil {
		t.Error(err)
	}
}

// TestConformanceToken runs the whole suite against `referrers serve` with a
// token and neither --allow-push nor --allow-delete: pulls are anonymous,
// pushes and deletes need the token (the suite answers the 401's Basic
// challenge with OCI_USERNAME/OCI_PASSWORD).
func TestConformanceToken(t *testing.T) {
	suite := oracle.Require(t, oracle.Conformance)
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	token := hex.EncodeToString(b)
	tokenFile := filepath.Join(t.TempDir(), "token")
	// With a trailing newline, as `echo TOKEN >FILE` writes it.
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := oracle.StartServe(t, t.TempDir(), "--token-file", tokenFile)
	t.Log(srv.Line)

	// The run below only tests the token if pushes without it are refused.
	checkAnonymous(t, srv.URL)

	out := runSuite(t, suite, srv.Host, map[string]string{
		"OCI_USERNAME": "any",
		"OCI_PASSWORD": token,
	})
	out.check(t, want{})
	if err := srv.Stop(); err != nil {
		t.Error(err)
	}
}

// checkAnonymous checks that, without credentials, the version check and a
// pull answer (200, 404) while a push start is refused with a Basic challenge.
func checkAnonymous(t *testing.T, base string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	do := func(method, path string) *http.Response {
		req, err := http.NewRequest(method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := do(http.MethodGet, "/v2/"); resp.StatusCode != http.StatusOK {
		t.Errorf("anonymous GET /v2/: %d, want 200 (pulls stay anonymous)", resp.StatusCode)
	}
	if resp := do(http.MethodGet, "/v2/conformance/repo1/tags/list"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("anonymous GET /v2/conformance/repo1/tags/list on an empty tree: %d, want 404", resp.StatusCode)
	}
	resp := do(http.MethodPost, "/v2/conformance/repo1/blobs/uploads/")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous POST /v2/conformance/repo1/blobs/uploads/: %d, want 401", resp.StatusCode)
	}
	if c := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(c, "Basic realm=") {
		t.Fatalf("anonymous push: WWW-Authenticate %q, want a Basic realm=... challenge", c)
	}
}

// TestConformanceOlareg runs the suite against olareg, with the same
// settings except two olareg does not meet: it rejects sparse manifests
// (manifests whose blobs were not pushed, which a registry may refuse, so
// OCI_DATA_SPARSE is off) and answers an anonymous mount (no from=) with an
// upload session instead of mounting (a MAY of the spec; the suite skips).
// It checks the harness: a failure of TestConformance where this passes is
// the server's.
func TestConformanceOlareg(t *testing.T) {
	suite := oracle.Require(t, oracle.Conformance)
	reg := oracle.StartOlareg(t)
	out := runSuite(t, suite, reg.Host, map[string]string{"OCI_DATA_SPARSE": "false"})
	out.check(t, want{
		skipped: []string{
			"OCI Conformance Test/sha256 blobs/mount anonymous/blob-mount-anonymous",
			"OCI Conformance Test/sha512 blobs/mount anonymous/blob-mount-anonymous",
		},
		status: map[string]string{
			"apis/Blob anonymous mount": "Skip",
			"data/Sparse Manifests":     "Disabled",
		},
	})
}

// outcome is one run of the suite.
type outcome struct {
	t          *testing.T
	host       string
	stdout     string
	stderr     string
	err        error
	elapsed    time.Duration
	resultsDir string

	result  string         // "Pass", "FAIL", ... from "OCI Conformance Result: X"
	summary []string       // that line and the counts under it
	counts  map[string]int // Disabled, Skip, Pass, FAIL, Error, Total
	status  map[string]string
	junit   *junitSuites
	readErr []error // results files that could not be read or parsed
}

// runSuite runs the suite against host (127.0.0.1:PORT, plain HTTP) with
// every area on, extra on top (credentials, or an area off), in an empty
// working directory (the suite would read ./oci-conformance.yaml) with
// OCI_CONFIGURATION unset, and reads what it wrote.
func runSuite(t *testing.T, suite, host string, extra map[string]string) *outcome {
	t.Helper()
	o := &outcome{t: t, host: host, resultsDir: t.TempDir()}
	vars := map[string]string{
		"OCI_REGISTRY":    host,
		"OCI_TLS":         "disabled",
		"OCI_REPO1":       "conformance/repo1",
		"OCI_REPO2":       "conformance/repo2",
		"OCI_RESULTS_DIR": o.resultsDir,
	}
	for k, v := range allAreas {
		vars[k] = v
	}
	for k, v := range extra {
		vars[k] = v
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "OCI_") {
			env = append(env, kv)
		}
	}
	for _, k := range sortedKeys(vars) {
		env = append(env, k+"="+vars[k])
	}

	ctx, cancel := context.WithTimeout(context.Background(), suiteTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, suite)
	cmd.Dir = t.TempDir()
	cmd.Env = env
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	o.err = cmd.Run()
	o.elapsed = time.Since(start)
	o.stdout, o.stderr = stdout.String(), stderr.String()
	if ctx.Err() != nil {
		o.err = fmt.Errorf("the suite did not finish within %s: %w", suiteTimeout, o.err)
	}
	o.parse()
	o.save()
	return o
}

// parse reads the summary from stdout, results.yaml and junit.xml.
func (o *outcome) parse() {
	o.counts = map[string]int{}
	sc := bufio.NewScanner(strings.NewReader(o.stdout))
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	count := regexp.MustCompile(`^  (\w+)\.*:\s+(\d+)$`)
	in := false
	for sc.Scan() {
		line := sc.Text()
		if r, ok := strings.CutPrefix(line, "OCI Conformance Result: "); ok {
			o.result, in = strings.TrimSpace(r), true
			o.summary = append(o.summary, line)
			continue
		}
		if !in {
			continue
		}
		m := count.FindStringSubmatch(line)
		if m == nil {
			break
		}
		o.summary = append(o.summary, line)
		n, _ := strconv.Atoi(m[2])
		o.counts[m[1]] = n
		if m[1] == "Total" {
			break
		}
	}

	if b, err := os.ReadFile(filepath.Join(o.resultsDir, "results.yaml")); err != nil {
		o.readErr = append(o.readErr, err)
	} else if o.status, err = parseResultsYAML(string(b)); err != nil {
		o.readErr = append(o.readErr, fmt.Errorf("results.yaml: %w", err))
	}
	if b, err := os.ReadFile(filepath.Join(o.resultsDir, "junit.xml")); err != nil {
		o.readErr = append(o.readErr, err)
	} else {
		o.junit = new(junitSuites)
		if err := xml.Unmarshal(b, o.junit); err != nil {
			o.readErr = append(o.readErr, fmt.Errorf("junit.xml: %w", err))
			o.junit = nil
		}
	}
}

// parseResultsYAML returns the apis and data sections of results.yaml as
// "apis/NAME" and "data/NAME" to status. The file is the suite's own:
//
//	config:
//	  ...
//	apis:
//	  Blob chunked: Pass
//	data:
//	  Artifact: Pass
func parseResultsYAML(s string) (map[string]string, error) {
	out := map[string]string{}
	section := ""
	for _, line := range strings.Split(s, "\n") {
		if line == "" {
			continue
		}
		if !strings.HasPrefix(line, " ") {
			section = strings.TrimSuffix(strings.TrimSpace(line), ":")
			continue
		}
		if section != "apis" && section != "data" {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimSpace(line), ": ")
		if !ok || strings.HasPrefix(line, "   ") {
			return nil, fmt.Errorf("unexpected line in %s: %q", section, line)
		}
		out[section+"/"+strings.Trim(k, `"'`)] = strings.Trim(strings.TrimSpace(v), `"'`)
	}
	if len(out) == 0 {
		return nil, errors.New("no apis or data entries")
	}
	return out, nil
}

// junit.xml as the suite writes it (one suite, a test case per leaf test).
type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Disabled int         `xml:"disabled,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name   string `xml:"name,attr"`
	Status string `xml:"status,attr"` // passed, skipped, failure, error
	Out    string `xml:"system-out"`  // the errors
	Err    string `xml:"system-err"`  // the requests and responses
}

// check asserts a clean run: exit status 0, result Pass, no failure or error,
// at least minPassed passes, exactly the skips in w, every API and data kind
// passing (or as w says), and logs the summary.
func (o *outcome) check(t *testing.T, w want) {
	t.Helper()
	if len(o.summary) > 0 {
		t.Logf("conformance suite, %s:\n%s", o.elapsed.Round(time.Millisecond), strings.Join(o.summary, "\n"))
	} else {
		t.Logf("conformance suite, %s: no \"OCI Conformance Result\" line on stdout", o.elapsed.Round(time.Millisecond))
	}
	var problems []string
	fail := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if o.err != nil {
		fail("suite exit: %v", o.err)
	}
	if o.result != "Pass" {
		fail("OCI Conformance Result %q, want Pass", o.result)
	}
	for _, e := range o.readErr {
		fail("results: %v", e)
	}
	for _, k := range []string{"FAIL", "Error", "Disabled"} {
		if n, ok := o.counts[k]; !ok {
			fail("summary %s: missing", k)
		} else if n != 0 {
			fail("summary %s: %d, want 0", k, n)
		}
	}
	if n := o.counts["Skip"]; n != len(w.skipped) {
		fail("summary Skip: %d, want %d", n, len(w.skipped))
	}
	if n := o.counts["Pass"]; n < minPassed {
		fail("summary Pass: %d, want at least %d (a run that tested little)", n, minPassed)
	}
	if tot := o.counts["Total"]; tot != o.counts["Pass"]+o.counts["Skip"]+o.counts["FAIL"]+o.counts["Error"]+o.counts["Disabled"] {
		fail("summary Total %d is not the sum of the counts %v", tot, o.counts)
	}

	var failing []junitCase
	if o.junit != nil {
		if len(o.junit.Suites) != 1 {
			fail("junit.xml: %d test suites, want 1", len(o.junit.Suites))
		}
		var skipped []string
		cases := 0
		for _, s := range o.junit.Suites {
			if s.Tests != o.counts["Total"] || s.Failures != 0 || s.Errors != 0 || s.Disabled != 0 {
				fail("junit.xml suite %q: tests %d failures %d errors %d disabled %d; want tests %d (the summary's Total) and no failures, errors, disabled",
					s.Name, s.Tests, s.Failures, s.Errors, s.Disabled, o.counts["Total"])
			}
			for _, c := range s.Cases {
				cases++
				switch c.Status {
				case "passed":
				case "skipped":
					skipped = append(skipped, c.Name)
					if !slices.Contains(w.skipped, c.Name) {
						failing = append(failing, c)
					}
				default:
					failing = append(failing, c)
				}
			}
		}
		if cases < minCases {
			fail("junit.xml: %d test cases, want at least %d", cases, minCases)
		}
		sort.Strings(skipped)
		wantSkipped := slices.Clone(w.skipped)
		sort.Strings(wantSkipped)
		if !slices.Equal(skipped, wantSkipped) {
			fail("skipped test cases %q, want %q", skipped, wantSkipped)
		}
		for _, c := range failing {
			fail("%s: %s:\n      %s", c.Status, c.Name, strings.ReplaceAll(truncate(c.Out, 600), "\n", "\n      "))
		}
	}

	if o.status != nil {
		for _, k := range sortedKeys(o.status) {
			want := "Pass"
			if s, ok := w.status[k]; ok {
				want = s
			}
			if o.status[k] != want {
				fail("results.yaml %s: %s, want %s", k, o.status[k], want)
			}
		}
		for _, k := range requiredAreas {
			if _, ok := o.status[k]; !ok {
				fail("results.yaml has no %s", k)
			}
		}
	}

	if len(problems) == 0 {
		return
	}
	t.Errorf("conformance run against %s failed:\n  %s", o.host, strings.Join(problems, "\n  "))
	t.Logf("suite stdout without its passing lines (results in %s; set REFERRERS_CONFORMANCE_DIR to keep them):\n%s",
		o.resultsDir, truncate(withoutPasses(o.stdout), 64<<10))
	if o.stderr != "" {
		t.Logf("suite stderr:\n%s", truncate(o.stderr, 16<<10))
	}
	for i, c := range failing {
		if i == 20 {
			t.Logf("... %d more failing test cases in junit.xml", len(failing)-i)
			break
		}
		t.Logf("junit.xml %s %s\n-- errors:\n%s\n-- requests and responses:\n%s",
			c.Status, c.Name, truncate(c.Out, 4<<10), truncate(c.Err, 6<<10))
	}
}

// save copies the results and the suite's stdout to
// $REFERRERS_CONFORMANCE_DIR/TESTNAME when that is set.
func (o *outcome) save() {
	o.t.Helper()
	root := os.Getenv("REFERRERS_CONFORMANCE_DIR")
	if root == "" {
		return
	}
	dir := filepath.Join(root, o.t.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		o.t.Error(err)
		return
	}
	for _, name := range []string{"results.yaml", "junit.xml", "report.html"} {
		b, err := os.ReadFile(filepath.Join(o.resultsDir, name))
		if err != nil {
			o.t.Errorf("copy results: %v", err)
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			o.t.Error(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "stdout.txt"), []byte(o.stdout), 0o644); err != nil {
		o.t.Error(err)
	}
	o.t.Logf("results copied to %s", dir)
}

// withoutPasses drops the passing lines of the suite's test tree.
func withoutPasses(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if strings.HasSuffix(line, ": Pass") && strings.HasPrefix(strings.TrimSpace(line), "OCI Conformance Test") {
			continue
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + fmt.Sprintf("\n[... %d more bytes]", len(s)-n)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
