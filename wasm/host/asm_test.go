package host_test

import "bytes"

// A tiny WebAssembly 1.0 assembler for the hostile test modules: just the
// sections and opcodes they use (WebAssembly Core Specification 1.0,
// "Binary Format"). Each module exports _start (and its memory), importing
// from wasi_snapshot_preview1 what it calls.

// Value types and opcodes.
const (
	i32 = 0x7f

	opUnreachable = 0x00
	opBlock       = 0x02
	opLoop        = 0x03
	opEnd         = 0x0b
	opBr          = 0x0c
	opBrIf        = 0x0d
	opCall        = 0x10
	opDrop        = 0x1a
	opMemorySize  = 0x3f
	opMemoryGrow  = 0x40
	opI32Const    = 0x41
	opI32Eq       = 0x46
	blockEmpty    = 0x40
)

// uleb is n in unsigned LEB128.
func uleb(n uint32) []byte {
	var b []byte
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if n != 0 {
			b = append(b, c|0x80)
			continue
		}
		return append(b, c)
	}
}

// sleb is n in signed LEB128 (for i32.const).
func sleb(n int32) []byte {
	var b []byte
	for {
		c := byte(n & 0x7f)
		n >>= 7
		if (n == 0 && c&0x40 == 0) || (n == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// vec is a vector: its length, then its items.
func vec(items ...[]byte) []byte { return cat(uleb(uint32(len(items))), cat(items...)) }

// name is a UTF-8 name: its length, then its bytes.
func name(s string) []byte { return cat(uleb(uint32(len(s))), []byte(s)) }

// section is a section with its id and size.
func section(id byte, content []byte) []byte {
	return cat([]byte{id}, uleb(uint32(len(content))), content)
}

// funcType is a function type.
func funcType(params, results []byte) []byte {
	return cat([]byte{0x60}, uleb(uint32(len(params))), params, uleb(uint32(len(results))), results)
}

// wasiImport imports function field of wasi_snapshot_preview1 with type typ.
func wasiImport(field string, typ uint32) []byte {
	return cat(name("wasi_snapshot_preview1"), name(field), []byte{0x00}, uleb(typ))
}

// module is a WASI command: types, imported functions, one memory of
// minPages, one function _start (type startType, no locals) with body, and
// data segments at the given offsets.
type module struct {
	types     [][]byte
	imports   [][]byte
	startType uint32
	minPages  uint32
	body      []byte
	data      map[int32][]byte
}

func (m module) bytes() []byte {
	nImports := uint32(len(m.imports))
	out := cat([]byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00},
		section(1, vec(m.types...)))
	if nImports > 0 {
		out = cat(out, section(2, vec(m.imports...)))
	}
	out = cat(out,
		section(3, vec(uleb(m.startType))),
		section(5, vec(cat([]byte{0x00}, uleb(m.minPages)))),
		section(7, vec(
			cat(name("_start"), []byte{0x00}, uleb(nImports)),
			cat(name("memory"), []byte{0x02}, uleb(0)),
		)),
		section(10, vec(withSize(cat([]byte{0x00}, m.body, []byte{opEnd})))),
	)
	if len(m.data) > 0 {
		var segs [][]byte
		for off, b := range m.data {
			segs = append(segs, cat([]byte{0x00, opI32Const}, sleb(off), []byte{opEnd}, uleb(uint32(len(b))), b))
		}
		out = cat(out, section(11, vec(segs...)))
	}
	return out
}

func withSize(b []byte) []byte { return cat(uleb(uint32(len(b))), b) }

// Type indexes of the modules below.
var (
	typeStart    = funcType(nil, nil)                                // () -> ()
	typeFdWrite  = funcType([]byte{i32, i32, i32, i32}, []byte{i32}) // fd_write
	typeProcExit = funcType([]byte{i32}, nil)                        // proc_exit
)

// loopModule's _start loops forever without a call: (loop (br 0)).
func loopModule() []byte {
	return module{
		types:    [][]byte{typeStart},
		minPages: 1,
		body:     []byte{opLoop, blockEmpty, opBr, 0, opEnd},
	}.bytes()
}

// growModule's _start grows its memory one page at a time until
// memory.grow fails, then exits with its size in pages:
//
//	(block (loop (br_if 1 (i32.eq (memory.grow (i32.const 1)) (i32.const -1))) (br 0)))
//	(call $proc_exit (memory.size))
func growModule() []byte {
	return module{
		types:     [][]byte{typeProcExit, typeStart},
		imports:   [][]byte{wasiImport("proc_exit", 0)},
		startType: 1,
		minPages:  1,
		body: cat(
			[]byte{opBlock, blockEmpty, opLoop, blockEmpty},
			[]byte{opI32Const}, sleb(1), []byte{opMemoryGrow, 0x00},
			[]byte{opI32Const}, sleb(-1), []byte{opI32Eq, opBrIf, 1, opBr, 0, opEnd, opEnd},
			[]byte{opMemorySize, 0x00, opCall, 0},
		),
	}.bytes()
}

// floodModule's _start writes 64 KiB of zeros to fd (1: stdout, 2: stderr)
// forever, ignoring errors: the iovec at 0 points at 16..65552.
//
//	(loop (drop (call $fd_write (i32.const fd) (i32.const 0) (i32.const 1) (i32.const 8))) (br 0))
func floodModule(fd int32) []byte {
	return module{
		types:     [][]byte{typeFdWrite, typeStart},
		imports:   [][]byte{wasiImport("fd_write", 0)},
		startType: 1,
		minPages:  2,
		body: cat(
			[]byte{opLoop, blockEmpty},
			[]byte{opI32Const}, sleb(fd), []byte{opI32Const}, sleb(0), []byte{opI32Const}, sleb(1), []byte{opI32Const}, sleb(8),
			[]byte{opCall, 0, opDrop, opBr, 0, opEnd},
		),
		data: map[int32][]byte{0: {16, 0, 0, 0, 0, 0, 1, 0}},
	}.bytes()
}

// exitModule's _start writes out to stdout (from a data segment) and exits
// with code: a stand-in for a module that answers, or crashes, as told.
func exitModule(out string, code int32) []byte {
	iov := cat(le32(16), le32(uint32(len(out))))
	return module{
		types:     [][]byte{typeFdWrite, typeProcExit, typeStart},
		imports:   [][]byte{wasiImport("fd_write", 0), wasiImport("proc_exit", 1)},
		startType: 2,
		minPages:  1,
		body: cat(
			[]byte{opI32Const}, sleb(1), []byte{opI32Const}, sleb(0), []byte{opI32Const}, sleb(1), []byte{opI32Const}, sleb(8),
			[]byte{opCall, 0, opDrop},
			[]byte{opI32Const}, sleb(code), []byte{opCall, 1},
		),
		data: map[int32][]byte{0: iov, 16: []byte(out)},
	}.bytes()
}

// trapModule's _start traps at once: (unreachable).
func trapModule() []byte {
	return module{types: [][]byte{typeStart}, minPages: 1, body: []byte{opUnreachable}}.bytes()
}

// bigMemoryModule declares a memory of minPages (and does nothing).
func bigMemoryModule(minPages uint32) []byte {
	return module{types: [][]byte{typeStart}, minPages: minPages}.bytes()
}

func le32(n uint32) []byte { return []byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)} }
