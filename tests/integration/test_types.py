"""Message types and latency (issue 3), against the fixtures' own measurements."""

import json
import math
import os
import re
import subprocess

import zmq

from harness import (BUILD, CController, Controller, Process, check, check_eq, run_zmqscope,
                     wait_for, Zmqscope)

# Injected handler delays, ms: a fast, a medium and a slow type, on both roles.  The
# fast one is 2 ms, not 1: on this 2-core VM the event loop's wake-up jitter under
# load (every probe hit is a ~5 us trap) pushed a few percent of 1 ms handlers past
# 2.1 ms, the end of the bucket after 1 ms's, in about one run in five.
DELAYS = {"RegisterMsg": 2, "BatchedKVOperationMsg": 20, "LookupMsg": 5, "HeartbeatMsg": 2}
PULL_TYPES = ["RegisterMsg", "BatchedKVOperationMsg"]


def slot_of(seconds):
    """The log2 bucket (upper edge 2^i ns) a duration falls in."""
    ns = seconds * 1e9
    return max(0, math.ceil(math.log2(ns)))


def buckets(m, name, **labels):
    """{le: cumulative count} for one histogram series."""
    return {float(l["le"]): v for l, v in m.select(name + "_bucket", **labels)}


def share_near(cum, delay_s):
    """Fraction of observations in the bucket holding delay_s or the next one."""
    i = slot_of(delay_s)
    upper = cum[2.0 ** (i + 1) / 1e9]
    lower = cum.get(2.0 ** (i - 1) / 1e9, 0.0)
    return (upper - lower) / cum[math.inf]


def test_msg_types_and_latency_match_ground_truth():
    ctl = Controller(delays=DELAYS)
    zs = Zmqscope("--pid", str(ctl.pid))
    try:
        sent = ctl.load(nice=10, pushes=160, push_workers=1, min_frames=1, max_frames=1,
                        types=",".join(PULL_TYPES), json_every=5, requests=120, req_workers=1,
                        req_types="LookupMsg", heartbeats=160, hb_workers=1, seed=3)
        truth = ctl.quiesce(expect_pull_frames=sent["push_frames"],
                            expect_reply=sent["requests"] + sent["heartbeats"])
        m = zs.metrics()
        report = {}
        for role, types in truth["types"].items():
            for t, tt in types.items():
                got = m.total("zmqscope_messages_received_total", pid=ctl.pid, role=role,
                              msg_type=t)
                check_eq(got, tt["count"], f"{role} {t} message count")
                h = "zmqscope_handler_duration_seconds"
                count = m.value(h + "_count", pid=ctl.pid, role=role, msg_type=t)
                check_eq(count, tt["count"], f"{role} {t} handler spans")
                total = m.value(h + "_sum", pid=ctl.pid, role=role, msg_type=t)
                err = abs(total - tt["sum_seconds"]) / tt["sum_seconds"]
                share = share_near(buckets(m, h, pid=ctl.pid, role=role, msg_type=t),
                                   DELAYS[t] / 1000)
                report[f"{role}/{t}"] = (count, round(total, 4), round(tt["sum_seconds"], 4),
                                         round(share, 3))
                check(err <= 0.10, f"{role} {t} _sum {total:.4f}s vs fixture "
                                   f"{tt['sum_seconds']:.4f}s ({err:.1%} off)")
                check(share >= 0.95, f"{role} {t}: only {share:.1%} near {DELAYS[t]} ms")
                if role == "reply":
                    rq = "zmqscope_request_duration_seconds"
                    check_eq(m.value(rq + "_count", pid=ctl.pid, role=role, msg_type=t),
                             tt["count"], f"{t} request spans")
        # JSON-encoded messages are decoded too.
        check(sum(sent["json_payloads"].values()) > 0, "some payloads were JSON")
        # A 20 ms handler awaits while the other sockets are served: still one span each.
        check(truth["types"]["reply"]["HeartbeatMsg"]["count"] == 160, "heartbeats served")
        rc, out, _ = run_zmqscope("status")
        for t in DELAYS:
            check(t in out, f"status lists msg_type {t}")
        check("pull spans: inferred" in out, "status says spans are inferred")
        print(f"     per type (spans, zmqscope sum s, fixture sum s, share near delay): {report}")
    finally:
        zs.close()
        ctl.close()


def test_msg_type_limit_folds_into_other():
    ctl = Controller()
    zs = Zmqscope("--pid", str(ctl.pid), args=["--max-msg-types", "2"])
    try:
        sent = ctl.load(pushes=300, types="RegisterMsg,KVAdmitMsg,KVEvictMsg", requests=0,
                        heartbeats=0, min_frames=1, max_frames=1)
        truth = ctl.quiesce(expect_pull_frames=sent["push_frames"])
        m = zs.metrics()
        per_type = {l["msg_type"]: v for l, v in
                    m.select("zmqscope_messages_received_total", pid=ctl.pid, role="pull")}
        named = [t for t in per_type if t not in ("other", "unknown")]
        check_eq(len(named), 2, f"two named types, then other: {per_type}")
        for t in named:
            check_eq(per_type[t], truth["types"]["pull"][t]["count"], f"count of {t}")
        rest = sum(v["count"] for t, v in truth["types"]["pull"].items() if t not in named)
        check_eq(per_type.get("other"), rest, "everything past the limit is 'other'")
    finally:
        zs.close()
        ctl.close()


def test_handler_probe_times_native_handler():
    """--handler on the C fixture's handle_message: one span per call, durations right."""
    c = CController(delay_us=3000)
    zs = Zmqscope("--pid", str(c.pid),
                  args=["--handler", f"reply={c.binary}:handle_message"])
    ctx = zmq.Context()
    try:
        push = ctx.socket(zmq.PUSH)
        push.connect(c.pull)
        req = ctx.socket(zmq.REQ)
        req.connect(c.reply)
        for i in range(40):
            push.send(b"p%d" % i)
        for i in range(40):
            req.send(b"r%d" % i)
            check(req.poll(10000), "reply")
            req.recv()
        truth = wait_for(lambda: (lambda t: t if t["pull"]["handler_calls"] == 40 else None)(
            c.truth()), what="all pushes handled")
        calls = truth["pull"]["handler_calls"] + truth["reply"]["handler_calls"]
        fixture_s = (truth["pull"]["handler_total_ns"] + truth["reply"]["handler_total_ns"]) / 1e9
        m = zs.metrics()
        h = "zmqscope_handler_duration_seconds"
        check_eq(m.total(h + "_count", pid=c.pid, role="reply"), calls, "spans = handler calls")
        got = m.total(h + "_sum", pid=c.pid, role="reply")
        check(abs(got - fixture_s) / fixture_s <= 0.10,
              f"span sum {got:.4f}s vs handler's own {fixture_s:.4f}s")
        # No inferred spans for a role timed by --handler.
        check_eq(m.total("zmqscope_socket_active_handlers", pid=c.pid, role="reply"), 0,
                 "inferred spans are off for the role")
        rc, out, _ = run_zmqscope("status")
        check("reply spans: --handler" in out and "handle_message" in out,
              "status says reply spans come from the handler probe")
    finally:
        ctx.destroy(linger=0)
        zs.close()
        c.close()


def test_handler_probe_nested_recursive_threads():
    """Recursion counts once, from the outermost call; threads do not mix."""
    threads, calls, depth, sleep_us = 4, 25, 5, 2000
    proc = Process([os.path.join(BUILD, "fixtures", "handler_threads"), str(threads), str(calls),
                    str(depth), str(sleep_us)], ready_prefix="READY ", stdin=subprocess.PIPE)
    binary = os.path.join(BUILD, "fixtures", "handler_threads")
    zs = Zmqscope("--pid", str(proc.pid), args=["--handler", f"pull={binary}:handle_request"])
    try:
        proc.proc.stdin.write("go\n")
        proc.proc.stdin.flush()
        line = proc.proc.stdout.readline()
        check(line.startswith("DONE "), f"fixture finished: {line!r}")
        done = json.loads(line[5:])
        check_eq(done["calls"], threads * calls * depth, "fixture made nested calls")
        m = zs.metrics()
        h = "zmqscope_handler_duration_seconds"
        check_eq(m.total(h + "_count", pid=proc.pid, role="pull"), done["outermost"],
                 "one span per outermost call")
        got = m.total(h + "_sum", pid=proc.pid, role="pull")
        want = done["outermost_ns"] / 1e9
        check(abs(got - want) / want <= 0.10, f"span sum {got:.4f}s vs measured {want:.4f}s")
        check_eq(m.value("lmcache:cache_controller_pull_socket_active_requests", pid=proc.pid),
                 0, "no handler left active")
    finally:
        zs.close()
        proc.kill()


TESTS = [
    test_msg_types_and_latency_match_ground_truth,
    test_msg_type_limit_folds_into_other,
    test_handler_probe_times_native_handler,
    test_handler_probe_nested_recursive_threads,
]
