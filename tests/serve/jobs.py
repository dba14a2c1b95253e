#!/usr/bin/env python3
"""Tests of `afmpeg serve`'s asynchronous jobs (tests/serve/jobs.sh runs this): uploads, jobs
and their states, server-sent events, cancel, outputs, signed URLs, URL inputs and outputs
behind the allow-list, webhooks, de-duplication and the store's limits. Outputs are decoded with
Debian's ffprobe and ffmpeg."""

import hashlib
import hmac
import http.server
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Suite, expect, problem, wait_for, ffprobe, decodes_cleanly, make_clip,
                     CheckFailed, HOST)

suite = Suite("afmpeg-jobs-")
KEY_ID, KEY = "k2", "a-secret-of-sixteen-or-more"
OLD_ID, OLD_KEY = "k1", "the-previous-secret-key"


class Hooks(http.server.BaseHTTPRequestHandler):
    """A webhook receiver: the first `fail_first` calls get 500, then 204; calls are kept."""
    calls = []
    fail_first = 0

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        Hooks.calls.append((dict(self.headers), body, time.monotonic()))
        self.send_response(500 if len(Hooks.calls) <= Hooks.fail_first else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def signed(path, method="GET", key_id=KEY_ID, key=KEY, ttl=60):
    """PATH?expires=&kid=&sig=, as the server signs (HMAC-SHA256 of METHOD\nPATH\nEXPIRES)."""
    exp = int(time.time()) + ttl
    sig = hmac.new(key.encode(), ("%s\n%s\n%d" % (method, path, exp)).encode(),
                   hashlib.sha256).hexdigest()
    return "%s?expires=%d&kid=%s&sig=%s" % (path, exp, key_id, sig)


def main():
    clip = suite.path("clip.mp4")
    make_clip(clip, 2)
    long_clip = suite.path("long.mp4")
    make_clip(long_clip, 30, "640x360")
    media = open(clip, "rb").read()
    keys = suite.path("keys")
    with open(keys, "w") as f:
        f.write("# new key first: it signs; both verify\n%s %s\n%s %s\n" % (KEY_ID, KEY, OLD_ID,
                                                                           OLD_KEY))
    hooks = http.server.ThreadingHTTPServer((HOST, 0), Hooks)
    threading.Thread(target=hooks.serve_forever, daemon=True).start()
    hook_url = "http://%s:%d/hook" % (HOST, hooks.server_address[1])
    token = "job-token-1"
    srv = suite.server("--signing-key-file", keys, "--allow-url", hook_url,
                       "--allow-url", "http://%s:" % HOST, "--allow-private", "--max-jobs", "3",
                       "--store-limit", "24M", globals_=("--instances", "2"),
                       env={"AFMPEG_SERVE_TOKENS": token})
    auth = {"Authorization": "Bearer " + token}
    state = {}

    def upload(data=media, name="clip.mp4"):
        st, up = srv.json("POST", "/v1/uploads?name=" + name, data, auth)
        expect(st == 201 and up.get("size") == len(data), "upload: %d %s" % (st, up))
        return up["id"]

    def wait_final(job_id, timeout=60):
        def final():
            st, s = srv.json("GET", "/v1/jobs/" + job_id, None, auth)
            return s if s.get("state") in ("COMPLETE", "ERROR", "CANCELED") else None
        s = wait_for(final, timeout, 0.1)
        expect(s, "job %s did not end in %d s" % (job_id, timeout))
        return s

    def job_runs():
        up = upload()
        state["up"] = up
        st, s = srv.json("POST", "/v1/jobs", {
            "inputs": [{"upload": up}],
            "outputs": [{"name": "small.mp4", "codecs": {"video": "libopenh264", "audio": "aac"},
                         "filters": {"video": "scale=160:-2"}},
                        {"name": "audio.ogg", "maps": ["0:a"]}],
            "webhook": hook_url}, auth)
        expect(st == 202 and s["state"] in ("SUBMITTED", "PROGRESSING"), "submit: %d %s" % (st, s))
        s = wait_final(s["id"])
        expect(s["state"] == "COMPLETE" and len(s["outputs"]) == 2, "state: %s" % s)
        state["job"] = s
        st, hdr, data = srv.request("GET", s["outputs"][0]["url"])  # signed: no token
        expect(st == 200 and len(data) == s["outputs"][0]["size"], "output 0: %d" % st)
        out = suite.path("small.mp4")
        open(out, "wb").write(data)
        info = ffprobe(out)
        expect(info[0].startswith("codec_name=h264|width=160"), "streams: %s" % info)
        expect(any(l.startswith("codec_name=aac") for l in info), "no aac: %s" % info)
        dur = float(info[-1].split("=")[1])
        expect(abs(dur - 2.0) < 0.1, "duration %s" % dur)
        expect(decodes_cleanly(out), "output 0 does not decode cleanly")
        st, _, data = srv.request("GET", s["outputs"][1]["url"])
        out = suite.path("audio.ogg")
        open(out, "wb").write(data)
        expect(st == 200 and ffprobe(out)[0].startswith("codec_name=vorbis"), "output 1")

    def events_stream():
        st, s = srv.json("POST", "/v1/jobs", {"inputs": [{"upload": state["up"]}],
                                               "outputs": [{"format": "mp4"}]}, auth)
        st, hdr, body = srv.request("GET", "/v1/jobs/%s/events" % s["id"], headers=auth)
        expect(st == 200 and hdr.get("content-type") == "text/event-stream", "events: %d" % st)
        events = [e for e in body.decode().split("\n\n") if e.strip()]
        kinds = [e.split("\n")[0] for e in events]
        expect(kinds[-1] == "event: end" and all(k in ("event: state", "event: end")
                                                 for k in kinds), "events: %s" % kinds)
        last = json.loads(events[-1].split("data: ", 1)[1])
        expect(last["state"] == "COMPLETE" and last["fraction"] == 1, "last: %s" % last)
        fractions = [json.loads(e.split("data: ", 1)[1])["fraction"] for e in events]
        known = [f for f in fractions if f is not None]
        expect(known == sorted(known), "fractions go back: %s" % fractions)

    def signed_urls():
        url = state["job"]["outputs"][0]["url"]
        expect("kid=%s" % KEY_ID in url, "signed with the first key: %s" % url)
        tampered = url.replace("/outputs/0", "/outputs/1")
        st, body = srv.json("GET", tampered)
        problem(st, body, 403, "bad_signature")
        bad_sig = url[:-1] + ("0" if url[-1] != "0" else "1")
        st, body = srv.json("GET", bad_sig)
        problem(st, body, 403, "bad_signature")
        path = url.split("?")[0]
        st, body = srv.json("GET", path)  # neither a token nor a signature
        problem(st, body, 401, "unauthorized")
        # a URL signed by the older key still verifies (rotation), an expired one does not
        for kid, key, ttl, want in ((OLD_ID, OLD_KEY, 60, 200), (KEY_ID, KEY, -1, 403),
                                    ("k9", KEY, 60, 403)):
            st, _, _ = srv.request("GET", signed(path, "GET", kid, key, ttl))
            expect(st == want, "kid %s ttl %d: %d, want %d" % (kid, ttl, st, want))

    def unknown_job():
        st, body = srv.json("GET", "/v1/jobs/j_nosuch", None, auth)
        problem(st, body, 404, "not_found")
        st, body = srv.json("DELETE", "/v1/jobs/j_nosuch", None, auth)
        problem(st, body, 404, "not_found")
        st, body = srv.json("GET", "/v1/jobs/" + state["job"]["id"], None,
                            {"Authorization": "Bearer wrong"})
        problem(st, body, 401, "unauthorized")

    def cancel_fast():
        up = upload(open(long_clip, "rb").read(), "long.mp4")
        st, s = srv.json("POST", "/v1/jobs", {"inputs": [{"upload": up}],
                                               "outputs": [{"format": "webm"}]}, auth)
        jid = s["id"]
        running = wait_for(lambda: srv.json("GET", "/v1/jobs/" + jid, None, auth)[1]
                           .get("state") == "PROGRESSING", 20)
        expect(running, "never PROGRESSING")
        time.sleep(0.3)
        t0 = time.monotonic()
        st, s = srv.json("DELETE", "/v1/jobs/" + jid, None, auth)
        expect(st == 202, "delete: %d" % st)
        s = wait_final(jid, 5)
        took = time.monotonic() - t0
        expect(s["state"] == "CANCELED" and took < 1.0, "%s after %.3f s" % (s["state"], took))
        expect(wait_for(lambda: srv.metric("afmpeg_instances_busy") == 0, 2), "still busy")
        st, body = srv.json("GET", "/v1/jobs/%s/outputs/0" % jid, None, auth)
        problem(st, body, 409, "not_complete")

    def url_in_and_out():
        blob = "/v1/blobs/in/clip.mp4"
        st, _, _ = srv.request("PUT", blob, media, auth)
        expect(st == 201, "put: %d" % st)
        base = "http://%s" % srv.api
        # presigned URLs, as object storage would hand out: the server has no token for itself
        src = base + signed(blob)
        dst = base + signed("/v1/blobs/out/url-job-1.mkv", "PUT")
        spec = {"id": "url-job-1", "inputs": [{"url": src}],
                "outputs": [{"name": "o.mkv", "codecs": {"video": "libopenh264"}, "url": dst}]}
        st, s = srv.json("POST", "/v1/jobs", spec, auth)
        expect(st == 202, "submit: %d %s" % (st, s))
        s = wait_final("url-job-1")
        expect(s["state"] == "COMPLETE", "state %s" % s)
        expect(s["outputs"][0]["url"] == dst, "url")
        st, _, data = srv.request("GET", "/v1/blobs/out/url-job-1.mkv", headers=auth)
        out = suite.path("o.mkv")
        open(out, "wb").write(data)
        expect(st == 200 and ffprobe(out)[0].startswith("codec_name=h264"), "stored output")
        # the same id and description: the same job (no second run); another: a conflict
        st, again = srv.json("POST", "/v1/jobs", spec, auth)
        expect(st == 200 and again["finished"] == s["finished"], "resubmit: %d %s" % (st, again))
        st, body = srv.json("POST", "/v1/jobs", {"id": "url-job-1",
                                                 "inputs": [{"url": src}],
                                                 "outputs": [{"name": "x.mp4"}]}, auth)
        problem(st, body, 409, "conflict")

    def ssrf_refused():
        # not under an allowed prefix: refused at submission
        st, body = srv.json("POST", "/v1/jobs", {"inputs": [{"url": "http://169.254.169.254/x"}],
                                                 "outputs": [{"name": "o.mp4"}]}, auth)
        problem(st, body, 400, "url_not_allowed")
        st, body = srv.json("POST", "/v1/jobs", {"inputs": [{"url": "file:///etc/passwd"}],
                                                 "outputs": [{"name": "o.mp4"}]}, auth)
        problem(st, body, 400, "url_not_allowed")
        # allowed by prefix, but the address is loopback: a server without --allow-private
        # refuses at connect time, also for a name that resolves there
        plain = suite.server("--allow-url", "http://", globals_=("--instances", "1"))
        for host in ("127.0.0.1:%d" % srv.port, "localhost:%d" % srv.port):
            st, s = plain.json("POST", "/v1/jobs", {
                "inputs": [{"url": "http://%s%s" % (host, signed("/v1/blobs/in/clip.mp4"))}],
                "outputs": [{"name": "o.mp4"}]})
            expect(st == 202, "submit: %d %s" % (st, s))
            s = wait_final_on(plain, s["id"])
            expect(s["state"] == "ERROR" and s["error"]["error"] == "bad_input_url" and
                   "loopback" in s["error"]["detail"], "%s: %s" % (host, s))
        plain.stop()

    def wait_final_on(server, jid):
        s = wait_for(lambda: (lambda x: x if x.get("state") in ("COMPLETE", "ERROR",
                                                                "CANCELED") else None)(
            server.json("GET", "/v1/jobs/" + jid)[1]), 30, 0.1)
        expect(s, "job %s did not end" % jid)
        return s

    def webhook_signed_and_retried():
        calls = [c for c in Hooks.calls]
        expect(calls, "no webhook call")
        headers, body, _ = calls[0]
        st = json.loads(body)
        expect(st["id"] == state["job"]["id"] and st["state"] == "COMPLETE", "body: %s" % st)
        ts = headers.get("X-Afmpeg-Timestamp")
        want = "sha256=" + hmac.new(KEY.encode(), ("%s." % ts).encode() + body,
                                    hashlib.sha256).hexdigest()
        expect(headers.get("X-Afmpeg-Signature") == want, "signature %s, want %s" % (
            headers.get("X-Afmpeg-Signature"), want))
        # a receiver failing twice with 500 gets the call a third time, after backoff
        Hooks.calls.clear()
        Hooks.fail_first = 2
        st, s = srv.json("POST", "/v1/jobs", {"inputs": [{"upload": state["up"]}],
                                               "outputs": [{"format": "mp3", "maps": ["0:a"]}],
                                               "webhook": hook_url}, auth)
        expect(wait_for(lambda: len(Hooks.calls) >= 3, 15), "calls: %d" % len(Hooks.calls))
        gaps = [Hooks.calls[i + 1][2] - Hooks.calls[i][2] for i in range(2)]
        expect(gaps[0] >= 0.9 and gaps[1] >= 1.9, "backoff gaps %s" % gaps)
        Hooks.fail_first = 0

    def bad_jobs():
        for spec, text in (({"inputs": [], "outputs": [{"name": "a.mp4"}]}, "inputs"),
                           ({"inputs": [{"upload": "x"}], "outputs": [{}]}, "outputs[0]"),
                           ({"inputs": [{"upload": "x"}], "outputs": [{"name": "a.mp4"}],
                             "nosuch": 1}, "unknown field"),
                           ({"inputs": [{"upload": "x"}],
                             "outputs": [{"name": "a.mp4", "codecs": {"video": "nosuch"}}]},
                            "nosuch")):
            st, body = srv.json("POST", "/v1/jobs", spec, auth)
            problem(st, body, 400, "bad_job")
            expect(text in body["detail"], "detail %r lacks %r" % (body["detail"], text))
        st, body = srv.json("POST", "/v1/jobs", b"{not json", auth)
        problem(st, body, 400, "bad_job")
        # a job on an upload that is not there ends ERROR, named
        st, s = srv.json("POST", "/v1/jobs", {"inputs": [{"upload": "up_gone.mp4"}],
                                               "outputs": [{"name": "a.mp4"}]}, auth)
        s = wait_final(s["id"])
        expect(s["state"] == "ERROR" and s["error"]["error"] == "bad_job", "%s" % s)
        # garbage media: ERROR with FFmpeg's words, the server goes on
        up = upload(os.urandom(50000), "junk.mp4")
        st, s = srv.json("POST", "/v1/jobs", {"inputs": [{"upload": up}],
                                               "outputs": [{"name": "a.mp4"}]}, auth)
        s = wait_final(s["id"])
        expect(s["state"] == "ERROR" and s["error"]["error"] == "ffmpeg_failed" and
               s["error"]["detail"], "%s" % s)

    def limits():
        # --max-jobs 3: a fourth while three run is 429
        up = upload(open(long_clip, "rb").read(), "long.mp4")
        ids = []
        for i in range(3):
            st, s = srv.json("POST", "/v1/jobs", {"inputs": [{"upload": up}],
                                                   "outputs": [{"format": "webm"}]}, auth)
            expect(st == 202, "job %d: %d" % (i, st))
            ids.append(s["id"])
        st, body = srv.json("POST", "/v1/jobs", {"inputs": [{"upload": up}],
                                                 "outputs": [{"format": "webm"}]}, auth)
        problem(st, body, 429, "saturated")
        for i in ids:
            srv.json("DELETE", "/v1/jobs/" + i, None, auth)
        for i in ids:
            expect(wait_final(i, 5)["state"] == "CANCELED", "not cancelled")
        # --store-limit 24M: an upload that does not fit is 507
        st, body = srv.json("POST", "/v1/uploads", os.urandom(25 << 20), auth)
        problem(st, body, 507, "store_full")

    def drain_waits_for_jobs():
        st, s = srv.json("POST", "/v1/jobs", {"inputs": [{"upload": state["up"]}],
                                               "outputs": [{"format": "mp4"}]}, auth)
        srv.proc.send_signal(15)
        code = srv.stop(30)
        expect(code == 0, "exit status %s" % code)
        job_lines = [l for l in srv.log_lines() if l.get("msg") == "job" and
                     l.get("job") == s["id"]]
        expect(job_lines and job_lines[0]["state"] == "COMPLETE", "job: %s" % job_lines)
        expect(srv.find_log("stopped"), "no stopped line")

    suite.check("a job on an upload: two outputs, decoded; signed output URLs", job_runs)
    suite.check("server-sent events: states in order, ending COMPLETE", events_stream)
    suite.check("signed URLs: tampered, wrong, unsigned, old key, expired", signed_urls)
    suite.check("unknown job id 404, bad token 401", unknown_job)
    suite.check("DELETE cancels a running job within a second", cancel_fast)
    suite.check("URL input and output through the blob endpoint; same id runs once, 409",
                url_in_and_out)
    suite.check("URLs refused: outside the allow-list, file:, loopback at connect", ssrf_refused)
    suite.check("the webhook: signed with HMAC, retried with backoff", webhook_signed_and_retried)
    suite.check("bad jobs: 400 bad_job naming the field; ERROR for missing or junk input",
                bad_jobs)
    suite.check("limits: --max-jobs 429, --store-limit 507", limits)
    suite.check("SIGTERM lets a queued job finish, exit 0", drain_waits_for_jobs)
    hooks.shutdown()


try:
    main()
finally:
    sys.exit(suite.finish())
