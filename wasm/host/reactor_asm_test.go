package host_test

// Stand-in reactors for the Pool's hostile cases, with the assembler of
// asm_test.go: each exports _initialize, the reactor ABI's four functions
// and its memory, and imports nothing.

const opI64Const = 0x42

// reactorModule is a reactor whose referrers_handle runs handle (which
// leaves an i32 exit code) and whose referrers_output points at out, a data
// segment at 2048; referrers_alloc always gives 1024 (room for 1 KiB).
func reactorModule(out string, handle []byte) []byte {
	types := vec(
		funcType(nil, nil),                      // 0: _initialize
		funcType(nil, []byte{i32}),              // 1: abi version
		funcType([]byte{i32}, []byte{i32}),      // 2: alloc
		funcType([]byte{i32, i32}, []byte{i32}), // 3: handle
		funcType(nil, []byte{0x7e}),             // 4: output (i64)
	)
	body := func(code []byte) []byte { return withSize(cat([]byte{0x00}, code, []byte{opEnd})) }
	outAt := int64(2048)<<32 | int64(len(out))
	return cat([]byte{0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00},
		section(1, types),
		section(3, vec(uleb(0), uleb(1), uleb(2), uleb(3), uleb(4))),
		section(5, vec(cat([]byte{0x00}, uleb(1)))),
		section(7, vec(
			cat(name("_initialize"), []byte{0x00}, uleb(0)),
			cat(name("referrers_abi_version"), []byte{0x00}, uleb(1)),
			cat(name("referrers_alloc"), []byte{0x00}, uleb(2)),
			cat(name("referrers_handle"), []byte{0x00}, uleb(3)),
			cat(name("referrers_output"), []byte{0x00}, uleb(4)),
			cat(name("memory"), []byte{0x02}, uleb(0)),
		)),
		section(10, vec(
			body(nil),
			body(cat([]byte{opI32Const}, sleb(1))),
			body(cat([]byte{opI32Const}, sleb(1024))),
			body(handle),
			body(cat([]byte{opI64Const}, sleb64(outAt))),
		)),
		section(11, vec(cat([]byte{0x00, opI32Const}, sleb(2048), []byte{opEnd}, uleb(uint32(len(out))), []byte(out)))),
	)
}

// sleb64 is n in signed LEB128 (for i64.const).
func sleb64(n int64) []byte {
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

// reactorLoop's handle loops forever without a call.
func reactorLoop() []byte {
	return reactorModule("", []byte{opLoop, blockEmpty, opBr, 0, opEnd, opI32Const, 0})
}

// reactorExit's handle returns code, with out as its response.
func reactorExit(out string, code int32) []byte {
	return reactorModule(out, cat([]byte{opI32Const}, sleb(code)))
}

// reactorTrap's handle traps.
func reactorTrap() []byte {
	return reactorModule("", []byte{opUnreachable, opI32Const, 0})
}
