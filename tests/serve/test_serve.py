#!/usr/bin/env python3
"""Tests of `afmpeg serve`, the synchronous service (tests/serve/run.sh runs this).

Each check starts or reuses a private server on ephemeral ports of 127.0.0.1 (read from its
"listening" log line), talks HTTP to it with http.client or a raw socket, and reads the results
back with Debian's ffprobe and ffmpeg. Every wait is bounded; every server is stopped at the end,
also when a check fails. Prints "ok   NAME" or "FAIL NAME" and the reason per check, then one
line "N passed, N failed". AFMPEG_CLI names the program (default build/afmpeg). Standard library
only. AFMPEG_SERVE_KEEP=1 keeps the scratch directory (media, outputs, server logs)."""

import ctypes
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import CLI, HOST, CheckFailed, expect, run_check, wait_for  # noqa: E402

SCRATCH = None  # the scratch directory, made by the run

passed = failed = 0
servers = []


def check(name, fn):
    global passed, failed
    if run_check(name, fn):
        passed += 1
    else:
        failed += 1


def path(name):
    return os.path.join(SCRATCH, name)


def read(name):
    with open(path(name), "rb") as f:
        return f.read()


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)
    return path(name)


# ---- Debian's ffmpeg and ffprobe ----

def run(args, timeout=60):
    return subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)


def ffprobe(file):
    p = run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
             file])
    expect(p.returncode == 0, "ffprobe cannot read %s: %s" % (file, p.stderr.decode()[:300]))
    return json.loads(p.stdout)


def decodes_cleanly(file):
    """`ffmpeg -v error -i FILE -f null -` exits 0 and prints nothing."""
    p = run(["ffmpeg", "-nostdin", "-v", "error", "-i", file, "-f", "null", "-"])
    out = (p.stdout + p.stderr).decode(errors="replace")
    expect(p.returncode == 0 and not out.strip(),
           "%s does not decode cleanly (exit %d): %s" % (file, p.returncode, out[:400]))


def streams(info, kind):
    return [s for s in info["streams"] if s["codec_type"] == kind]


def media_summary(file):
    """(duration, [(codec_type, codec_name, width, height), ...]) of a file, by ffprobe."""
    info = ffprobe(file)
    d = info["format"].get("duration")
    return (float(d) if d else None,
            [(s["codec_type"], s["codec_name"], s.get("width"), s.get("height"))
             for s in info["streams"]])


def make_media():
    """The test media: 4 s of 320x240 H.264 + AAC, 30 s of 640x360 for the long cases."""
    for name, size, seconds in (("short.mp4", "320x240", 4), ("long.mp4", "640x360", 30)):
        p = run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi",
                 "-i", "testsrc2=size=%s:rate=25:duration=%d" % (size, seconds),
                 "-f", "lavfi", "-i", "sine=frequency=440:duration=%d" % seconds,
                 "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                 "-c:a", "aac", "-shortest", path(name)], timeout=120)
        if p.returncode:
            sys.exit("cannot make %s: %s" % (name, p.stderr.decode()))
    rnd = random.Random(1234)
    write("garbage.bin", rnd.randbytes(20000))


# ---- servers ----

def _die_with_parent():
    """In the server's process: SIGKILL when this script dies, however it dies."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class Server:
    """One `afmpeg [GLOBALS] serve [ARGS]` on ephemeral ports, its log (stderr) in a file."""

    def __init__(self, args=(), globals_=("--instances", "2"), env=None, ephemeral=True,
                 name="server"):
        self.name = name
        self.log_path = path("%s-%d.log" % (name, len(servers)))
        argv = [CLI, *globals_, "serve"]
        if ephemeral:
            argv += ["--listen", "%s:0" % HOST, "--ops-listen", "%s:0" % HOST]
        argv += list(args)
        e = dict(os.environ)
        e.pop("AFMPEG_SERVE_TOKENS", None)
        e.update(env or {})
        self.log_file = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=self.log_file, env=e, preexec_fn=_die_with_parent)
        servers.append(self)
        line = wait_for(lambda: self.line(msg="listening") or self.proc.poll() is not None, 20)
        if not isinstance(line, dict):
            raise CheckFailed("%s did not start (exit %s): %s" % (
                name, self.proc.poll(), self.log_text()[-500:]))
        self.api = int(line["api"].rsplit(":", 1)[1])
        self.ops = int(line["ops"].rsplit(":", 1)[1]) if line["ops"] != "off" else None

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def lines(self):
        """The log's JSON lines (libmicrohttpd's own messages, plain text, are skipped)."""
        out = []
        for line in self.log_text().splitlines():
            try:
                j = json.loads(line)
            except ValueError:
                continue
            if isinstance(j, dict):
                out.append(j)
        return out

    def line(self, **match):
        """The first JSON log line with these keys and values, or None."""
        for j in self.lines():
            if all(j.get(k) == v for k, v in match.items()):
                return j
        return None

    def wait_line(self, timeout=5, **match):
        return wait_for(lambda: self.line(**match), timeout)

    def stop(self, timeout=15):
        """SIGTERM, then SIGKILL if it has not exited within `timeout`: its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.log_file.close()
        return self.proc.returncode

    def metrics(self):
        return metrics(self.ops)

    def probe_ok(self, headers=None):
        r = request(self.api, "POST", "/v1/probe", read("short.mp4"), headers)
        expect(r.status == 200, "a probe of a good file got %d: %r" % (r.status, r.body[:300]))
        return r


def stop_all():
    for s in servers:
        try:
            s.stop(timeout=10)
        except Exception as e:
            print("note: stopping %s: %s" % (s.name, e))


# ---- HTTP ----

class Response:
    def __init__(self, status, headers, body, complete):
        self.status, self.headers, self.body, self.complete = status, headers, body, complete

    def header(self, name):
        return self.headers.get(name)


class Conn(http.client.HTTPConnection):
    """A connection to 127.0.0.1:port; `rcvbuf` shrinks the socket's receive buffer (set before
    connecting), so that a reader that stops reading holds the server back soon."""

    def __init__(self, port, timeout=30, rcvbuf=None):
        super().__init__(HOST, port, timeout=timeout)
        self.rcvbuf = rcvbuf

    def connect(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if self.rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        s.settimeout(self.timeout)
        s.connect((self.host, self.port))
        self.sock = s

    def hang_up(self):
        """Closes the connection at once (FIN), whatever still holds the socket."""
        if self.sock:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.close()


def request(port, method, url, body=None, headers=None, timeout=30):
    """One request on a new connection: a Response; complete is False when a chunked body
    broke off (the server ends a failed stream that way)."""
    c = Conn(port, timeout)
    try:
        c.request(method, url, body=body, headers=headers or {})
        r = c.getresponse()
        try:
            data, complete = r.read(), True
        except http.client.IncompleteRead as e:
            data, complete = e.partial, False
        return Response(r.status, r.headers, data, complete)
    finally:
        c.close()


def read_exactly(resp, n):
    """At least n bytes of a streamed body (fewer only if it ends first)."""
    got = b""
    while len(got) < n:
        d = resp.read(n - len(got))
        if not d:
            break
        got += d
    return got


def read_rest(resp):
    """The rest of a body, and whether it ended cleanly."""
    try:
        return resp.read(), True
    except http.client.IncompleteRead as e:
        return e.partial, False
    except (ConnectionError, socket.timeout):
        return b"", False


def metrics(port):
    """The ops listener's /metrics as {"name{labels}": value}."""
    r = request(port, "GET", "/metrics", timeout=10)
    expect(r.status == 200, "/metrics answered %d" % r.status)
    out = {}
    for line in r.body.decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def expect_problem(r, status, error, detail=None):
    """An application/problem+json answer with this status and error name (and detail text)."""
    expect(r.status == status, "status %d, wanted %d: %r" % (r.status, status, r.body[:300]))
    ctype = r.header("Content-Type") or ""
    expect(ctype.startswith("application/problem+json"), "Content-Type %r" % ctype)
    j = json.loads(r.body)
    expect(j.get("error") == error and j.get("status") == status,
           "problem %r, wanted error %r" % (j, error))
    if detail is not None:
        expect(detail in j.get("detail", ""), "detail %r lacks %r" % (j.get("detail"), detail))
    return j


def raw(port, data, timeout=10):
    """Sends bytes on a new connection and reads the answer until the server closes it or a
    whole response (by Content-Length) is in: (status, headers, body)."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        s.sendall(data)
        return read_raw_response(s, time.monotonic() + timeout)
    finally:
        s.close()


def read_raw_response(s, deadline):
    buf = b""
    while b"\r\n\r\n" not in buf:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        d = s.recv(65536)
        expect(d, "the server closed the connection without an answer")
        buf += d
    head, body = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, v = line.split(":", 1)
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "0"))
    while len(body) < n:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        d = s.recv(65536)
        if not d:
            break
        body += d
    return status, headers, body


def raw_problem(status, headers, body, want_status, error):
    expect(status == want_status, "status %d, wanted %d: %r" % (status, want_status, body[:300]))
    expect(headers.get("content-type", "").startswith("application/problem+json"),
           "Content-Type %r" % headers.get("content-type"))
    j = json.loads(body)
    expect(j.get("error") == error, "problem %r, wanted error %r" % (j, error))
    return j


def post_head(url, length, extra=""):
    return ("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n%s\r\n"
            % (url, HOST, length, extra)).encode()


def mp4_boxes(data):
    """The top-level box types of an MP4 file, in order."""
    out, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8].decode("latin-1")
        if size == 1:
            size = int.from_bytes(data[pos + 8:pos + 16], "big")
        if size < 8:
            break
        out.append(kind)
        pos += size
    return out


def parse_multipart(ctype, body):
    """multipart/mixed by hand: [(headers, data)]; each part's end checked against the next
    delimiter."""
    m = re.match(r'multipart/mixed;\s*boundary="?([^";]+)"?', ctype or "")
    expect(m, "Content-Type %r is not multipart/mixed with a boundary" % ctype)
    delim = b"--" + m.group(1).encode()
    expect(body.startswith(delim), "the body does not start with the boundary")
    parts, pos = [], len(delim)
    while True:
        if body[pos:pos + 2] == b"--":
            break  # the closing delimiter
        expect(body[pos:pos + 2] == b"\r\n", "no CRLF after a delimiter at %d" % pos)
        end = body.index(b"\r\n\r\n", pos)
        headers = {}
        for line in body[pos + 2:end].decode("latin-1").split("\r\n"):
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
        start = end + 4
        nxt = body.index(b"\r\n" + delim, start)
        data = body[start:nxt]
        if "content-length" in headers:
            expect(int(headers["content-length"]) == len(data),
                   "a part's Content-Length %s is not its size %d"
                   % (headers["content-length"], len(data)))
        parts.append((headers, data))
        pos = nxt + 2 + len(delim)
    return parts


class StreamReader(threading.Thread):
    """Reads a transcode response on a thread of its own: status, body, whether it ended
    cleanly. `first` is set once the status line and `first_bytes` of the body are in."""

    def __init__(self, port, url, body, first_bytes=65536, delay=0.0, rcvbuf=None):
        super().__init__(daemon=True)
        self.conn = Conn(port, timeout=60, rcvbuf=rcvbuf)
        self.url, self.body, self.first_bytes, self.delay = url, body, first_bytes, delay
        self.first = threading.Event()
        self.status, self.data, self.complete, self.error = None, b"", False, None
        self.start()

    def run(self):
        try:
            self.conn.request("POST", self.url, body=self.body)
            r = self.conn.getresponse()
            self.status = r.status
            if r.status != 200:
                self.data, self.complete = read_rest(r)
                return
            while True:
                try:
                    d = r.read(16384)
                except http.client.IncompleteRead as e:
                    self.data += e.partial
                    return
                if not d:
                    self.complete = True
                    return
                self.data += d
                if len(self.data) >= self.first_bytes:
                    self.first.set()
                if self.delay:
                    time.sleep(self.delay)
        except Exception as e:
            self.error = e
        finally:
            self.first.set()
            self.conn.close()


def check_transcode_output(data, name, codecs, duration, width=None, tolerance=0.1):
    """A transcode's output: decodes cleanly, has these (video, audio) codecs, the width, and
    the duration within `tolerance` (when given)."""
    f = write(name, data)
    decodes_cleanly(f)
    d, sts = media_summary(f)
    got = tuple(c for _, c, _, _ in sts)
    expect(got == codecs, "%s: codecs %r, wanted %r" % (name, got, codecs))
    if width is not None:
        expect(sts[0][2] == width, "%s: width %r, wanted %d" % (name, sts[0][2], width))
    if duration is not None:
        expect(d is not None and abs(d - duration) <= tolerance,
               "%s: duration %r, wanted %.3f +- %.2f" % (name, d, duration, tolerance))


# ---- the checks ----

def main():
    make_media()
    short, long_ = read("short.mp4"), read("long.mp4")
    short_info = ffprobe(path("short.mp4"))
    short_dur = float(short_info["format"]["duration"])
    long_dur = float(ffprobe(path("long.mp4"))["format"]["duration"])

    main_srv = Server(name="main")  # instances 2, defaults
    api, ops = main_srv.api, main_srv.ops

    # 1
    def probe():
        r = request(api, "POST", "/v1/probe", short)
        expect(r.status == 200, "status %d: %r" % (r.status, r.body[:300]))
        expect(r.header("Content-Type") == "application/json",
               "Content-Type %r" % r.header("Content-Type"))
        j = json.loads(r.body)
        want_d = float(short_info["format"]["duration"])
        expect(abs(j["duration"] - want_d) < 0.01,
               "duration %r, ffprobe says %r" % (j["duration"], want_d))
        expect(len(j["streams"]) == len(short_info["streams"]),
               "%d streams, ffprobe says %d" % (len(j["streams"]), len(short_info["streams"])))
        for mine, theirs in zip(j["streams"], short_info["streams"]):
            expect(mine["type"] == theirs["codec_type"] and mine["codec"] == theirs["codec_name"],
                   "stream %d: %s %s, ffprobe says %s %s" % (
                       mine["index"], mine["type"], mine["codec"], theirs["codec_type"],
                       theirs["codec_name"]))
            if theirs["codec_type"] == "video":
                expect((mine["width"], mine["height"]) == (theirs["width"], theirs["height"]),
                       "size %sx%s, ffprobe says %sx%s" % (mine["width"], mine["height"],
                                                          theirs["width"], theirs["height"]))
            else:
                expect((mine["sample_rate"], mine["channels"]) ==
                       (int(theirs["sample_rate"]), theirs["channels"]),
                       "audio %s Hz %s ch, ffprobe says %s Hz %s ch" % (
                           mine["sample_rate"], mine["channels"], theirs["sample_rate"],
                           theirs["channels"]))
    check("probe: 200 application/json, duration and streams as Debian's ffprobe says", probe)

    # 2
    def thumbnail():
        for fmt, codec, ctype in (("png", "png", "image/png"), ("jpeg", "mjpeg", "image/jpeg")):
            r = request(api, "POST", "/v1/thumbnail?width=160&format=" + fmt, short)
            expect(r.status == 200, "%s: status %d: %r" % (fmt, r.status, r.body[:300]))
            expect(r.header("Content-Type") == ctype,
                   "%s: Content-Type %r" % (fmt, r.header("Content-Type")))
            t = r.header("X-Frame-Time")
            expect(t is not None and 0 <= float(t) <= short_dur,
                   "%s: X-Frame-Time %r" % (fmt, t))
            f = write("thumb." + fmt, r.body)
            decodes_cleanly(f)
            _, sts = media_summary(f)
            expect(sts == [("video", codec, 160, 120)],
                   "%s: the image is %r, wanted a 160x120 %s" % (fmt, sts, codec))
    check("thumbnail: width=160 as PNG and as JPEG, decodes, X-Frame-Time", thumbnail)

    # 3
    def frames():
        r = request(api, "POST", "/v1/frames?every=1&width=64&format=jpeg", short)
        expect(r.status == 200, "status %d: %r" % (r.status, r.body[:300]))
        parts = parse_multipart(r.header("Content-Type"), r.body)
        expect(r.header("X-Frame-Count") == str(len(parts)),
               "X-Frame-Count %r, %d parts" % (r.header("X-Frame-Count"), len(parts)))
        times = [float(h.get("x-frame-time", "nan")) for h, _ in parts]
        expect(len(parts) == 4 and all(abs(t - i) <= 0.05 for i, t in enumerate(times)),
               "frame times %r, wanted 0, 1, 2, 3" % times)
        for i, (h, data) in enumerate(parts):
            expect(h.get("content-type") == "image/jpeg", "part %d: %r" % (i, h))
            f = write("frame%d.jpg" % i, data)
            decodes_cleanly(f)
            _, sts = media_summary(f)
            expect(len(sts) == 1 and sts[0][1] == "mjpeg" and sts[0][2] == 64,
                   "part %d is %r, wanted a 64-wide JPEG" % (i, sts))
    check("frames: every=1 on 4 s gives 4 JPEG parts at 0,1,2,3 s, 64 wide", frames)

    # 4
    def transcode_mp4():
        r = request(api, "POST", "/v1/transcode?format=mp4&scale=160:-2", short, timeout=60)
        expect(r.status == 200, "status %d: %r" % (r.status, r.body[:300]))
        expect(r.complete, "the chunked body broke off")
        expect(r.header("Content-Type") == "video/mp4",
               "Content-Type %r" % r.header("Content-Type"))
        expect((r.header("Transfer-Encoding") or "").lower() == "chunked" and
               r.header("Content-Length") is None, "not streamed (chunked): %r" % r.headers.items())
        boxes = mp4_boxes(r.body)
        expect(boxes[:2] == ["ftyp", "moov"] and boxes.count("moof") >= 2,
               "not a fragmented MP4 with a fragment per second: boxes %r" % boxes[:12])
        check_transcode_output(r.body, "t.mp4", ("h264", "aac"), short_dur, width=160)
    check("transcode: format=mp4&scale=160:-2 streams fragmented MP4, h264+aac, duration",
          transcode_mp4)

    def transcode_webm():
        r = request(api, "POST", "/v1/transcode?format=webm&scale=160:-2", short, timeout=60)
        expect(r.status == 200 and r.complete, "status %d (complete %s): %r"
               % (r.status, r.complete, r.body[:300]))
        expect(r.header("Content-Type") == "video/webm",
               "Content-Type %r" % r.header("Content-Type"))
        check_transcode_output(r.body, "t.webm", ("vp9", "opus"), None, width=160)
    check("transcode: format=webm is VP9 + Opus and decodes", transcode_webm)

    def transcode_gif():
        r = request(api, "POST", "/v1/transcode?format=gif&scale=160:-2", short, timeout=60)
        expect(r.status == 200, "status %d: %r" % (r.status, r.body[:300]))
        expect(r.header("Content-Type") == "image/gif" and
               r.header("Content-Length") == str(len(r.body)),
               "not sent whole: %r" % r.headers.items())
        check_transcode_output(r.body, "t.gif", ("gif",), short_dur, width=160)
    check("transcode: format=gif is written whole, then sent, and decodes", transcode_gif)

    # 5
    def streaming():
        c = Conn(api, timeout=60, rcvbuf=65536)
        try:
            t0 = time.monotonic()
            c.request("POST", "/v1/transcode?format=mp4", body=long_)
            r = c.getresponse()
            expect(r.status == 200, "status %d" % r.status)
            head = read_exactly(r, 65536)
            t_first = time.monotonic() - t0
            expect(len(head) == 65536, "the body ended after %d bytes" % len(head))
            m = metrics(ops)
            expect(m.get("afmpeg_instances_busy") == 1 and
                   m.get("afmpeg_requests_in_flight") == 1,
                   "with 64 KiB of the body read: busy %r, in flight %r, wanted 1 and 1" % (
                       m.get("afmpeg_instances_busy"), m.get("afmpeg_requests_in_flight")))
            rest, complete = read_rest(r)
            t_all = time.monotonic() - t0
        finally:
            c.close()
        expect(complete, "the body broke off after %d bytes" % (len(head) + len(rest)))
        expect(len(rest) > 0, "the body was whole after 64 KiB")
        # The first bytes come early, not all at the end: a fragment per second of video.
        expect(t_first < 0.5 * t_all,
               "the first 64 KiB took %.2f s of the %.2f s the whole took: not streamed"
               % (t_first, t_all))
        check_transcode_output(head + rest, "stream.mp4", ("h264", "aac"), long_dur)
    check("transcode: streamed for real (64 KiB in while the job is busy, early), decodes",
          streaming)

    # 6
    def malformed():
        r = request(api, "POST", "/v1/probe", read("garbage.bin"))
        expect_problem(r, 422, "media_error")
        main_srv.probe_ok()
    check("probe of random bytes: 422 media_error, then a good probe is 200", malformed)

    # 8
    def chunked():
        status, headers, body = raw(api, ("POST /v1/probe HTTP/1.1\r\nHost: %s\r\n"
                                          "Transfer-Encoding: chunked\r\n\r\n" % HOST).encode())
        raw_problem(status, headers, body, 411, "length_required")
    check("chunked upload (no Content-Length): 411 length_required", chunked)

    # 12
    def routes():
        # answered from the headers: a small body, all sent before the answer
        expect_problem(request(api, "POST", "/v1/nosuch", b"0" * 100), 404, "not_found")
        r = request(api, "GET", "/v1/probe")
        expect_problem(r, 405, "method_not_allowed")
        expect(r.header("Allow") == "POST", "Allow %r" % r.header("Allow"))
    check("unknown path: 404 not_found; GET /v1/probe: 405 method_not_allowed", routes)

    # 15
    def timeout_whole():
        r = request(api, "POST", "/v1/transcode?format=gif&timeout=0.2", long_, timeout=30)
        expect_problem(r, 504, "timeout")
        main_srv.probe_ok()
    check("timeout=0.2 on a long GIF transcode (sent whole): 504 timeout, healthy after",
          timeout_whole)

    def timeout_streamed():
        before = metrics(ops).get('afmpeg_jobs_total{endpoint="transcode",outcome="timeout"}', 0)
        r = request(api, "POST", "/v1/transcode?format=mp4&timeout=0.2", long_, timeout=30)
        # 504 when it fails before the first bytes; once the 200 is out (fMP4 writes its header
        # at once), the body must break off rather than end like a whole file.
        if r.status == 200:
            expect(not r.complete, "a timed-out stream ended cleanly after %d bytes"
                   % len(r.body))
        else:
            expect_problem(r, 504, "timeout")
        after = wait_for(lambda: metrics(ops).get(
            'afmpeg_jobs_total{endpoint="transcode",outcome="timeout"}', 0) == before + 1, 3)
        expect(after, "jobs_total{outcome=timeout} did not go up by 1")
        main_srv.probe_ok()
    check("timeout=0.2 on a streamed MP4 transcode: 504, or a body that breaks off; healthy",
          timeout_streamed)

    # 16
    def memory_limit():
        expect_problem(request(api, "POST", "/v1/probe?memory_limit=1M", short), 422,
                       "limit_exceeded", "memory limit")
    check("probe?memory_limit=1M: 422 limit_exceeded", memory_limit)

    # 22
    def bad_parameters():
        for url, name in (("/v1/transcode?format=nosuch", "format"),
                          ("/v1/thumbnail?width=abc", "width"),
                          ("/v1/frames?count=0", "count")):
            r = request(api, "POST", url, short)
            try:
                expect_problem(r, 400, "bad_parameter", name)
            except CheckFailed as e:
                raise CheckFailed("%s: %s" % (url, e))
    check("format=nosuch, width=abc, count=0: 400 bad_parameter naming the parameter",
          bad_parameters)

    # 20
    def request_id():
        given = "req-20.sane:ID_ok"
        r = main_srv.probe_ok({"X-Request-ID": given})
        expect(r.header("X-Request-ID") == given, "X-Request-ID %r, sent %r"
               % (r.header("X-Request-ID"), given))
        line = main_srv.wait_line(request_id=given, msg="request")
        expect(line and line.get("status") == 200 and line.get("path") == "/v1/probe",
               "no request log line with request_id %r: %r" % (given, line))
        for bad in ("has spaces in it", "x" * 200):
            r = main_srv.probe_ok({"X-Request-ID": bad})
            got = r.header("X-Request-ID") or ""
            expect(got != bad and re.fullmatch(r"[0-9a-f]{16}", got),
                   "X-Request-ID %r for %r: not replaced by a fresh one" % (got, bad[:20]))
            expect(main_srv.wait_line(request_id=got, msg="request"),
                   "no log line with the replacement id %r" % got)
        expect(not main_srv.line(request_id="x" * 200), "the 200-character id was logged")
    check("X-Request-ID: a sane one echoed and logged, insane ones replaced", request_id)

    # ---- a fresh server, for exact counts ----
    fresh = Server(name="fresh")

    # 21
    def exposition():
        for _ in range(3):
            fresh.probe_ok()
        expect_problem(request(fresh.api, "POST", "/v1/probe", read("garbage.bin")), 422,
                       "media_error")
        # a request is counted when it ends on the server, just after its last byte went out
        ok_key = 'afmpeg_http_requests_total{endpoint="probe",code="200"}'
        bad_key = 'afmpeg_http_requests_total{endpoint="probe",code="422"}'
        wait_for(lambda: fresh.metrics().get(bad_key), 2)
        m = fresh.metrics()
        expect(m.get(ok_key) == 3 and m.get(bad_key) == 1,
               "probe requests: %r with 200, %r with 422; wanted 3 and 1"
               % (m.get(ok_key), m.get(bad_key)))
        expect(m.get('afmpeg_jobs_total{endpoint="probe",outcome="ok"}') == 3 and
               m.get('afmpeg_jobs_total{endpoint="probe",outcome="media_error"}') == 1,
               "jobs_total for probe: %r" % {k: v for k, v in m.items() if "jobs_total" in k})
        pre = 'afmpeg_http_request_phase_seconds'
        lab = 'endpoint="probe",phase="run"'
        buckets = [(k, v) for k, v in m.items() if k.startswith(pre + "_bucket{" + lab)]
        counts = [v for _, v in buckets]
        expect(len(buckets) >= 2 and buckets[-1][0].endswith('le="+Inf"}') and
               counts == sorted(counts) and counts[-1] == 4,
               "phase=run buckets not cumulative up to +Inf = 4: %r" % buckets)
        expect(m.get(pre + "_count{" + lab + "}") == 4 and (pre + "_sum{" + lab + "}") in m,
               "phase=run _count/_sum: %r" % {k: v for k, v in m.items()
                                             if k.startswith(pre) and lab in k and "le=" not in k})
        expect(m.get("afmpeg_instances") == 2 and m.get("afmpeg_draining") == 0,
               "gauges: instances %r draining %r" % (m.get("afmpeg_instances"),
                                                     m.get("afmpeg_draining")))
    check("metrics: requests_total by code counted exactly, phase=run histogram", exposition)

    # 11
    def hang_up_mid_job():
        c = Conn(fresh.api, timeout=30, rcvbuf=65536)
        try:
            c.request("POST", "/v1/transcode?format=mp4", body=long_,
                      headers={"X-Request-ID": "gone-mid-job"})
            r = c.getresponse()
            expect(r.status == 200, "status %d" % r.status)
            expect(len(read_exactly(r, 16384)) == 16384, "the body ended early")
            expect(fresh.metrics().get("afmpeg_instances_busy") == 1, "no instance busy")
            c.hang_up()
        finally:
            c.close()
        key = 'afmpeg_jobs_total{endpoint="transcode",outcome="client_gone"}'
        ok = wait_for(lambda: (lambda m: m.get("afmpeg_instances_busy") == 0 and
                               m.get(key) == 1)(fresh.metrics()), 2)
        m = fresh.metrics()
        expect(ok, "2 s after the hang-up: busy %r, transcode jobs %r; the request's log line: %r" % (
                   m.get("afmpeg_instances_busy"),
                   {k[k.index("outcome"):-1]: v for k, v in m.items()
                    if k.startswith('afmpeg_jobs_total{endpoint="transcode"')},
                   fresh.line(request_id="gone-mid-job")))
        fresh.probe_ok()
    check("client hangs up mid-transcode: instance freed within 2 s, outcome client_gone",
          hang_up_mid_job)

    # ---- --max-body 1M --idle-timeout 2 ----
    lim = Server(["--max-body", "1M", "--idle-timeout", "2"], name="limits")

    # 7
    def too_large():
        s = socket.create_connection((HOST, lim.api), timeout=10)
        try:
            s.sendall(post_head("/v1/probe", 10000000000))
            status, headers, body = read_raw_response(s, time.monotonic() + 5)
        finally:
            s.close()
        raw_problem(status, headers, body, 413, "body_too_large")
        expect(b"1048576" in body, "the problem does not name the limit: %r" % body)
    check("Content-Length 10000000000 with --max-body 1M: 413 body_too_large before the body",
          too_large)

    def in_flight_zero(srv, timeout=3):
        v = wait_for(lambda: srv.metrics().get("afmpeg_requests_in_flight") == 0, timeout)
        expect(v, "requests in flight: %r, wanted 0"
               % srv.metrics().get("afmpeg_requests_in_flight"))

    # 9
    def slow_client():
        s = socket.create_connection((HOST, lim.api), timeout=10)
        try:
            s.sendall(post_head("/v1/probe", len(short), "X-Request-ID: slow-client\r\n") +
                      short[:len(short) // 2])
            t0 = time.monotonic()
            s.settimeout(8)
            try:
                while s.recv(65536):
                    pass
            except ConnectionResetError:
                pass
            except socket.timeout:
                raise CheckFailed("the connection is still open after 8 s")
            waited = time.monotonic() - t0
        finally:
            s.close()
        expect(1.5 <= waited <= 5.5, "closed after %.1f s, wanted about 2" % waited)
        in_flight_zero(lim)
        lim.probe_ok()
    check("a client that stalls mid-upload (--idle-timeout 2) is cut off in ~2 s", slow_client)

    # 10
    def hang_up_mid_upload():
        s = socket.create_connection((HOST, lim.api), timeout=10)
        s.sendall(post_head("/v1/probe", len(short), "X-Request-ID: gone-mid-upload\r\n") +
                  short[:len(short) // 2])
        time.sleep(0.2)
        s.close()
        line = lim.wait_line(request_id="gone-mid-upload", msg="request")
        expect(line and line.get("status") == 499,
               "the request's log line: %r, wanted status 499" % line)
        in_flight_zero(lim)
    check("a client that hangs up mid-upload: logged 499, nothing left in flight",
          hang_up_mid_upload)

    # ---- --instances 1 serve --queue 0 ----
    one = Server(["--queue", "0"], globals_=("--instances", "1"), name="saturated")

    # 14
    def saturated():
        c = Conn(one.api, timeout=60, rcvbuf=65536)
        try:
            c.request("POST", "/v1/transcode?format=mp4", body=long_)
            r = c.getresponse()
            expect(r.status == 200, "status %d" % r.status)
            head = read_exactly(r, 16384)
            p = request(one.api, "POST", "/v1/probe", short)
            expect_problem(p, 429, "saturated")
            expect(p.header("Retry-After"), "no Retry-After: %r" % p.headers.items())
            ready = request(one.ops, "GET", "/readyz")
            expect(ready.status == 503, "/readyz %d while saturated" % ready.status)
            rest, complete = read_rest(r)
        finally:
            c.close()
        expect(complete, "the transcode broke off")
        check_transcode_output(head + rest, "saturated.mp4", ("h264", "aac"), long_dur)
        expect(wait_for(lambda: request(one.ops, "GET", "/readyz").status == 200, 3),
               "/readyz is not 200 after the transcode")
        one.probe_ok()
    check("--instances 1 --queue 0: a probe during a transcode gets 429 saturated with "
          "Retry-After, /readyz 503 then 200", saturated)

    # ---- --max-width 100 ----
    # 17
    def input_limit():
        narrow = Server(["--max-width", "100"], name="max-width")
        r = request(narrow.api, "POST", "/v1/thumbnail", short)
        expect_problem(r, 422, "input_limit", "resolution")
        expect("320x240" in json.loads(r.body)["detail"], "detail %r" % r.body)
    check("--max-width 100: a thumbnail of 320x240 is 422 input_limit naming resolution",
          input_limit)

    # ---- auth ----
    # 13
    def auth(srv, tokens):
        # refused from the headers: a small body, all sent before the answer
        r = request(srv.api, "POST", "/v1/probe", b"0" * 100)
        expect_problem(r, 401, "unauthorized")
        expect((r.header("WWW-Authenticate") or "").startswith("Bearer"),
               "WWW-Authenticate %r" % r.header("WWW-Authenticate"))
        for wrong in ("Bearer wrong", "Bearer " + tokens[0][:-1], "Basic " + tokens[0],
                      "Bearer " + tokens[0] + "x"):
            r = request(srv.api, "POST", "/v1/probe", b"0" * 100, {"Authorization": wrong})
            try:
                expect_problem(r, 401, "unauthorized")
            except CheckFailed as e:
                raise CheckFailed("%r: %s" % (wrong, e))
        for t in tokens:
            srv.probe_ok({"Authorization": "Bearer " + t})

    def token_file():
        f = write("tokens.txt", b"# the tokens\ntok-first-0123\n\n  tok-second-4567  \n")
        auth(Server(["--token-file", f], name="token-file"), ["tok-first-0123", "tok-second-4567"])
    check("--token-file with two tokens: none or wrong 401 + WWW-Authenticate, each valid 200",
          token_file)

    def token_env():
        auth(Server(name="token-env", env={"AFMPEG_SERVE_TOKENS": "env-tok-a,env-tok-b"}),
             ["env-tok-a", "env-tok-b"])
    check("AFMPEG_SERVE_TOKENS=a,b: none or wrong 401, each valid 200", token_env)

    # ---- configuration file ----
    # 19
    def config_good():
        f = write("good.conf", b"# a configuration\n"
                               b"listen = 127.0.0.1:0\n"
                               b"ops-listen=127.0.0.1:0\n"
                               b"\n"
                               b"   max-body = 1M   \n"
                               b"queue = 1\n")
        srv = Server(["--config", f], ephemeral=False, name="config")
        srv.probe_ok()
        # the 413 comes from the headers: the body is not sent
        status, headers, body = raw(srv.api, post_head("/v1/probe", 1048577))
        j = raw_problem(status, headers, body, 413, "body_too_large")
        expect("1048576" in j["detail"], "the problem does not name 1048576: %r" % j)
    check("--config FILE (listen = 127.0.0.1:0, max-body = 1M): listens, the limits apply",
          config_good)

    def config_bad():
        for text, lineno, words in ((b"listen = 127.0.0.1:0\nops-listen = 127.0.0.1:0\n"
                                     b"queue = -3\n", 3, "queue"),
                                    (b"listen = 127.0.0.1:0\n# comment\nops-listen = off\n"
                                     b"nosuch = 1\n", 4, "nosuch")):
            f = write("bad.conf", text)
            p = run([CLI, "serve", "--config", f], timeout=15)
            err = p.stderr.decode(errors="replace")
            expect(p.returncode == 2 and "%s:%d:" % (f, lineno) in err and words in err,
                   "exit %d, stderr %r; wanted exit 2 and '%s:%d:' naming %s"
                   % (p.returncode, err[:300], f, lineno, words))
    check("--config with 'queue = -3' or 'nosuch = 1': exit 2, FILE:LINE: in the message",
          config_bad)

    # ---- drain ----
    # 18
    def drain():
        srv = Server(name="drain")
        t = StreamReader(srv.api, "/v1/transcode?format=mp4", long_)
        expect(t.first.wait(20) and t.status == 200 and len(t.data) >= 65536,
               "the transcode did not start streaming: %r %r" % (t.status, t.error))
        srv.proc.send_signal(signal.SIGTERM)
        expect(srv.wait_line(msg="draining"), "no 'draining' log line")
        # refused (the listener is closed; a connection caught in its backlog is reset), or
        # answered 503 from the headers (a small body, all sent before the answer)
        try:
            r = request(srv.api, "POST", "/v1/probe", b"0" * 100, timeout=5)
            expect_problem(r, 503, "draining")
        except (ConnectionRefusedError, ConnectionResetError):
            pass
        try:
            ready = request(srv.ops, "GET", "/readyz", timeout=5)
            expect(ready.status == 503, "/readyz %d while draining" % ready.status)
        except (ConnectionRefusedError, ConnectionResetError):
            pass  # the ops listener is gone: as good
        expect(t.is_alive(), "the transcode ended before the checks made while draining")
        t.join(30)
        expect(not t.is_alive() and t.complete and not t.error,
               "the in-flight transcode did not complete: %d bytes, error %r"
               % (len(t.data), t.error))
        check_transcode_output(t.data, "drain.mp4", ("h264", "aac"), long_dur)
        try:
            rc = srv.proc.wait(10)
        except subprocess.TimeoutExpired:
            raise CheckFailed("the server has not exited 10 s after its last request")
        expect(rc == 0, "exit status %d" % rc)
        expect(srv.wait_line(msg="stopped", timeout=1), "no 'stopped' log line")
    check("SIGTERM drains: new requests refused or 503, /readyz 503, the in-flight transcode "
          "completes, exit 0", drain)

    def grace():
        srv = Server(["--grace", "1"], name="grace")
        # a reader slower than the job, so that the job cannot end within the grace period
        t = StreamReader(srv.api, "/v1/transcode?format=mp4", long_, delay=0.02)
        expect(t.first.wait(20) and t.status == 200,
               "the transcode did not start streaming: %r %r" % (t.status, t.error))
        t0 = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        try:
            rc = srv.proc.wait(8)
        except subprocess.TimeoutExpired:
            raise CheckFailed("the server has not exited 8 s after SIGTERM with --grace 1")
        took = time.monotonic() - t0
        expect(rc == 0, "exit status %d" % rc)
        expect(took < 4, "exited %.1f s after SIGTERM with --grace 1" % took)
        expect(srv.wait_line(msg="grace period over: cancelling in-flight work", timeout=1),
               "no 'grace period over' log line")
        expect(srv.wait_line(msg="stopped", timeout=1), "no 'stopped' log line")
        t.join(10)
        expect(not t.complete, "the cancelled transcode's body ended cleanly")
    check("SIGTERM with --grace 1: a job that cannot finish is cancelled, exit 0 promptly",
          grace)

    def grace_stalled():
        srv = Server(["--grace", "1"], name="grace-stalled")
        # a client that stops reading: raw video (about 9 MB a second of the clip) soon fills
        # the socket buffers and the stream's, and the job waits for room in it
        c = Conn(srv.api, timeout=30, rcvbuf=65536)
        try:
            c.request("POST", "/v1/transcode?format=mkv&vcodec=rawvideo", body=long_)
            r = c.getresponse()
            expect(r.status == 200 and len(read_exactly(r, 65536)) == 65536,
                   "the transcode did not start streaming")
            time.sleep(0.5)
            expect(srv.metrics().get("afmpeg_instances_busy") == 1, "no instance busy")
            srv.proc.send_signal(signal.SIGTERM)
            expect(srv.wait_line(msg="grace period over: cancelling in-flight work", timeout=3),
                   "no 'grace period over' log line")
            freed = wait_for(lambda: srv.metrics().get("afmpeg_instances_busy") == 0, 1.5)
            expect(freed, "the job still holds its instance 1.5 s after the grace period: "
                          "a cancel does not reach a job waiting on a client that does not read")
            # the connection itself waits on the client: a second SIGTERM stops at once
            t0 = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            try:
                rc = srv.proc.wait(5)
            except subprocess.TimeoutExpired:
                raise CheckFailed("the server has not exited 5 s after a second SIGTERM")
            expect(rc == 0 and time.monotonic() - t0 < 3,
                   "exit %d, %.1f s after the second SIGTERM" % (rc, time.monotonic() - t0))
            line = srv.wait_line(msg="request", path="/v1/transcode", timeout=1)
            expect(line and line.get("outcome") == "cancelled",
                   "the transcode's log line: %r, wanted outcome cancelled" % line)
            expect(srv.wait_line(msg="stopped", timeout=1), "no 'stopped' log line")
        finally:
            c.close()
    check("SIGTERM with --grace 1, a client that stopped reading: the job is cancelled after "
          "1 s, a second SIGTERM exits 0 at once", grace_stalled)


def on_signal(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, on_signal)
    t0 = time.monotonic()
    SCRATCH = tempfile.mkdtemp(prefix="afmpeg-serve-")
    try:
        main()
    except KeyboardInterrupt as e:
        print("FAIL interrupted: %s" % e)
        failed += 1
    except Exception as e:  # a set-up step failed outside any check
        print("FAIL set-up: %s: %s" % (type(e).__name__, e))
        failed += 1
    finally:
        stop_all()
        if os.environ.get("AFMPEG_SERVE_KEEP"):
            print("note: kept %s" % SCRATCH)
        else:
            shutil.rmtree(SCRATCH, ignore_errors=True)
    print("note: %.1f s" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)
