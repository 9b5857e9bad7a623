package host_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/oci-referrers/referrers/core/policy"
	"github.com/oci-referrers/referrers/core/request"
	"github.com/oci-referrers/referrers/wasm/host"
)

// Check a policy against tag v1 of an OCI image layout, inside the sandbox:
// the layout is mounted read-only at host.Mount, which the request names.
func ExampleHost_Do() {
	ctx := context.Background()
	// cacheDir: any directory only this user can write, e.g. under
	// os.UserCacheDir(); it saves the compile on the next New.
	h, err := host.New(ctx, host.WithCompilationCache(cacheDir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close(ctx)

	resp, err := h.Do(ctx, filepath.Join("..", "..", "testdata", "trees", "layout"), request.Request{
		APIVersion: request.APIVersion,
		Kind:       request.KindCheck,
		Source:     request.Source{Layout: host.Mount},
		Subject:    "v1",
		Policy: &policy.Policy{Require: []policy.Requirement{
			{ArtifactType: "application/spdx+json"},
			{ArtifactType: "application/vnd.example.scan+json", Annotations: map[string]string{"org.example.result": "pass"}},
			{ArtifactType: "application/vnd.example.provenance"},
		}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("pass:", resp.Result.Pass)
	for _, o := range resp.Result.Requirements {
		fmt.Printf("%s: found %d, pass %v\n", o.ArtifactType, o.Found, o.Pass)
	}
	// Output:
	// pass: false
	// application/spdx+json: found 1, pass true
	// application/vnd.example.scan+json: found 1, pass true
	// application/vnd.example.provenance: found 0, pass false
}

// A request the module refuses: exit code 2 with an Error response, which
// errors.Is tells apart from a crash (ErrInternal) or a timeout.
func ExampleHost_Run() {
	ctx := context.Background()
	h, err := host.New(ctx, host.WithCompilationCache(cacheDir))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close(ctx)

	_, err = h.Run(ctx, "", []byte(`{"apiVersion":"referrers/v1","kind":"List","source":{"layout":"/tree"}}`))
	var ee *host.ExitError
	if errors.As(err, &ee) {
		fmt.Println("exit code:", ee.Code)
		fmt.Println("malformed:", errors.Is(err, host.ErrMalformedRequest))
		fmt.Println(ee.Response.Code+":", ee.Response.Message)
	}
	// Output:
	// exit code: 2
	// malformed: true
	// MalformedRequest: malformed request: subject is required (a digest, or for a tree a tag)
}

// A policy engine's pool: instances are reused across calls, at most two
// at a time; the documents the engine fetched itself go in as bytes.
func ExamplePool_Do() {
	ctx := context.Background()
	pool, err := host.NewPool(ctx, host.WithCompilationCache(cacheDir), host.WithPoolSize(2))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer pool.Close(ctx)

	req := tinyRequest() // an image and one SBOM that refers to it
	for range 3 {
		resp, err := pool.Do(ctx, "", req, host.CallTimeout(time.Minute))
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(resp.Kind, len(resp.Referrers), resp.Referrers[0].Descriptor.ArtifactType)
	}
	fmt.Println("instances:", pool.Stats().Created)
	// Output:
	// ListResult 1 application/spdx+json
	// ListResult 1 application/spdx+json
	// ListResult 1 application/spdx+json
	// instances: 1
}
