// bench_wasi.mjs — the "V8" engine of the side-by-side benchmark (bench/bench.py): afmpeg's own
// module (the same afmpeg.wasm that wasm2c translates) run by Node's node:wasi.
//
//   node bench_wasi.mjs WASM run REPS WARMUP [-i NAME=PATH]... [-o NAME]... -- ARGV...
//   node bench_wasi.mjs WASM compile REPS
//
// The module is compiled once (WebAssembly.compile; timed as prepare_ms, and as first_ms in
// "compile" mode, which compiles it REPS + 1 times). Each timed job is what afmpeg's job is: a
// fresh instance (new WASI + WebAssembly.Instance) and its run to exit. The job's root "/" is a
// preopened temporary directory (on /dev/shm when there is one) holding the inputs; its standard
// output and error go to files there. Prints one JSON object like bench_afmpeg:
// {"ok":true,"times_ms":[...],"first_ms":X,"prepare_ms":X,"maxrss_kb":N}; REPS 0 serves
// bench.py as bench_afmpeg does.
import { WASI } from 'node:wasi';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

function out(o) { process.stdout.write(JSON.stringify(o) + '\n'); }
function fail(msg) { out({ ok: false, error: String(msg) }); process.exit(1); }

const [wasmPath, mode, repsArg, ...rest] = process.argv.slice(2);
const reps = parseInt(repsArg, 10);
if (!wasmPath || !mode || !(reps >= 0)) fail('usage: bench_wasi.mjs WASM run|compile REPS ...');
const bytes = fs.readFileSync(wasmPath);

if (mode === 'compile') {
    const times = [];
    let first = 0;
    for (let i = 0; i <= reps; i++) {
        const t0 = performance.now();
        await WebAssembly.compile(bytes);
        const t = performance.now() - t0;
        if (i === 0) first = t; else times.push(t);
    }
    out({ ok: true, times_ms: times, first_ms: first, maxrss_kb: process.resourceUsage().maxRSS });
    process.exit(0);
}
if (mode !== 'run') fail('mode is run or compile');

const warmup = parseInt(rest[0], 10);
const inputs = [], outputs = [];
let i = 1;
for (; i < rest.length && rest[i] !== '--'; i++) {
    if (rest[i] === '-i') {
        const spec = rest[++i], eq = spec.indexOf('=');
        inputs.push([spec.slice(0, eq), spec.slice(eq + 1)]);
    } else if (rest[i] === '-o') outputs.push(rest[++i]);
    else fail('usage: ' + rest[i]);
}
const argv = rest.slice(i + 1);
if (!argv.length) fail('nothing after --');

const base = fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir();
const root = fs.mkdtempSync(path.join(base, 'afmpeg-bench-v8-'));
process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
for (const [name, src] of inputs) fs.copyFileSync(src, path.join(root, name));

const c0 = performance.now();
const module = await WebAssembly.compile(bytes);
const prepare = performance.now() - c0;

function job() {
    const so = fs.openSync(path.join(root, '.stdout'), 'w');
    const se = fs.openSync(path.join(root, '.stderr'), 'w');
    const t0 = performance.now();
    const wasi = new WASI({ version: 'preview1', args: argv, env: {}, preopens: { '/': root },
                            returnOnExit: true, stdin: 0, stdout: so, stderr: se });
    const instance = new WebAssembly.Instance(module, wasi.getImportObject());
    const code = wasi.start(instance);
    const t = performance.now() - t0;
    fs.closeSync(so);
    fs.closeSync(se);
    if (code !== 0)
        fail(`exit ${code}: ` + fs.readFileSync(path.join(root, '.stderr'), 'utf8').slice(-2000));
    for (const o of outputs) {
        const p = path.join(root, o);
        if (!fs.existsSync(p) || fs.statSync(p).size === 0) fail('missing output ' + o);
        fs.rmSync(p);
    }
    return t;
}


// REPS 0: serve bench.py, which interleaves the engines' runs (see bench_afmpeg.c).
function serve(job, first, extra) {
    const buf = Buffer.alloc(64);
    let pending = '';
    out({ ready: true, first_ms: first, ...extra });
    for (;;) {
        let nl;
        while ((nl = pending.indexOf('\n')) < 0) {
            let n = 0;
            try { n = fs.readSync(0, buf, 0, buf.length, null); } catch (e) {
                if (e.code === 'EAGAIN') continue;
                throw e;
            }
            if (n === 0) { nl = -1; break; }
            pending += buf.toString('latin1', 0, n);
        }
        if (nl < 0) break;
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (!line.startsWith('run')) break;
        out({ t: job() });
    }
    out({ ok: true, maxrss_kb: process.resourceUsage().maxRSS });
}

const first = job();
for (let w = 1; w < warmup; w++) job();
if (reps === 0) {
    serve(job, first, { prepare_ms: prepare });
} else {
    const times = [];
    for (let r = 0; r < reps; r++) times.push(job());
    out({ ok: true, times_ms: times, first_ms: first, prepare_ms: prepare,
          maxrss_kb: process.resourceUsage().maxRSS });
}
