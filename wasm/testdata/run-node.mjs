// Runs a WASI command module under node's WASI (node:wasi, preview1), as
// any embedder would: node run-node.mjs MODULE [TREE]. The module reads
// stdin and writes stdout and stderr; TREE, when given, is preopened at
// /tree. The process exits with the module's exit code.
import { readFile } from 'node:fs/promises';
import { WASI } from 'node:wasi';
import process from 'node:process';

const [module, tree] = process.argv.slice(2);
const wasi = new WASI({
  version: 'preview1',
  args: ['referrers.wasm'],
  env: {},
  preopens: tree ? { '/tree': tree } : {},
  returnOnExit: true,
});
const wasm = await WebAssembly.compile(await readFile(module));
const instance = await WebAssembly.instantiate(wasm, wasi.getImportObject());
process.exitCode = wasi.start(instance);
