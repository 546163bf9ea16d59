"""The wire layer (issue 10) on programs nobody here wrote: a Jupyter kernel, npm's zeromq
(libzmq linked into a Node addon), czmq's zloop.

The fixtures' own truth is counted by the application; the wire layer reads
the same traffic from the kernel's socket syscalls.  What separates the two
is only what never crosses the wire: a ROUTER's identity frame, which the
peer announced once in its handshake.
"""

import zmq

from harness import Zmqscope, check, check_eq
from test_loops import Kernel, node_server, settled_truth, zloop_server
from test_wire import settle, wire

PUSHES = 200
REQUESTS = 30
DEALER_ID = b"wire-dealer"
BIG = 20000   # a frame with an 8-byte size, read in several syscalls


def connection(m, pid, endpoint):
    """The one open connection's info labels at endpoint."""
    found = m.select("zmqscope_wire_connection_info", pid=pid, endpoint=endpoint)
    check_eq(len(found), 1, f"open connections at {endpoint}")
    return found[0][0]


def no_trouble(m, pid, what):
    check_eq(m.total("zmqscope_wire_handshake_failures_total", pid=pid), 0,
             f"{what}: handshake failures")
    check_eq(m.total("zmqscope_wire_drops_total"), 0, f"{what}: wire drops")
    check_eq(m.total("zmqscope_probe_attached", pid=pid), 0, f"{what}: no uprobes, wire alone")


def check_wire_on_loop_server(make_server, what):
    """Pushes (one 20 KB frame in ten) and DEALER requests against the server's own truth."""
    server = make_server(0)
    zs = None
    ctx = zmq.Context()
    try:
        zs = Zmqscope("--pid", str(server.pid), args=["--layer", "wire"])
        push = ctx.socket(zmq.PUSH)
        push.connect(server.pull)
        dealer = ctx.socket(zmq.DEALER)
        dealer.setsockopt(zmq.IDENTITY, DEALER_ID)
        dealer.setsockopt(zmq.RCVTIMEO, 30000)
        dealer.connect(server.reply)
        for i in range(PUSHES):
            push.send_multipart([b"frame-a-%d" % i, b"b" * (BIG if i % 10 == 0 else i % 7)])
        for i in range(REQUESTS):
            dealer.send_multipart([b"", b"request-%d" % i])
            check(dealer.recv_multipart()[-1].startswith(b"OK"), f"{what}: reply {i}")
        truth = settled_truth(server, {"pushes": PUSHES, "requests": REQUESTS})
        pid, p, r = server.pid, truth["pull"], truth["reply"]
        m = settle(zs, lambda m: (wire(m, pid, server.pull, "messages") == PUSHES and
                                  wire(m, pid, server.reply, "messages", "out") ==
                                  r["messages_sent"]), f"{what}: the wire to catch up")
        check_eq([wire(m, pid, server.pull, k) for k in ("frames", "messages", "bytes")],
                 [p["frames_received"], p["messages_received"], p["bytes_received"]],
                 f"{what}: pull frames, messages, bytes in")
        idl = len(DEALER_ID)
        check_eq([wire(m, pid, server.reply, k, d) for d in ("in", "out")
                  for k in ("frames", "messages", "bytes")],
                 [r["frames_received"] - r["messages_received"], r["messages_received"],
                  r["bytes_received"] - idl * r["messages_received"],
                  r["frames_sent"] - r["messages_sent"], r["messages_sent"],
                  r["bytes_sent"] - idl * r["messages_sent"]],
                 f"{what}: reply frames, messages, bytes in and out (identity frames not sent)")
        check_eq(int(m.total("zmqscope_wire_request_duration_seconds_count", pid=pid,
                             endpoint=server.reply)), REQUESTS, f"{what}: wire request latencies")
        c = connection(m, pid, server.pull)
        check_eq((c["peer_socket_type"], c["socket_type"], c["mechanism"], c["handshake"]),
                 ("PUSH", "PULL", "NULL", "done"), f"{what}: pull connection's handshake")
        c = connection(m, pid, server.reply)
        check_eq((c["peer_socket_type"], c["socket_type"], c["peer_identity"]),
                 ("DEALER", "ROUTER", DEALER_ID.decode()), f"{what}: reply connection's handshake")
        no_trouble(m, pid, what)
        push.close(linger=5000)
        dealer.close(linger=5000)
        m = settle(zs, lambda m: m.total("zmqscope_wire_connections", pid=pid) == 0,
                   f"{what}: both connections to close")
        check_eq([int(m.total(f"zmqscope_wire_connections_{k}_total", pid=pid, endpoint=ep))
                  for ep in (server.pull, server.reply) for k in ("opened", "closed")],
                 [1, 1, 1, 1], f"{what}: connections opened and closed, pull then reply")
        print(f"     {what}: pull {p['frames_received']} frames / {p['bytes_received']} bytes, "
              f"reply {r['messages_received']} requests, exact on the wire")
    finally:
        ctx.destroy(linger=0)
        if zs:
            zs.close()
        server.close()


def test_wire_node_zeromq_server():
    """npm zeromq 6: its libzmq is inside the addon; the syscalls are the same."""
    check_wire_on_loop_server(node_server, "zeromq.js")


def test_wire_czmq_zloop_server():
    check_wire_on_loop_server(zloop_server, "czmq zloop")


def test_wire_jupyter_kernel():
    """ipykernel: shell requests and the zmq_proxy heartbeat, counted on the wire."""
    from jupyter_client.session import Session

    kernel = Kernel()
    zs = None
    ctx = zmq.Context()
    try:
        zs = Zmqscope("--pid", str(kernel.pid), args=["--layer", "wire"])
        session = Session(key=kernel.key, signature_scheme=kernel.conn["signature_scheme"])
        shell = ctx.socket(zmq.DEALER)
        shell.setsockopt(zmq.IDENTITY, b"zmqscope-test")
        shell.setsockopt(zmq.RCVTIMEO, 60000)
        shell.connect(kernel.endpoint("shell"))
        sent = {"frames": 0, "bytes": 0}
        got = {"frames": 0, "bytes": 0}
        n = 20
        for i in range(n):
            msg = session.msg("execute_request", {"code": "x = %d" % i, "silent": False,
                                                  "store_history": False,
                                                  "user_expressions": {},
                                                  "allow_stdin": False, "stop_on_error": False})
            frames = session.serialize(msg)
            shell.send_multipart(frames)
            sent["frames"] += len(frames)
            sent["bytes"] += sum(len(f) for f in frames)
            reply = shell.recv_multipart()
            got["frames"] += len(reply)
            got["bytes"] += sum(len(f) for f in reply)
        hb = ctx.socket(zmq.REQ)
        hb.setsockopt(zmq.RCVTIMEO, 30000)
        hb.connect(kernel.endpoint("hb"))
        pings = 0
        for i in range(30):
            hb.send(b"ping-%d" % i)
            pings += len(b"ping-%d" % i)
            check_eq(hb.recv(), b"ping-%d" % i, "heartbeat echo")
        pid, shell_ep, hb_ep = kernel.pid, kernel.endpoint("shell"), kernel.endpoint("hb")
        m = settle(zs, lambda m: (wire(m, pid, hb_ep, "messages", "out") == 30 and
                                  wire(m, pid, shell_ep, "messages", "out") == n),
                   "the kernel's replies on the wire")
        check_eq([wire(m, pid, shell_ep, k, d) for d in ("in", "out")
                  for k in ("frames", "messages", "bytes")],
                 [sent["frames"], n, sent["bytes"], got["frames"], n, got["bytes"]],
                 "shell frames, messages, bytes in and out: what the DEALER sent and got")
        # A REQ's ping is [delimiter, ping] on the wire; the echo comes back the same way.
        check_eq([wire(m, pid, hb_ep, k, d) for d in ("in", "out")
                  for k in ("frames", "messages", "bytes")],
                 [60, 30, pings, 60, 30, pings], "heartbeat, moved by zmq_proxy")
        check_eq([int(m.total("zmqscope_wire_request_duration_seconds_count", pid=pid,
                              endpoint=ep)) for ep in (shell_ep, hb_ep)], [n, 30],
                 "request latencies on the wire: shell, heartbeat")
        c = connection(m, pid, shell_ep)
        check_eq((c["peer_socket_type"], c["socket_type"], c["peer_identity"], c["mechanism"]),
                 ("DEALER", "ROUTER", "zmqscope-test", "NULL"), "shell connection's handshake")
        c = connection(m, pid, hb_ep)
        check_eq(c["peer_socket_type"], "REQ", "heartbeat peer's Socket-Type")
        no_trouble(m, pid, "jupyter")
        print(f"     jupyter: shell {sent['frames']} frames in / {got['frames']} out, "
              f"heartbeat 30 pings, local heartbeat type {c['socket_type']}")
    finally:
        ctx.destroy(linger=0)
        if zs:
            zs.close()
        kernel.close()


TESTS = [test_wire_node_zeromq_server, test_wire_czmq_zloop_server, test_wire_jupyter_kernel]
