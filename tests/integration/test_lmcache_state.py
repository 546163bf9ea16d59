"""LMCache's controller state from its traffic (issue 8): the seven state
gauges against the fixture controller's own, which first must equal what
the scripted workers (tests/fixtures/workers.py) built by construction.

Every test checks the fixture half first (truth == the workers' expected
values, replies right, controller alive), then zmqscope's half.
"""

import json
import os
import subprocess
import time
import uuid

import msgpack
import zmq

from harness import (FIXTURES, PYTHON, Controller, TestFailure, Zmqscope, check, check_eq,
                     check_gauges_match, lmcache, wait_for)

STATE = ("registered_workers_count", "kv_pool_keys_count", "kv_op_seq_discontinuity_count",
         "full_sync_workers_syncing", "full_sync_workers_completed",
         "full_sync_global_progress", "full_sync_missing_batches_total")
SOCKET = ("pull_socket_message_count", "reply_socket_message_count",
          "pull_socket_active_requests", "reply_socket_active_requests",
          "pull_socket_has_pending", "reply_socket_has_pending")
NOT_YET = "(zmqscope's LMCache state model, issue 8, is not in this build?)"
SETTLE_S = 5.0   # zmqscope drains its payload ring on a timer


# ---- the fixture half ---------------------------------------------------------

def run_workers(ctl, **opts):
    """tests/fixtures/workers.py against ctl; its WORKERS summary."""
    argv = [PYTHON, os.path.join(FIXTURES, "workers.py"), "--pull", ctl.pull,
            "--reply", ctl.reply, "--heartbeat", ctl.heartbeat,
            "--control-port", str(ctl.control_port)]
    for k, v in opts.items():
        argv += [f"--{k.replace('_', '-')}", str(v)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    lines = [l for l in r.stdout.splitlines() if l.startswith("WORKERS ")]
    summary = json.loads(lines[-1][8:]) if lines else None
    check(r.returncode == 0 and summary is not None and not summary["errors"],
          f"workers.py failed ({r.returncode}): "
          f"{summary['errors'] if summary else r.stderr[-1500:]}")
    return summary


def state_truth(truth):
    return {g: truth["lmcache_state"][g] for g in STATE}


def check_fixture(ctl, summary, what, garbage=True):
    """The fixture's own state equals the workers' construction; its truth."""
    truth = ctl.quiesce()
    check_eq(state_truth(truth), summary["expected"], f"{what}: fixture truth vs workers.py")
    if garbage:
        st = truth["lmcache_state"]
        check_eq((st["undecodable"], st["untyped"]),
                 (summary["undecodable"], summary["untyped"]),
                 f"{what}: fixture's (undecodable, untyped) vs workers.py")
    check(ctl.process.alive(), f"{what}: controller alive")
    return truth


# ---- the zmqscope half --------------------------------------------------------

def start_zmqscope(*selector, args=(), wait_targets=1):
    """(Zmqscope, None), or (None, why) when it does not start."""
    try:
        return Zmqscope(*selector, args=list(args), wait_targets=wait_targets), None
    except TestFailure as e:
        return None, f"zmqscope {' '.join(selector + tuple(args))} did not start: {e}"


def need(zs, why):
    if zs is None:
        raise TestFailure(f"{why} {NOT_YET}")
    return zs


def wait_attached(zs, why, pid, timeout=30):
    """(zs, why) once zs has attached to pid; (None, why) if it has exited."""
    if zs is None:
        return None, why

    def up():
        if not zs.process.alive():
            raise TestFailure(f"zmqscope exited {zs.process.proc.returncode}: "
                              f"{zs.process.proc.stderr.read()[-1000:]}")
        return zs.metrics().total("zmqscope_target_up", pid=pid) == 1
    try:
        wait_for(up, timeout=timeout, what=f"zmqscope to attach to pid {pid}")
    except TestFailure as e:
        zs.close()
        return None, str(e)
    return zs, None


def value(m, name, pid):
    found = m.select(name, pid=pid)
    if len(found) != 1:
        raise TestFailure(f"zmqscope exports {len(found)} series of {name} for pid {pid}, "
                          f"expected 1 {NOT_YET}")
    return found[0][1]


def zs_state(m, pid):
    return {g: value(m, f"lmcache:cache_controller_{g}", pid) for g in STATE}


def same(got, want):
    return all(abs(got[g] - want[g]) <= 1e-9 if g == "full_sync_global_progress"
               else got[g] == want[g] for g in STATE)


def check_zs_state(zs, pid, want, what):
    """zmqscope's seven state gauges for pid equal want, once its ring is drained."""
    deadline = time.monotonic() + SETTLE_S
    while True:
        got = zs_state(zs.metrics(), pid)
        if same(got, want) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    if not same(got, want):
        diff = {g: (got[g], want[g]) for g in STATE if got[g] != want[g]}
        raise TestFailure(f"{what}: zmqscope vs fixture, (zmqscope, fixture) by gauge: {diff}")
    return got


def print_table(m, pid, truth, what):
    """The 13 gauges side by side, for the issue's closing note."""
    print(f"     {what}: gauge, zmqscope, fixture")
    for g in SOCKET:
        print(f"       {g:34} {value(m, f'lmcache:cache_controller_{g}', pid):>10g} "
              f"{truth['lmcache'][g]:>10g}")
    for g in STATE:
        print(f"       {g:34} {value(m, f'lmcache:cache_controller_{g}', pid):>10g} "
              f"{truth['lmcache_state'][g]:>10g}")


def unique_tag():
    # Matched by --name in the controller's command line, so that other
    # controller.py processes on this host are not selected.
    return f"zs-state-{uuid.uuid4().hex[:10]}"


# ---- tests --------------------------------------------------------------------

def test_state_exact_when_started_first():
    """(a) zmqscope started first with --name: all 13 gauges equal the fixture's; complete."""
    tag = unique_tag()
    zs, why = start_zmqscope("--name", tag, args=["--label", "env=state"], wait_targets=0)
    ctl = Controller(labels={"run": tag})
    try:
        zs, why = wait_attached(zs, why, ctl.pid)
        sent = run_workers(ctl, scenarios="all", workers=2, tag="a")
        truth = check_fixture(ctl, sent, "all scenarios")
        zs = need(zs, why)
        check_zs_state(zs, ctl.pid, state_truth(truth), "all scenarios")
        m = zs.metrics()
        check_gauges_match(m, ctl.pid, truth, "the six socket gauges")
        check_eq(value(m, "zmqscope_lmcache_state_complete", ctl.pid), 1, "state complete")
        check_eq(value(m, "zmqscope_lmcache_payloads_undecodable_total", ctl.pid),
                 truth["lmcache_state"]["undecodable"], "undecodable payloads")
        check_eq(value(m, "zmqscope_tap_dropped_total", ctl.pid), 0, "tap drops")
        labels = m.select("lmcache:cache_controller_kv_pool_keys_count", pid=ctl.pid)[0][0]
        check_eq(labels, {"role": "controller", "pid": str(ctl.pid), "env": "state"},
                 "state gauge labels (those of the socket gauges)")
        print_table(m, ctl.pid, truth, "(a) started first")
    finally:
        if zs:
            zs.close()
        ctl.close()


def test_late_attach_knows_what_it_saw():
    """(b) Attached between the phases: incomplete; workers re-learned from heartbeats,
    keys of workers that full-synced since, and everything else seen, exact."""
    ctl = Controller()
    zs = None
    try:
        before = run_workers(ctl, scenarios="all", workers=2, phase="before", tag="b")
        at_attach = check_fixture(ctl, before, "phase before")
        zs, why = start_zmqscope("--pid", str(ctl.pid))
        after = run_workers(ctl, scenarios="all", workers=2, phase="after", tag="b")
        truth = check_fixture(ctl, after, "phase after", garbage=False)
        st0, st = at_attach["lmcache_state"], truth["lmcache_state"]
        check_eq(st["undecodable"] - st0["undecodable"], after["undecodable"],
                 "fixture: undecodable payloads of phase after")
        late = after["expected_late"]
        # What an observer attached in between can know, against the fixture.
        check_eq(late["registered_workers_count"], st["registered_workers_count"],
                 "late: every registered worker heartbeat after the attach")
        check_eq(late["kv_pool_keys_count"] + after["late_unknown_keys"],
                 st["kv_pool_keys_count"], "late: known keys + unknowable keys")
        check(after["late_unknown_keys"] > 0, "some keys are unknowable after the attach")
        zs = need(zs, why)
        check_zs_state(zs, ctl.pid, late, "late attach")
        m = zs.metrics()
        check_eq(value(m, "zmqscope_lmcache_state_complete", ctl.pid), 0,
                 "state complete after a late attach")
        check_eq(value(m, "zmqscope_lmcache_payloads_undecodable_total", ctl.pid),
                 after["undecodable"], "undecodable payloads since the attach")
        print(f"     (b) late attach: {after['late_unknown_keys']} keys unknowable, "
              f"known part exact")
        print_table(m, ctl.pid, truth, "(b) attached late (keys, discontinuities: since attach)")
    finally:
        if zs:
            zs.close()
        ctl.close()


def test_garbage_on_every_socket():
    """(c) Garbage and truncated msgpack on every socket: answered, counted, state exact."""
    ctl = Controller()
    zs, why = start_zmqscope("--pid", str(ctl.pid))
    try:
        # workers.py checks every reply, garbage's included, and that the reply
        # and heartbeat ROUTERs still answer LMCache's requests right after it.
        sent = run_workers(ctl, scenarios="garbage,sync_resend", workers=3, tag="c")
        truth = check_fixture(ctl, sent, "garbage")
        check(sent["undecodable"] > 0 and sent["untyped"] > 0, "garbage was sent")
        by_socket = truth["lmcache_state"]["undecodable_by_socket"]
        check(all(by_socket[s] > 0 for s in ("pull", "reply", "heartbeat")),
              f"undecodable payloads on every socket: {by_socket}")
        zs = need(zs, why)
        check_zs_state(zs, ctl.pid, state_truth(truth), "after garbage")
        m = zs.metrics()
        check_eq(value(m, "zmqscope_lmcache_payloads_undecodable_total", ctl.pid),
                 truth["lmcache_state"]["undecodable"],
                 "undecodable payloads (those that name a state type)")
        check_eq(value(m, "zmqscope_target_up", ctl.pid), 1, "target up")
        check(zs.process.alive(), "zmqscope alive")
    finally:
        if zs:
            zs.close()
        ctl.close()


def test_big_batch_and_sync():
    """(d) A 10,000-operation batch and a 50,000-key full sync: exact, nothing dropped."""
    ctl = Controller()
    zs, why = start_zmqscope("--pid", str(ctl.pid))
    try:
        sent = run_workers(ctl, scenarios="big", workers=1, tag="d")
        truth = check_fixture(ctl, sent, "big")
        check_eq(truth["lmcache_state"]["kv_pool_keys_count"], 60_000, "fixture keys")
        zs = need(zs, why)
        check_zs_state(zs, ctl.pid, state_truth(truth), "big batch and sync")
        check_eq(value(zs.metrics(), "zmqscope_tap_dropped_total", ctl.pid), 0, "tap drops")
    finally:
        if zs:
            zs.close()
        ctl.close()


def test_max_kv_keys_bounds_memory():
    """--max-kv-keys below the pool: marked incomplete, the target unharmed."""
    tag = unique_tag()
    zs, why = start_zmqscope("--name", tag, args=["--max-kv-keys", "5000"], wait_targets=0)
    ctl = Controller(labels={"run": tag})
    try:
        zs, why = wait_attached(zs, why, ctl.pid)
        sent = run_workers(ctl, scenarios="big", workers=1, tag="k")
        check_fixture(ctl, sent, "big")
        zs = need(zs, why)
        m = wait_for(lambda: (lambda m: m if value(m, "zmqscope_lmcache_state_complete",
                                                   ctl.pid) == 0 else None)(zs.metrics()),
                     timeout=SETTLE_S, what="the state to be marked incomplete")
        # Memory is what is bounded: keys past the limit are counted, not held.
        check(value(m, "zmqscope_lmcache_kv_keys_stored", ctl.pid) <= 5000,
              "kept keys within --max-kv-keys")
        check(value(m, "zmqscope_lmcache_kv_keys_over_limit_total", ctl.pid) > 0,
              "keys past the limit counted")
        check_eq(value(m, "lmcache:cache_controller_registered_workers_count", ctl.pid), 1,
                 "registered workers still exact")
    finally:
        if zs:
            zs.close()
        ctl.close()


def test_small_ring_drops_are_counted():
    """(e) --tap-ring-kb 4 and a burst: drops counted, incomplete, target unharmed."""
    ctl = Controller()
    zs, why = start_zmqscope("--pid", str(ctl.pid), args=["--tap-ring-kb", "4"])
    try:
        sent = run_workers(ctl, scenarios="big,burst", workers=1, tag="e")
        check_fixture(ctl, sent, "burst")
        verified = ctl.load(pushes=50, requests=20, heartbeats=20, seed=9)
        check_eq(verified["replies_verified"], 40, "controller still answers")
        zs = need(zs, why)
        m = wait_for(lambda: (lambda m: m if value(m, "zmqscope_tap_dropped_total",
                                                   ctl.pid) > 0 else None)(zs.metrics()),
                     timeout=SETTLE_S, what="tap drops to be counted")
        check_eq(value(m, "zmqscope_lmcache_state_complete", ctl.pid), 0,
                 "state incomplete after drops")
        check_eq(value(m, "zmqscope_target_up", ctl.pid), 1, "target up")
        print(f"     (e) tap drops: {value(m, 'zmqscope_tap_dropped_total', ctl.pid):g}")
    finally:
        if zs:
            zs.close()
        ctl.close()


def test_restart_under_name_starts_over():
    """(f) The controller restarted under --name: the new pid's state starts from nothing."""
    tag = unique_tag()
    zs, why = start_zmqscope("--name", tag, wait_targets=0)
    first = second = None
    try:
        first = Controller(labels={"run": tag})
        zs, why = wait_attached(zs, why, first.pid)
        sent = run_workers(first, scenarios="seq,sync_complete,sync_stuck", workers=2,
                           tag="f1")
        truth1 = check_fixture(first, sent, "first incarnation")
        check(all(state_truth(truth1)[g] > 0 for g in STATE[:3]),
              "the first incarnation leaves state that must not carry over")
        deferred = []   # zmqscope's failures wait for the fixture's second half

        def zs_now(pid, want, what):
            if zs:
                try:
                    check_zs_state(zs, pid, want, what)
                except TestFailure as e:
                    deferred.append(e)
        zs_now(first.pid, state_truth(truth1), "first incarnation")
        first.close()
        second = Controller(labels={"run": tag})
        zs, why = wait_attached(zs, why, second.pid)
        empty = state_truth(second.truth())
        check_eq(empty, dict.fromkeys(STATE, 0), "fixture: a new controller knows nothing")
        # LMCache's progress with no workers is 0.0 (get_global_progress).
        zs_now(second.pid, empty, "second incarnation before any worker")
        sent = run_workers(second, scenarios="never_synced,dereg", workers=1, tag="f2")
        truth2 = check_fixture(second, sent, "second incarnation")
        zs = need(zs, why)
        if deferred:
            raise deferred[0]
        check_zs_state(zs, second.pid, state_truth(truth2), "second incarnation")
        check_eq(value(zs.metrics(), "zmqscope_lmcache_state_complete", second.pid), 1,
                 "second incarnation seen from its start")
    finally:
        if zs:
            zs.close()
        for ctl in (first, second):
            if ctl:
                ctl.close()


def heartbeats_while_blocked(ctl, zs, what):
    """Three heartbeats queue at a blocked heartbeat ROUTER: counted as reply
    requests, but not in reply_socket_has_pending (LMCache reads EVENTS on its
    reply ROUTER only)."""
    hb = msgpack.packb({"type": "HeartbeatMsg", "instance_id": "hb", "worker_id": 0,
                        "ip": "127.0.0.1", "port": 1, "peer_init_url": None})
    ctx = zmq.Context()
    try:
        dealers = [ctx.socket(zmq.DEALER) for _ in range(3)]
        for d in dealers:
            d.connect(ctl.heartbeat)
        seen = ctl.truth()["sockets"]["heartbeat"]["messages_received"]
        ctl.command("block heartbeat")
        for d in dealers:
            d.send_multipart([b"", hb])
        wait_for(lambda: ctl.command("blocked")["heartbeat"], what="the heartbeat handler to block")
        time.sleep(0.3)   # the other two queue behind it
        got = lmcache(zs.metrics(), ctl.pid) if zs else None
        truth = ctl.truth()
        lm = truth["lmcache"]
        check_eq((lm["reply_socket_active_requests"], lm["reply_socket_has_pending"]), (1, 0),
                 f"{what}: fixture's reply (active, has_pending), heartbeats queued")
        check_eq(truth["sockets"]["heartbeat"]["messages_received"] - seen, 1,
                 f"{what}: the other two heartbeats wait unread")
        ctl.command("release heartbeat")
        for d in dealers:
            check(d.poll(10000), f"{what}: heartbeat answered after release")
            check_eq(msgpack.unpackb(d.recv_multipart()[1]),
                     {"type": "HeartbeatRetMsg", "commands": []}, f"{what}: HeartbeatRetMsg")
        return got, lm
    finally:
        ctl.command("release heartbeat")
        ctx.destroy(linger=0)


def check_has_pending(got, lm, what):
    for g in ("reply_socket_active_requests", "reply_socket_has_pending"):
        check_eq(got[g], lm[g], f"{what}: zmqscope's {g} vs fixture, heartbeats queued")


def test_heartbeat_router_by_role_not_pending():
    """--role ENDPOINT=heartbeat: queued heartbeats are not reply_socket_has_pending."""
    ctl = Controller()
    zs, why = start_zmqscope("--pid", str(ctl.pid), args=["--role", f"{ctl.heartbeat}=heartbeat"])
    try:
        got, lm = heartbeats_while_blocked(ctl, zs, "--role heartbeat")
        need(zs, why)
        check_has_pending(got, lm, "--role heartbeat")
        truth = ctl.quiesce()
        check_gauges_match(zs.metrics(), ctl.pid, truth, "socket gauges after release")
    finally:
        if zs:
            zs.close()
        ctl.close()


def test_heartbeat_router_from_traffic_not_pending():
    """Without --role, the heartbeat ROUTER is told by its HeartbeatMsg requests."""
    ctl = Controller()
    zs, why = start_zmqscope("--pid", str(ctl.pid))
    try:
        sent = run_workers(ctl, scenarios="never_synced", workers=2, tag="hb")
        check_fixture(ctl, sent, "heartbeats first")
        got, lm = heartbeats_while_blocked(ctl, zs, "heartbeat ROUTER from traffic")
        need(zs, why)
        check_has_pending(got, lm, "heartbeat ROUTER from traffic")
    finally:
        if zs:
            zs.close()
        ctl.close()


TESTS = [
    test_state_exact_when_started_first,
    test_late_attach_knows_what_it_saw,
    test_garbage_on_every_socket,
    test_big_batch_and_sync,
    test_max_kv_keys_bounds_memory,
    test_small_ring_drops_are_counted,
    test_restart_under_name_starts_over,
    test_heartbeat_router_by_role_not_pending,
    test_heartbeat_router_from_traffic_not_pending,
]
