#!/usr/bin/env bash
# Load tests of afmpeg serve: private servers on 127.0.0.1 (ephemeral ports), driven by hey
# (Go, keep-alive, status-code distribution) and h2load (nghttp2's, C, HTTP/1.1), a 2 s 320x240
# H.264 + AAC clip as every body. Checks what the service promises under load:
#   1. below saturation every response is 200, and /metrics counts exactly what was sent;
#   2. above saturation the answers are 200 or 429 (with Retry-After), never a timeout, a 5xx or
#      a connection error, and the server counts the same 429s the client saw;
#   3. memory stays bounded (peak RSS <= instances x --memory-limit + an allowance) and does not
#      grow from one round to the next; in-flight, busy and queue gauges, file descriptors and
#      threads are back where they were before the load;
#   4. afterwards the server still probes correctly, and SIGTERM ends it with status 0.
# AFMPEG_CLI names the program (default build/afmpeg). Bounded: about 5-10 s on 2 cores.
# Ends with "N passed, N failed".
set -u
cli=$(realpath "${AFMPEG_CLI:-build/afmpeg}")
for tool in hey h2load curl ffmpeg; do
    command -v "$tool" > /dev/null || { echo "load.sh needs $tool (docs/dependencies.md)"; exit 1; }
done
scratch=$(mktemp -d /tmp/afmpeg-load-XXXXXX)
pids=() # the servers and samplers this script started, killed on exit
cleanup() {
    exec 7>&- 8>&- 2> /dev/null
    for p in "${pids[@]}"; do kill -KILL "$p" 2> /dev/null; done
    wait 2> /dev/null
    rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cd "$scratch" || exit 1
passed=0 failed=0
check() { # name, then a command that must succeed; it explains a failure in why.txt
    local name=$1; shift
    : > why.txt
    if "$@"; then passed=$((passed + 1)); echo "ok   $name"
    else failed=$((failed + 1)); echo "FAIL $name"; sed 's/^/     /' why.txt | head -12; fi
}
say() { echo "$*" >> why.txt; }

# ---- helpers ----

# start NAME GLOBAL-OPTION... -- SERVE-OPTION...: a server on ephemeral ports; sets NAME_pid,
# NAME_api and NAME_ops (HOST:PORT) from its "listening" log line. Its log is NAME.log.
start() {
    local name=$1 globals=() i
    shift
    while [ "$1" != -- ]; do globals+=("$1"); shift; done
    shift
    : > "$name.log"
    "$cli" "${globals[@]}" serve --listen 127.0.0.1:0 --ops-listen 127.0.0.1:0 "$@" \
        2> "$name.log" &
    local pid=$!
    pids+=("$pid")
    for i in $(seq 200); do grep -q '"msg":"listening"' "$name.log" && break; sleep 0.05; done
    local line
    line=$(grep -m1 '"msg":"listening"' "$name.log") ||
        { echo "the server $name did not start:"; cat "$name.log"; exit 1; }
    printf -v "${name}_pid" %s "$pid"
    printf -v "${name}_api" %s "$(sed 's/.*"api":"\([^"]*\)".*/\1/' <<< "$line")"
    printf -v "${name}_ops" %s "$(sed 's/.*"ops":"\([^"]*\)".*/\1/' <<< "$line")"
}
# metric OPS SERIES: the series' value on the server's /metrics (0 when absent)
metric() {
    curl -sf --max-time 5 "http://$1/metrics" | awk -v k="$2" '$1 == k {v = $2} END {print v + 0}'
}
requests() { metric "$1" "afmpeg_http_requests_total{endpoint=\"$2\",code=\"$3\"}"; }
# codes_seen OPS ENDPOINT: "CODE:N ..." of every code the server counted for the endpoint
codes_seen() {
    curl -sf --max-time 5 "http://$1/metrics" |
        sed -n "s/^afmpeg_http_requests_total{endpoint=\"$2\",code=\"\([0-9]*\)\"} \([0-9]*\)/\1:\2/p" |
        sort | tr '\n' ' '
}
# hey_post OUT N CONCURRENCY URL: N POSTs of the clip, CONCURRENCY at once; hey's report in OUT
hey_post() {
    hey -n "$2" -c "$3" -t 20 -m POST -D clip.mp4 -T video/mp4 "$4" > "$1" 2>&1
}
# hey's status-code distribution ("200:38 429:2", sorted) and its count of errors (timeouts and
# connection errors, which hey lists apart, with no status)
hey_codes() {
    awk '/^Status code distribution:/ {s = 1; next} /^Error distribution:/ {s = 0}
         s && $1 ~ /^\[[0-9]+\]$/ {gsub(/[][]/, "", $1); print $1 ":" $2}' "$1" |
        sort | tr '\n' ' ' | sed 's/ $//'
}
hey_errors() {
    awk '/^Error distribution:/ {e = 1; next}
         e && $1 ~ /^\[[0-9]+\]$/ {gsub(/[][]/, "", $1); n += $1} END {print n + 0}' "$1"
}
hey_count() { # OUT CODE: responses with that status
    hey_codes "$1" | tr ' ' '\n' | awk -F: -v c="$2" '$1 == c {n = $2} END {print n + 0}'
}
status_kb() { awk -v k="$2:" '$1 == k {print $2}' "/proc/$1/status"; } # PID VmRSS|VmHWM
fds() { ls "/proc/$1/fd" | wc -l; }
threads() { awk '$1 == "Threads:" {print $2}' "/proc/$1/status"; }
# sample PID FILE: VmRSS in kB every 20 ms while the process lives (background)
sample() {
    while [ -r "/proc/$1/status" ]; do
        awk '$1 == "VmRSS:" {print $2}' "/proc/$1/status" 2> /dev/null
        sleep 0.02
    done > "$2"
}
peak_kb() { # PID SAMPLES: the larger of the sampled RSS and the kernel's high-water mark
    sort -n "$2" | tail -1 | awk -v h="$(status_kb "$1" VmHWM)" '{print ($1 > h ? $1 : h)}'
}
# settle WHAT LIMIT: polls `WHAT` (a command printing a number) for up to 5 s until it is <=
# LIMIT; prints the last value, fails if never
settle() {
    local i v
    for i in $(seq 100); do
        v=$($1)
        [ "$v" -le "$2" ] && { echo "$v"; return 0; }
        sleep 0.05
    done
    echo "$v"
    return 1
}
probe() { # API OUT: POST /v1/probe of the clip with curl; prints the status
    curl -s --max-time 20 -o "$2" -w '%{http_code}' -H 'Content-Type: video/mp4' \
        --data-binary @clip.mp4 "http://$1/v1/probe"
}
# the JSON probe has the clip's two streams: H.264 320x240 video, then AAC audio
probe_ok() {
    python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
s = j["streams"]
ok = len(s) == 2 and (s[0]["type"], s[0]["codec"], s[0]["width"], s[0]["height"]) == \
    ("video", "h264", 320, 240) and (s[1]["type"], s[1]["codec"]) == ("audio", "aac") and \
    abs(j["duration"] - 2.0) < 0.1
sys.exit(0 if ok else 1)' "$1"
}

# ---- the media: 2 s of 320x240 H.264 + AAC (88 KB) ----
ffmpeg -nostdin -v error -f lavfi -i testsrc2=size=320x240:rate=25:duration=2 \
    -f lavfi -i sine=duration=2 -c:v libx264 -c:a aac -shortest clip.mp4 || exit 1

# Each server gets --memory-limit 256 (MiB of guest memory per job). Peak RSS may be at most
# instances x 256 MiB + ALLOWANCE_MB: the process's own memory besides the guests' (the runtime
# and module image, libmicrohttpd, a thread stack per connection, the buffered bodies and
# responses of the admitted requests). Measured on a 2-core VM (2026-12-06): 7.6 MB at rest,
# peak 40-49 MB on A and 34-44 MB on B (guests included) for this clip, so the bound holds with
# a wide margin: it catches a guest that outgrows its cap or a server that holds far more than
# its admitted requests; the smaller leaks are the second-round check's.
MEM_MB=256
ALLOWANCE_MB=64

# ---- 1. below saturation: 2 instances, 8 queued, 4 clients ----
start A --instances 2 --memory-limit "$MEM_MB" -- --queue 8
code=$(probe "$A_api" warm.json) # the first job maps the memory image: before the baseline
[ "$code" = 200 ] || { echo "the warm-up probe got $code"; cat A.log; exit 1; }
sleep 0.2
A_fds0=$(fds "$A_pid") A_threads0=$(threads "$A_pid")
sample "$A_pid" A.rss &
pids+=($!)

below() { # ENDPOINT URL-PATH: 40 POSTs at concurrency 4; all must be 200, all counted
    local ep=$1 before after
    before=$(requests "$A_ops" "$ep" 200)
    hey_post "$ep.out" 40 4 "http://$A_api$2"
    after=$(requests "$A_ops" "$ep" 200)
    check "below saturation: 40 POST /v1/$ep at concurrency 4, every response 200, no error" \
        eval '[ "$(hey_codes $ep.out)" = "200:40" ] && [ "$(hey_errors $ep.out)" = 0 ] ||
              { say "hey: codes [$(hey_codes $ep.out)], errors $(hey_errors $ep.out)";
                grep -A3 "^Error distribution" $ep.out >> why.txt; false; }'
    check "below saturation: /metrics counts the 40 $ep requests as 200, and no other code" \
        eval '[ $((after - before)) = 40 ] && [ "$(codes_seen $A_ops $ep)" = "200:$after " ] ||
              { say "200s counted: $before before, $after after; all: $(codes_seen $A_ops $ep)"
                false; }'
}
below probe /v1/probe
below thumbnail "/v1/thumbnail?width=160"

# ---- 2. above saturation: 1 instance, 1 queued, 16 clients ----
start B --instances 1 --memory-limit "$MEM_MB" -- --queue 1
code=$(probe "$B_api" warm.json)
[ "$code" = 200 ] || { echo "the warm-up probe got $code"; cat B.log; exit 1; }
sleep 0.2
B_fds0=$(fds "$B_pid") B_threads0=$(threads "$B_pid")
sample "$B_pid" B.rss &
pids+=($!)

hey_post over.out 64 16 "http://$B_api/v1/thumbnail?width=160"
ok200=$(hey_count over.out 200) n429=$(hey_count over.out 429)
check "above saturation: 64 thumbnails at concurrency 16 get only 200 and 429, some 429" \
    eval '[ "$(hey_codes over.out)" = "200:$ok200 429:$n429" ] && [ "$n429" -ge 1 ] &&
          [ "$ok200" -ge 1 ] ||
          { say "hey: codes [$(hey_codes over.out)]"; false; }'
check "above saturation: no timeout, no connection error" \
    eval '[ "$(hey_errors over.out)" = 0 ] ||
          { say "hey: $(hey_errors over.out) errors:"; grep -A5 "^Error distribution" over.out \
            >> why.txt; false; }'
check "above saturation: the server counted the same 200s and 429s, and no other code" \
    eval '[ "$(codes_seen $B_ops thumbnail)" = "200:$ok200 429:$n429 " ] ||
          { say "server: [$(codes_seen $B_ops thumbnail)], hey: [$(hey_codes over.out)]"; false; }'

# h2load: a second client (C, HTTP/1.1 keep-alive, reconnecting after each 429's close)
before=$(codes_seen "$B_ops" thumbnail)
h2load --h1 -n 32 -c 8 -d clip.mp4 -H 'Content-Type: video/mp4' \
    "http://$B_api/v1/thumbnail?width=160" > h2.out 2>&1
h2_ok=$(awk '$1 == "status" {print $3}' h2.out) h2_4xx=$(awk '$1 == "status" {print $7}' h2.out)
check "above saturation, h2load: 32 done, none errored or timed out, no 5xx" \
    eval 'grep -q "^requests: 32 total, 32 started, 32 done, .* 0 errored, 0 timeout$" h2.out &&
          grep -q "^status codes: [0-9]* 2xx, 0 3xx, [0-9]* 4xx, 0 5xx$" h2.out ||
          { grep -E "^(requests|status codes):" h2.out >> why.txt; false; }'
check "above saturation, h2load: the server saw its 2xx as 200 and its 4xx as 429, nothing else" \
    eval 'b200=$(sed -n "s/.*200:\([0-9]*\).*/\1/p" <<< "$before") &&
          b429=$(sed -n "s/.*429:\([0-9]*\).*/\1/p" <<< "$before") &&
          [ "$(codes_seen $B_ops thumbnail)" = "200:$((b200 + h2_ok)) 429:$((b429 + h2_4xx)) " ] ||
          { say "before [$before], after [$(codes_seen $B_ops thumbnail)], h2load $h2_ok 2xx $h2_4xx 4xx"
            false; }'

# A saturated moment made on purpose: two uploads that sent their headers (admitted, holding
# the instance and the queue place) and then stall; the next POST must get 429 + Retry-After.
port=${B_api##*:}
exec 7<> "/dev/tcp/127.0.0.1/$port" 8<> "/dev/tcp/127.0.0.1/$port"
for fd in 7 8; do
    printf 'POST /v1/thumbnail HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 88000\r\n\r\n' >&$fd
done
settle_full() { [ "$(metric "$B_ops" afmpeg_requests_in_flight)" = 2 ]; }
for i in $(seq 100); do settle_full && break; sleep 0.05; done
sat_code=$(curl -s --max-time 10 -D sat.hdr -o sat.json -w '%{http_code}' \
    -H 'Content-Type: video/mp4' --data-binary @clip.mp4 "http://$B_api/v1/thumbnail")
ready=$(curl -s --max-time 5 -w ' %{http_code}' "http://$B_ops/readyz")
check "saturated: a POST gets 429, Retry-After: 1 and the problem 'saturated'" \
    eval '[ "$sat_code" = 429 ] && grep -qix "retry-after: 1.\?" sat.hdr &&
          grep -q "\"error\": \"saturated\"" sat.json ||
          { say "status $sat_code"; tr -d "\r" < sat.hdr >> why.txt
            head -c 300 sat.json | tr -cd "[:print:]\n" >> why.txt; false; }'
check "saturated: /readyz answers 503 saturated" \
    eval '[ "$ready" = "saturated
 503" ] || { say "readyz: $ready"; false; }'
exec 7>&- 8>&- # the stalled uploads hang up: their admission must be given back
for i in $(seq 100); do [ "$(metric "$B_ops" afmpeg_requests_in_flight)" = 0 ] && break; sleep 0.05; done

# A client still sending its body when the 429 comes (the 429 is decided from the headers) must
# be able to finish sending and read the 429: RFC 9112 section 9.6 asks a server that answers
# before reading the whole body to keep reading it ("lingering close") rather than close at once,
# since closing with unread data makes the kernel reset the connection, and a client still
# writing gets EPIPE or ECONNRESET instead of the answer (hey: "write: broken pipe"; h2load:
# "errored"). Deterministic: the server is held full by two stalled uploads (as above), the
# client sends its headers, waits up to 0.5 s for an early answer, then sends a 4 MiB body.
exec 7<> "/dev/tcp/127.0.0.1/$port" 8<> "/dev/tcp/127.0.0.1/$port"
for fd in 7 8; do
    printf 'POST /v1/thumbnail HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 88000\r\n\r\n' >&$fd
done
for i in $(seq 100); do settle_full && break; sleep 0.05; done
python3 - "$port" > linger.txt 2>&1 << 'PY'
import select, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
size = 4 << 20
s.sendall(b"POST /v1/thumbnail HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: video/mp4\r\n"
          b"Content-Length: %d\r\n\r\n" % size)
select.select([s], [], [], 0.5)
try:
    s.sendall(bytes(size))
    sent = "body sent"
except OSError as e:
    sent = "sending the body failed: %s" % e
data = b""
try:
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except OSError as e:
    data += b" (recv failed: %s)" % str(e).encode()
print(sent)
print(data.split(b"\r\n")[0].decode(errors="replace"))
print("retry-after" if b"\r\nretry-after: 1\r\n" in data.lower() else "no retry-after")
PY
check "saturated: a client still sending a 4 MiB body finishes sending it and reads the 429" \
    eval '[ "$(cat linger.txt)" = "body sent
HTTP/1.1 429 Too Many Requests
retry-after" ] || { cat linger.txt >> why.txt; false; }'
exec 7>&- 8>&-

# ---- 3. memory, gauges, file descriptors, threads ----
# A second identical round on A: a per-request leak (a body of 88 KB, 80 requests) would grow
# RSS by 7 MB; measured growth 0 (glibc keeps the freed memory of round 1 for round 2).
# Under AddressSanitizer (make SAN=1 test) freed memory waits in its quarantine (256 MiB by
# default), so RSS grows anyway: there the bound is the quarantine's, and LeakSanitizer, at the
# server's exit, is what finds a leak.
growth_kb=4096
if ldd "$cli" 2> /dev/null | grep -q libasan; then growth_kb=$((256 * 1024)); fi
sleep 0.2
A_rss1=$(status_kb "$A_pid" VmRSS)
hey_post again1.out 40 4 "http://$A_api/v1/probe"
hey_post again2.out 40 4 "http://$A_api/v1/thumbnail?width=160"
sleep 0.2
A_rss2=$(status_kb "$A_pid" VmRSS)
check "a second round of 80 requests grows A's RSS by at most $((growth_kb / 1024)) MiB" \
    eval '[ $((A_rss2 - A_rss1)) -le $growth_kb ] && [ "$(hey_codes again1.out)" = "200:40" ] &&
          [ "$(hey_codes again2.out)" = "200:40" ] ||
          { say "VmRSS $A_rss1 kB after round 1, $A_rss2 kB after round 2;" \
                "codes [$(hey_codes again1.out)] [$(hey_codes again2.out)]"; false; }'
for s in A:2 B:1; do
    n=${s%:*} inst=${s#*:}
    pid_var=${n}_pid ops_var=${n}_ops fds_var=${n}_fds0 thr_var=${n}_threads0
    pid=${!pid_var} ops=${!ops_var} fds0=${!fds_var} thr0=${!thr_var}
    peak=$(peak_kb "$pid" "$n.rss")
    limit=$(( (inst * MEM_MB + ALLOWANCE_MB) * 1024 ))
    check "$n: peak RSS $((peak / 1024)) MiB <= $inst x $MEM_MB MiB + $ALLOWANCE_MB MiB" \
        eval '[ "$peak" -le "$limit" ] || { say "peak $peak kB, limit $limit kB"; false; }'
    check "$n: after the load, no request in flight, no instance busy, no queue" \
        eval 'g() { metric $ops $1; }
              for i in $(seq 100); do
                  [ "$(g afmpeg_requests_in_flight) $(g afmpeg_instances_busy) $(g afmpeg_queue_depth)" = "0 0 0" ] && break
                  sleep 0.05
              done
              [ "$(g afmpeg_requests_in_flight) $(g afmpeg_instances_busy) $(g afmpeg_queue_depth)" = "0 0 0" ] ||
              { say "in flight $(g afmpeg_requests_in_flight), busy $(g afmpeg_instances_busy), queue $(g afmpeg_queue_depth)"
                false; }'
    check "$n: open file descriptors back to within 2 of before the load ($fds0)" \
        eval 'v=$(settle "fds $pid" $((fds0 + 2))) || { say "$v open, $fds0 before:"
              ls -l /proc/$pid/fd | tail -n +2 | head -8 >> why.txt; false; }'
    check "$n: threads back to before the load ($thr0)" \
        eval 'v=$(settle "threads $pid" $thr0) || { say "$v threads, $thr0 before"; false; }'
done

# ---- 4. still correct after the load, and a clean exit on SIGTERM ----
for n in A B; do
    pid_var=${n}_pid api_var=${n}_api
    pid=${!pid_var} api=${!api_var}
    code=$(probe "$api" after.json)
    check "$n: after the load, a probe still answers 200 with the clip's two streams" \
        eval '[ "$code" = 200 ] && probe_ok after.json ||
              { say "status $code"; head -c 400 after.json >> why.txt; false; }'
    kill -TERM "$pid"
    for i in $(seq 200); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2> /dev/null)
        [ "$state" = Z ] || [ -z "$state" ] && break
        sleep 0.05
    done
    [ "$state" = Z ] || [ -z "$state" ] || kill -KILL "$pid"
    wait "$pid"
    rc=$?
    check "$n: SIGTERM: exit status 0 within 10 s, 'stopped' logged" \
        eval '[ "$rc" = 0 ] && tail -1 $n.log | grep -q "\"msg\":\"stopped\"" ||
              { say "exit status $rc (state ${state:-gone}); last log lines:"; tail -3 $n.log >> why.txt
                false; }'
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
