// Command reactor is the WASI module as a reactor (GOOS=wasip1 GOARCH=wasm
// -buildmode=c-shared; built by scripts/wasm.sh into
// wasm/host/referrers-reactor.wasm): the host instantiates it once, calls
// _initialize, then calls referrers_handle once per request. It answers
// exactly as the command module (./wasm) does, through package request, and
// keeps nothing from one call to the next but the capacity of its two
// buffers: each call decodes its own request and opens its own source.
//
// ABI version 1 (exports; WebAssembly Core Specification 1.0 i32/i64):
//
//   - referrers_abi_version() i32: 1.
//   - referrers_alloc(size i32) i32: a buffer of size bytes in linear
//     memory for the next call's input, valid until that call returns; 0
//     when size is over the limit (request.MaxRequestBytes plus as much
//     again of documents).
//   - referrers_handle(request i32, documents i32) i32: answers the request
//     in the first request bytes of the buffer. When documents is not 0,
//     the next documents bytes are the inline documents' data, which the
//     request's documents then leave out: for each document in order, its
//     length (4 bytes, little-endian) and its bytes. It returns the command
//     module's exit code (0 handled, 2 malformed, 3 source unreadable, 1
//     internal); diagnostics go to stderr (fd 2), as the command's do.
//   - referrers_output() i64: the response of the last call, its address in
//     the high 32 bits and its length in the low 32, valid until the next
//     call.
//
// A Go runtime crash (out of memory, a panic) ends the instance (proc_exit
// 2, as the command); the host must then discard it.
package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"github.com/oci-referrers/referrers/core/request"
)

// abiVersion is the version of the exports above.
const abiVersion = 1

// maxInput bounds the input buffer: a request and its documents' data.
const maxInput = 2 * request.MaxRequestBytes

// keep is the buffer capacity kept between calls; a larger buffer is
// dropped after its call, so one large request does not hold memory.
const keep = 1 << 20

var (
	input  []byte
	output bytes.Buffer
)

func main() {} // a reactor: the host calls the exports

//go:wasmexport referrers_abi_version
func exportABIVersion() uint32 { return abiVersion }

//go:wasmexport referrers_alloc
func exportAlloc(size uint32) unsafe.Pointer {
	if size == 0 || size > maxInput {
		return nil
	}
	if uint32(cap(input)) < size {
		input = make([]byte, size)
	}
	input = input[:size]
	return unsafe.Pointer(&input[0])
}

//go:wasmexport referrers_handle
func exportHandle(req, docs uint32) uint32 {
	defer release()
	if output.Cap() > keep {
		output = bytes.Buffer{}
	}
	output.Reset()
	if uint64(req)+uint64(docs) > uint64(len(input)) {
		return answer(request.Response{}, fmt.Errorf("%w: %d bytes of input, %d allocated", request.ErrMalformed, uint64(req)+uint64(docs), len(input)))
	}
	in := bytes.NewReader(input[:req])
	if docs == 0 {
		return answer(request.Answer(context.Background(), in))
	}
	data, err := frame(input[req : req+docs])
	if err != nil {
		return answer(request.Response{}, err)
	}
	return answer(request.AnswerData(context.Background(), in, data))
}

//go:wasmexport referrers_output
func exportOutput() uint64 {
	b := output.Bytes()
	if len(b) == 0 {
		return 0
	}
	return uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b))
}

// answer encodes the response (or the error's) into output and returns the
// exit code, as the command module does.
func answer(resp request.Response, err error) uint32 {
	if err != nil {
		fmt.Fprintln(os.Stderr, "referrers.wasm:", err)
		resp = request.ErrorResponse(err)
	}
	if werr := resp.Encode(&output); werr != nil {
		fmt.Fprintln(os.Stderr, "referrers.wasm: writing the response:", werr)
		output.Reset()
		return 1
	}
	return uint32(request.ExitCode(err))
}

// frame splits the documents' data: each a 4-byte little-endian length,
// then the bytes. The slices alias the input buffer, which outlives the call.
func frame(b []byte) ([][]byte, error) {
	var data [][]byte
	for len(b) > 0 {
		if len(b) < 4 {
			return nil, fmt.Errorf("%w: documents: %w", request.ErrMalformed, errTruncated)
		}
		n := binary.LittleEndian.Uint32(b)
		b = b[4:]
		if uint64(n) > uint64(len(b)) {
			return nil, fmt.Errorf("%w: documents: %w", request.ErrMalformed, errTruncated)
		}
		data = append(data, b[:n:n])
		b = b[n:]
	}
	return data, nil
}

var errTruncated = errors.New("the data frame is truncated")

// release drops the input buffer when it grew past keep (the output
// buffer, which the host reads after the call, is dropped by the next call).
func release() {
	if cap(input) > keep {
		input = nil
	}
}
