"""The core observer (issue 2): attach, count, serve, detach."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time

import zmq

from harness import (BUILD, CController, Controller, Metrics, Process, TestFailure, Zmqscope,
                     check, check_eq, check_gauges_match, free_port, http_get, lmcache,
                     run_zmqscope, tempdir, wait_for, zmqscope_links, zmqscope_programs)
from harness import MIN_TARGET_PROBES

SOCKETS = ("pull", "reply", "heartbeat")


def socket_truth_delta(before, after):
    return {s: {k: after["sockets"][s][k] - before["sockets"][s][k]
                for k in after["sockets"][s]} for s in SOCKETS}


def zmqscope_socket_counts(m, pid, endpoint):
    def get(name):
        return m.socket_value(name, endpoint, pid=pid)
    return {
        "frames_received": get("zmqscope_frames_received_total"),
        "messages_received": get("zmqscope_messages_received_total"),
        "bytes_received": get("zmqscope_bytes_received_total"),
        "frames_sent": get("zmqscope_frames_sent_total"),
        "messages_sent": get("zmqscope_messages_sent_total"),
        "bytes_sent": get("zmqscope_bytes_sent_total"),
    }


def test_counts_match_ground_truth():
    """(a) Attach after the sockets exist; 10,000 pushes and 4,000 requests; exact counts."""
    ctl = Controller()
    zs = None
    try:
        # Traffic before the attach: zmqscope must not count it.
        ctl.load(pushes=50, requests=10, heartbeats=10)
        before = ctl.quiesce()
        zs = Zmqscope("--pid", str(ctl.pid), args=["--label", "env=test"])
        sent = ctl.load(pushes=10000, push_workers=4, min_frames=1, max_frames=4,
                        requests=2000, req_workers=4, heartbeats=2000, hb_workers=2,
                        json_every=7, seed=11)
        lm0 = before["lmcache"]
        after = ctl.quiesce(
            expect_pull_frames=lm0["pull_socket_message_count"] + sent["push_frames"],
            expect_reply=lm0["reply_socket_message_count"] + sent["requests"] +
            sent["heartbeats"])
        m = zs.metrics()
        got = lmcache(m, ctl.pid)
        lm1 = after["lmcache"]
        check_eq(got["pull_socket_message_count"],
                 lm1["pull_socket_message_count"] - lm0["pull_socket_message_count"],
                 "pull message_count (frames since attach)")
        check_eq(got["pull_socket_message_count"], sent["push_frames"], "pull frames sent")
        check_eq(got["reply_socket_message_count"],
                 lm1["reply_socket_message_count"] - lm0["reply_socket_message_count"],
                 "reply message_count (requests since attach)")
        for g in ("pull_socket_active_requests", "reply_socket_active_requests",
                  "pull_socket_has_pending", "reply_socket_has_pending"):
            check_eq(got[g], lm1[g], g)
        delta = socket_truth_delta(before, after)
        for s in SOCKETS:
            check_eq(zmqscope_socket_counts(m, ctl.pid, getattr(ctl, s)), delta[s],
                     f"{s} socket counts")
        # The labels LMCache dashboards rely on, plus the user's.
        lbl = m.select("lmcache:cache_controller_pull_socket_message_count")[0][0]
        check_eq(lbl, {"role": "controller", "pid": str(ctl.pid), "env": "test"},
                 "LMCache gauge labels")
        check_eq(m.value("zmqscope_target_up", pid=ctl.pid), 1, "target_up")
        check_eq(m.total("zmqscope_map_update_failures_total"), 0, "map update failures")
    finally:
        if zs:
            zs.close()
        ctl.close()


def test_classic_probe_pairs_count_the_same():
    """--no-uprobe-sessions (what kernels before 6.12 get) gives the same numbers."""
    ctl = Controller()
    zs = Zmqscope("--pid", str(ctl.pid), args=["--no-uprobe-sessions"])
    try:
        status = json.loads(run_zmqscope("status", "--json")[1])[0]["status"]
        kinds = {p["kind"] for p in status["targets"][0]["libraries"][0]["probes"]
                 if p["function"] == "zmq_getsockopt"}
        check_eq(kinds, {"uprobe", "uretprobe"}, "zmq_getsockopt probed by a classic pair")
        sent = ctl.load(pushes=2000, requests=300, heartbeats=300, json_every=5)
        truth = ctl.quiesce(expect_pull_frames=sent["push_frames"], expect_reply=600)
        check_gauges_match(zs.metrics(), ctl.pid, truth, "LMCache gauges")
    finally:
        zs.close()
        ctl.close()


def test_blocked_handlers_active_and_pending():
    """(b) A blocked pull and reply handler: active and pending equal ground truth."""
    ctl = Controller()
    zs = Zmqscope("--pid", str(ctl.pid))
    ctx = zmq.Context()
    try:
        push = ctx.socket(zmq.PUSH)
        push.connect(ctl.pull)
        dealer = ctx.socket(zmq.DEALER)
        dealer.connect(ctl.reply)
        ctl.command("block pull")
        ctl.command("block reply")
        msg = b"\x81\xa4type\xaaRegisterMsg"
        push.send_multipart([msg, msg])
        dealer.send_multipart([b"", b"\x82\xa4type\xa9LookupMsg\xa6req_id\x01"])
        wait_for(lambda: all(ctl.command("blocked")[s] for s in ("pull", "reply")),
                 what="both handlers to block")
        # Messages queue behind the blocked handlers.
        for _ in range(3):
            push.send_multipart([msg])
        dealer.send_multipart([b"", b"\x82\xa4type\xa9LookupMsg\xa6req_id\x02"])
        time.sleep(0.3)
        # zmqscope first: the fixture's own check reads ZMQ_EVENTS in process.
        got = lmcache(zs.metrics(), ctl.pid)
        truth = ctl.truth()["lmcache"]
        check_eq(got["pull_socket_active_requests"], 2, "pull active while blocked")
        check_eq(got["reply_socket_active_requests"], 1, "reply active while blocked")
        check_eq(got["pull_socket_has_pending"], 1, "pull has_pending while queued")
        check_eq(got["reply_socket_has_pending"], 1, "reply has_pending while queued")
        for g in ("pull_socket_active_requests", "reply_socket_active_requests",
                  "pull_socket_has_pending", "reply_socket_has_pending"):
            check_eq(got[g], truth[g], f"{g} vs ground truth while blocked")
        ctl.command("release pull")
        ctl.command("release reply")
        check(dealer.poll(10000), "first reply after release")
        dealer.recv_multipart()
        check(dealer.poll(10000), "second reply after release")
        dealer.recv_multipart()
        truth = ctl.quiesce(expect_pull_frames=5, expect_reply=2)["lmcache"]
        got = lmcache(zs.metrics(), ctl.pid)
        check_eq(got, {**truth}, "all gauges after release and drain")
        check_eq([got[g] for g in ("pull_socket_active_requests", "reply_socket_active_requests",
                                   "pull_socket_has_pending", "reply_socket_has_pending")],
                 [0, 0, 0, 0], "active and pending back to 0")
    finally:
        ctx.destroy(linger=0)
        zs.close()
        ctl.close()


def test_pyzmq_gc_traffic_is_not_the_pull_socket():
    """(c) pyzmq's zero-copy garbage collector has a PULL socket: it is not the controller's."""
    ctl = Controller()
    zs = Zmqscope("--pid", str(ctl.pid))
    try:
        sent = ctl.load(pushes=20, requests=5, heartbeats=5, big_reply=256 * 1024)
        truth = ctl.quiesce(expect_pull_frames=sent["push_frames"],
                            expect_reply=sent["requests"] + sent["heartbeats"] + 1)
        check(truth["zero_copy_gc"], "the fixture started pyzmq's gc thread")

        def gc_socket_used():
            m = zs.metrics()
            gc = [(l, v) for l, v in m.select("zmqscope_frames_received_total")
                  if l.get("endpoint", "").startswith("inproc://pyzmq.gc.")]
            return m if any(v >= 1 for _, v in gc) and gc else None
        m = wait_for(gc_socket_used, what="the gc PULL socket to receive")
        for labels, _ in m.select("zmqscope_frames_received_total"):
            if labels["endpoint"].startswith("inproc://pyzmq.gc."):
                check_eq(labels["role"], "internal", f"role of {labels['endpoint']}")
        got = lmcache(m, ctl.pid)
        check_eq(got["pull_socket_message_count"], truth["lmcache"]["pull_socket_message_count"],
                 "pull message_count excludes gc traffic")
        check_eq(got["reply_socket_message_count"],
                 truth["lmcache"]["reply_socket_message_count"], "reply message_count")
    finally:
        zs.close()
        ctl.close()


def verified_load(ctl):
    """Traffic whose every reply load.py checks; raises if any is wrong."""
    sent = ctl.load(pushes=200, requests=100, heartbeats=100, seed=5)
    check_eq(sent["replies_bad"] + sent["replies_missing"], 0, "bad or missing replies")
    check_eq(sent["replies_verified"], 200, "replies verified")


def test_stop_and_sigkill_leave_no_probes():
    """(d) After `stop` and after SIGKILL, no probe is left and the controller still answers."""
    ctl = Controller()
    try:
        check_eq(zmqscope_links(), [], "no zmqscope links before the test")
        port = free_port()
        rc, out, err = run_zmqscope("start", "--pid", str(ctl.pid), "--listen",
                                    f"127.0.0.1:{port}")
        check_eq(rc, 0, f"start exit code ({err.strip()})")
        instance = out.strip()
        check(re.fullmatch(r"\d+", instance), f"start prints an id, got {out!r}")
        links = zmqscope_links()
        check(len(links) >= MIN_TARGET_PROBES, f"probes attached while running ({len(links)})")
        verified_load(ctl)
        m = Metrics(http_get(f"http://127.0.0.1:{port}/metrics")[2])
        check_eq(m.value("lmcache:cache_controller_reply_socket_message_count", pid=ctl.pid),
                 200, "the daemon counted the requests")
        rc, _, err = run_zmqscope("stop", instance)
        check_eq(rc, 0, f"stop exit code ({err.strip()})")
        check_eq(zmqscope_links(), [], "links after stop")
        # A uprobe_multi link's program is freed after an RCU tasks-trace grace period.
        wait_for(lambda: not zmqscope_programs(), timeout=5,
                 what="the kernel to free the programs after stop")
        verified_load(ctl)

        zs = Zmqscope("--pid", str(ctl.pid))
        check(len(zmqscope_links()) >= MIN_TARGET_PROBES, "probes attached again")
        zs.process.kill(signal.SIGKILL)
        wait_for(lambda: not zmqscope_links() and not zmqscope_programs(), timeout=10,
                 what="the kernel to drop SIGKILLed zmqscope's probes")
        verified_load(ctl)
        check(ctl.process.alive(), "controller still running")
    finally:
        run_zmqscope("stop", "--all", "--purge")
        ctl.close()


def c_fixture_traffic(c, pushes=300, requests=150):
    ctx = zmq.Context()
    try:
        push = ctx.socket(zmq.PUSH)
        push.connect(c.pull)
        req = ctx.socket(zmq.REQ)
        req.connect(c.reply)
        for i in range(pushes):
            push.send_multipart([b"m%d" % i] * (1 + i % 3))
        for i in range(requests):
            req.send_multipart([b"request-%d" % i] * (1 + i % 2))
            check(req.poll(10000), f"reply {i}")
            check_eq(req.recv(), b"OK:%d" % (len(b"request-%d" % i) * (1 + i % 2)),
                     f"reply {i} content")
        push.close(linger=5000)
    finally:
        ctx.destroy(linger=0)


def test_c_fixture_buffer_api_counts():
    """(e) zmq_recv/zmq_send/zmq_send_const with zmq_poll: exact, dynamic and static libzmq."""
    for static in (False, True):
        c = CController(static=static)
        zs = Zmqscope("--pid", str(c.pid))
        try:
            c_fixture_traffic(c)
            want = lambda t: t["pull"]["messages_received"] == 300 and \
                t["reply"]["messages_received"] == 150
            truth = wait_for(lambda: want(c.truth()) and c.truth(), what="C fixture to finish")
            m = zs.metrics()
            for role, endpoint in (("pull", c.pull), ("reply", c.reply)):
                got = zmqscope_socket_counts(m, c.pid, endpoint)
                exp = {k: truth[role][k] for k in got}
                check_eq(got, exp, f"{'static' if static else 'dynamic'} {role} counts")
            got = lmcache(m, c.pid)
            check_eq(got["pull_socket_message_count"], truth["pull"]["frames_received"],
                     "pull message_count")
            check_eq(got["reply_socket_message_count"], truth["reply"]["messages_received"],
                     "reply message_count")
            status = json.loads(run_zmqscope("status", "--json")[1])
            lib = status[0]["status"]["targets"][0]["libraries"][0]
            check_eq(lib["main_binary"], static, "libzmq found in the executable itself")
            check_eq(lib["layout"]["type_offset"], 332, "socket type offset")
            check_eq(lib["layout"]["source"], "memory", "where the layout came from")
        finally:
            zs.close()
            c.close()


PROMETHEUS_CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: zmqscope
    static_configs:
      - targets: ['127.0.0.1:{port}']
"""


def test_prometheus_scrapes_zmqscope():
    """(f) A real Prometheus scrapes zmqscope; its query API returns the gauges."""
    ctl = Controller()
    zs = Zmqscope("--pid", str(ctl.pid))
    prom = None
    try:
        sent = ctl.load(pushes=400, requests=60, heartbeats=40)
        ctl.quiesce(expect_pull_frames=sent["push_frames"], expect_reply=100)
        with tempdir() as d:
            cfg = os.path.join(d, "prometheus.yml")
            with open(cfg, "w") as f:
                f.write(PROMETHEUS_CONFIG.format(port=zs.port))
            web = free_port()
            prom = Process(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={d}/data",
                            f"--web.listen-address=127.0.0.1:{web}", "--log.level=warn"])
            api = f"http://127.0.0.1:{web}/api/v1/query?query="

            def query(expr):
                status, _, body = http_get(api + expr)
                result = json.loads(body)["data"]["result"]
                return {r["metric"].get("__name__", expr): float(r["value"][1]) for r in result}

            expected = lmcache(zs.metrics(), ctl.pid)
            for name, want in expected.items():
                full = f"lmcache:cache_controller_{name}"
                got = wait_for(lambda: query(f'{full}{{pid="{ctl.pid}"}}'), timeout=30,
                               what=f"Prometheus to have {full}")
                check_eq(list(got.values()), [want], f"Prometheus' {full}")
            up = wait_for(lambda: query('up{job="zmqscope"}'), what="up")
            check_eq(list(up.values()), [1.0], "Prometheus sees the target up")
            check_eq(expected["pull_socket_message_count"], sent["push_frames"], "pull frames")
    finally:
        if prom:
            prom.stop()
        zs.close()
        ctl.close()


def test_exposition_and_http():
    """The text format passes promtool; paths, methods and headers are right."""
    ctl = Controller()
    zs = Zmqscope("--pid", str(ctl.pid), args=["--label", 'note=a "quoted"\\value'])
    try:
        ctl.load(pushes=30, requests=10, heartbeats=10)
        status, headers, body = http_get(zs.url + "/metrics")
        check_eq(headers.get("Content-Type"), "text/plain; version=0.0.4; charset=utf-8",
                 "content type")
        check('note="a \\"quoted\\"\\\\value"' in body, "label value escaped")
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           text=True)
        problems = [l for l in (r.stdout + r.stderr).splitlines() if l.strip()]
        # LMCache's own names break naming lints (':', and _count or _total on a
        # gauge: full_sync_missing_batches_total); nothing else may be reported.
        allowed = re.compile(r"^lmcache:cache_controller_\w+ (metric names should not contain "
                             r"':'|non-histogram and non-summary metrics should not have "
                             r"\"_count\" suffix|non-counter metrics should not have "
                             r"\"_total\" suffix)$")
        check([p for p in problems if not allowed.match(p)] == [],
              f"promtool problems: {problems}")
        zs.close()
        zs = Zmqscope("--pid", str(ctl.pid), args=["--no-lmcache-names"])
        body = http_get(zs.url + "/metrics")[2]
        check("lmcache:" not in body, "--no-lmcache-names drops the LMCache gauges")
        r = subprocess.run(["promtool", "check", "metrics"], input=body, capture_output=True,
                           text=True)
        check_eq((r.returncode, r.stdout + r.stderr), (0, ""), "promtool on the zmqscope names")
        check_eq(http_get(zs.url + "/healthz")[0], 200, "/healthz")
        check("/metrics" in http_get(zs.url + "/")[2], "index links /metrics")
        for path, code in (("/nope", 404), ("/metrics/x", 404)):
            try:
                http_get(zs.url + path)
                raise TestFailure(f"{path} answered 200")
            except Exception as e:  # urllib raises HTTPError for 4xx
                check_eq(getattr(e, "code", None), code, f"status of {path}")
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
                            "-d", "x", zs.url + "/metrics"], capture_output=True, text=True)
        check_eq(r.stdout, "405", "POST /metrics")
        r = subprocess.run(["curl", "-sI", zs.url + "/metrics"], capture_output=True, text=True)
        check(r.stdout.startswith("HTTP/1.1 200"), "HEAD /metrics")
    finally:
        zs.close()
        ctl.close()


def test_status_shows_libraries_probes_and_maps():
    """`status` names the library, each probe's site and first instruction, and map fill."""
    ctl = Controller()
    zs = Zmqscope("--pid", str(ctl.pid))
    try:
        ctl.load(pushes=10, requests=2, heartbeats=2)
        rc, out, err = run_zmqscope("status")
        check_eq(rc, 0, f"status exit code ({err})")
        check(f"target pid {ctl.pid}" in out, "status names the target")
        check(re.search(r"library \S*libzmq\S*", out), "status names the library")
        check(f"127.0.0.1:{zs.port}" in out, "status shows the listen address")
        check(re.search(r"maps: sockets \d+/16384", out), "status shows map fill")
        status = json.loads(run_zmqscope("status", "--json")[1])
        lib = status[0]["status"]["targets"][0]["libraries"][0]
        probes = lib["probes"]
        kinds = {(p["function"], p["kind"]) for p in probes}
        sessions = ("zmq_getsockopt", "uprobe.session") in kinds
        public = ("zmq_msg_recv", "zmq_recv", "zmq_msg_send", "zmq_send", "zmq_send_const")
        # pyzmq may run a proxy, so libzmq's internal send and receive are probed.  With
        # sessions they carry the public calls too, which then take no probe of their own.
        check_eq(lib["carried_by_internal"], sessions, "internal probes carry the public calls")
        if sessions:
            check(re.search(r"socket_base_t::recv:session\s+\+0x[0-9a-f]+\s+push %r\d+\s+"
                            r"emulated\s+attached", out), f"status shows the receive's site: {out}")
            check("socket_base_t::send and ::recv carry them" in out,
                  "status says the public calls are carried")
            check_eq({fn for fn, _ in kinds} & set(public), set(), "public send/recv unprobed")
            check({("socket_base_t::recv", "uprobe.session"),
                   ("socket_base_t::send", "uprobe.session")} <= kinds, "internal sessions")
        else:
            check(re.search(r"zmq_msg_recv\s+\+0x[0-9a-f]+\s+push %r12\s+emulated\s+attached",
                            out), f"status shows zmq_msg_recv's site: {out}")
            for fn in public:
                check({(fn, "uprobe"), (fn, "uretprobe")} <= kinds, f"{fn} has entry and return")
        for fn in ("zmq_socket", "zmq_bind", "zmq_connect"):
            check({(fn, "uprobe"), (fn, "uretprobe")} <= kinds, f"{fn} has entry and return")
        check((("zmq_getsockopt", "uprobe.session") in kinds) == sessions and
              sessions != ({("zmq_getsockopt", "uprobe"), ("zmq_getsockopt", "uretprobe")} <= kinds),
              "zmq_getsockopt: a session where the kernel has them, else a pair")
        check(("zmq_close", "uprobe") in kinds, "zmq_close has its entry probe")
        check(all(p["attached"] and p["cost"] == "emulated" for p in probes),
              "every probe attached on an emulated instruction")
        # The public calls, told from a proxy's by where they return to, make no socket a proxy's.
        socks = [s for s in status[0]["status"]["targets"][0]["sockets"] if s["frames_received"]]
        check_eq({s["endpoint"]: s["proxy"] for s in socks},
                 {ep: None for ep in (ctl.pull, ctl.reply, ctl.heartbeat)},
                 "sockets the application reads are not a proxy's")
    finally:
        zs.close()
        ctl.close()


TESTS = [
    test_counts_match_ground_truth,
    test_classic_probe_pairs_count_the_same,
    test_blocked_handlers_active_and_pending,
    test_pyzmq_gc_traffic_is_not_the_pull_socket,
    test_stop_and_sigkill_leave_no_probes,
    test_c_fixture_buffer_api_counts,
    test_prometheus_scrapes_zmqscope,
    test_exposition_and_http,
    test_status_shows_libraries_probes_and_maps,
]
