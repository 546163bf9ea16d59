"""The wire layer (issue 10): ZMTP parsed from the target's syscalls, against ground truth."""

import json
import os
import socket
import struct
import subprocess
import time

import msgpack
import zmq

from harness import (FIXTURES, PYTHON, Controller, Zmqscope, check, check_eq, lmcache,
                     run_zmqscope, tempdir, wait_for)


class WirePeer:
    """tests/fixtures/wire_peer.py: a PULL and a ROUTER keeping wire-level truth."""

    def __init__(self, pull, reply, curve=None):
        argv = [PYTHON, os.path.join(FIXTURES, "wire_peer.py"), "--pull", pull, "--reply", reply]
        if curve:
            argv += ["--curve-public=" + curve[0].decode(), "--curve-secret=" + curve[1].decode()]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        check(line.startswith("READY "), f"wire_peer.py did not start: {line!r}")
        info = json.loads(line[6:])
        self.pid, self.pull, self.reply = info["pid"], info["pull"], info["reply"]

    def truth(self):
        self.proc.stdin.write("truth\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.kill()
        self.proc.wait(timeout=10)


def wire(m, pid, endpoint, what, direction="in"):
    return m.total(f"zmqscope_wire_{what}_total", pid=pid, endpoint=endpoint,
                   direction=direction)


def wire_types(m, pid, endpoint, direction="in"):
    return {l["msg_type"]: v for l, v in m.select("zmqscope_wire_messages_by_type_total",
                                                  pid=pid, endpoint=endpoint,
                                                  direction=direction)}


def settle(zs, pred, what):
    """Waits until the wire figures satisfy pred(metrics); they lag the app by a syscall."""
    return wait_for(lambda: (lambda m: m if pred(m) else None)(zs.metrics()), timeout=20,
                    what=what)


# ---- a raw ZMTP peer, to split frames where libzmq never would ------------

def greeting(minor=1):
    return b"\xff" + bytes(8) + b"\x7f" + bytes([3, minor]) + b"NULL".ljust(20, b"\0") + \
        bytes(32)


def frame(body, more=False, command=False):
    flags = (1 if more else 0) | (4 if command else 0)
    if len(body) > 255:
        return bytes([flags | 2]) + struct.pack(">Q", len(body)) + body
    return bytes([flags, len(body)]) + body


def command(name, body=b""):
    return frame(bytes([len(name)]) + name + body, command=True)


def prop(name, value):
    return bytes([len(name)]) + name + struct.pack(">I", len(value)) + value


def read_exactly(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        check(chunk, "the ZMTP peer closed the connection")
        buf += chunk
    return buf


def send_slowly(s, data, step):
    for i in range(0, len(data), step):
        s.sendall(data[i:i + step])
        time.sleep(0.002)  # a read of its own on the other side, most of the time


def raw_push(address, family):
    """A PUSH peer in ZMTP 3.1, by hand: greeting, READY, then frames in pieces."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.connect(address)
    if family != socket.AF_UNIX:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    send_slowly(s, greeting(), 7)
    read_exactly(s, 64)
    s.sendall(command(b"READY", prop(b"Socket-Type", b"PUSH") + prop(b"Identity", b"raw-1")))
    hdr = read_exactly(s, 2)
    read_exactly(s, hdr[1])  # the PULL's READY
    small = msgpack.packb({"type": "SplitMsg", "i": 1})
    big = msgpack.packb({"type": "BigMsg", "pad": bytes(20000)})
    frames = [frame(small),
              frame(msgpack.packb({"type": "PartMsg"}), more=True) + frame(b"tail"),
              frame(big)]
    send_slowly(s, frames[0], 1)          # every byte its own write
    send_slowly(s, frames[1], 3)          # split mid-header and mid-body
    send_slowly(s, frames[2][:12], 1)     # the 8-byte size, byte by byte
    send_slowly(s, frames[2][12:], 4999)  # the body in reads shorter than it
    s.sendall(command(b"PING", b"\x00\x0actx"))
    pong = read_exactly(s, 2)
    read_exactly(s, pong[1])
    check(pong[0] == 4, f"expected a PONG command, got flags {pong[0]}")
    return s, {"frames": 4, "msgs": 3, "bytes": len(small) + len(frames[1]) - 4 + len(big),
               "types": {"SplitMsg": 1, "PartMsg": 1, "BigMsg": 1}}


def wire_link_programs():
    """Names of the programs behind BPF links that are the wire layer's."""
    def bpftool(*what):
        out = subprocess.run(["bpftool", "-j", *what, "show"], capture_output=True, text=True,
                             check=True).stdout
        return json.loads(out or "[]")
    names = {p["id"]: p.get("name", "") for p in bpftool("prog")}
    return sorted(names[l["prog_id"]] for l in bpftool("link")
                  if names.get(l.get("prog_id"), "").startswith("wire_"))


def check_one_exit_program(kind="tp_btf"):
    """The layer runs one program, on sys_exit: none on sys_enter, and status says so."""
    check_eq(wire_link_programs(), ["wire_exit_btf" if kind == "tp_btf" else "wire_exit_raw"],
             "the wire layer's links")
    rc, out, err = run_zmqscope("status", "--json")
    check_eq(rc, 0, f"status exit code ({err})")
    check_eq([i["status"]["wire_mechanism"] for i in json.loads(out)], [f"{kind} (sys_exit)"],
             "status: wire mechanism")


def load_and_settle(zs, ctl, what, **load):
    """Drives ctl.load(**load) to quiescence and waits for the wire to catch up.
    Checks the pull socket's frames, messages and bytes in; (sent, truth, metrics)."""
    sent = ctl.load(**load)
    t = ctl.quiesce(expect_pull_frames=sent["push_frames"],
                    expect_reply=sent["requests"] + sent["heartbeats"])
    m = settle(zs, lambda m: wire(m, ctl.pid, ctl.reply, "messages", "out") ==
               t["sockets"]["reply"]["messages_sent"], f"{what}: reply counts on the wire")
    p = t["sockets"]["pull"]
    check_eq([wire(m, ctl.pid, ctl.pull, k) for k in ("frames", "messages", "bytes")],
             [p["frames_received"], p["messages_received"], p["bytes_received"]],
             f"{what}: pull frames, messages, bytes in")
    return sent, t, m


# ---- tests -----------------------------------------------------------------

def test_wire_tcp_counts_match_truth():
    """Controller fixture over tcp, --layer wire alone: counts, types, latency, LMCache gauges."""
    ctl = Controller()
    zs = None
    try:
        zs = Zmqscope("--pid", str(ctl.pid), args=["--layer", "wire"])
        check_one_exit_program()
        sent, t, m = load_and_settle(zs, ctl, "tcp", pushes=3000, push_workers=3,
                                     min_frames=1, max_frames=4, requests=600, req_workers=4,
                                     heartbeats=300, hb_workers=2, json_every=7, seed=5)
        truth = t["sockets"]
        p = truth["pull"]
        for name in ("reply", "heartbeat"):
            r, ep = truth[name], getattr(ctl, name)
            # The ROUTER's identity frame (5 bytes from libzmq) is local: never on the wire.
            want = [r["frames_received"] - r["messages_received"], r["messages_received"],
                    r["bytes_received"] - 5 * r["messages_received"],
                    r["frames_sent"] - r["messages_sent"], r["messages_sent"],
                    r["bytes_sent"] - 5 * r["messages_sent"]]
            got = [wire(m, ctl.pid, ep, k, d) for d in ("in", "out")
                   for k in ("frames", "messages", "bytes")]
            check_eq(got, want, f"{name}: frames, messages, bytes in and out")
            types = sent["types_by_socket"][name]
            check_eq(wire_types(m, ctl.pid, ep), {k: float(v) for k, v in types.items()},
                     f"{name}: messages by type in")
            check_eq(wire_types(m, ctl.pid, ep, "out"),
                     {k + "Ret": float(v) for k, v in types.items()},
                     f"{name}: replies by type out")
            lat = {l["msg_type"]: v for l, v in
                   m.select("zmqscope_wire_request_duration_seconds_count", pid=ctl.pid,
                            endpoint=ep)}
            check_eq(lat, {k: float(v) for k, v in types.items()},
                     f"{name}: request latencies by type")
        lm = lmcache_wire(m, ctl.pid)
        check_eq(lm, {"pull_socket_message_count": t["lmcache"]["pull_socket_message_count"],
                      "reply_socket_message_count": t["lmcache"]["reply_socket_message_count"],
                      "reply_socket_active_requests": 0},
                 "LMCache gauges from the wire")
        # Pushes of one frame each: a message's type is its frame's.
        before = wire_types(m, ctl.pid, ctl.pull)
        sent1 = ctl.load(pushes=500, min_frames=1, max_frames=1, requests=0, heartbeats=0,
                         seed=9)
        m = settle(zs, lambda m: wire(m, ctl.pid, ctl.pull, "messages") ==
                   p["messages_received"] + 500, "one-frame pushes")
        after = wire_types(m, ctl.pid, ctl.pull)
        check_eq({k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k)},
                 {k: float(v) for k, v in sent1["types"]["pull"].items()},
                 "pull: messages by type")
        check_eq(m.total("zmqscope_wire_handshake_failures_total", pid=ctl.pid), 0,
                 "handshake failures")
        check_eq(m.total("zmqscope_wire_drops_total"), 0, "wire drops")
        check_eq(m.total("zmqscope_probe_attached", pid=ctl.pid), 0, "no uprobes with wire alone")
        zs.close()
        check_eq(wire_link_programs(), [], "the wire layer's links after zmqscope exits")
    finally:
        if zs:
            zs.close()
        ctl.close()


def test_wire_raw_tp_fallback_counts():
    """The raw_tp program, kept for kernels that refuse tp_btf, reads the arguments the
    same way (through CO-RE) and counts the same: forced with ZMQSCOPE_WIRE_MECHANISM."""
    ctl = Controller()
    zs = None
    try:
        zs = Zmqscope("--pid", str(ctl.pid), args=["--layer", "wire"],
                      env=dict(os.environ, ZMQSCOPE_WIRE_MECHANISM="raw_tp"))
        check_one_exit_program("raw_tp")
        sent, t, m = load_and_settle(zs, ctl, "raw_tp", pushes=1000, push_workers=2,
                                     min_frames=1, max_frames=3, requests=200, req_workers=2,
                                     heartbeats=50, hb_workers=1, seed=11)
        r = t["sockets"]["reply"]
        check_eq([wire(m, ctl.pid, ctl.reply, "messages", d) for d in ("in", "out")],
                 [r["messages_received"], r["messages_sent"]], "raw_tp: reply messages")
        check_eq(wire_types(m, ctl.pid, ctl.reply),
                 {k: float(v) for k, v in sent["types_by_socket"]["reply"].items()},
                 "raw_tp: reply messages by type")
        check_eq(m.total("zmqscope_wire_drops_total"), 0, "raw_tp: wire drops")
    finally:
        if zs:
            zs.close()
        ctl.close()


def lmcache_wire(m, pid):
    names = ["pull_socket_message_count", "reply_socket_message_count",
             "reply_socket_active_requests"]
    return {n: m.value(f"lmcache:cache_controller_{n}", pid=pid) for n in names}


def test_wire_ipc_split_frames_big_frames_ping():
    """ipc: pyzmq peers, and a hand-written peer sending frames byte by byte, 20 KB frames, PING."""
    with tempdir() as d:
        peer = WirePeer(f"ipc://{d}/pull", f"ipc://{d}/reply")
        zs = None
        ctx = zmq.Context()
        try:
            zs = Zmqscope("--pid", str(peer.pid), args=["--layer", "wire"])
            raw, expect = raw_push(f"{d}/pull", socket.AF_UNIX)
            push = ctx.socket(zmq.PUSH)
            push.connect(peer.pull)
            for i in range(200):
                push.send_multipart([msgpack.packb({"type": "IpcMsg", "i": i}), b"x" * i])
            dealer = ctx.socket(zmq.DEALER)
            dealer.connect(peer.reply)
            for i in range(50):
                dealer.send_multipart([b"", msgpack.packb({"type": "AskMsg", "n": i})])
                dealer.recv_multipart()
            wait_for(lambda: peer.truth()["pull"]["msgs_in"] == 203, what="pull truth")
            t = peer.truth()
            m = settle(zs, lambda m: wire(m, peer.pid, peer.pull, "messages") == 203,
                       "ipc pull messages")
            for k, tk in (("frames", "frames_in"), ("messages", "msgs_in"), ("bytes", "bytes_in")):
                check_eq(wire(m, peer.pid, peer.pull, k), t["pull"][tk], f"ipc pull {k}")
                for dr in ("in", "out"):
                    check_eq(wire(m, peer.pid, peer.reply, k, dr),
                             t["reply"][tk.replace("_in", "_" + dr)], f"ipc reply {k} {dr}")
            check_eq(wire_types(m, peer.pid, peer.pull),
                     {k: float(v) for k, v in t["pull"]["types_in"].items()}, "ipc pull types")
            check_eq(wire_types(m, peer.pid, peer.reply, "out"), {"AskMsgRet": 50.0},
                     "ipc reply types out")
            check_eq(wire(m, peer.pid, peer.pull, "pings"), 1, "PING in")
            check_eq(wire(m, peer.pid, peer.pull, "pongs", "out"), 1, "PONG out")
            info = [l for l, _ in m.select("zmqscope_wire_connection_info", pid=peer.pid,
                                           endpoint=peer.pull)]
            raw_info = [l for l in info if l["peer_identity"] == "raw-1"]
            check_eq(len(raw_info), 1, "the raw peer's connection, by its Identity")
            check_eq((raw_info[0]["peer_socket_type"], raw_info[0]["mechanism"],
                      raw_info[0]["socket_type"]), ("PUSH", "NULL", "PULL"),
                     "handshake properties")
            check_eq(len(info), 2, "connections on the ipc PULL")
            check_eq(expect["types"], {k: t["pull"]["types_in"][k] for k in expect["types"]},
                     "the raw peer's messages reached the PULL")
            raw.close()
            push.close(0)
            dealer.close(0)
            m = settle(zs, lambda m: m.total("zmqscope_wire_connections_closed_total",
                                             pid=peer.pid) == 3, "ipc disconnects")
            check_eq(m.total("zmqscope_wire_connections_opened_total", pid=peer.pid), 3,
                     "ipc connections opened")
            check_eq(m.total("zmqscope_wire_drops_total"), 0, "wire drops")
        finally:
            ctx.destroy(linger=0)
            if zs:
                zs.close()
            peer.close()


def test_wire_100_peers_and_reconnects():
    """100 DEALERs over tcp, twice: opens, closes, messages exact; no handshake failure."""
    peer = WirePeer("tcp://127.0.0.1:*", "tcp://127.0.0.1:*")
    zs = None
    ctx = zmq.Context()
    try:
        zs = Zmqscope("--pid", str(peer.pid), args=["--layer", "wire"])
        for rnd in range(2):
            dealers = [ctx.socket(zmq.DEALER) for _ in range(100)]
            for i, s in enumerate(dealers):
                s.setsockopt(zmq.IDENTITY, f"peer-{rnd}-{i}".encode())
                s.connect(peer.reply)
            for i, s in enumerate(dealers):
                s.send_multipart([b"", msgpack.packb({"type": "RoundMsg", "i": i})])
            for s in dealers:
                s.recv_multipart()
            if rnd == 0:
                m = settle(zs, lambda m: len(m.select("zmqscope_wire_connection_info",
                                                      pid=peer.pid)) == 100, "100 live peers")
                ids = {l["peer_identity"] for l, _ in m.select("zmqscope_wire_connection_info",
                                                              pid=peer.pid)}
                check_eq(ids, {f"peer-0-{i}" for i in range(100)}, "peer identities")
                check_eq(m.value("zmqscope_wire_connections", pid=peer.pid,
                                 endpoint=peer.reply), 100, "live connections")
            for s in dealers:
                s.close(0)
        t = peer.truth()
        m = settle(zs, lambda m: m.total("zmqscope_wire_connections_closed_total",
                                         pid=peer.pid) == 200, "200 disconnects")
        check_eq(m.total("zmqscope_wire_connections_opened_total", pid=peer.pid), 200, "opens")
        check_eq(m.total("zmqscope_wire_handshake_failures_total", pid=peer.pid), 0,
                 "handshake failures")
        check_eq([wire(m, peer.pid, peer.reply, "messages", d) for d in ("in", "out")],
                 [t["reply"]["msgs_in"], t["reply"]["msgs_out"]], "messages in and out")
        check_eq(t["reply"]["msgs_in"], 200, "requests the peer answered")
        check_eq(wire_types(m, peer.pid, peer.reply), {"RoundMsg": 200.0}, "types")
    finally:
        ctx.destroy(linger=0)
        if zs:
            zs.close()
        peer.close()


def test_wire_curve_counted_by_frame():
    """A CURVE connection: reported as CURVE, frames counted, no messages or types read."""
    server_pub, server_sec = zmq.curve_keypair()
    client_pub, client_sec = zmq.curve_keypair()
    peer = WirePeer("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", curve=(server_pub, server_sec))
    zs = None
    ctx = zmq.Context()
    try:
        zs = Zmqscope("--pid", str(peer.pid), args=["--layer", "wire"])
        d = ctx.socket(zmq.DEALER)
        d.curve_serverkey, d.curve_publickey, d.curve_secretkey = \
            server_pub, client_pub, client_sec
        d.connect(peer.reply)
        for i in range(10):
            d.send_multipart([b"", msgpack.packb({"type": "SecretMsg", "i": i})])
            d.recv_multipart()
        t = peer.truth()
        check_eq(t["reply"]["msgs_in"], 10, "requests the CURVE server answered")
        m = settle(zs, lambda m: wire(m, peer.pid, peer.reply, "frames", "out") ==
                   t["reply"]["frames_out"], "CURVE frames out")
        check_eq(wire(m, peer.pid, peer.reply, "frames"), t["reply"]["frames_in"],
                 "CURVE frames in")
        check_eq([wire(m, peer.pid, peer.reply, "messages", d) for d in ("in", "out")], [0, 0],
                 "CURVE hides MORE: no messages")
        check_eq(wire_types(m, peer.pid, peer.reply), {}, "no types under CURVE")
        (info, _), = m.select("zmqscope_wire_connection_info", pid=peer.pid,
                              endpoint=peer.reply)
        check_eq((info["mechanism"], info["handshake"]), ("CURVE", "done"), "CURVE handshake")
        check_eq(m.value("zmqscope_wire_curve_connections", pid=peer.pid,
                         endpoint=peer.reply), 1, "CURVE connections")
        d.close(0)
    finally:
        ctx.destroy(linger=0)
        if zs:
            zs.close()
        peer.close()


def test_wire_with_app_queue_depth():
    """--layer app,wire: app counts as before, plus arrived-minus-read as a queue depth."""
    ctl = Controller()
    zs = None
    try:
        zs = Zmqscope("--pid", str(ctl.pid), args=["--layer", "app,wire"])
        ctl.command("block pull")
        ctx = zmq.Context()
        push = ctx.socket(zmq.PUSH)
        push.connect(ctl.pull)
        for i in range(10):
            push.send(msgpack.packb({"type": "QueuedMsg", "i": i}))
        wait_for(lambda: ctl.command("blocked")["pull"], what="the pull handler to block")
        m = settle(zs, lambda m: wire(m, ctl.pid, ctl.pull, "frames") == 10, "10 arrivals")
        check_eq(m.value("zmqscope_wire_queue_depth", pid=ctl.pid, endpoint=ctl.pull), 9,
                 "queue depth: 10 arrived, 1 read")
        ctl.command("release pull")
        t = ctl.quiesce(expect_pull_frames=10)
        m = settle(zs, lambda m: m.value("zmqscope_wire_queue_depth", pid=ctl.pid,
                                         endpoint=ctl.pull) == 0, "queue drained")
        check_eq(lmcache(m, ctl.pid)["pull_socket_message_count"],
                 t["lmcache"]["pull_socket_message_count"], "app layer's LMCache count")
        push.close(0)
        ctx.destroy(linger=0)
    finally:
        if zs:
            zs.close()
        ctl.close()


TESTS = [test_wire_tcp_counts_match_truth, test_wire_raw_tp_fallback_counts,
         test_wire_ipc_split_frames_big_frames_ping,
         test_wire_100_peers_and_reconnects, test_wire_curve_counted_by_frame,
         test_wire_with_app_queue_depth]
