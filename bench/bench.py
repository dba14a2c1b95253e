#!/usr/bin/env python3
"""bench/bench.py — the side-by-side benchmark: every workload on every engine, in one run.

    python3 bench/bench.py --build build --env build/bench/engines.env [--reps 5] [--warmup 1]

Writes OUT (default BUILD/bench): report.md, speed.png, rss.png, results.json, the media it
made (media/) and gnuplot's inputs. Engines (bench/README.md says what each number means):

  debian      Debian's /usr/bin/ffmpeg (with asm), a process per run, -threads 1
  noasm       the same FFmpeg source and components built natively without asm (native-noasm.sh)
  afmpeg      afmpeg in-process, warm runtime (bench_afmpeg: only the job is timed)
  v8          afmpeg's own .wasm in Node's node:wasi (bench_wasi.mjs: a fresh instance per job)
  ffmpegwasm  npm @ffmpeg/core in Node (bench_ffmpegwasm.cjs: exec() on a loaded core)

An engine that cannot run a workload is reported as n/a with the reason; nothing is estimated.
"""
import argparse
import hashlib
import json
import os
import platform
import select
import shutil
import statistics
import subprocess
import sys
import re
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))

ENGINES = [
    # id, label (charts), name (tables)
    ("debian", "Debian (asm)", "Debian ffmpeg, native with asm"),
    ("noasm", "native no-asm", "native no-asm build"),
    ("afmpeg", "afmpeg", "afmpeg in-process (wasm2c, gcc -O2)"),
    ("afmfile", "afmpeg .wasm", "afmpeg, the same module loaded from its .wasm (module_path)"),
    ("v8", "V8", "V8: afmpeg.wasm in node:wasi"),
    ("ffmpegwasm", "ffmpeg.wasm", "ffmpeg.wasm (@ffmpeg/core) in Node"),
]
ENGINE_IDS = [e[0] for e in ENGINES]

# Runs beside the engines, on some workloads only, for the fixed costs (bench/README.md):
#   afmcopy: afmpeg with its memory image off (AFMPEG_MEMORY_IMAGE=0): every job copies the
#            module's data segments into its fresh memory, as before the image (workloads with
#            fixed=True);
#   cli:     the afmpeg CLI as a whole process, spawn to exit, like the native engines
#            (workloads with cli=True).
LEVERS = [("afmcopy", "afmpeg, image off (copies the data segments)"),
          ("cli", "afmpeg CLI, a whole process")]
LABEL = {e[0]: e[1] for e in ENGINES}
NAME = {e[0]: e[2] for e in ENGINES}

# The H.264 encoder each engine has. Debian's ffmpeg and ffmpeg.wasm are built without
# libopenh264, so their encode workloads use libx264 (veryfast: a preset of about openh264's cost
# on this machine) and are not the same work: the report marks them and no goal uses them.
OPENH264 = ["-c:v", "libopenh264"]
X264 = ["-c:v", "libx264", "-preset", "veryfast"]
H264 = {"debian": X264, "noasm": OPENH264, "afmpeg": OPENH264, "afmfile": OPENH264,
        "v8": OPENH264, "ffmpegwasm": X264}

# Every ffmpeg run is single-threaded: decoders (-threads before -i), encoders (-threads before
# the output), simple and complex filter graphs.
COMMON = ["-nostdin", "-y", "-v", "error", "-threads", "1", "-filter_threads", "1",
          "-filter_complex_threads", "1"]

# Media, made by Debian's ffmpeg (libx264 High profile with B-frames + AAC: what users upload).
MEDIA = {
    "clip_a.mp4": ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3",
                   "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=3"],
    "clip_b.mp4": ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3",
                   "-f", "lavfi", "-i", "sine=frequency=660:sample_rate=48000:duration=3"],
    "clip_720p.mp4": ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=10",
                      "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=10"],
    # split_60s: one long job (x264's default GOP: a keyframe every 10 s)
    "clip_60s.mp4": ["-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=25:duration=60",
                     "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=60"],
}
MEDIA_ENC = ["-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-pix_fmt", "yuv420p",
             "-c:a", "aac", "-b:a", "128k", "-shortest", "-fflags", "+bitexact"]

H = "{h264}"  # replaced by the engine's H.264 encoder arguments
WORKLOADS = [
    dict(id="transcode_small", title="3 s 320x240 H.264/AAC clip: decode, scale to width 160, "
         "encode H.264/AAC MP4", inputs=["clip_a.mp4"], outputs=["out.mp4"], encode=True,
         argv=["ffmpeg"] + COMMON + ["-i", "clip_a.mp4", "-vf", "scale=160:-2", "-threads", "1",
                                     H, "-c:a", "aac", "out.mp4"]),
    dict(id="join_xfade", title="two such clips joined with xfade + amix, encoded H.264/AAC",
         inputs=["clip_a.mp4", "clip_b.mp4"], outputs=["joined.mp4"], encode=True,
         argv=["ffmpeg"] + COMMON + [
             "-i", "clip_a.mp4", "-i", "clip_b.mp4", "-filter_complex",
             "[0:v][1:v]xfade=transition=fade:duration=1:offset=2[v];[0:a][1:a]amix=inputs=2[a]",
             "-map", "[v]", "-map", "[a]", "-threads", "1", H, "-c:a", "aac", "joined.mp4"]),
    dict(id="thumbnail", title="thumbnail at 2 s to PNG", inputs=["clip_a.mp4"],
         outputs=["thumb.png"], fixed=True,
         argv=["ffmpeg"] + COMMON + ["-ss", "2", "-i", "clip_a.mp4", "-frames:v", "1",
                                     "-c:v", "png", "-f", "image2", "thumb.png"]),
    dict(id="probe_720p", title="probe of the 10 s 720p clip (ffprobe, JSON format + streams)",
         inputs=["clip_720p.mp4"], outputs=[], fixed=True, cli=True,
         argv=["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json",
               "clip_720p.mp4"]),
    dict(id="decode_720p", title="decode of a 10 s 1280x720@25 H.264/AAC clip (-f null)",
         inputs=["clip_720p.mp4"], outputs=[],
         argv=["ffmpeg"] + COMMON + ["-i", "clip_720p.mp4", "-f", "null", "-"]),
    dict(id="transcode_720p", title="transcode of that clip to H.264/AAC MP4 (same size)",
         inputs=["clip_720p.mp4"], outputs=["out.mp4"], encode=True,
         argv=["ffmpeg"] + COMMON + ["-i", "clip_720p.mp4", "-threads", "1", H, "-c:a", "aac",
                                     "out.mp4"]),
    dict(id="version", title="per-job overhead: ffmpeg -version", inputs=[], outputs=[],
         overhead=True, fixed=True, cli=True, argv=["ffmpeg", "-version"]),
]

GOAL_SANDBOX = 1.10    # afmpeg / native no-asm, at most, on every media workload
GOAL_V8 = 1.5          # V8 / afmpeg, at least
GOAL_OVERHEAD = 0.3    # ms, afmpeg's warm per-job overhead (-version)
GOAL_NEW = 50.0        # ms, afmpeg_new
GOAL_PROBE = 5.0       # ms, afmpeg_probe of the 720p clip, end to end
GOAL_CLI = 5.0         # ms, the CLI's whole process for `afmpeg ffmpeg -version`
GOAL_SPLIT = 1.8       # split_60s: 1 instance / 2 instances (split and stitch), at least
GOAL_FILE = 1.05       # the module loaded from its .wasm / the embedded one, at most (same code)

# V8 compiles every wasm function with its optimising tier (TurboFan) only, lazily at its first
# call, so that "warm" (after the warm-up run) means V8's best code and not whatever tier a
# function had reached (eager compilation costs ffmpeg.wasm's module 15 s).
# --no-turbo-fast-api-calls: node 20's WASI functions are V8 "fast API calls", which may start a
# garbage collection in the middle of the call and corrupt the heap (node issue 46777): half the
# runs of a process running several WASI instances crashed here. Slow calls cost a little per
# host call.
NODE_FLAGS = ["--no-warnings", "--no-liftoff", "--no-wasm-dynamic-tiering",
              "--no-turbo-fast-api-calls"]


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    return env


def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def expand(argv, engine):
    out = []
    for a in argv:
        out.extend(H264[engine] if a == H else [a])
    return out


def make_media(mdir):
    """Makes the inputs with Debian's ffmpeg, unless already made by the same recipe."""
    os.makedirs(mdir, exist_ok=True)
    recipe = json.dumps([MEDIA, MEDIA_ENC, sh(["ffmpeg", "-version"]).splitlines()[:1]])
    stamp = os.path.join(mdir, ".recipe")
    if os.path.exists(stamp) and open(stamp).read() == recipe and \
            all(os.path.exists(os.path.join(mdir, n)) for n in MEDIA):
        return
    log("making the media with Debian's ffmpeg")
    for name, src in MEDIA.items():
        subprocess.run(["ffmpeg", "-nostdin", "-y", "-v", "error"] + src + MEDIA_ENC +
                       [os.path.join(mdir, name)], check=True)
    with open(stamp, "w") as f:
        f.write(recipe)


def summarize(res, reps):
    t = res["times_ms"]
    if len(t) != reps:
        return {"ok": False, "error": "expected %d times, got %d" % (reps, len(t))}
    res["min_ms"] = min(t)
    res["median_ms"] = statistics.median(t)
    return res


class Failed(Exception):
    pass


class Native:
    """A native engine: one process per run, in `work` (which holds the inputs), timed from
    spawn to reap; its peak RSS is the largest of its processes'."""

    def __init__(self, argv, work, outputs, warmup):
        self.argv, self.work, self.outputs, self.warmup = argv, work, outputs, warmup
        self.rss, self.first, self.crashes = 0, None, []

    def start(self):
        for _ in range(self.warmup):
            t = self.run()
            if self.first is None:
                self.first = t

    def run(self):
        cwd = os.getcwd()
        os.chdir(self.work)
        try:
            acts = [(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, ".stdout", os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o644),
                    (os.POSIX_SPAWN_OPEN, 2, ".stderr", os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                     0o644)]
            t0 = time.perf_counter()
            try:
                pid = os.posix_spawn(self.argv[0], self.argv, os.environ, file_actions=acts)
            except OSError as x:
                raise Failed("cannot run %s: %s" % (self.argv[0], x.strerror))
            _, status, ru = os.wait4(pid, 0)
            t = (time.perf_counter() - t0) * 1e3
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                err = open(".stderr", errors="replace").read()[-1500:]
                raise Failed("exit %d: %s" % (code, err.strip()))
            if self.argv[0].endswith("ffprobe") and os.path.getsize(".stdout") == 0:
                raise Failed("ffprobe printed nothing")
            for o in self.outputs:
                if not os.path.exists(o) or os.path.getsize(o) == 0:
                    raise Failed("missing output " + o)
                os.remove(o)
            self.rss = max(self.rss, ru.ru_maxrss)
            return t
        finally:
            os.chdir(cwd)

    def finish(self):
        return {"first_ms": self.first, "maxrss_kb": self.rss}


class Server:
    """An in-process engine's driver serving runs one at a time (REPS 0, see bench_afmpeg.c).
    A driver that dies by a signal (the engine crashed, the job did not fail) is started again,
    up to 3 crashes in all; the result lists them."""
    TIMEOUT = 900

    def __init__(self, cmd, env=None):
        self.cmd, self.env, self.p, self.crashes, self.info = cmd, env, None, [], {}

    def _line(self):
        while True:
            while b"\n" not in self.buf:
                r, _, _ = select.select([self.fd], [], [], self.TIMEOUT)
                if not r:
                    self.p.kill()
                    raise Failed("no answer in %d s" % self.TIMEOUT)
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    return None
                self.buf += chunk
            line, self.buf = self.buf.split(b"\n", 1)
            if line.startswith(b"{"):
                return json.loads(line)

    def _died(self):
        code = self.p.wait()
        self.err.seek(0)
        err = self.err.read().decode(errors="replace")[-1500:].strip()
        self.err.close()
        if code < 0:
            self.crashes.append("signal %d" % -code)
            log("  the engine crashed (signal %d)%s" % (
                -code, ", starting it again" if len(self.crashes) < 3 else ""))
            if len(self.crashes) < 3:
                return
        raise Failed("the driver ended (exit %d): %s" % (code, err))

    def start(self):
        while True:
            self.err = tempfile.TemporaryFile()
            self.p = subprocess.Popen(self.cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=self.err, env=self.env)
            self.fd, self.buf = self.p.stdout.fileno(), b""
            msg = self._line()
            if msg is None:
                self._died()
                continue
            if not msg.get("ready"):
                self.p.wait()
                raise Failed(msg.get("error", "not ready"))
            if not self.info:
                self.info = msg
            return

    def run(self):
        while True:
            try:
                self.p.stdin.write(b"run\n")
                self.p.stdin.flush()
                msg = self._line()
            except BrokenPipeError:
                msg = None
            if msg is None:
                self._died()
                self.start()
                continue
            if "t" not in msg:
                self.p.wait()
                raise Failed(msg.get("error", "no time"))
            return msg["t"]

    def finish(self):
        self.p.stdin.close()
        msg = self._line() or {}
        self.p.wait()
        self.err.close()
        return {"first_ms": self.info.get("first_ms"), "prepare_ms": self.info.get("prepare_ms"),
                "maxrss_kb": msg.get("maxrss_kb", 0)}

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def run_interleaved(runners, reps):
    """Warms every engine up, then runs `reps` rounds, each one run of every engine, the order
    rotated from round to round, so that a change in the machine's load falls on every engine
    alike. Returns {engine: result}."""
    res, times = {}, {}
    for e, r in list(runners.items()):
        try:
            r.start()
            times[e] = []
        except Failed as x:
            res[e] = {"ok": False, "error": str(x)}
            log("  %s n/a: %s" % (e, str(x)[:300]))
            del runners[e]
    ids = list(runners)
    for rnd in range(reps):
        k = rnd % len(ids) if ids else 0
        for e in ids[k:] + ids[:k]:
            if e not in runners:
                continue
            try:
                times[e].append(runners[e].run())
            except Failed as x:
                res[e] = {"ok": False, "error": str(x)}
                log("  %s n/a: %s" % (e, str(x)[:300]))
                dropped = runners.pop(e)
                if isinstance(dropped, Server):
                    dropped.kill()
    for e, r in runners.items():
        try:
            d = r.finish()
        except Failed as x:
            res[e] = {"ok": False, "error": str(x)}
            continue
        d.update({"ok": True, "times_ms": times[e], "min_ms": min(times[e]),
                  "median_ms": statistics.median(times[e])})
        if r.crashes:
            d["crashes"] = r.crashes
        res[e] = d
    return res


def run_json(cmd, reps=None, timeout=1800, tries=3, env=None):
    """An in-process engine's driver: one process, one JSON line out. A driver killed by a
    signal (a crash of the engine, not a failed job) is run again, up to `tries` times in all;
    the result says how many crashes there were."""
    crashes = []
    for _ in range(tries):
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            return {"ok": False, "error": "timed out after %d s" % timeout}
        lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
        if not lines and p.returncode < 0:
            crashes.append("killed by signal %d: %s" % (-p.returncode, p.stderr[-300:].strip()))
            log("  the engine crashed (signal %d), running it again" % -p.returncode)
            continue
        if not lines:
            return {"ok": False, "error": "no result (exit %d): %s" % (
                p.returncode, (p.stderr or p.stdout)[-1500:].strip())}
        res = json.loads(lines[-1])
        if res.get("ok") and reps is not None:
            res = summarize(res, reps)
        if crashes:
            res["crashes"] = crashes
        return res
    return {"ok": False, "error": "the engine crashed %d times: %s" % (len(crashes), crashes[-1])}


def file_args(w, mdir):
    args = []
    for n in w["inputs"]:
        args += ["-i", "%s=%s" % (n, os.path.join(mdir, n))]
    for o in w["outputs"]:
        args += ["-o", o]
    return args


def fmt_ms(x):
    if x is None:
        return "n/a"
    if x >= 100:
        return "%.0f" % x
    if x >= 10:
        return "%.1f" % x
    if x >= 1:
        return "%.2f" % x
    return "%.3f" % x


def fmt_ratio(x):
    return "n/a" if x is None else "%.2fx" % x


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--env", help="written by bench/setup.sh")
    ap.add_argument("--out", default=None)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated workload ids (default: all)")
    ap.add_argument("--pool-jobs", type=int, default=8)
    ap.add_argument("--from-json", default=None,
                    help="only write the report and charts again from a results.json")
    args = ap.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            d = json.load(f)
        out = os.path.abspath(args.out or os.path.dirname(args.from_json))
        os.makedirs(out, exist_ok=True)
        workloads = [w for w in WORKLOADS if w["id"] in d["results"]]
        charts = make_charts(out, workloads, d["results"])
        log("report: " + write_report(out, d["info"], workloads, d["results"], d["extra"],
                                      d["na"], d.get("pool"), charts))
        return
    if not args.env:
        ap.error("--env is required (bench/setup.sh writes it)")
    started = time.time()
    load_before = loadavg()
    build = os.path.abspath(args.build)
    out = os.path.abspath(args.out or os.path.join(build, "bench"))
    mdir = os.path.join(out, "media")
    os.makedirs(out, exist_ok=True)
    env = read_env(args.env)
    reps, warmup = max(1, args.reps), max(1, args.warmup)
    make_media(mdir)

    # Which engines can run, and how.
    na = {}
    noasm = env.get("NOASM_DIR")
    if not noasm:
        na["noasm"] = env.get("NOASM_NA", "not built")
    elif not os.access(os.path.join(noasm, "bin", "ffmpeg"), os.X_OK):
        na["noasm"] = "%s/bin/ffmpeg is missing (bench/setup.sh builds it)" % noasm
    if not shutil.which("ffmpeg"):
        na["debian"] = "Debian's ffmpeg is not installed"
    drv = os.path.join(build, "bench", "bench_afmpeg")
    if not os.access(drv, os.X_OK):
        na["afmpeg"] = "%s is missing (make bench builds it)" % drv
    node = shutil.which("node")
    wasm = env.get("AFMPEG_WASM")
    if not node:
        na["v8"] = na["ffmpegwasm"] = "node is not installed"
    if not wasm:
        na.setdefault("v8", env.get("V8_NA", "afmpeg.wasm not found"))
    core = env.get("FFMPEGWASM_DIR")
    if not core:
        na.setdefault("ffmpegwasm", env.get("FFMPEGWASM_NA", "@ffmpeg/core not installed"))

    # The module from a file: the embedded module's own .wasm through module_path, compiled into a
    # module cache of the bench's. A full run starts from an empty one and times the compile (the
    # first afmpeg_new, minutes) and then the loads from the cache; with --only, a cache a
    # previous run left is used as it is.
    extra = {}
    file_env = None
    if "afmpeg" in na or not wasm:
        na["afmfile"] = na.get("afmpeg") or "afmpeg.wasm not found"
    else:
        mcache = os.path.join(out, "module-cache")
        if not args.only.strip():
            shutil.rmtree(mcache, ignore_errors=True)
        file_env = dict(os.environ, AFMPEG_BENCH_MODULE=wasm, AFMPEG_CACHE_DIR=mcache,
                        AFMPEG_TOOLS_DIR=os.environ.get("AFMPEG_TOOLS_DIR") or
                        os.path.join(build, "tools"))
        cold = not os.path.isdir(mcache)
        log("afmpeg_new from afmpeg.wasm (%s)" % (
            "an empty cache: compiles it, minutes" if cold else "the cache has it"))
        extra["module_new"] = run_json([drv, "new", "20"], 20, timeout=3600, tries=1,
                                       env=file_env)
        extra["module_new"]["cold"] = cold
        if not extra["module_new"].get("ok"):
            na["afmfile"] = "loading afmpeg.wasm failed: %s" % extra["module_new"].get("error")
        else:  # a new process on the filled cache: its first load asks the toolchain its id
            extra["module_new_cached"] = run_json([drv, "new", "20"], 20, env=file_env)

    # Native engines work in a directory of their own, in memory when /dev/shm exists (afmpeg's
    # filesystem is in memory, ffmpeg.wasm's too, and V8's job root is on /dev/shm).
    work = tempfile.mkdtemp(prefix="afmpeg-bench-",
                            dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    for n in MEDIA:
        shutil.copy(os.path.join(mdir, n), work)

    only = set(filter(None, args.only.split(",")))
    workloads = [w for w in WORKLOADS if not only or w["id"] in only]
    results = {}
    for w in workloads:
        log("%s: %s" % (w["id"], ", ".join(e for e in ENGINE_IDS if e not in na)))
        runners = {}
        for e in ENGINE_IDS:
            if e in na:
                continue
            argv = expand(w["argv"], e)
            files = file_args(w, mdir)
            if e in ("debian", "noasm"):
                exe = argv[0] if e == "debian" else os.path.join(noasm, "bin", argv[0])
                runners[e] = Native([shutil.which(exe) or exe] + argv[1:], work, w["outputs"],
                                    warmup)
            elif e in ("afmpeg", "afmfile"):
                runners[e] = Server([drv, "run", "0", str(warmup)] + files + ["--"] + argv,
                                    env=file_env if e == "afmfile" else None)
            elif e == "v8":
                runners[e] = Server([node] + NODE_FLAGS + [
                    os.path.join(HERE, "bench_wasi.mjs"), wasm, "run", "0", str(warmup)] +
                    files + ["--"] + argv)
            else:
                runners[e] = Server([node] + NODE_FLAGS + [
                    os.path.join(HERE, "bench_ffmpegwasm.cjs"), core, "run", "0",
                    str(warmup)] + files + ["--"] + argv)
        if "afmpeg" not in na and w.get("fixed"):
            runners["afmcopy"] = Server([drv, "run", "0", str(warmup)] + file_args(w, mdir) +
                                        ["--"] + expand(w["argv"], "afmpeg"),
                                        env=dict(os.environ, AFMPEG_MEMORY_IMAGE="0"))
        cli = os.path.abspath(os.path.join(build, "afmpeg"))
        if w.get("cli") and os.access(cli, os.X_OK):
            runners["cli"] = Native([cli] + expand(w["argv"], "afmpeg"), work, w["outputs"],
                                    warmup)
        try:
            res = run_interleaved(runners, reps)
        finally:
            for r in runners.values():
                if isinstance(r, Server):
                    r.kill()
        results[w["id"]] = {}
        for e in ENGINE_IDS:
            r = res.get(e) or {"ok": False, "error": na.get(e, "not run")}
            r["argv"] = expand(w["argv"], e)
            results[w["id"]][e] = r
        for e, _ in LEVERS:
            if e in res:
                results[w["id"]][e] = res[e]
    # One long job on two instances: split and stitch (afmpeg_run_job, parallel auto) against
    # the same job on one instance, and the native builds with threads.
    if "afmpeg" not in na and (not only or "split_60s" in only):
        log("split_60s: a 60 s 720p transcode, afmpeg on 1 and 2 instances, native with threads")
        clip = "clip_60s.mp4"
        files = ["-i", clip + "=" + os.path.join(mdir, clip), "--", clip, "out.mp4"]
        runners = {
            "afmpeg_1": Server([drv, "split", "0", "1"] + files, env=dict(
                os.environ, AFMPEG_BENCH_INSTANCES="1", AFMPEG_BENCH_PARALLEL="0")),
            "afmpeg_2": Server([drv, "split", "0", "1"] + files, env=dict(
                os.environ, AFMPEG_BENCH_INSTANCES="2", AFMPEG_BENCH_PARALLEL="-1")),
        }
        enc = ["-nostdin", "-y", "-v", "error", "-threads", "2", "-i", clip]
        if "noasm" not in na:
            runners["noasm_2"] = Native([os.path.join(noasm, "bin", "ffmpeg")] + enc + [
                "-c:v", "libopenh264", "-threads", "2", "-c:a", "aac", "out.mp4"], work,
                ["out.mp4"], 0)
        if "debian" not in na:
            runners["debian_2"] = Native([shutil.which("ffmpeg")] + enc + [
                "-c:v", "libx264", "-preset", "veryfast", "-threads", "2", "-c:a", "aac",
                "out.mp4"], work, ["out.mp4"], 0)
        try:
            extra["split_60s"] = run_interleaved(runners, max(2, min(reps, 3)))
        finally:
            for r in runners.values():
                if isinstance(r, Server):
                    r.kill()
    shutil.rmtree(work, ignore_errors=True)

    # Start-up costs and the afmpeg-only measurements.
    if "afmpeg" not in na:
        log("afmpeg_new")
        extra["afmpeg_new"] = run_json([drv, "new", "20"], 20)
        if not only or "probe_720p" in only:
            log("afmpeg_probe")
            extra["afmpeg_probe"] = run_json(
                [drv, "probe", str(reps), str(warmup), "-i",
                 "clip_720p.mp4=" + os.path.join(mdir, "clip_720p.mp4"), "--", "clip_720p.mp4"],
                reps)
    if "v8" not in na:
        log("V8 compile (node's default flags)")
        extra["v8_compile"] = run_json([node, "--no-warnings",
                                        os.path.join(HERE, "bench_wasi.mjs"), wasm, "compile",
                                        "3"], 3)
    if "ffmpegwasm" not in na:
        log("ffmpeg.wasm load (node's default flags)")
        extra["ffmpegwasm_load"] = run_json([node, "--no-warnings",
                                             os.path.join(HERE, "bench_ffmpegwasm.cjs"), core,
                                             "load", "2"], 2)
    pool_md = None
    pool = os.path.join(build, "bench", "bench_pool")
    if os.access(pool, os.X_OK) and not only:
        log("pool scaling (bench_pool)")
        p = subprocess.run([pool, os.path.join(mdir, "clip_a.mp4"), str(args.pool_jobs)],
                           capture_output=True, text=True)
        pool_md = p.stdout if p.returncode == 0 else "bench_pool failed: " + p.stderr[-500:]

    info = machine_info(env, noasm, wasm, core)
    info["seconds"] = time.time() - started
    info["load_before"], info["load_after"] = load_before, loadavg()
    info["reps"], info["warmup"] = reps, warmup
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"info": info, "results": results, "extra": extra, "na": na, "pool": pool_md},
                  f, indent=1)
    charts = make_charts(out, workloads, results)
    report = write_report(out, info, workloads, results, extra, na, pool_md, charts)
    log("report: " + report)


def loadavg():
    try:
        return float(open("/proc/loadavg").read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def machine_info(env, noasm, wasm, core):
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    node = shutil.which("node")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
        "debian_ffmpeg": sh(["dpkg-query", "-W", "-f=${Version}", "ffmpeg"]),
        "gcc": sh(["gcc", "-dumpfullversion"]),
        "node": sh([node, "--version"]) if node else "",
        "v8": sh([node, "-p", "process.versions.v8"]) if node else "",
        "noasm_dir": noasm or "", "wasm": wasm or "",
        "ffmpegwasm": env.get("FFMPEGWASM_VERSION", ""),
        "wasm_sha": hashlib.sha256(open(wasm, "rb").read()).hexdigest()[:16] if wasm else "",
    }


def med(results, wid, e):
    r = results.get(wid, {}).get(e, {})
    return r.get("median_ms") if r.get("ok") else None


def ratio(a, b):
    return a / b if a is not None and b else None


def tic(w):
    """A workload's label on the charts: encode workloads get the libx264 footnote's star."""
    return w["id"] + ("*" if w.get("encode") else "")


def make_charts(out, workloads, results):
    """Two PNGs with gnuplot: medians normalised to native no-asm, and peak RSS."""
    if not shutil.which("gnuplot"):
        return []
    engines = ENGINE_IDS
    with open(os.path.join(out, "speed.dat"), "w") as f:
        f.write("workload " + " ".join('"%s"' % LABEL[e] for e in engines) + "\n")
        for w in workloads:
            base = med(results, w["id"], "noasm")
            vals = [ratio(med(results, w["id"], e), base) for e in engines]
            f.write(tic(w) + " " + " ".join("NaN" if v is None else "%.4f" % v
                                            for v in vals) + "\n")
    with open(os.path.join(out, "rss.dat"), "w") as f:
        f.write("workload " + " ".join('"%s"' % LABEL[e] for e in engines) + "\n")
        for w in workloads:
            vals = []
            for e in engines:
                r = results[w["id"]][e]
                vals.append("%.1f" % (r["maxrss_kb"] / 1024) if r.get("ok") else "NaN")
            f.write(tic(w) + " " + " ".join(vals) + "\n")
    footnote = ('set label "* %s and %s encode with libx264 -preset veryfast: not the same '
                'work as the others\' libopenh264" at screen 0.01, screen 0.02 font ",9" '
                'noenhanced\n' % (LABEL["debian"], LABEL["ffmpegwasm"]))
    n = len(engines)
    colours = ["#7f7f7f", "#1f77b4", "#2ca02c", "#98df8a", "#ff7f0e", "#d62728"]
    common = """
set terminal pngcairo size 1200,600 font "DejaVu Sans,10"
set bmargin 4
set datafile missing "NaN"
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set tmargin 5
set key at screen 0.5, screen 0.905 center horizontal autotitle columnheader
set grid ytics
set xtics noenhanced
set key noenhanced
"""
    # label x position of bar i (0-based) of row r in a cluster of n bars with gap 1
    xpos = "($0 - 0.5 + (%d + 1.0)/%d)"
    speed = common + """
set output "%s"
set title "Median time per workload relative to native no-asm (lower is faster; log scale)" \
    noenhanced offset 0,2
set logscale y
set yrange [0.1:*]
set offsets 0, 0, graph 0.08, 0
set ylabel "median / native no-asm"
set arrow from graph 0, first 1 to graph 1, first 1 nohead dt 2 lw 1.5 lc rgb "black"
""" % os.path.join(out, "speed.png") + footnote + "plot "
    speed += ", \\\n     ".join(
        "'speed.dat' using %d:xtic(1) title columnheader(%d) lc rgb '%s'" % (i + 2, i + 2,
                                                                            colours[i])
        for i in range(n))
    speed += ", \\\n     " + ", \\\n     ".join(
        "'speed.dat' using %s:%d:(sprintf('%%.2f', column(%d))) with labels rotate left "
        "offset 0,0.3 font ',7' notitle" % (xpos % (i, n + 1), i + 2, i + 2) for i in range(n))
    rss = common + """
set output "%s"
set title "Peak RSS of the process running the workload (MiB)" noenhanced offset 0,2
set yrange [0:*]
set offsets 0, 0, graph 0.08, 0
set ylabel "MiB"
""" % os.path.join(out, "rss.png") + footnote + "plot "
    rss += ", \\\n     ".join(
        "'rss.dat' using %d:xtic(1) title columnheader(%d) lc rgb '%s'" % (i + 2, i + 2,
                                                                          colours[i])
        for i in range(n))
    rss += ", \\\n     " + ", \\\n     ".join(
        "'rss.dat' using %s:%d:(sprintf('%%.0f', column(%d))) with labels rotate left "
        "offset 0,0.3 font ',7' notitle" % (xpos % (i, n + 1), i + 2, i + 2) for i in range(n))
    made = []
    for name, script in (("speed", speed), ("rss", rss)):
        gp = os.path.join(out, name + ".gp")
        with open(gp, "w") as f:
            f.write(script + "\n")
        p = subprocess.run(["gnuplot", gp], cwd=out, capture_output=True, text=True)
        if p.returncode == 0:
            made.append(name + ".png")
        else:
            log("gnuplot %s: %s" % (name, p.stderr[-500:]))
    return made


def host_march():
    """The -march of the module's native code (module/versions.env, HOST_MARCH)."""
    with open(os.path.join(HERE, "..", "module", "versions.env")) as f:
        m = re.search(r"^HOST_MARCH=(\S+)$", f.read(), re.M)
    return m.group(1) if m else "x86-64"


def speed_work():
    """bench/README.md's record of the speed work, from its heading to the end."""
    with open(os.path.join(HERE, "README.md")) as f:
        text = f.read()
    at = text.find("## Speed work")
    return text[at:] if at >= 0 else "## Speed work\n\n(bench/README.md has no such section)\n"


def write_report(out, info, workloads, results, extra, na, pool_md, charts):
    L = []
    add = L.append
    add("# afmpeg side-by-side benchmark\n")
    add("Measured %s on %s (%d cores), Linux %s; %d timed runs per engine and workload after "
        "%d warm-up run%s; the measurements took %.0f s. Generated by `bench/bench.py` "
        "(bench/README.md says what each number means).\n" % (
            info["date"], info["cpu"] or "unknown CPU", info["cores"], info["kernel"],
            info["reps"], info["warmup"], "" if info["warmup"] == 1 else "s", info["seconds"]))

    busy = [x for x in (info.get("load_before"), info.get("load_after")) if x is not None]
    if busy and max(busy) > 0.5 * (info["cores"] or 1):
        add("> **The machine was busy** (1-minute load average %s before, %s after, on %d "
            "cores): other processes competed for the CPU, so these numbers are noisy. Run "
            "`make bench` again on an idle machine for numbers to quote.\n" % (
                info.get("load_before"), info.get("load_after"), info["cores"]))
    crashed = ["%s on %s" % (NAME[e], w) for w, per in results.items()
               for e, r in per.items() if r.get("crashes")]
    if crashed:
        add("> Engine crashes, run again: %s.\n" % "; ".join(crashed))

    media = [w for w in workloads if not w.get("overhead")]
    # ---- goals
    sandbox = [(w["id"], ratio(med(results, w["id"], "afmpeg"), med(results, w["id"], "noasm")))
               for w in media]
    v8 = [(w["id"], ratio(med(results, w["id"], "v8"), med(results, w["id"], "afmpeg")))
          for w in media]
    ffile = [(w["id"], ratio(med(results, w["id"], "afmfile"), med(results, w["id"], "afmpeg")))
             for w in workloads]
    over = med(results, "version", "afmpeg")
    new = extra.get("afmpeg_new", {})
    probe = extra.get("afmpeg_probe", {})

    def worst(pairs, hi):
        known = [(k, v) for k, v in pairs if v is not None]
        if not known:
            return None, None, len(pairs)
        k, v = (max if hi else min)(known, key=lambda kv: kv[1])
        return k, v, len(pairs) - len(known)

    def status(ok, missing=0):
        if ok is None:
            return "n/a"
        s = "**met**" if ok else "**not met**"
        return s + (" (%d workload%s n/a)" % (missing, "s" if missing > 1 else "")
                    if missing else "")

    add("## Goals\n")
    add("| goal | target | measured | status |")
    add("|---|---|---|---|")
    k, v, miss = worst(sandbox, True)
    add("| sandboxed time / native no-asm, every media workload (medians) | <= %.2fx | worst "
        "%s (%s) | %s |" % (GOAL_SANDBOX, fmt_ratio(v), k or "-",
                            status(None if v is None else v <= GOAL_SANDBOX, miss)))
    k, v, miss = worst(v8, False)
    add("| V8 time / afmpeg time, same module, every media workload (medians) | >= %.1fx | "
        "lowest %s (%s) | %s |" % (GOAL_V8, fmt_ratio(v), k or "-",
                                   status(None if v is None else v >= GOAL_V8, miss)))
    add("| warm per-job overhead (`ffmpeg -version`, median; a fresh instance per job) | <= "
        "%.1f ms | %s ms | %s |" % (GOAL_OVERHEAD, fmt_ms(over),
                                    status(None if over is None else over <= GOAL_OVERHEAD)))
    for wid, what in (("version", "per-job overhead"), ("thumbnail", "thumbnail at 2 s")):
        r = ratio(med(results, wid, "afmpeg"), med(results, wid, "ffmpegwasm"))
        add("| %s: afmpeg (fresh instance) / ffmpeg.wasm (one instance reused) | < 1.00x | "
            "%s | %s |" % (what, fmt_ratio(r), status(None if r is None else r < 1.0)))
    sp = extra.get("split_60s") or {}
    s1 = sp.get("afmpeg_1", {}).get("median_ms") if sp.get("afmpeg_1", {}).get("ok") else None
    s2 = sp.get("afmpeg_2", {}).get("median_ms") if sp.get("afmpeg_2", {}).get("ok") else None
    sr = ratio(s1, s2)
    add("| one long job (60 s 720p transcode): 1 instance / 2 instances, split and stitch "
        "(medians) | >= %.1fx | %s | %s |" % (GOAL_SPLIT, fmt_ratio(sr),
                                            status(None if sr is None else sr >= GOAL_SPLIT)))
    cli = med(results, "version", "cli")
    add("| CLI start-up (`afmpeg ffmpeg -version`, a whole process, median) | <= %.0f ms | "
        "%s ms | %s |" % (GOAL_CLI, fmt_ms(cli), status(None if cli is None else
                                                         cli <= GOAL_CLI)))
    nv = new.get("first_ms") if new.get("ok") else None
    add("| `afmpeg_new` (first in the process; later ones: median %s ms) | <= %.0f ms | %s ms "
        "| %s |" % (fmt_ms(new.get("median_ms")), GOAL_NEW, fmt_ms(nv),
                    status(None if nv is None else nv <= GOAL_NEW)))
    k, v, miss = worst(ffile, True)
    add("| the module loaded from its .wasm / the embedded module, every workload (medians; "
        "same code) | <= %.2fx | worst %s (%s) | %s |" % (
            GOAL_FILE, fmt_ratio(v), k or "-", status(None if v is None else v <= GOAL_FILE,
                                                     miss)))
    pv = probe.get("median_ms") if probe.get("ok") else None
    add("| probe of the 720p clip end to end (`afmpeg_probe`: ffprobe + JSON to structs, "
        "median) | <= %.0f ms | %s ms | %s |" % (GOAL_PROBE, fmt_ms(pv),
                                                  status(None if pv is None else
                                                         pv <= GOAL_PROBE)))
    add("")

    # ---- main table
    add("## Medians (ms)\n")
    add("| workload | " + " | ".join(LABEL[e] for e in ENGINE_IDS) +
        " | afmpeg / no-asm | V8 / afmpeg |")
    add("|---|" + "---:|" * (len(ENGINE_IDS) + 2))
    for w in workloads:
        cells = []
        for e in ENGINE_IDS:
            m = med(results, w["id"], e)
            mark = "*" if w.get("encode") and H264[e] is X264 and m is not None else ""
            cells.append(fmt_ms(m) + mark)
        add("| %s | %s | %s | %s |" % (
            w["id"], " | ".join(cells),
            fmt_ratio(ratio(med(results, w["id"], "afmpeg"), med(results, w["id"], "noasm"))),
            fmt_ratio(ratio(med(results, w["id"], "v8"), med(results, w["id"], "afmpeg")))))
    add("\n\\* libx264 `-preset veryfast` instead of libopenh264 (the engine has no "
        "libopenh264): not the same work, so not comparable with the other engines' encodes; "
        "Debian's and ffmpeg.wasm's numbers for these rows are comparable with each other "
        "(same encoder and arguments, asm vs. emscripten wasm).\n")
    for c in charts:
        add("![%s](%s)\n" % (c, c))
    if "speed.png" not in charts:
        add("(No speed chart: it is relative to the native no-asm build, which did not run.)\n")

    # ---- per workload
    add("## Workloads\n")
    for w in workloads:
        add("### %s: %s\n" % (w["id"], w["title"]))
        enc_note = " (`<h264>`: each engine's H.264 encoder, below)" if w.get("encode") else ""
        add("`%s`%s\n" % (" ".join(a if a != H else "<h264>" for a in w["argv"]), enc_note))
        add("| engine | H.264 encoder | min ms | median ms | first run ms | peak RSS MiB | "
            "median / no-asm |")
        add("|---|---|---:|---:|---:|---:|---:|")
        base = med(results, w["id"], "noasm")
        for e in ENGINE_IDS:
            r = results[w["id"]][e]
            enc = " ".join(H264[e][1:]) if w.get("encode") else "-"
            if r.get("ok"):
                add("| %s | %s | %s | %s | %s | %.1f | %s |" % (
                    NAME[e], enc, fmt_ms(r["min_ms"]), fmt_ms(r["median_ms"]),
                    fmt_ms(r.get("first_ms")), r["maxrss_kb"] / 1024,
                    fmt_ratio(ratio(r["median_ms"], base))))
            else:
                add("| %s | %s | n/a | n/a | n/a | n/a | n/a: %s |" % (
                    NAME[e], enc, r.get("error", "").replace("|", "/").replace("\n", " ")[-300:]))
        if not w.get("overhead"):
            a = ratio(med(results, w["id"], "afmpeg"), base)
            b = ratio(med(results, w["id"], "v8"), med(results, w["id"], "afmpeg"))
            add("\nafmpeg / native no-asm: **%s** (goal <= %.2fx: %s); V8 / afmpeg: **%s** "
                "(goal >= %.1fx: %s)\n" % (
                    fmt_ratio(a), GOAL_SANDBOX, status(None if a is None else a <= GOAL_SANDBOX),
                    fmt_ratio(b), GOAL_V8, status(None if b is None else b >= GOAL_V8)))
        else:
            add("\nNative engines: a whole process (spawn to exit). afmpeg: one job on a warm "
                "runtime (a fresh guest instance). V8: a fresh instance of the compiled module. "
                "ffmpeg.wasm: one exec() on its already-instantiated core (it does not make a "
                "fresh instance per job). Goal for afmpeg: <= %.1f ms.\n" % GOAL_OVERHEAD)

    # ---- start-up
    add("## Start-up (once per process)\n")
    add("| what | first ms | later: min ms | later: median ms |")
    add("|---|---:|---:|---:|")

    def row(label, r):
        if r and r.get("ok"):
            add("| %s | %s | %s | %s |" % (label, fmt_ms(r.get("first_ms")),
                                          fmt_ms(r.get("min_ms")), fmt_ms(r.get("median_ms"))))
        elif r:
            add("| %s | n/a: %s | | |" % (label, r.get("error", "")[:200]))
    row("`afmpeg_new` (afmpeg: prepare the runtime; new + close cycles after the first)",
        extra.get("afmpeg_new"))
    mn = extra.get("module_new")
    if mn:
        row("`afmpeg_new` from afmpeg.wasm (`module_path`): first %s; later: loads "
            "from the module cache" % ("from an empty cache, the compile (wasm2c + cc)"
                                       if mn.get("cold") else "from the cache"),
            mn)
    row("`afmpeg_new` from afmpeg.wasm in a new process, the cache filled: first (asks `cc` and "
        "`wasm2c` their versions, once per process) and later loads", extra.get("module_new_cached"))
    row("V8: `WebAssembly.compile` of afmpeg.wasm, node's default (lazy) compilation",
        extra.get("v8_compile"))
    pre = [results[w["id"]]["v8"].get("prepare_ms") for w in workloads
           if results[w["id"]]["v8"].get("ok")]
    if pre:
        add("| V8: the same with TurboFan only (as in the timed runs: lazy, so most compiling "
            "happens in the first job) | %s | "
            "%s | %s |" % (fmt_ms(pre[0]), fmt_ms(min(pre)), fmt_ms(statistics.median(pre))))
    row("ffmpeg.wasm: load the core (`createFFmpegCore`), node's default compilation",
        extra.get("ffmpegwasm_load"))
    pre = [results[w["id"]]["ffmpegwasm"].get("prepare_ms") for w in workloads
           if results[w["id"]]["ffmpegwasm"].get("ok")]
    if pre:
        add("| ffmpeg.wasm: the same with TurboFan only (as in the timed runs) | %s | %s | "
            "%s |" % (fmt_ms(pre[0]), fmt_ms(min(pre)),
                                        fmt_ms(statistics.median(pre))))
    add("")
    if probe:
        add("`afmpeg_probe` of clip_720p.mp4 (ffprobe in the guest + its JSON parsed into "
            "structs): min %s ms, median %s ms; the raw ffprobe job: median %s ms.\n" % (
                fmt_ms(probe.get("min_ms")), fmt_ms(probe.get("median_ms")),
                fmt_ms(med(results, "probe_720p", "afmpeg"))))

    # ---- fixed costs
    fixed = [w for w in workloads if any(results[w["id"]].get(e) for e, _ in LEVERS)]
    if fixed:
        add("## Fixed costs\n")
        add("afmpeg as measured above (every job a fresh instance whose memory maps the module's "
            "memory image, copy on write), beside the same driver with the image off "
            "(`AFMPEG_MEMORY_IMAGE=0`: each job copies the module's data segments into its "
            "memory), and the afmpeg CLI as a whole process beside the native engines' "
            "processes. Medians, ms, interleaved with the engines above.\n")
        add("| workload | afmpeg | image off | image off / afmpeg | afmpeg CLI process | "
            "native no-asm process | Debian process |")
        add("|---|---:|---:|---:|---:|---:|---:|")
        for w in fixed:
            wid = w["id"]
            a, c = med(results, wid, "afmpeg"), med(results, wid, "afmcopy")
            add("| %s | %s | %s | %s | %s | %s | %s |" % (
                wid, fmt_ms(a), fmt_ms(c), fmt_ratio(ratio(c, a)),
                fmt_ms(med(results, wid, "cli")), fmt_ms(med(results, wid, "noasm")),
                fmt_ms(med(results, wid, "debian"))))
        add("")

    if sp:
        add("## One long job on two instances (split_60s)\n")
        add("`clip_60s.mp4` (60 s 1280x720 at 25 fps, H.264 High with B-frames, a keyframe every "
            "10 s; AAC) transcoded to H.264 + AAC MP4. afmpeg: `afmpeg_run_job()` on a runtime "
            "of 1 instance (one piece), then of 2 with `parallel` auto (split at keyframes, "
            "encoded at once, joined by a stream copy). The native builds: one process with "
            "`-threads 2` (the native no-asm build with libopenh264, Debian's ffmpeg with libx264 "
            "veryfast: not the same encoder). Interleaved rounds, ms.\n")
        add("| run | median ms | min ms | afmpeg 1 instance / this |")
        add("|---|---:|---:|---:|")
        names = [("afmpeg_1", "afmpeg, 1 instance"), ("afmpeg_2", "afmpeg, 2 instances (split)"),
                 ("noasm_2", "native no-asm, -threads 2"),
                 ("debian_2", "Debian ffmpeg (libx264 veryfast), -threads 2")]
        for k, label in names:
            r = sp.get(k)
            if not r:
                continue
            if r.get("ok"):
                add("| %s | %s | %s | %s |" % (label, fmt_ms(r["median_ms"]), fmt_ms(r["min_ms"]),
                                              fmt_ratio(ratio(s1, r["median_ms"]))))
            else:
                add("| %s | n/a: %s | | |" % (label, r.get("error", "")[:200]))
        add("")

    if pool_md:
        add("## Pool scaling (bench_pool)\n")
        body = pool_md.split("\n", 1)[1] if pool_md.startswith("#") else pool_md
        add(body.strip() + "\n")

    # ---- set-up and caveats
    add("## Engines and set-up\n")
    add("- **Debian ffmpeg** %s (`/usr/bin/ffmpeg`, with asm), one process per run, "
        "`-threads 1 -filter_threads 1 -filter_complex_threads 1`. It has no libopenh264: "
        "encodes use libx264 `-preset veryfast`." % info["debian_ffmpeg"])
    add("- **native no-asm**: the same Debian FFmpeg source, patches and component lists as the "
        "module (module/ffmpeg.conf), built with gcc %s for `-march=%s` (the level of the "
        "module's native code) with `--disable-asm --disable-x86asm --disable-inline-asm`, "
        "FFmpeg's default -O3, static; openh264 and zlib from the module's Debian sources with "
        "its -O2 (openh264 `USE_ASM=No`). One process per run. `%s`" % (
            info["gcc"], host_march(), info["noasm_dir"]))
    add("- **afmpeg**: `bench_afmpeg` linking build/libafmpeg.a; one runtime, then per run a job "
        "(`afmpeg_run`) on an in-memory filesystem already holding the inputs; only the job "
        "is timed (fresh instance, run, result). Peak RSS is the driver process's.")
    add("- **afmpeg .wasm**: the same driver and jobs, its runtime made with `module_path` = the "
        "module's own .wasm (`AFMPEG_BENCH_MODULE`): the library's compile of it (wasm2c, then "
        "the C compiler with the module flags) loaded from a module cache of the bench's "
        "(build/bench/module-cache), instead of the objects linked into the library. Same "
        "code, so the same speed is expected.")
    add("- **V8**: node %s (V8 %s) running afmpeg's own module (`%s`, sha256 %s…) through "
        "`node:wasi`; compiled once, every function by TurboFan at its first call (`%s`: the "
        "warm-up run compiles what the workload uses); per run a fresh instance; the job's root "
        "is a preopened directory on /dev/shm." % (
            info["node"], info["v8"], info["wasm"], info["wasm_sha"], " ".join(NODE_FLAGS[1:])))
    add("- **ffmpeg.wasm**: npm `@ffmpeg/core@%s` (FFmpeg 5.1 built with emscripten, "
        "single-threaded core) in the same node, same flags; loaded once, inputs in its "
        "in-memory filesystem, each run one `exec()`/`ffprobe()` then `reset()`. It has no "
        "libopenh264: encodes use libx264 `-preset veryfast`." % info["ffmpegwasm"])
    add("- Timed runs are interleaved: each round runs every engine once (order rotated from "
        "round to round), after each engine's warm-up run(s).")
    add("- Native engines run in a directory on /dev/shm (in memory, like the others' files) and "
        "are timed from spawn to exit: their times include process start-up (for Debian's "
        "dynamically linked ffmpeg about 50 ms of loading shared libraries), the in-process "
        "engines' do not.")
    if na:
        add("- Not run: " + "; ".join("%s: %s" % (NAME[e], why) for e, why in na.items()))
    add("")
    # The speed work behind these numbers: each change tried, its measured effect, kept or not.
    add(speed_work().rstrip() + "\n")
    path = os.path.join(out, "report.md")
    with open(path, "w") as f:
        f.write("\n".join(L))
    return path


if __name__ == "__main__":
    main()
