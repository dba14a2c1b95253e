#!/usr/bin/env bash
# bench/serve.sh [BUILD] — what HTTP adds: afmpeg serve's /v1/probe and /v1/thumbnail over HTTP
# (hey as the client) next to the same library calls in-process (bench_afmpeg conc), on the same
# file, at the same concurrency, on 2 instances, in one run. Writes BUILD/bench/serve.md (also
# printed) and the raw numbers to BUILD/bench/serve.json. Not a test: it measures and reports.
#
#   SERVE_BENCH_ROUNDS   interleaved rounds (default 5); each round runs every measurement once,
#                        in an order rotated from round to round
#   SERVE_BENCH_PROBE_N  probes per measurement (default 50)
#   SERVE_BENCH_THUMB_N  thumbnails per measurement (default 10)
#   SERVE_BENCH_CONC     concurrencies (default "1 2")
#   SERVE_BENCH_INPUT    the file (default: a 3 s 1280x720 H.264 + AAC clip made by Debian's
#                        ffmpeg into BUILD/bench/media-serve/)
#   AFMPEG_CLI           the afmpeg program (default BUILD/afmpeg; build it first)
#
# The driver BUILD/bench/bench_afmpeg is built here if missing or stale (never the module).
# bench/README.md ("afmpeg serve: what HTTP adds") says what each number means.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
build=$(realpath "${1:-$root/build}")
out=$build/bench
rounds=${SERVE_BENCH_ROUNDS:-5}
probe_n=${SERVE_BENCH_PROBE_N:-50}
thumb_n=${SERVE_BENCH_THUMB_N:-10}
concs=${SERVE_BENCH_CONC:-1 2}
instances=2
cli=$(realpath "${AFMPEG_CLI:-$build/afmpeg}")
drv=$out/bench_afmpeg
log() { echo "bench-serve: $*" >&2; }

for tool in hey curl ffmpeg python3; do
    command -v "$tool" > /dev/null || { log "needs $tool (docs/dependencies.md)"; exit 1; }
done
[ -x "$cli" ] || { log "no $cli: make build/afmpeg first"; exit 1; }
# the in-process driver: rebuilt when bench_afmpeg.c or the library changed; the module is
# taken as it is (-o: never rebuilt here)
rel=$(realpath --relative-to="$root" "$build")
(cd "$root" && make -s -o "$rel/module/.stamp" BUILD="$rel" "$rel/bench/bench_afmpeg" > /dev/null)

mkdir -p "$out"
work=$(mktemp -d /tmp/afmpeg-bench-serve-XXXXXX)
srv_pids=()
cleanup() {
    for p in "${srv_pids[@]}"; do kill -TERM "$p" 2> /dev/null || true; done
    wait 2> /dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the input ----
input=${SERVE_BENCH_INPUT:-}
if [ -z "$input" ]; then
    mdir=$out/media-serve
    input=$mdir/clip_720p_3s.mp4
    if [ ! -s "$input" ]; then
        log "making the 720p clip with Debian's ffmpeg"
        mkdir -p "$mdir"
        ffmpeg -nostdin -y -v error -f lavfi -i testsrc2=size=1280x720:rate=25:duration=3 \
            -f lavfi -i sine=frequency=440:sample_rate=48000:duration=3 -map 0:v -map 1:a \
            -c:v libx264 -pix_fmt yuv420p -c:a aac -b:a 128k -shortest -fflags +bitexact \
            "$input.tmp.mp4"
        mv "$input.tmp.mp4" "$input"
    fi
fi
input=$(realpath "$input")

# ---- the servers: input limits on (the defaults: a probe before the thumbnail) and off ----
start() { # NAME SERVE-OPTION...: sets NAME_api; log in $work/NAME.log
    local name=$1 line i
    shift
    : > "$work/$name.log"
    "$cli" --instances "$instances" serve --listen 127.0.0.1:0 --ops-listen off \
        --queue 16 "$@" 2> "$work/$name.log" &
    srv_pids+=($!)
    for i in $(seq 200); do grep -q '"msg":"listening"' "$work/$name.log" && break; sleep 0.05; done
    line=$(grep -m1 '"msg":"listening"' "$work/$name.log") ||
        { log "the server did not start:"; cat "$work/$name.log" >&2; exit 1; }
    printf -v "${name}_api" %s "$(sed 's/.*"api":"\([^"]*\)".*/\1/' <<< "$line")"
}
start limits
start nolimits --max-width 0 --max-height 0 --max-duration 0 --max-streams 0
for api in "$limits_api" "$nolimits_api"; do # warm-up: each server's first jobs, untimed
    hey -n 2 -c 1 -m POST -D "$input" -T video/mp4 "http://$api/v1/probe" > /dev/null
    hey -n 2 -c 1 -m POST -D "$input" -T video/mp4 "http://$api/v1/thumbnail?width=160" > /dev/null
done

# ---- the measurements, interleaved ----
# one measurement: KIND ENDPOINT CONC, KIND lib (in-process), http (server with input limits)
# or http0 (server without: thumbnail only)
runs=()
for ep in probe thumbnail; do
    for c in $concs; do
        runs+=("lib $ep $c" "http $ep $c")
        [ "$ep" = thumbnail ] && runs+=("http0 $ep $c")
    done
done
requests_logged() { grep -c '"msg":"request"' "$1" || true; }
measure() { # KIND EP CONC ROUND
    local kind=$1 ep=$2 c=$3 r=$4 n f api srvlog before i
    n=$([ "$ep" = probe ] && echo "$probe_n" || echo "$thumb_n")
    n=$(((n + c - 1) / c * c)) # hey runs n / c requests on each of its c connections
    f=$work/$kind-$ep-c$c-r$r
    if [ "$kind" = lib ]; then
        # 2 warm-up calls, as each server had 2 warm-up requests per endpoint
        AFMPEG_BENCH_INSTANCES=$instances "$drv" conc "$ep" "$n" "$c" 2 \
            -i "clip.mp4=$input" -- clip.mp4 > "$f.json"
        return
    fi
    api=$([ "$kind" = http ] && echo "$limits_api" || echo "$nolimits_api")
    srvlog=$work/$([ "$kind" = http ] && echo limits || echo nolimits).log
    before=$(requests_logged "$srvlog")
    local q=""
    [ "$ep" = thumbnail ] && q="?width=160"
    hey -n "$n" -c "$c" -t 120 -m POST -D "$input" -T video/mp4 -o csv \
        "http://$api/v1/$ep$q" > "$f.csv"
    # the server logs a request once its connection is done with it: wait for all n
    for i in $(seq 100); do
        [ $(($(requests_logged "$srvlog") - before)) -ge "$n" ] && break
        sleep 0.02
    done
    grep '"msg":"request"' "$srvlog" | tail -n +$((before + 1)) > "$f.log"
}
t0=$(date +%s.%N)
load_before=$(cut -d' ' -f1 /proc/loadavg)
nruns=${#runs[@]}
for r in $(seq 1 "$rounds"); do
    log "round $r of $rounds"
    for k in $(seq 0 $((nruns - 1))); do
        measure ${runs[$(((k + r) % nruns))]} "$r"
    done
done
load_after=$(cut -d' ' -f1 /proc/loadavg)
seconds=$(python3 -c "import sys; print('%.0f' % (float(sys.argv[2]) - float(sys.argv[1])))" \
    "$t0" "$(date +%s.%N)")

# ---- the report ----
python3 - "$work" "$out" "$input" "$rounds" "$probe_n" "$thumb_n" "$concs" "$instances" \
    "$load_before" "$load_after" "$seconds" "$("$cli" --version 2>&1 | head -1)" << 'PY'
import csv, glob, json, os, statistics, sys, time

work, out, inp, rounds, probe_n, thumb_n, concs, inst, lb, la, secs, version = sys.argv[1:]
rounds, inst = int(rounds), int(inst)
concs = [int(c) for c in concs.split()]
N = {"probe": int(probe_n), "thumbnail": int(thumb_n)}

def pct(xs, p):
    """The p-th percentile of xs, nearest rank."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(-(-p * len(xs) // 100)) - 1))]

res = {}
for kind in ("lib", "http", "http0"):
    for ep in N:
        for c in concs:
            per_round, lat, phases = [], [], {k: [] for k in
                                             ("queue_ms", "upload_ms", "run_ms", "send_ms", "total_ms")}
            for r in range(1, rounds + 1):
                f = os.path.join(work, "%s-%s-c%d-r%d" % (kind, ep, c, r))
                if kind == "lib":
                    if not os.path.exists(f + ".json"):
                        continue
                    j = json.load(open(f + ".json"))
                    if not j.get("ok"):
                        sys.exit("bench_afmpeg failed: %s" % j.get("error"))
                    t = j["times_ms"]
                    per_round.append(len(t) / j["wall_ms"] * 1000)
                    lat += t
                else:
                    if not os.path.exists(f + ".csv"):
                        continue
                    rows = list(csv.DictReader(open(f + ".csv")))
                    bad = [x["status-code"] for x in rows if x["status-code"] != "200"]
                    n = -(-N[ep] // c) * c
                    if len(rows) != n or bad:
                        sys.exit("%s %s c%d round %d: %d of %d answered, statuses %s" % (
                            kind, ep, c, r, len(rows), n, sorted(set(bad))))
                    t = [float(x["response-time"]) * 1000 for x in rows]
                    wall = max(float(x["offset"]) + float(x["response-time"]) for x in rows)
                    per_round.append(len(t) / wall)
                    lat += t
                    for line in open(f + ".log"):
                        rec = json.loads(line)
                        for k in phases:
                            if rec.get(k) is not None:
                                phases[k].append(rec[k])
            if not per_round:
                continue
            res["%s/%s/%d" % (kind, ep, c)] = {
                "rate": statistics.median(per_round), "rates": per_round,
                "p50": pct(lat, 50), "p99": pct(lat, 99), "n": len(lat),
                "phases": {k: statistics.median(v) for k, v in phases.items() if v}}

def f(x, d=1):
    if x is None:
        return "-"
    return ("%.*f" % (d, x)) if x < 100 else "%.0f" % x

L = []
add = L.append
add("# afmpeg serve: what HTTP adds\n")
add("Measured %s on %s (%d cores), %s; %d interleaved rounds, each %s probes and %s thumbnails "
    "per measurement; the measurements took %s s. Generated by `bench/serve.sh` "
    "(bench/README.md says what each number means).\n" % (
        time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
              if l.startswith("model name")), "unknown CPU"),
        os.cpu_count(), version, rounds, probe_n, thumb_n, secs))
if max(float(lb), float(la)) > 0.5 * os.cpu_count():
    add("> **The machine was busy** (1-minute load average %s before, %s after, on %d cores): "
        "other processes competed for the CPU, so these numbers are noisy. Run "
        "`bench/serve.sh` again on an idle machine for numbers to quote.\n" % (
            lb, la, os.cpu_count()))
add("Input: `%s` (%.2f MB), the same bytes for every call. %d instances on both sides; the "
    "HTTP client (hey) runs on the same machine. Throughput: median of the rounds' "
    "calls (requests) per second; latency: percentiles of all the rounds' calls, in ms "
    "(in-process: the library call; HTTP: hey's request time, upload to last byte).\n" % (
        os.path.basename(inp), os.path.getsize(inp) / 1e6, inst))
add("| workload | concurrency | in-process calls/s | HTTP req/s | HTTP / in-process | "
    "in-process p50 | HTTP p50 | added p50 | in-process p99 | HTTP p99 |")
add("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
rows = [("probe", "http", "`/v1/probe` vs `afmpeg_probe`"),
        ("thumbnail", "http", "`/v1/thumbnail?width=160` vs `afmpeg_thumbnail` (server's input limits on: a probe first)"),
        ("thumbnail", "http0", "the same, the server's input limits off (no probe first)")]
for ep, kind, label in rows:
    for c in concs:
        a, b = res.get("lib/%s/%d" % (ep, c)), res.get("%s/%s/%d" % (kind, ep, c))
        if not a or not b:
            continue
        add("| %s | %d | %s | %s | %.2fx | %s | %s | %+.1f | %s | %s |" % (
            label, c, f(a["rate"]), f(b["rate"]), b["rate"] / a["rate"], f(a["p50"], 2),
            f(b["p50"], 2), b["p50"] - a["p50"], f(a["p99"], 2), f(b["p99"], 2)))
add("")
add("Where the HTTP time goes, from the server's request log (medians, ms): queue = waiting for "
    "an instance, upload = reading the body, run = the job(s), send = the response; total is "
    "the server's, first header to last byte.\n")
add("| workload | concurrency | upload | queue | run | send | server total | client (hey) p50 |")
add("|---|--:|--:|--:|--:|--:|--:|--:|")
for ep, kind, label in rows:
    for c in concs:
        b = res.get("%s/%s/%d" % (kind, ep, c))
        if not b:
            continue
        ph = b["phases"]
        add("| %s%s | %d | %s | %s | %s | %s | %s | %s |" % (
            "/v1/" + ep, " (limits off)" if kind == "http0" else "", c,
            f(ph.get("upload_ms"), 2), f(ph.get("queue_ms"), 2), f(ph.get("run_ms"), 2),
            f(ph.get("send_ms"), 2), f(ph.get("total_ms"), 2), f(b["p50"], 2)))
add("")
text = "\n".join(L)
open(os.path.join(out, "serve.md"), "w").write(text)
json.dump({"results": res, "rounds": rounds, "input": inp, "load_before": lb,
           "load_after": la, "seconds": secs}, open(os.path.join(out, "serve.json"), "w"),
          indent=1)
print(text)
PY
log "wrote $out/serve.md and $out/serve.json"
