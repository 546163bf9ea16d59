"""Every kind of loop (issue 9): spans and counts on real programs.

Each server below is a program of one loop kind, started before zmqscope
attaches.  For each, against the server's own counts:
- frames, messages and bytes are exact;
- there is one handler span per message, and none is left open once the
  server is idle (active 0);
- a message every 10 ms with a handler of microseconds gives a mean span
  under 2 ms (the span does not cover the idle time);
- a 20 ms handler is measured at 20 ms.
Proxies (zmq_proxy, zmq_device, the Jupyter heartbeat) are counted
exactly though libzmq moves their traffic with no public call.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import zmq

from harness import (BUILD, FIXTURES, PYTHON, CController, Process, TestFailure, Zmqscope,
                     check, check_eq, control, lmcache, run_zmqscope, wait_for)

NODE_DIR = os.path.join(BUILD, "node")
FAST_PUSHES = 100  # one every 10 ms
SLOW_PUSHES = 20
REQUESTS = 30
HANDLER_MS = 20


class LoopServer:
    """A fixture that prints READY {pid, pull, reply, control_port} and serves truth."""

    def __init__(self, argv, env=None):
        self.process = Process(argv, ready_prefix="READY ", env=env, timeout=60)
        info = json.loads(self.process.ready)
        self.pid = info["pid"]
        self.pull = info["pull"]
        self.reply = info["reply"]
        self.control_port = info["control_port"]

    def truth(self):
        return control(self.control_port, "truth")["sockets"]

    def close(self):
        if self.process.alive():
            try:
                control(self.control_port, "quit")
            except (OSError, ValueError):
                pass
            try:
                self.process.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self.process.kill()


def tornado_server(delay_ms):
    return LoopServer([PYTHON, os.path.join(FIXTURES, "tornado_server.py"),
                       "--delay-ms", str(delay_ms)])


def zloop_server(delay_ms):
    return LoopServer([os.path.join(BUILD, "fixtures", "zloop_server"),
                       "--delay-us", str(int(delay_ms * 1000))])


def node_zeromq():
    """npm's zeromq 6 under BUILD/node, installed by install-deps.sh or here."""
    node, npm = shutil.which("node"), shutil.which("npm")
    check(node and npm, "node and npm are needed for the zeromq.js test: install nodejs and npm")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "zeromq")):
        r = subprocess.run([npm, "install", "--prefix", NODE_DIR, "--no-audit", "--no-fund",
                            "zeromq@6"], capture_output=True, text=True, timeout=600)
        check(r.returncode == 0, f"npm install zeromq@6 failed: {r.stderr[-1500:]}")
    return node


def node_server(delay_ms):
    node = node_zeromq()
    env = dict(os.environ, NODE_PATH=os.path.join(NODE_DIR, "node_modules"))
    return LoopServer([node, os.path.join(FIXTURES, "node_server.js"),
                       "--delay-ms", str(delay_ms)], env=env)


class CPollServer:
    """tests/fixtures/c_controller.c (zmq_poll, buffer API) in LoopServer's shape."""

    def __init__(self, delay_ms):
        self.c = CController(delay_us=int(delay_ms * 1000))
        self.pid, self.pull, self.reply = self.c.pid, self.c.pull, self.c.reply

    def truth(self):
        t = self.c.truth()
        out = {}
        for name in ("pull", "reply"):
            s = t[name]
            out[name] = {k: s[k] for k in ("frames_received", "messages_received",
                                           "bytes_received", "frames_sent", "messages_sent",
                                           "bytes_sent")}
            out[name]["handler_ns"] = s["handler_total_ns"]
        return out

    def close(self):
        self.c.close()


# ---- driving and reading ---------------------------------------------------

def drive(server, pushes, interval, requests):
    """Pushes 2-frame messages every `interval` s and makes blocking requests; what was sent."""
    ctx = zmq.Context()
    sent = {"push_frames": 0, "push_bytes": 0, "pushes": 0, "requests": 0}
    try:
        push = ctx.socket(zmq.PUSH)
        push.connect(server.pull)
        dealer = ctx.socket(zmq.DEALER)
        dealer.connect(server.reply)
        next_at = time.monotonic()
        for i in range(pushes):
            frames = [b"frame-a-%d" % i, b"b" * (i % 7)]
            push.send_multipart(frames)
            sent["pushes"] += 1
            sent["push_frames"] += len(frames)
            sent["push_bytes"] += sum(len(f) for f in frames)
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        dealer.setsockopt(zmq.RCVTIMEO, 30000)
        for i in range(requests):
            dealer.send_multipart([b"", b"request-%d" % i])
            reply = dealer.recv_multipart()
            check(reply[-1].startswith(b"OK"), f"reply payload {reply!r}")
            sent["requests"] += 1
    finally:
        ctx.destroy(linger=10000)
    return sent


def settled_truth(server, sent):
    def done():
        t = server.truth()
        return t if (t["pull"]["messages_received"] == sent["pushes"] and
                     t["reply"]["messages_received"] == sent["requests"]) else None
    return wait_for(done, timeout=120, interval=0.1, what="the server to handle everything")


def socket_counts(m, pid, type_name):
    def get(name):
        return int(m.total(name, pid=pid, type=type_name))
    return {k: get(f"zmqscope_{k}_total") for k in (
        "frames_received", "messages_received", "bytes_received", "frames_sent",
        "messages_sent", "bytes_sent")}


def spans(m, pid, role, kind="handler"):
    count = m.total(f"zmqscope_{kind}_duration_seconds_count", pid=pid, role=role)
    total = m.total(f"zmqscope_{kind}_duration_seconds_sum", pid=pid, role=role)
    return int(count), (total / count if count else 0.0)


def quiescent_metrics(zs, pid, pull_msgs, reply_msgs):
    """Metrics once every span has closed: fails if one stays open."""
    def idle():
        m = zs.metrics()
        active = m.total("zmqscope_socket_active_handlers", pid=pid)
        return m if (active == 0 and spans(m, pid, "pull")[0] == pull_msgs and
                     spans(m, pid, "reply")[0] == reply_msgs) else None
    try:
        return wait_for(idle, timeout=30, interval=0.2, what="every span to close")
    except TestFailure:
        m = zs.metrics()
        raise TestFailure(
            f"at quiescence: active handlers "
            f"{m.total('zmqscope_socket_active_handlers', pid=pid)}, pull spans "
            f"{spans(m, pid, 'pull')[0]} for {pull_msgs} messages, reply spans "
            f"{spans(m, pid, 'reply')[0]} for {reply_msgs} messages") from None


def socket_rules(pid):
    """{type: span_rule} from `zmqscope status --json`, for this pid's sockets."""
    rc, out, err = run_zmqscope("status", "--json")
    check_eq(rc, 0, f"status exit code ({err})")
    rules = {}
    for inst in json.loads(out):
        for t in inst["status"]["targets"]:
            if t["pid"] == pid:
                for s in t["sockets"]:
                    rules[s["type"]] = s["span_rule"]
    return rules


def check_loop_kind(make_server, what, rule="poll"):
    """The four span properties and exact counts for one loop kind."""
    # A handler of microseconds, a message every 10 ms.
    server = make_server(0)
    zs = None
    try:
        zs = Zmqscope("--pid", str(server.pid))
        sent = drive(server, FAST_PUSHES, 0.010, REQUESTS)
        truth = settled_truth(server, sent)
        m = quiescent_metrics(zs, server.pid, sent["pushes"], sent["requests"])
        check_eq(socket_counts(m, server.pid, "PULL"),
                 {k: truth["pull"][k] for k in socket_counts(m, server.pid, "PULL")},
                 f"{what}: PULL counts")
        check_eq(socket_counts(m, server.pid, "ROUTER"),
                 {k: truth["reply"][k] for k in socket_counts(m, server.pid, "ROUTER")},
                 f"{what}: ROUTER counts")
        check_eq(truth["pull"]["frames_received"], sent["push_frames"], f"{what}: frames pushed")
        lm = lmcache(m, server.pid)
        check_eq((lm["pull_socket_active_requests"], lm["reply_socket_active_requests"]),
                 (0.0, 0.0), f"{what}: LMCache active requests at quiescence")
        n, mean = spans(m, server.pid, "pull")
        print(f"     {what}: {n} pull spans for {sent['pushes']} messages, mean "
              f"{mean * 1e3:.3f} ms (handler {truth['pull']['handler_ns'] / 1e6 / n:.3f} ms)")
        check(mean < 0.002, f"{what}: mean pull span {mean * 1e3:.3f} ms for a handler of "
              f"microseconds, a message every 10 ms (must be under 2 ms)")
        check_eq(spans(m, server.pid, "reply", "request")[0], sent["requests"],
                 f"{what}: request spans")
        check_eq(socket_rules(server.pid), {"PULL": rule, "ROUTER": rule},
                 f"{what}: span rule in status")
    finally:
        if zs:
            zs.close()
        server.close()

    # A 20 ms handler.
    server = make_server(HANDLER_MS)
    zs = None
    try:
        zs = Zmqscope("--pid", str(server.pid))
        sent = drive(server, SLOW_PUSHES, 0.010, 0)
        truth = settled_truth(server, sent)
        m = quiescent_metrics(zs, server.pid, sent["pushes"], 0)
        n, mean = spans(m, server.pid, "pull")
        true_mean = truth["pull"]["handler_ns"] / 1e9 / truth["pull"]["messages_received"]
        print(f"     {what}: 20 ms handler: {n} spans, mean {mean * 1e3:.2f} ms, "
              f"handler's own {true_mean * 1e3:.2f} ms")
        check(0.9 * true_mean <= mean <= 1.15 * true_mean,
              f"{what}: mean pull span {mean * 1e3:.2f} ms against the handler's own "
              f"{true_mean * 1e3:.2f} ms (must be within -10%/+15%)")
        check_eq(n, truth["pull"]["messages_received"], f"{what}: spans of the 20 ms handler")
    finally:
        if zs:
            zs.close()
        server.close()


def test_c_zmq_poll_server():
    """tests/fixtures/c_controller.c: a zmq_poll loop on the buffer API."""
    check_loop_kind(CPollServer, "C zmq_poll")


def test_tornado_zmqstream_server():
    """tornado's ZMQStream: EVENTS checks after each callback."""
    check_loop_kind(tornado_server, "tornado ZMQStream")


def test_czmq_zloop_server():
    """czmq zloop: zmq_poll around zloop_reader handlers."""
    check_loop_kind(zloop_server, "czmq zloop")


def test_node_zeromq_server():
    """npm zeromq 6: a `for await` loop; receive() checks EVENTS first."""
    check_loop_kind(node_server, "zeromq.js")


# ---- proxies ---------------------------------------------------------------

class ProxyServer:
    """tests/fixtures/proxy_server.c with `args`, or another program printing its READY."""

    def __init__(self, *args, argv=None, env=None):
        argv = argv or [os.path.join(BUILD, "fixtures", "proxy_server"), *args]
        self.process = Process(argv, ready_prefix="READY ", stdin=subprocess.PIPE, env=env,
                               timeout=60)
        info = json.loads(self.process.ready)
        self.pid, self.frontend, self.backend = info["pid"], info["frontend"], info["backend"]
        self.capture = info["capture"]

    def start(self):
        self.process.proc.stdin.write("go\n")
        self.process.proc.stdin.flush()

    def close(self):
        self.process.kill()


def through_proxy(server, n, sub=None):
    """Sends n messages of 1-3 frames through the proxy and reads them back."""
    ctx = zmq.Context()
    truth = {"frames": 0, "msgs": 0, "bytes": 0}
    try:
        push = ctx.socket(zmq.PUSH)
        push.connect(server.frontend)
        pull = ctx.socket(zmq.PULL)
        pull.connect(server.backend)
        pull.setsockopt(zmq.RCVTIMEO, 30000)
        for i in range(n):
            frames = [b"m%d" % i] + [b"x" * (i % 50)] * (i % 3)
            push.send_multipart(frames)
            truth["frames"] += len(frames)
            truth["msgs"] += 1
            truth["bytes"] += sum(len(f) for f in frames)
        for i in range(n):
            got = pull.recv_multipart()
            check_eq(got[0], b"m%d" % i, "message through the proxy")
    finally:
        ctx.destroy(linger=0)
    return truth


def check_proxy_counts(zs, pid, truth, capture=False):
    def settled():
        m = zs.metrics()
        return m if m.total("zmqscope_messages_sent_total", pid=pid, type="PUSH") == \
            truth["msgs"] else None
    m = wait_for(settled, timeout=30, what="the proxy's traffic to be counted")
    check_eq(socket_counts(m, pid, "PULL"),
             {"frames_received": truth["frames"], "messages_received": truth["msgs"],
              "bytes_received": truth["bytes"], "frames_sent": 0, "messages_sent": 0,
              "bytes_sent": 0}, "frontend (PULL) counts")
    check_eq(socket_counts(m, pid, "PUSH"),
             {"frames_received": 0, "messages_received": 0, "bytes_received": 0,
              "frames_sent": truth["frames"], "messages_sent": truth["msgs"],
              "bytes_sent": truth["bytes"]}, "backend (PUSH) counts")
    if capture:
        # The capture socket gets a copy of every frame, each sent as its own message
        # with the original's "more" flag.
        check_eq(socket_counts(m, pid, "PUB")["frames_sent"], truth["frames"],
                 "capture (PUB) frames")
    check_eq(spans(m, pid, "pull")[0], truth["msgs"], "pull spans of the proxy")
    check_eq(m.total("zmqscope_socket_active_handlers", pid=pid), 0, "active at quiescence")


def target_status(pid):
    rc, out, _ = run_zmqscope("status", "--json")
    check_eq(rc, 0, "status exit code")
    for inst in json.loads(out):
        for t in inst["status"]["targets"]:
            if t["pid"] == pid:
                return t
    raise TestFailure(f"no target {pid} in status")


def proxy_places(pid):
    return {s["type"]: s["proxy"] for s in target_status(pid)["sockets"]}


def node_proxy():
    """npm zeromq's Proxy (tests/fixtures/node_proxy.js), running from the start."""
    env = dict(os.environ, NODE_PATH=os.path.join(NODE_DIR, "node_modules"))
    return ProxyServer(argv=[node_zeromq(), os.path.join(FIXTURES, "node_proxy.js")], env=env)


def test_internal_probes_only_where_a_proxy_can_start():
    """libzmq's internal send/recv probes trap on every message: they go only on a
    process that maps something importing zmq_proxy, zmq_proxy_steerable or zmq_device,
    or has libzmq linked into an object of another name, whose own code may call it."""
    internal = {"socket_base_t::send", "socket_base_t::recv"}
    for make, may, what in ((lambda: CPollServer(0), False, "a C zmq_poll server"),
                            (ProxyServer, True, "a C proxy server"),
                            (lambda: tornado_server(0), True, "pyzmq, whose _device imports "
                             "zmq_proxy"),
                            (lambda: node_server(0), True, "npm zeromq, libzmq linked into "
                             "its addon")):
        server = make()
        zs = None
        try:
            zs = Zmqscope("--pid", str(server.pid))
            t = target_status(server.pid)
            functions = {p["function"] for lib in t["libraries"] for p in lib["probes"]}
            check_eq(t["proxy_probes"], may, f"{what}: proxy probes")
            check_eq(internal <= functions, may, f"{what}: internal probes attached")
        finally:
            if zs:
                zs.close()
            server.close()


def test_proxy_started_before_attach():
    """zmq_proxy already running when zmqscope attaches: counted through libzmq's internals."""
    server = ProxyServer()
    zs = None
    try:
        zs = Zmqscope("--pid", str(server.pid))
        truth = through_proxy(server, 500)
        check_proxy_counts(zs, server.pid, truth)
        check_eq(proxy_places(server.pid), {"PULL": "internal", "PUSH": "internal"},
                 "sockets found through libzmq's own send/recv")
    finally:
        if zs:
            zs.close()
        server.close()


def test_node_addon_proxy_counts():
    """npm zeromq's Proxy: the addon calls its own zmq_proxy_steerable, which no import
    shows, from a worker thread; counted through libzmq's internals like a C proxy."""
    server = node_proxy()
    zs = None
    try:
        zs = Zmqscope("--pid", str(server.pid))
        check_eq(target_status(server.pid)["proxy_probes"], True, "zeromq.js: proxy probes")
        truth = through_proxy(server, 500)
        check_proxy_counts(zs, server.pid, truth)
        places = proxy_places(server.pid)
        # The Proxy also makes a DEALER, its pause/resume/terminate channel, which
        # moves nothing here: only the frontend and backend are a proxy's.
        check_eq({t: places.get(t) for t in ("PULL", "PUSH")},
                 {"PULL": "internal", "PUSH": "internal"},
                 "zeromq.js: sockets found through libzmq's own send/recv")
        check_eq({t: p for t, p in places.items() if t not in ("PULL", "PUSH") and p}, {},
                 "zeromq.js: sockets marked a proxy's besides the frontend and backend")
        print(f"     zeromq.js Proxy: {truth['msgs']} messages, {truth['frames']} frames, "
              f"{truth['bytes']} bytes, exact")
    finally:
        if zs:
            zs.close()
        server.close()


def test_proxy_with_capture_started_after_attach():
    """zmq_proxy entered after the attach: its three sockets are listed before any traffic."""
    server = ProxyServer("--capture", "--wait")
    zs = None
    try:
        zs = Zmqscope("--pid", str(server.pid))
        server.start()
        wait_for(lambda: len(proxy_places(server.pid)) == 3, timeout=20,
                 what="the proxy's sockets to be listed")
        check_eq(proxy_places(server.pid),
                 {"PULL": "frontend", "PUSH": "backend", "PUB": "capture"}, "proxy places")
        truth = through_proxy(server, 300)
        check_proxy_counts(zs, server.pid, truth, capture=True)
    finally:
        if zs:
            zs.close()
        server.close()


def test_zmq_device_counts():
    """zmq_device(ZMQ_QUEUE, ...) is a proxy too."""
    server = ProxyServer("--device", "--wait")
    zs = None
    try:
        zs = Zmqscope("--pid", str(server.pid))
        server.start()
        truth = through_proxy(server, 200)
        check_proxy_counts(zs, server.pid, truth)
        check_eq(proxy_places(server.pid), {"PULL": "frontend", "PUSH": "backend"},
                 "zmq_device places")
    finally:
        if zs:
            zs.close()
        server.close()


# ---- a Jupyter kernel --------------------------------------------------------

KERNEL_SCRIPT = r"""
import json, sys, time
from jupyter_client import KernelManager
km = KernelManager(kernel_name="python3")
km.kernel_cmd = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
km.start_kernel()
kc = km.client()
kc.start_channels(hb=False)
kc.wait_for_ready(timeout=60)
kc.stop_channels()
info = {k: v.decode() if isinstance(v, bytes) else v
        for k, v in km.get_connection_info(session=False).items()}
print("READY " + json.dumps({"pid": km.provisioner.process.pid, "connection": info}),
      flush=True)
sys.stdin.readline()
km.shutdown_kernel(now=True)
"""


class Kernel:
    def __init__(self):
        env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
        self.process = Process([PYTHON, "-c", KERNEL_SCRIPT], ready_prefix="READY ",
                               stdin=subprocess.PIPE, timeout=120, env=env)
        info = json.loads(self.process.ready)
        self.pid = info["pid"]
        self.conn = info["connection"]
        self.key = self.conn["key"].encode()

    def endpoint(self, channel):
        return f"{self.conn['transport']}://{self.conn['ip']}:{self.conn[channel + '_port']}"

    def close(self):
        if self.process.alive():
            try:
                self.process.proc.stdin.write("stop\n")
                self.process.proc.stdin.flush()
                self.process.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.process.kill()


def test_jupyter_kernel_shell_and_heartbeat():
    """ipykernel: shell ROUTER counts and request spans; the zmq_proxy heartbeat echoes 30 pings."""
    from jupyter_client.session import Session

    kernel = Kernel()
    zs = None
    ctx = zmq.Context()
    try:
        zs = Zmqscope("--pid", str(kernel.pid))
        session = Session(key=kernel.key, signature_scheme=kernel.conn["signature_scheme"])
        shell = ctx.socket(zmq.DEALER)
        shell.setsockopt(zmq.IDENTITY, b"zmqscope-test")
        shell.setsockopt(zmq.RCVTIMEO, 60000)
        shell.connect(kernel.endpoint("shell"))
        sent = {"frames": 0, "bytes": 0, "msgs": 0}
        got = {"frames": 0, "bytes": 0, "msgs": 0}
        round_trips = []
        n = 20
        for i in range(n):
            code = "import time; time.sleep(%r)" % (HANDLER_MS / 1000.0) if i % 2 else "x = %d" % i
            msg = session.msg("execute_request", {"code": code, "silent": False,
                                                  "store_history": False,
                                                  "user_expressions": {},
                                                  "allow_stdin": False, "stop_on_error": False})
            frames = session.serialize(msg)
            t0 = time.monotonic()
            shell.send_multipart(frames)
            # The ROUTER sees our identity in front of what we sent.
            sent["frames"] += len(frames) + 1
            sent["bytes"] += sum(len(f) for f in frames) + len(b"zmqscope-test")
            sent["msgs"] += 1
            reply = shell.recv_multipart()
            round_trips.append(time.monotonic() - t0)
            got["frames"] += len(reply) + 1
            got["bytes"] += sum(len(f) for f in reply) + len(b"zmqscope-test")
            got["msgs"] += 1
            check(session.deserialize(reply[reply.index(b"<IDS|MSG>") + 1:])["msg_type"] ==
                  "execute_reply", "execute_reply on shell")

        hb = ctx.socket(zmq.REQ)
        hb.setsockopt(zmq.RCVTIMEO, 30000)
        hb.connect(kernel.endpoint("hb"))
        for i in range(30):
            hb.send(b"ping-%d" % i)
            check_eq(hb.recv(), b"ping-%d" % i, "heartbeat echo")

        shell_ep, hb_ep = kernel.endpoint("shell"), kernel.endpoint("hb")

        def counted():
            m = zs.metrics()
            return m if m.socket_value("zmqscope_messages_sent_total", hb_ep,
                                       pid=kernel.pid) == 30 else None
        m = wait_for(counted, timeout=30, what="the heartbeat's 30 echoes to be counted")

        def sock(ep):
            return {k: int(m.socket_value(f"zmqscope_{k}_total", ep, pid=kernel.pid)) for k in (
                "frames_received", "messages_received", "bytes_received", "frames_sent",
                "messages_sent", "bytes_sent")}
        check_eq(sock(shell_ep), {"frames_received": sent["frames"],
                                  "messages_received": sent["msgs"],
                                  "bytes_received": sent["bytes"],
                                  "frames_sent": got["frames"], "messages_sent": got["msgs"],
                                  "bytes_sent": got["bytes"]}, "shell ROUTER counts")
        # A REQ ping reaches the ROUTER as [identity, "", ping] and is echoed the same way.
        hb_counts = sock(hb_ep)
        check_eq((hb_counts["messages_received"], hb_counts["messages_sent"],
                  hb_counts["frames_received"], hb_counts["frames_sent"]),
                 (30, 30, 90, 90), "heartbeat ROUTER (zmq_proxy) counts")
        # Requests on shell: received -> execute_reply sent; between the handler and the
        # round trip the client saw.
        shell_type = [l for l, _ in m.select("zmqscope_messages_received_total",
                                             pid=kernel.pid, endpoint=shell_ep)]
        check(shell_type and shell_type[0]["type"] == "ROUTER", "shell socket typed ROUTER")
        rc, out, _ = run_zmqscope("status", "--json")
        # Sockets found in memory are listed too, used or not: the shell socket is
        # the one at that endpoint that received.
        rules = {s["endpoint"]: s for inst in json.loads(out)
                 for t in inst["status"]["targets"] if t["pid"] == kernel.pid
                 for s in t["sockets"] if s["frames_received"]}
        check_eq(rules[shell_ep]["span_rule"], "poll", "shell ROUTER span rule (ZMQStream)")
        check_eq(rules[hb_ep]["proxy"], "internal", "heartbeat ROUTER moved by zmq_proxy")
        req_n, req_mean = spans(m, kernel.pid, "reply", "request")
        print(f"     jupyter: shell {sock(shell_ep)}, heartbeat {hb_counts}, "
              f"{req_n} request spans")
        check(req_n >= n + 30, f"request spans: {req_n} for {n} requests and 30 pings")
        check_eq(m.total("zmqscope_socket_active_handlers", pid=kernel.pid, endpoint=shell_ep),
                 0, "shell active at quiescence")
    finally:
        ctx.destroy(linger=0)
        if zs:
            zs.close()
        kernel.close()


TESTS = [test_internal_probes_only_where_a_proxy_can_start, test_c_zmq_poll_server, test_tornado_zmqstream_server, test_czmq_zloop_server,
         test_node_zeromq_server, test_proxy_started_before_attach, test_node_addon_proxy_counts,
         test_proxy_with_capture_started_after_attach, test_zmq_device_counts,
         test_jupyter_kernel_shell_and_heartbeat]
