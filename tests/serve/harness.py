"""What the service's Python test suites share: named checks, bounded waits, private servers
on ephemeral ports of 127.0.0.1 (read from their "listening" log line), HTTP requests, and
Debian's ffprobe. Standard library only."""

import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

CLI = os.path.abspath(os.environ.get("AFMPEG_CLI", "build/afmpeg"))
HOST = "127.0.0.1"


class CheckFailed(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise CheckFailed(why)


def run_check(name, fn):
    """Runs one named check: prints "ok   NAME" when fn returns, "FAIL NAME" and why when it
    raises. True when it passed."""
    t0 = time.monotonic()
    try:
        fn()
    except Exception as e:  # a failed expectation, or anything that went wrong on the way
        why = str(e) if isinstance(e, CheckFailed) else "%s: %s" % (type(e).__name__, e)
        print("FAIL %s (%.1f s)" % (name, time.monotonic() - t0))
        for line in why.splitlines()[:8]:
            print("     " + line)
        return False
    print("ok   %s (%.1f s)" % (name, time.monotonic() - t0))
    return True


class Suite:
    """Named checks ("ok   NAME" / "FAIL NAME" and why), then "N passed, N failed"."""

    def __init__(self, prefix):
        self.passed = self.failed = 0
        self.scratch = tempfile.mkdtemp(prefix=prefix)
        self.servers = []

    def check(self, name, fn):
        ok = run_check(name, fn)
        self.passed += ok
        self.failed += not ok

    def path(self, name):
        return os.path.join(self.scratch, name)

    def server(self, *serve_args, globals_=(), env=None):
        s = Server(self, serve_args, globals_, env)
        self.servers.append(s)
        return s

    def finish(self):
        for s in self.servers:
            s.kill()
        if os.environ.get("AFMPEG_SERVE_KEEP") != "1":
            shutil.rmtree(self.scratch, ignore_errors=True)
        print("\n%d passed, %d failed" % (self.passed, self.failed))
        return 0 if self.failed == 0 else 1


def wait_for(fn, timeout, step=0.05):
    """fn() until it returns something true, for at most `timeout` seconds: that, or None."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= end:
            return v
        time.sleep(step)


class Server:
    """`afmpeg [GLOBALS] serve --listen 127.0.0.1:0 --ops-listen 127.0.0.1:0 ARGS`."""

    def __init__(self, suite, args, globals_, env):
        n = len(suite.servers)
        self.log_path = suite.path("server-%d.log" % n)
        self.log = open(self.log_path, "wb")
        cmd = [CLI, *globals_, "serve", "--listen", HOST + ":0", "--ops-listen", HOST + ":0",
               *args]
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log, env=e)
        line = wait_for(lambda: self.find_log("listening") or self.proc.poll() is not None, 30)
        if not isinstance(line, dict):
            raise CheckFailed("the server did not start: " + self.log_text()[-500:])
        self.api = line["api"]
        self.ops = line["ops"]
        self.port = int(self.api.rsplit(":", 1)[1])

    def log_lines(self):
        out = []
        with open(self.log_path, "rb") as f:
            for raw in f:
                try:
                    out.append(json.loads(raw))
                except ValueError:
                    pass
        return out

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def find_log(self, msg, **fields):
        for line in self.log_lines():
            if line.get("msg") == msg and all(line.get(k) == v for k, v in fields.items()):
                return line
        return None

    def request(self, method, path, body=None, headers=None, ops=False, timeout=60):
        """(status, headers as a dict with lower-case names, body bytes)."""
        host, port = (self.ops if ops else self.api).rsplit(":", 1)
        c = http.client.HTTPConnection(host, int(port), timeout=timeout)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None):
        """(status, the body as JSON)."""
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        st, _, data = self.request(method, path, body, headers)
        try:
            return st, json.loads(data)
        except ValueError:
            raise CheckFailed("%s %s: %d, not JSON: %r" % (method, path, st, data[:200]))

    def metric(self, name):
        """The value of an unlabelled (or fully labelled, as `name`) metric, or None."""
        _, _, text = self.request("GET", "/metrics", ops=True)
        for line in text.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return None

    def stop(self, timeout=30):
        """SIGTERM, then the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def problem(status, body, want_status, want_error):
    """Checks a JSON problem's status and stable error name."""
    expect(status == want_status and isinstance(body, dict) and body.get("error") == want_error,
           "want %d %s, got %d %s" % (want_status, want_error, status, body))


def ffprobe(path, entries="stream=codec_name,width,height:format=duration"):
    """Debian's ffprobe on a file: the compact output's lines."""
    r = subprocess.run(["ffprobe", "-v", "error", "-show_entries", entries, "-of",
                        "compact=p=0", path], capture_output=True, text=True, timeout=60)
    return r.stdout.strip().splitlines()


def decodes_cleanly(path):
    """Debian's ffmpeg decodes the whole file without a message."""
    r = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "null", "-"],
                       capture_output=True, text=True, timeout=120)
    return r.returncode == 0 and not r.stderr.strip()


def make_clip(path, seconds, size="320x240", extra=()):
    """A test clip made by Debian's ffmpeg: testsrc2 and a sine, H.264 and AAC."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=%s:rate=25:duration=%s" % (size, seconds), "-f", "lavfi",
                    "-i", "sine=frequency=440:duration=%s" % seconds, "-c:v", "libx264",
                    "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", *extra,
                    "-shortest", path], check=True, timeout=120)
