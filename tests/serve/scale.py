#!/usr/bin/env python3
"""Scale-out tests of `afmpeg worker` and `afmpeg serve --nats` (tests/serve/scale.sh runs
this): a JetStream server with file storage, one gateway, workers, all on ephemeral ports of
127.0.0.1. Media go through the gateway's blob endpoint by signed URL, never through NATS.

  duplicates  the same job submitted twice (gateway), published twice with one message id, and
              twice under two message ids: each runs once
  failures    a poison input is terminated after one attempt; a job longer than the ack wait
              is not redelivered (heartbeats); a failed download is retried (nak with backoff);
              a cancelled job is terminated; a job without output URL is a bad job
  scale       100 jobs on 3 workers, one killed with SIGKILL mid-job, one stopped with SIGTERM:
              every job COMPLETE once, one output each, attempts as expected, none lost
  restart     JetStream killed and restarted on the same store while jobs wait: none lost

Each check prints "ok   NAME (T s)" or "FAIL NAME (T s)" with why; the last line is
"N passed, N failed". Python 3 standard library only; Debian's ffprobe reads outputs back."""

import datetime
import hashlib
import hmac
import http.client
import http.server
import json
import os
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
ACK_WAIT = 3          # seconds: --ack-wait of the workers
KEY_ID, KEY = "k1", "scale-test-secret-0123456789"
SCALE_JOBS = 100


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ts(line):
    """A log line's time, in seconds."""
    return datetime.datetime.strptime(line["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


class Suite:
    def __init__(self):
        self.passed = self.failed = 0
        self.scratch = tempfile.mkdtemp(prefix="afmpeg-scale-")
        self.procs = []

    def check(self, name, fn):
        t0 = time.monotonic()
        try:
            fn()
        except Exception as e:
            self.failed += 1
            why = str(e) if isinstance(e, CheckFailed) else "%s: %s" % (type(e).__name__, e)
            print("FAIL %s (%.1f s)" % (name, time.monotonic() - t0))
            for line in why.splitlines()[:10]:
                print("     " + line)
        else:
            self.passed += 1
            print("ok   %s (%.1f s)" % (name, time.monotonic() - t0))

    def path(self, name):
        return os.path.join(self.scratch, name)

    def finish(self):
        for p in self.procs:
            p.kill()
        if os.environ.get("AFMPEG_SCALE_KEEP") != "1":
            shutil.rmtree(self.scratch, ignore_errors=True)
        else:
            print("kept " + self.scratch)
        print("\n%d passed, %d failed" % (self.passed, self.failed))
        return 0 if self.failed == 0 else 1


class Proc:
    """A process with its stderr in a log file; killed at the end whatever happens."""

    def __init__(self, suite, name, cmd):
        self.name = name
        self.log_path = suite.path(name + ".log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.log)
        suite.procs.append(self)

    def lines(self):
        """The log's JSON lines (read again only when the file grew)."""
        size = os.path.getsize(self.log_path)
        if getattr(self, "_size", -1) == size:
            return self._lines
        out = []
        with open(self.log_path, "rb") as f:
            for raw in f:
                try:
                    out.append(json.loads(raw))
                except ValueError:
                    pass
        self._size, self._lines = size, out
        return out

    def find(self, msg):
        return [l for l in self.lines() if l.get("msg") == msg]

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class NatsServer(Proc):
    def __init__(self, suite, port, store, n):
        super().__init__(suite, "nats-%d" % n, ["nats-server", "-js", "-sd", store, "-a", HOST,
                                                "-p", str(port)])
        self.port = port
        ok = wait_for(lambda: "Server is ready" in self.text() or self.proc.poll() is not None,
                      20)
        expect(ok and self.proc.poll() is None, "nats-server did not start: " + self.text()[-400:])


class NatsClient:
    """Just enough of the NATS protocol: requests (the JetStream API) and publishing with a
    header (Nats-Msg-Id)."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=10)
        self.f = self.sock.makefile("rb")
        self.f.readline()  # INFO
        self.sock.sendall(b'CONNECT {"verbose":false,"headers":true}\r\nSUB _INBOX.t 1\r\n')

    def _reply(self):
        while True:
            line = self.f.readline()
            if not line:
                raise CheckFailed("NATS closed the connection")
            if line.startswith(b"PING"):
                self.sock.sendall(b"PONG\r\n")
            elif line.startswith(b"MSG") or line.startswith(b"HMSG"):
                parts = line.split()
                data = self.f.read(int(parts[-1]) + 2)[:-2]
                if line.startswith(b"HMSG"):
                    data = data[int(parts[-2]):]
                return json.loads(data) if data else {}
            elif line.startswith(b"-ERR"):
                raise CheckFailed("NATS: %r" % line)

    def request(self, subject, body=b""):
        self.sock.sendall(b"PUB %s _INBOX.t %d\r\n%s\r\n" % (subject.encode(), len(body), body))
        return self._reply()

    def publish_job(self, job, msg_id):
        """Publishes to the queue with a message id: JetStream's ack ({"seq", "duplicate"})."""
        body = json.dumps(job).encode()
        hdr = b"NATS/1.0\r\nNats-Msg-Id: %s\r\n\r\n" % msg_id.encode()
        self.sock.sendall(b"HPUB afmpeg.jobs _INBOX.t %d %d\r\n%s%s\r\n" % (
            len(hdr), len(hdr) + len(body), hdr, body))
        return self._reply()

    def stream(self):
        r = self.request("$JS.API.STREAM.INFO.AFMPEG_JOBS")
        expect("state" in r, "the stream AFMPEG_JOBS: %s" % r)
        return r["state"]

    def consumer(self):
        r = self.request("$JS.API.CONSUMER.INFO.AFMPEG_JOBS.AFMPEG_WORKERS")
        expect("num_pending" in r, "the consumer AFMPEG_WORKERS: %s" % r)
        return r

    def close(self):
        self.sock.close()


class Gateway(Proc):
    def __init__(self, suite, nats_port, keys):
        super().__init__(suite, "gateway", [
            CLI, "--instances", "1", "serve", "--listen", HOST + ":0", "--ops-listen", "off",
            "--nats", "nats://%s:%d" % (HOST, nats_port), "--signing-key-file", keys,
            "--allow-url", "http://%s:" % HOST, "--allow-private", "--url-ttl", "900"])
        line = wait_for(lambda: self.find("listening") or self.proc.poll() is not None, 30)
        expect(isinstance(line, list), "the gateway did not start: " + self.text()[-500:])
        self.api = line[0]["api"]
        self.port = int(self.api.rsplit(":", 1)[1])

    def request(self, method, path, body=None, timeout=30):
        c = http.client.HTTPConnection(HOST, self.port, timeout=timeout)
        try:
            c.request(method, path, body=body)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def json(self, method, path, body=None):
        if isinstance(body, dict):
            body = json.dumps(body).encode()
        st, data = self.request(method, path, body)
        try:
            return st, json.loads(data)
        except ValueError:
            raise CheckFailed("%s %s: %d, not JSON: %r" % (method, path, st, data[:200]))

    def state(self, job_id):
        st, s = self.json("GET", "/v1/jobs/" + job_id)
        return s if st == 200 else None

    def puts(self, job_id):
        """PUT requests the gateway took for the job's outputs."""
        return [l for l in self.find("request") if l.get("method") == "PUT" and
                l.get("path", "").startswith("/v1/blobs/jobs/%s/" % job_id)]


class Worker(Proc):
    def __init__(self, suite, nats_port, name, grace=30, instances=2):
        super().__init__(suite, name, [
            CLI, "--instances", str(instances), "worker", "--nats",
            "nats://%s:%d" % (HOST, nats_port), "--ack-wait", str(ACK_WAIT), "--max-deliver",
            "5", "--allow-url", "http://%s:" % HOST, "--allow-private", "--grace", str(grace),
            "--name", name])
        ok = wait_for(lambda: self.find("worker ready") or self.proc.poll() is not None, 30)
        expect(self.proc.poll() is None and ok, "worker %s did not start: %s" % (
            name, self.text()[-500:]))

    def pulled(self):
        return self.find("pulled")

    def ended(self):
        return self.find("job")

    def in_flight(self):
        """Jobs pulled and not ended, by this log: {(job, attempt): pull time}."""
        open_ = {(l["job"], l["attempt"]): ts(l) for l in self.pulled()}
        for l in self.ended():
            open_.pop((l["job"], l["attempt"]), None)
        return open_


class Flaky(http.server.BaseHTTPRequestHandler):
    """Serves the clip; the first GET of each path gets 503 (a transient failure)."""
    data = b""
    seen = set()
    calls = []

    def do_GET(self):
        Flaky.calls.append(self.path)
        if self.path not in Flaky.seen:
            Flaky.seen.add(self.path)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(Flaky.data)))
        self.end_headers()
        self.wfile.write(Flaky.data)

    def log_message(self, *args):
        pass


def signed(path, method, ttl=900):
    exp = int(time.time()) + ttl
    sig = hmac.new(KEY.encode(), ("%s\n%s\n%d" % (method, path, exp)).encode(),
                   hashlib.sha256).hexdigest()
    return "%s?expires=%d&kid=%s&sig=%s" % (path, exp, KEY_ID, sig)


def make_clip(path, seconds):
    """64x48 testsrc2 and a sine (the AAC encode is what takes the time), H.264 + AAC."""
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc2=size=64x48:rate=25:duration=%s" % seconds, "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=%s" % seconds, "-c:v", "libx264", "-pix_fmt",
                    "yuv420p", "-c:a", "aac", "-shortest", path], check=True, timeout=120)


def job(job_id, upload=None, url=None, out_url=None):
    inp = {"upload": upload} if upload else {"url": url}
    out = {"format": "mp4", "codecs": {"video": "libopenh264", "audio": "aac"}}
    if out_url:
        out["url"] = out_url
    return {"id": job_id, "inputs": [inp], "outputs": [out]}


def main():
    suite = Suite()
    try:
        run(suite)
    except Exception as e:  # a set-up step failed: counted, then everything is killed
        suite.failed += 1
        print("FAIL set-up: %s: %s" % (type(e).__name__, e))
    return suite.finish()


def run(suite):
    t_start = time.monotonic()
    clip, long_clip, poison = suite.path("clip.mp4"), suite.path("long.mp4"), suite.path("poison")
    make_clip(clip, 20)        # ~0.3 s a job
    make_clip(long_clip, 400)  # a few seconds: longer than the ack wait
    with open(poison, "wb") as f:
        f.write(os.urandom(64 * 1024))
    keys = suite.path("keys")
    with open(keys, "w") as f:
        f.write("%s %s\n" % (KEY_ID, KEY))
    store = suite.path("jetstream")
    nats_port = free_port()
    nats = [NatsServer(suite, nats_port, store, 0)]
    gw = Gateway(suite, nats_port, keys)
    workers = {n: Worker(suite, nats_port, n, grace=0 if n == "w2" else 30)
               for n in ("w1", "w2", "w3")}
    nc = NatsClient(nats_port)
    base = "http://%s:%d" % (HOST, gw.port)
    flaky = http.server.ThreadingHTTPServer((HOST, 0), Flaky)
    Flaky.data = open(clip, "rb").read()
    threading.Thread(target=flaky.serve_forever, daemon=True).start()

    def upload(path, name):
        st, up = gw.json("POST", "/v1/uploads?name=" + name, open(path, "rb").read())
        expect(st == 201, "upload: %d %s" % (st, up))
        return up["id"]

    up = upload(clip, "clip.mp4")
    up_long = upload(long_clip, "long.mp4")
    up_poison = upload(poison, "poison.mp4")

    def all_workers():
        return list(workers.values())

    def pulls(job_id):
        return [(w.name, l) for w in all_workers() for l in w.pulled() if l["job"] == job_id]

    def ends(job_id):
        return [(w.name, l) for w in all_workers() for l in w.ended() if l.get("job") == job_id]

    def commits(job_id):
        """Final states committed (COMPLETE, ERROR, CANCELED), by whom."""
        return [(n, l) for n, l in ends(job_id) if l["committed"] == "yes" and
                l["outcome"] in ("COMPLETE", "ERROR", "CANCELED")]

    def wait_final(ids, timeout):
        final = {}

        def done():
            for i in ids:
                if i not in final:
                    s = gw.state(i)
                    if s and s["state"] in ("COMPLETE", "ERROR", "CANCELED"):
                        final[i] = s
            return len(final) == len(ids)
        wait_for(done, timeout, 0.2)
        missing = [i for i in ids if i not in final]
        expect(not missing, "%d jobs not final after %d s: %s" % (len(missing), timeout,
                                                                 missing[:5]))
        return final

    def complete_once(job_id, s, attempts=1):
        expect(s["state"] == "COMPLETE" and s["attempts"] == attempts and
               len(s.get("outputs", [])) == 1, "%s: %s" % (job_id, s))
        c = commits(job_id)
        expect(len(c) == 1 and c[0][1]["outcome"] == "COMPLETE",
               "%s: committed %d times: %s" % (job_id, len(c), c))

    # ---- duplicates ----
    def duplicates():
        st1, s1 = gw.json("POST", "/v1/jobs", job("dup-1", up))
        st2, s2 = gw.json("POST", "/v1/jobs", job("dup-1", up))
        expect(st1 == 202 and st2 == 200 and s2["id"] == "dup-1", "submit twice: %d %d %s" % (
            st1, st2, s2))
        st3, s3 = gw.json("POST", "/v1/jobs", job("dup-1", up_long))
        expect(st3 == 409 and s3.get("error") == "conflict", "another job, same id: %d" % st3)
        # the queue's own de-duplication: one message id published twice
        inp = base + signed("/v1/blobs/uploads/" + up, "GET")
        out = base + signed("/v1/blobs/jobs/raw-1/0", "PUT")
        a1 = nc.publish_job(job("raw-1", url=inp, out_url=out), "raw-1")
        a2 = nc.publish_job(job("raw-1", url=inp, out_url=out), "raw-1")
        expect(a1.get("seq") and not a1.get("duplicate") and a2.get("duplicate") is True,
               "JetStream acks: %s %s" % (a1, a2))
        # two copies under two message ids (as after the duplicates window): the state says
        # which one holds the job; the other is acked unrun
        out2 = base + signed("/v1/blobs/jobs/raw-2/0", "PUT")
        for mid in ("raw-2-a", "raw-2-b"):
            a = nc.publish_job(job("raw-2", url=inp, out_url=out2), mid)
            expect(a.get("seq") and not a.get("duplicate"), "publish %s: %s" % (mid, a))
        final = wait_final(["dup-1", "raw-1", "raw-2"], 30)
        for i in ("dup-1", "raw-1", "raw-2"):
            complete_once(i, final[i])
            expect(len(gw.puts(i)) == 1, "%s: %d PUTs of its output" % (i, len(gw.puts(i))))
        expect(len(pulls("dup-1")) == 1 and len(pulls("raw-1")) == 1,
               "pulled: dup-1 %d times, raw-1 %d times" % (len(pulls("dup-1")),
                                                            len(pulls("raw-1"))))
        copies = [l["outcome"] for n, l in ends("raw-2")]
        expect(sorted(copies) in (["COMPLETE", "duplicate"], ["COMPLETE", "ended already"]),
               "raw-2's two messages: %s" % copies)
        st, data = gw.request("GET", final["raw-1"]["outputs"][0]["url"])
        expect(st == 200 and len(data) == final["raw-1"]["outputs"][0]["size"],
               "raw-1's output through the gateway: %d" % st)
    suite.check("duplicates: the same job submitted twice, and published twice, runs once",
                duplicates)

    # ---- failures ----
    def failures():
        flaky_url = "http://%s:%d/clip.mp4" % (HOST, flaky.server_address[1])
        ids = {"poison": job("poison", up_poison), "long": job("long", up_long),
               "cancel": job("cancel", up_long), "flaky": job("flaky", url=flaky_url)}
        for i, j in ids.items():
            st, s = gw.json("POST", "/v1/jobs", j)
            expect(st == 202, "submit %s: %d %s" % (i, st, s))
        events = []

        def follow():  # the long job's server-sent events (the gateway polls the bucket)
            st, body = gw.request("GET", "/v1/jobs/long/events", timeout=60)
            events.append((st, body.decode("utf-8", "replace")))
        follower = threading.Thread(target=follow, daemon=True)
        follower.start()
        bad = job("nourl", url=base + signed("/v1/blobs/uploads/" + up, "GET"))
        expect(nc.publish_job(bad, "nourl").get("seq"), "publish nourl")
        # cancel "cancel" once it runs
        expect(wait_for(lambda: (gw.state("cancel") or {}).get("state") == "PROGRESSING", 20),
               "the job to cancel never ran")
        st, s = gw.json("DELETE", "/v1/jobs/cancel")
        expect(st == 202, "DELETE: %d %s" % (st, s))
        final = wait_final(list(ids) + ["nourl"], 60)
        # poison: ERROR, terminated after one attempt, never redelivered
        p = final["poison"]
        expect(p["state"] == "ERROR" and p["attempts"] == 1 and
               p["error"]["error"] in ("ffmpeg_failed", "media_error"), "poison: %s" % p)
        e = [l for n, l in ends("poison")]
        expect(len(e) == 1 and e[0]["verb"] == "term", "poison's message: %s" % e)
        # a job longer than the ack wait: heartbeats keep it with its worker
        lj = final["long"]
        el = [l for n, l in ends("long")]
        expect(len(el) == 1 and float(el[0]["seconds"]) > ACK_WAIT + 0.5,
               "the long job took %s s (it must outlast the ack wait of %d s)" % (
                   [l["seconds"] for l in el], ACK_WAIT))
        complete_once("long", lj)
        follower.join(10)
        expect(events and events[0][0] == 200, "events: %s" % events[:1])
        evs = [e.split("\n", 1) for e in events[0][1].split("\n\n") if e.startswith("event:")]
        kinds = [k for k, _ in evs]
        datas = [json.loads(d[len("data: "):]) for _, d in evs]
        expect(kinds[-1] == "event: end" and datas[-1]["state"] == "COMPLETE" and
               any(d["state"] == "PROGRESSING" and isinstance(d.get("fraction"), float) and
                   0 < d["fraction"] < 1 for d in datas),
               "events: %s" % [(k, d["state"], d.get("fraction")) for k, d in zip(kinds, datas)])
        # a transient failure (a 503 on the input): nak with backoff, then done
        f = final["flaky"]
        complete_once("flaky", f, attempts=2)
        ef = sorted((l for n, l in ends("flaky")), key=lambda l: l["attempt"])
        expect([(l["outcome"], l["verb"]) for l in ef] == [("requeued", "nak"),
                                                             ("COMPLETE", "ack")] and
               f.get("last_error", {}).get("error") == "fetch_failed",
               "flaky: %s, last_error %s" % ([(l["outcome"], l["verb"]) for l in ef],
                                             f.get("last_error")))
        # cancelled: CANCELED, terminated
        c = final["cancel"]
        ec = [l for n, l in ends("cancel")]
        expect(c["state"] == "CANCELED" and c["attempts"] == 1 and len(ec) == 1 and
               ec[0]["verb"] == "term", "cancel: %s %s" % (c, ec))
        # no output URL: a bad job, terminated
        b = final["nourl"]
        expect(b["state"] == "ERROR" and b["error"]["error"] == "bad_job" and
               b["attempts"] == 1, "nourl: %s" % b)
        # none of them comes back after the ack wait
        time.sleep(ACK_WAIT + 1)
        for i in ("poison", "long", "cancel", "nourl"):
            expect(len(pulls(i)) == 1, "%s was pulled %d times" % (i, len(pulls(i))))
        expect(len(pulls("flaky")) == 2, "flaky was pulled %d times" % len(pulls("flaky")))
        s = nc.stream()
        expect(s["messages"] == 0, "messages left in the stream: %s" % s)
    suite.check("failures: poison terminated after one attempt, heartbeats, backoff, cancel",
                failures)

    # ---- scale ----
    scale_ids = ["s-%03d" % i for i in range(SCALE_JOBS)]
    info = {}

    def scale():
        t0 = time.monotonic()
        for i in scale_ids:
            st, s = gw.json("POST", "/v1/jobs", job(i, up))
            expect(st == 202, "submit %s: %d %s" % (i, st, s))
        done = lambda: sum(1 for w in all_workers() for l in w.ended()
                           if l["job"].startswith("s-") and l["outcome"] == "COMPLETE")
        # SIGKILL w1 while it runs a job
        w1, w2 = workers["w1"], workers["w2"]
        expect(wait_for(lambda: done() >= 10 and w1.in_flight(), 60, 0.01),
               "w1 never had a job in flight")
        w1.signal(signal.SIGKILL)
        w1.wait(10)
        info["killed_at"] = time.time()
        info["killed"] = w1.in_flight()
        workers["w4"] = Worker(suite, nats_port, "w4")  # a replacement joins
        # SIGTERM w2 (--grace 0) while it runs a job: the job goes back to the queue
        # a job pulled within the last 80 ms: a job takes about 0.3 s, so it still runs when
        # the signal lands (a job about to end could finish first, leaving nothing to give back)
        n = done()
        fresh = lambda w: any(time.time() - t < 0.08 for t in w.in_flight().values())
        expect(wait_for(lambda: done() >= n + 20 and fresh(w2), 60, 0.005),
               "w2 never had a job in flight")
        info["stopped_at"] = time.time()
        w2.signal(signal.SIGTERM)
        info["w2_exit"] = w2.wait(30)
        final = wait_final(scale_ids, 120)
        info["final"] = final
        info["seconds"] = time.monotonic() - t0
        bad = {i: s["state"] for i, s in final.items() if s["state"] != "COMPLETE"}
        expect(not bad, "not COMPLETE: %s" % bad)
    suite.check("scale: %d jobs on 3 workers, one SIGKILLed and one SIGTERMed mid-job, all "
                "COMPLETE" % SCALE_JOBS, scale)

    def scale_ran():
        expect("final" in info, "the scale run did not end (above)")
        return info["final"]

    def once():
        final = scale_ran()
        for i in scale_ids:
            s = final[i]
            expect(len(s.get("outputs", [])) == 1, "%s: outputs %s" % (i, s.get("outputs")))
            c = commits(i)
            expect(len(c) == 1 and c[0][1]["outcome"] == "COMPLETE" and
                   int(c[0][1]["attempt"]) == s["attempts"],
                   "%s committed %d times: %s (state %s)" % (i, len(c), c, s))
            expect(1 <= len(gw.puts(i)) <= s["attempts"], "%s: %d PUTs, %d attempts" % (
                i, len(gw.puts(i)), s["attempts"]))
    suite.check("scale: each job committed exactly once, with one output", once)

    def attempts():
        final = scale_ran()
        killed = {j for j, a in info["killed"]}
        expect(killed, "no job was in flight on w1 when it was killed")
        # w2 (--grace 0) gave its running jobs back, and left none unsettled
        expect(info["w2_exit"] == 0, "w2 exited %s after SIGTERM" % info["w2_exit"])
        naks = [l for l in workers["w2"].ended() if l["outcome"] == "requeued" and
                l["job"].startswith("s-")]
        stopping = {l["job"] for l in naks}
        expect(naks, "w2 had no job to give back when stopped")
        expect(all(l["verb"] == "nak" and l["error"] == "shutdown" for l in naks),
               "w2 gave its jobs back without a nak: %s" % naks)
        expect(not workers["w2"].in_flight(), "w2 left jobs unsettled: %s" %
               workers["w2"].in_flight())
        unlogged = []
        for i in scale_ids:
            a = final[i]["attempts"]
            if i in killed or i in stopping:
                expect(a >= 2, "%s was in flight on a worker that went away: %d attempts" % (
                    i, a))
            # every earlier attempt was on the killed or the stopped worker
            for k in range(1, a):
                on = [n for n, l in pulls(i) if int(l["attempt"]) == k]
                expect(on and set(on) <= {"w1", "w2"} or not on,
                       "%s: attempt %d of %d was on %s" % (i, k, a, on))
                if not on:
                    # delivered to w1 as it was killed, before it could log it: then it came
                    # back after the ack wait
                    nxt = [l for n, l in pulls(i) if int(l["attempt"]) == k + 1]
                    expect(k == 1 and nxt and ACK_WAIT / 2 < ts(nxt[0]) - info["killed_at"] <
                           3 * ACK_WAIT, "%s: attempt %d of %d was pulled by no worker (%s)" % (
                               i, k, a, nxt))
                    unlogged.append(i)
        expect(len(unlogged) <= 2, "jobs lost in flight: %s" % unlogged)
        info["unlogged"] = unlogged
        # killed: redelivered after the ack wait; stopped: given back at once (nak)
        for i, a in info["killed"]:
            p = [(n, l) for n, l in pulls(i) if int(l["attempt"]) == int(a) + 1]
            expect(p and p[0][0] != "w1" and ts(p[0][1]) - info["killed_at"] > ACK_WAIT / 2,
                   "%s (killed on w1) pulled again: %s" % (i, p))
        delays = []
        for l in naks:
            p = [(n, x) for n, x in pulls(l["job"]) if int(x["attempt"]) == int(l["attempt"]) + 1]
            expect(p and p[0][0] != "w2" and ts(p[0][1]) - ts(l) < ACK_WAIT / 2,
                   "%s (given back by w2) pulled again: %s" % (l["job"], p))
            delays.append(ts(p[0][1]) - ts(l))
        print("     (%d jobs in %.1f s; in flight on w1 at SIGKILL: %d logged, %d not yet; on w2 "
              "at SIGTERM: %d, pulled again %.2f s at most after the nak)" % (
                  SCALE_JOBS, info["seconds"], len(killed), len(info["unlogged"]),
                  len(stopping), max(delays)))
    suite.check("scale: attempts > 1 only for jobs in flight on the killed or stopped worker",
                attempts)

    def outputs():
        final = scale_ran()
        for k, i in enumerate(scale_ids):
            o = final[i]["outputs"][0]
            st, data = gw.request("GET", o["url"])
            expect(st == 200 and len(data) == o["size"] > 0, "%s: output %d, %d bytes" % (
                i, st, len(data)))
            if k % 20 == 0 or i in {j for j, a in info["killed"]}:
                path = suite.path(i + ".mp4")
                with open(path, "wb") as f:
                    f.write(data)
                r = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                                    "stream=codec_name,width,height:format=duration", "-of",
                                    "compact=p=0", path], capture_output=True, text=True,
                                   timeout=60)
                lines = r.stdout.split()
                expect(r.returncode == 0 and "codec_name=h264|width=64|height=48" in lines and
                       "codec_name=aac" in lines and
                       abs(float(lines[-1].split("=")[1]) - 20) < 0.2,
                       "%s: ffprobe says %s %s" % (i, lines, r.stderr[-200:]))
    suite.check("scale: every output is there; some decode (ffprobe)", outputs)

    def none_lost():
        s = nc.stream()
        c = nc.consumer()
        expect(s["messages"] == 0 and c["num_pending"] == 0 and c["num_ack_pending"] == 0,
               "left in the queue: stream %s, consumer pending %s, ack pending %s" % (
                   s, c["num_pending"], c["num_ack_pending"]))
    suite.check("scale: the queue is empty, nothing waits for an ack", none_lost)

    # ---- restart ----
    restart_ids = ["r-%d" % i for i in range(10)]

    def restart():
        for n in ("w3", "w4"):
            workers[n].signal(signal.SIGTERM)
        for n in ("w3", "w4"):
            expect(workers[n].wait(30) == 0, "%s did not exit 0 after SIGTERM" % n)
        for i in restart_ids + ["r-cancel"]:
            st, s = gw.json("POST", "/v1/jobs", job(i, up))
            expect(st == 202, "submit %s: %d %s" % (i, st, s))
        # cancelled while queued: CANCELED at once; the worker that pulls it acks it unrun
        st, s = gw.json("DELETE", "/v1/jobs/r-cancel")
        expect(st == 202 and s["state"] == "CANCELED", "DELETE a queued job: %d %s" % (st, s))
        expect(nc.stream()["messages"] == len(restart_ids) + 1, "queued: %s" % nc.stream())
        nc.close()
        nats[0].signal(signal.SIGKILL)
        nats[0].wait(10)
        st, s = gw.json("POST", "/v1/jobs", job("r-down", up))
        expect(st == 503, "a job submitted while NATS is down: %d %s" % (st, s))
        nats.append(NatsServer(suite, nats_port, store, 1))
        expect(wait_for(lambda: gw.state("r-0"), 20), "the gateway did not reconnect")
        c2 = NatsClient(nats_port)
        queued = c2.stream()["messages"]
        expect(queued == len(restart_ids) + 1,
               "after the restart the stream holds %d jobs" % queued)
        for n in ("w5", "w6"):
            workers[n] = Worker(suite, nats_port, n)
        final = wait_final(restart_ids, 60)
        for i in restart_ids:
            complete_once(i, final[i])
        expect(wait_for(lambda: ends("r-cancel"), 10), "r-cancel was never pulled")
        e = [l["outcome"] for n, l in ends("r-cancel")]
        expect(e == ["ended already"] and gw.state("r-cancel")["state"] == "CANCELED",
               "r-cancel: %s" % e)
        s = c2.stream()
        expect(s["messages"] == 0, "left in the stream: %s" % s)
        c2.close()
    suite.check("restart: JetStream killed and restarted with jobs queued loses none", restart)

    def stop():
        procs = [workers[n] for n in ("w5", "w6") if n in workers] + [gw]
        for p in procs:
            p.signal(signal.SIGTERM)
        codes = {p.name: p.wait(15) for p in procs}
        expect(all(c == 0 for c in codes.values()) and len(procs) == 3,
               "exit statuses after SIGTERM: %s" % codes)
        expect(all(p.find("stopped") for p in procs), "no 'stopped' line")
    suite.check("stop: the gateway and idle workers exit 0 on SIGTERM", stop)
    print("     (the suite took %.1f s)" % (time.monotonic() - t_start))


if __name__ == "__main__":
    sys.exit(main())
