package server_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/oci-referrers/referrers/core/server"
)

// A registry over a static tree in a few lines: pulls are anonymous, pushes
// need the token.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "tree")
	defer os.RemoveAll(dir)
	srv, err := server.New(dir, server.WithToken("s3cret"))
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ts := httptest.NewServer(srv) // or http.ListenAndServe("127.0.0.1:5000", srv)
	defer ts.Close()

	get := func(method, path, auth string) {
		req, _ := http.NewRequest(method, ts.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(b)))
	}
	get("GET", "/v2/app/referrers/sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a", "")
	get("POST", "/v2/app/blobs/uploads/", "")
	get("POST", "/v2/app/blobs/uploads/", "Bearer s3cret")
	// Output:
	// 200 {"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}
	// 401 {"errors":[{"code":"UNAUTHORIZED","message":"authentication required to push app"}]}
	// 202
}
