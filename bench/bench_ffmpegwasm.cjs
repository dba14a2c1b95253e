// bench_ffmpegwasm.cjs — the "ffmpeg.wasm" engine of the side-by-side benchmark (bench/bench.py):
// npm @ffmpeg/core (FFmpeg built with emscripten, single-threaded core) loaded in Node.
//
//   node bench_ffmpegwasm.cjs COREDIR run REPS WARMUP [-i NAME=PATH]... [-o NAME]... -- ARGV...
//   node bench_ffmpegwasm.cjs COREDIR load REPS
//
// COREDIR holds ffmpeg-core.js and ffmpeg-core.wasm (the package's dist/umd). The core is a
// browser worker build: it loads in Node once `self` and `self.location` exist and the wasm bytes
// are passed as `wasmBinary`. It is loaded once (timed as prepare_ms, and as first_ms in "load"
// mode, which loads it REPS + 1 times); the inputs are written to its in-memory filesystem once;
// each timed job is one exec() (ffmpeg) or ffprobe() call on that same instance, as its own
// JavaScript API is meant to be used, then reset(). ARGV[0] chooses the tool. Prints one JSON
// object like bench_afmpeg; REPS 0 serves bench.py as bench_afmpeg does.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

function out(o) { process.stdout.write(JSON.stringify(o) + '\n'); }
function fail(msg) { out({ ok: false, error: String(msg) }); process.exit(1); }

globalThis.self = globalThis;
globalThis.self.location = { href: 'file://' + __filename };

const [coreDir, mode, repsArg, ...rest] = process.argv.slice(2);
const reps = parseInt(repsArg, 10);
if (!coreDir || !mode || !(reps >= 0))
    fail('usage: bench_ffmpegwasm.cjs COREDIR run|load REPS ...');
const createCore = require(path.resolve(coreDir, 'ffmpeg-core.js'));
const wasmBinary = fs.readFileSync(path.join(coreDir, 'ffmpeg-core.wasm'));

async function load() { return createCore({ wasmBinary }); }

async function main() {
    if (mode === 'load') {
        const times = [];
        let first = 0;
        for (let i = 0; i <= reps; i++) {
            const t0 = performance.now();
            await load();
            const t = performance.now() - t0;
            if (i === 0) first = t; else times.push(t);
        }
        out({ ok: true, times_ms: times, first_ms: first,
              maxrss_kb: process.resourceUsage().maxRSS });
        return;
    }
    if (mode !== 'run') fail('mode is run or load');
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
    const tool = path.basename(argv[0]), args = argv.slice(1);
    if (tool !== 'ffmpeg' && tool !== 'ffprobe') fail('ARGV[0] must be ffmpeg or ffprobe');

    const c0 = performance.now();
    const core = await load();
    const prepare = performance.now() - c0;
    let stderr = [], stdoutBytes = 0;
    core.setLogger(m => {
        if (m.type === 'stdout') stdoutBytes += m.message.length + 1;
        else { stderr.push(m.message); if (stderr.length > 50) stderr.shift(); }
    });
    for (const [name, src] of inputs) core.FS.writeFile('/' + name, fs.readFileSync(src));

    function job() {
        stderr = [];
        stdoutBytes = 0;
        const t0 = performance.now();
        const code = tool === 'ffmpeg' ? core.exec(...args) : core.ffprobe(...args);
        const t = performance.now() - t0;
        core.reset();
        // ffprobe() returns -1 even on success (its exit path does not set the core's `ret`):
        // judge it by what it printed.
        const ok = tool === 'ffmpeg' ? code === 0 : stdoutBytes > 0;
        if (!ok) fail(`exit ${code}: ` + stderr.join('\n').slice(-2000));
        for (const o of outputs) {
            let size = 0;
            try { size = core.FS.stat('/' + o).size; } catch (e) { /* missing */ }
            if (size === 0) fail('missing output ' + o);
            core.FS.unlink('/' + o);
        }
        return t;
    }
    const first = job();
    for (let w = 1; w < warmup; w++) job();
    if (reps === 0) {
        serve(job, first, { prepare_ms: prepare });
        return;
    }
    const times = [];
    for (let r = 0; r < reps; r++) times.push(job());
    out({ ok: true, times_ms: times, first_ms: first, prepare_ms: prepare,
          maxrss_kb: process.resourceUsage().maxRSS });
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
main().catch(e => fail(e && e.stack || e));
