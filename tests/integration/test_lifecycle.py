"""Lifecycle and resilience (issue 4): selectors, restarts, containers, pins, faults."""

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import zmq

from harness import (BUILD, CController, Controller, FIXTURES, Metrics, PYTHON, Process,
                     TestFailure, Zmqscope, check, check_eq, check_gauges_match, free_port,
                     http_get, lmcache, run_zmqscope, tempdir, wait_for, zmqscope_links,
                     zmqscope_programs)
from harness import MIN_TARGET_PROBES

ATTACH_WITHIN = 2.5  # issue 4: new processes attached within 2 s (plus polling slack)


class Script:
    """tests/fixtures/socket_script.py, driven over stdin."""

    def __init__(self, *args, marker=None):
        argv = [PYTHON, os.path.join(FIXTURES, "socket_script.py"), *args]
        if marker:
            argv.append(marker)
        self.p = Process(argv, ready_prefix="READY ", stdin=subprocess.PIPE)
        self.pid = self.p.pid

    def cmd(self, line):
        self.p.proc.stdin.write(line + "\n")
        self.p.proc.stdin.flush()
        answer = self.p.proc.stdout.readline().strip()
        check(answer.startswith("OK"), f"{line!r} -> {answer!r}")
        return answer.split()[1:]

    def close(self):
        if self.p.alive():
            try:
                self.p.proc.stdin.write("quit\n")
                self.p.proc.stdin.flush()
            except OSError:
                pass
        self.p.kill()


def attached(zs, pid):
    return zs.metrics().total("zmqscope_target_up", pid=pid) == 1


def test_name_selector_follows_ten_restarts():
    """Restart the controller 10 times under load: every incarnation attached and exact."""
    zs = Zmqscope("--name", r"controller\.py", wait_targets=0)
    try:
        for i in range(10):
            ctl = Controller()
            try:
                t0 = time.monotonic()
                wait_for(lambda: attached(zs, ctl.pid), timeout=ATTACH_WITHIN,
                         what=f"incarnation {i} (pid {ctl.pid}) to be attached")
                took = time.monotonic() - t0
                sent = ctl.load(pushes=300, requests=60, heartbeats=40, seed=i)
                truth = ctl.quiesce(expect_pull_frames=sent["push_frames"],
                                    expect_reply=sent["requests"] + sent["heartbeats"])
                check_gauges_match(zs.metrics(), ctl.pid, truth, f"incarnation {i} gauges")
            finally:
                ctl.close()
            wait_for(lambda: zs.metrics().total("zmqscope_target_up", pid=ctl.pid) == 0,
                     timeout=3, what=f"incarnation {i} to be marked down")
            print(f"     incarnation {i}: pid {ctl.pid} attached {took:.2f}s after READY")
    finally:
        zs.close()


def test_port_selector_and_late_libzmq():
    """--port finds the process once it listens; libzmq imported late is picked up."""
    port = free_port()
    zs = Zmqscope("--port", str(port), wait_targets=0)
    script = Script()
    try:
        time.sleep(1.2)  # the process runs, without libzmq, without the port
        check_eq(zs.metrics().total("zmqscope_target_up", pid=script.pid), 0,
                 "not attached before it listens")
        script.cmd("import")
        index, endpoint = script.cmd(f"make PULL tcp://127.0.0.1:{port}")
        t0 = time.monotonic()
        wait_for(lambda: attached(zs, script.pid), timeout=ATTACH_WITHIN,
                 what="the process listening on the port")
        took = time.monotonic() - t0
        ctx = zmq.Context()
        try:
            push = ctx.socket(zmq.PUSH)
            push.connect(endpoint)
            for i in range(50):
                push.send_multipart([b"a", b"b%d" % i])
            script.cmd(f"recv {index} 50")
        finally:
            ctx.destroy(linger=1000)
        m = zs.metrics()
        check_eq(m.value("lmcache:cache_controller_pull_socket_message_count", pid=script.pid),
                 100, "frames counted on the late socket")
        check_eq(m.socket_value("zmqscope_messages_received_total", endpoint, pid=script.pid),
                 50, "messages")
        print(f"     attached {took:.2f}s after it started listening")
    finally:
        script.close()
        zs.close()


def test_sockets_after_attach_roles_and_close():
    script = Script("--import")
    zs = Zmqscope("--pid", str(script.pid),
                  args=["--role", "inproc://zs-extra-reply=reply", "--role", "PAIR=pull"])
    ctx = zmq.Context()
    try:
        i_pull, ep_pull = script.cmd("make PULL tcp://127.0.0.1:0")
        i_dealer, ep_dealer = script.cmd("make DEALER inproc://zs-extra-reply")
        i_pair, ep_pair = script.cmd("make PAIR inproc://zs-extra-pair")
        m = zs.metrics()
        for ep, typ, role in ((ep_pull, "PULL", "pull"), (ep_dealer, "DEALER", "reply"),
                              (ep_pair, "PAIR", "pull")):
            labels = m.select("zmqscope_frames_received_total", endpoint=ep)
            check(labels, f"a series for {ep}")
            check_eq((labels[0][0]["type"], labels[0][0]["role"]), (typ, role),
                     f"type and role of {ep}")
        push = ctx.socket(zmq.PUSH)
        push.connect(ep_pull)
        for _ in range(20):
            push.send(b"x")
        script.cmd(f"recv {i_pull} 20")
        check_eq(zs.metrics().socket_value("zmqscope_frames_received_total", ep_pull), 20,
                 "frames on a socket created after the attach")
        script.cmd(f"close {i_pull}")
        check_eq(zs.metrics().select("zmqscope_frames_received_total", endpoint=ep_pull), [],
                 "a closed socket's series are gone")
        # A new socket, quite likely at the closed one's address, starts from zero.
        i2, ep2 = script.cmd("make PULL tcp://127.0.0.1:0")
        check_eq(zs.metrics().socket_value("zmqscope_frames_received_total", ep2), 0,
                 "a new socket starts from zero")
    finally:
        ctx.destroy(linger=0)
        script.close()
        zs.close()


def test_exited_target_kept_until_ttl_then_dropped():
    ctl = Controller()
    zs = Zmqscope("--pid", str(ctl.pid), args=["--ttl", "3"])
    try:
        sent = ctl.load(pushes=50, requests=10, heartbeats=10)
        ctl.quiesce(expect_pull_frames=sent["push_frames"])
        ctl.close()
        m = wait_for(lambda: (lambda m: m if m.total("zmqscope_target_up", pid=ctl.pid) == 0
                              and m.select("zmqscope_target_up", pid=ctl.pid) else None)(
            zs.metrics()), timeout=3, what="target_up 0")
        check_eq(m.value("lmcache:cache_controller_pull_socket_message_count", pid=ctl.pid),
                 sent["push_frames"], "last values kept while down")
        # Links are destroyed off the observer's lock, a few tenths of a second each.
        wait_for(lambda: not zmqscope_links(), timeout=20,
                 what="an exited target's probes to be detached")
        wait_for(lambda: not zs.metrics().select("zmqscope_target_up", pid=ctl.pid),
                 timeout=6, what="series dropped after the TTL")
        check(zs.process.alive(), "zmqscope keeps running")
    finally:
        zs.close()
        ctl.close()


def test_exec_replaces_the_process_at_the_same_pid():
    """Same pid, new executable: detected as a new process and attached afresh."""
    c_bin = os.path.join(BUILD, "fixtures", "c_controller")
    pull_port, reply_port, control_port = free_port(), free_port(), free_port()
    code = ("import os, sys, zmq; c = zmq.Context(); s = c.socket(zmq.PULL); "
            "s.bind('inproc://before-exec'); print('READY {}', flush=True); sys.stdin.readline(); "
            f"os.execv({c_bin!r}, [{c_bin!r}, '--pull', 'tcp://127.0.0.1:{pull_port}', "
            f"'--reply', 'tcp://127.0.0.1:{reply_port}', '--control-port', '{control_port}'])")
    proc = Process([PYTHON, "-c", code, "zs-exec-marker"], ready_prefix="READY ",
                   stdin=subprocess.PIPE)
    zs = Zmqscope("--name", "zs-exec-marker|c_controller", wait_targets=0)
    ctx = zmq.Context()
    try:
        wait_for(lambda: attached(zs, proc.pid), timeout=ATTACH_WITHIN, what="python stage")
        proc.proc.stdin.write("exec\n")
        proc.proc.stdin.flush()
        check(proc.proc.stdout.readline().startswith("READY "), "C stage ready")

        def reattached():
            st = json.loads(run_zmqscope("status", "--json")[1])[0]["status"]
            return [t for t in st["targets"] if t["pid"] == proc.pid and t["up"]
                    and t["comm"].startswith("c_controller")]
        wait_for(reattached, timeout=ATTACH_WITHIN + 1, what="the new executable attached")
        push = ctx.socket(zmq.PUSH)
        push.connect(f"tcp://127.0.0.1:{pull_port}")
        for i in range(30):
            push.send(b"m")
        wait_for(lambda: zs.metrics().total("zmqscope_frames_received_total", pid=proc.pid,
                                            type="PULL") == 30, what="C stage counted")
        check(not zs.metrics().select("zmqscope_frames_received_total",
                                      endpoint="inproc://before-exec"),
              "the old image's sockets are gone")
    finally:
        ctx.destroy(linger=0)
        with_control_quit(control_port)
        proc.kill()
        zs.close()


def with_control_quit(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"quit\n")
    except OSError:
        pass


def build_container_root(d, binary):
    """A root with the C controller and its own libraries under /opt/zs-container-libs."""
    os.chmod(d, 0o755)  # as an image's root is: the calibration runs as nobody in it
    libdir = os.path.join(d, "opt", "zs-container-libs")
    os.makedirs(libdir)
    os.makedirs(os.path.join(d, "app"))
    os.makedirs(os.path.join(d, "etc"))
    shutil.copy(binary, os.path.join(d, "app", "c_controller"))
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
        if not path.startswith("/"):
            continue
        if "ld-linux" in path:
            dest = os.path.join(d, path.lstrip("/"))
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            shutil.copy(path, dest)
        else:
            shutil.copy(path, os.path.join(libdir, os.path.basename(path)))
    with open(os.path.join(d, "etc", "ld.so.conf"), "w") as f:
        f.write("/opt/zs-container-libs\n")
    subprocess.run(["ldconfig", "-r", d], check=True)


def test_container_with_its_own_root():
    check(not os.path.exists("/opt/zs-container-libs"), "the container path is not on the host")
    with tempdir() as d:
        build_container_root(d, os.path.join(BUILD, "fixtures", "c_controller"))
        pull_port, reply_port, control_port = free_port(), free_port(), free_port()
        proc = Process(["unshare", "--mount", f"--root={d}", "/app/c_controller",
                        "--pull", f"tcp://127.0.0.1:{pull_port}",
                        "--reply", f"tcp://127.0.0.1:{reply_port}",
                        "--control-port", str(control_port)], ready_prefix="READY ")
        zs = None
        ctx = zmq.Context()
        try:
            maps = open(f"/proc/{proc.pid}/maps").read()
            check("/opt/zs-container-libs/libzmq" in maps, "the target maps its own libzmq")
            # The dlopen child alone: it must enter the container's root to load the file.
            zs = Zmqscope("--pid", str(proc.pid),
                          env={**os.environ, "ZMQSCOPE_CALIBRATION": "dlopen"})
            status = next(i["status"] for i in json.loads(run_zmqscope("status", "--json")[1])
                          if i["status"] and any(t["pid"] == proc.pid
                                                 for t in i["status"]["targets"]))
            lib = status["targets"][0]["libraries"][0]
            check(lib["path"].startswith("/opt/zs-container-libs/libzmq"), f"path {lib['path']}")
            check(lib["opened_as"].startswith(f"/proc/{proc.pid}/root/"), "opened through root")
            check_eq(lib["layout"]["source"], "dlopen", "calibrated inside the container root")
            push = ctx.socket(zmq.PUSH)
            push.connect(f"tcp://127.0.0.1:{pull_port}")
            for i in range(40):
                push.send_multipart([b"a"] * (1 + i % 2))
            wait_for(lambda: zs.metrics().value("lmcache:cache_controller_pull_socket_message_"
                                                "count", pid=proc.pid) == 60,
                     what="60 frames counted in the container")
        finally:
            ctx.destroy(linger=0)
            with_control_quit(control_port)
            if zs:
                zs.close()
            proc.kill()


def test_pinned_daemon_keeps_counters_and_adopts_probes():
    ctl = Controller()
    port = free_port()
    args = ["--pid", str(ctl.pid), "--listen", f"127.0.0.1:{port}"]

    def start():
        rc, out, err = run_zmqscope("start", *args)
        check_eq(rc, 0, f"start ({err.strip()})")
        return out.strip()

    def replies():
        m = Metrics(http_get(f"http://127.0.0.1:{port}/metrics")[2])
        return m.value("lmcache:cache_controller_reply_socket_message_count", pid=ctl.pid)

    def traffic():
        sent = ctl.load(pushes=0, requests=50, heartbeats=50)
        check_eq(sent["replies_verified"], 100, "replies")

    try:
        first = start()
        traffic()
        check_eq(replies(), 100, "counted")
        check_eq(run_zmqscope("stop", first)[0], 0, "stop")
        check_eq(zmqscope_links(), [], "stop detaches the probes")
        check(os.path.isdir(f"/sys/fs/bpf/zmqscope/{first}/maps"), "the maps stay pinned")
        second = start()
        check_eq(second, first, "the same arguments get the same instance")
        traffic()
        check_eq(replies(), 200, "counters survived stop/start")
        status = next(i["status"] for i in json.loads(run_zmqscope("status", "--json")[1])
                      if str(i["id"]) == str(first))
        check_eq(status["pinned"], f"/sys/fs/bpf/zmqscope/{first}", "status says pinned")
        daemon = status["pid"]
        os.kill(daemon, signal.SIGKILL)
        wait_for(lambda: not os.path.exists(f"/proc/{daemon}/status") or
                 "zombie" in open(f"/proc/{daemon}/status").read(), what="daemon killed")
        links = zmqscope_links()
        check(len(links) >= MIN_TARGET_PROBES, "after SIGKILL the pinned probes stay")
        traffic()  # counted with no daemon running
        third = start()
        check_eq(third, first, "restart after a crash takes the same instance")
        check_eq(replies(), 300, "what happened while it was down is counted")
        probes = next(i["status"] for i in json.loads(run_zmqscope("status", "--json")[1])
                      if str(i["id"]) == str(first))["targets"][0]["libraries"][0]["probes"]
        check(all(p["adopted"] for p in probes), "the new daemon adopted the pinned links")
        check_eq(len(zmqscope_links()), len(links), "adopted, not attached twice")
        check_eq(run_zmqscope("stop", "--all", "--purge")[0], 0, "stop --purge")
        check_eq(zmqscope_links(), [], "no link after --purge")
        # Freed a grace period after their links (uprobe_multi), not at once.
        wait_for(lambda: not zmqscope_programs(), timeout=5,
                 what="no program after --purge")
        def our_maps():
            maps = subprocess.run(["bpftool", "-j", "map", "show"], capture_output=True,
                                  text=True).stdout
            return [m for m in json.loads(maps or "[]") if m.get("name") in
                    ("targets", "sockets", "threads", "hists", "msg_types", "sock_type_msgs",
                     "role_by_type", "role_by_endpoi", "drops", "scratch_map")]
        # The kernel frees a map in a worker once its last program is gone.
        wait_for(lambda: not our_maps(), timeout=10, what="no map after --purge")
        check(not os.path.exists("/sys/fs/bpf/zmqscope"), "nothing left on bpffs")
    finally:
        run_zmqscope("stop", "--all", "--purge")
        ctl.close()


def scrape_worker(port, source, deadline, results, lock):
    ok = bad = 0
    while time.monotonic() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                           source_address=(source, 0))
            try:
                c.request("GET", "/metrics")
                r = c.getresponse()
                status, headers, body = r.status, dict(r.headers), r.read().decode()
            finally:
                c.close()
            length = int(headers.get("Content-Length", -1))
            good = (status == 200 and length == len(body.encode()) and body.endswith("\n")
                    and Metrics(body).select("zmqscope_build_info"))
            ok, bad = (ok + 1, bad) if good else (ok, bad + 1)
        except Exception:
            bad += 1
    with lock:
        results.append((ok, bad))


def raw_request(port, data, family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family) as s:
        s.settimeout(5)
        s.connect((host, port))
        s.sendall(data)
        return s.recv(65536).decode(errors="replace")


def test_http_under_load_and_abuse():
    ctl = Controller()
    zs = Zmqscope("--pid", str(ctl.pid))
    v6 = None
    try:
        ctl.load(pushes=100, requests=10, heartbeats=10)
        # Connections that never finish a request...
        # From several addresses: one address may hold 16 connections (http_guard.h).
        idle = []
        for i in range(50):
            s = socket.create_connection(("127.0.0.1", zs.port),
                                         source_address=(f"127.0.1.{1 + i // 10}", 0))
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
            idle.append(s)
        # ...do not hold up 200 scrapers for 30 s.
        results, lock = [], threading.Lock()
        deadline = time.monotonic() + 30
        threads = [threading.Thread(target=scrape_worker, args=(zs.port, f"127.0.2.{1 + i // 10}",
                                                                deadline, results, lock))
                   for i in range(200)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        ok = sum(r[0] for r in results)
        bad = sum(r[1] for r in results)
        check_eq(len(results), 200, "every scraper finished")
        check(ok > 1000 and bad == 0, f"{ok} complete responses, {bad} bad")
        # The idle ones were closed by the server's timeout meanwhile.
        closed = 0
        for s in idle:
            s.settimeout(1)
            try:
                closed += s.recv(1) == b""
            except OSError:
                closed += 1
            s.close()
        check_eq(closed, 50, "stalled connections closed by the server")
        big = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100000 + b"\r\n\r\n"
        malformed = {
            "oversized header": big,
            "oversized URI": b"GET /" + b"m" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            "header without a colon": b"GET /metrics HTTP/1.1\r\nHost: x\r\nBad\r\n\r\n",
            "no HTTP version": b"GET /metrics\r\n\r\n",
            "bad Content-Length": b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                                  b"Content-Length: x\r\n\r\n",
            "unknown method": b"BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
        }
        for what, request in malformed.items():
            answer = raw_request(zs.port, request)
            check(answer.startswith("HTTP/1.1 4"), f"{what}: 4xx, got {answer[:40]!r}")
        # A request line libmicrohttpd cannot split at all is closed, not answered.
        check_eq(raw_request(zs.port, b"BLAH\r\n\r\n"), "", "garbage: connection closed")
        m = zs.metrics()
        check(0 < m.value("zmqscope_scrape_duration_seconds") < 1, "scrape duration exported")
        print(f"     {ok} scrapes by 200 clients in 30 s ({ok / 30:.0f}/s), none bad")
        zs.close()
        port6 = free_port()
        v6 = Process([zs.argv[0], "run", "--pid", str(ctl.pid), "--listen", f"[::1]:{port6}"])
        body = wait_for(lambda: raw_request(port6, b"GET /metrics HTTP/1.0\r\n\r\n",
                                            socket.AF_INET6, "::1"), what="IPv6 listener")
        check("lmcache:cache_controller_pull_socket_message_count" in body, "served over IPv6")
    finally:
        if v6:
            v6.stop()
        zs.close()
        ctl.close()


def test_sigkill_during_load_five_times():
    ctl = Controller()
    try:
        for i in range(5):
            zs = Zmqscope("--pid", str(ctl.pid))
            result = {}
            loader = threading.Thread(target=lambda: result.update(
                ctl.load(pushes=2000, requests=400, heartbeats=400, seed=i)))
            loader.start()
            time.sleep(0.3 + 0.1 * i)
            zs.process.kill(signal.SIGKILL)
            loader.join(timeout=120)
            check_eq(result.get("replies_verified"), 800, f"round {i}: replies all correct")
            wait_for(lambda: not zmqscope_links(), timeout=10, what=f"round {i}: no probe left")
        check(ctl.process.alive(), "the controller survived five kills")
    finally:
        ctl.close()


def test_socket_map_full_drops_but_keeps_counting():
    script = Script("--import")
    try:
        i_pull, ep_pull = script.cmd("make PULL tcp://127.0.0.1:0")
        zs = Zmqscope("--pid", str(script.pid), args=["--max-sockets", "8"])
        ctx = zmq.Context()
        try:
            push = ctx.socket(zmq.PUSH)
            push.connect(ep_pull)
            push.send(b"first")
            script.cmd(f"recv {i_pull} 1")  # the socket is tracked from here on
            for i in range(40):
                script.cmd(f"make PAIR inproc://zs-fill-{i}")
            m = zs.metrics()
            check_eq(m.value("zmqscope_map_max_entries", map="sockets"), 8, "map size")
            check_eq(m.value("zmqscope_map_entries", map="sockets"), 8, "map full")
            check(m.value("zmqscope_map_update_failures_total", map="sockets") >= 32,
                  "drops counted")
            for _ in range(25):
                push.send(b"x")
            script.cmd(f"recv {i_pull} 25")
            check_eq(zs.metrics().socket_value("zmqscope_frames_received_total", ep_pull), 26,
                     "the socket tracked before the map filled still counts")
            check(zs.process.alive(), "zmqscope survived a full map")
        finally:
            ctx.destroy(linger=0)
            zs.close()
    finally:
        script.close()


def test_sockets_give_back_their_slots():
    """With room for 4 sockets, 12 closed in turn and 3 processes gone in turn leave room."""
    script = Script("--import")
    zs = Zmqscope("--pid", str(script.pid), args=["--max-sockets", "4"])
    ctx = zmq.Context()
    try:
        push = ctx.socket(zmq.PUSH)
        for i in range(12):
            index, ep = script.cmd("make PULL tcp://127.0.0.1:0")
            push.connect(ep)
            for _ in range(3 + i):
                push.send(b"x")
            script.cmd(f"recv {index} {3 + i}")
            check_eq(zs.metrics().socket_value("zmqscope_frames_received_total", ep), 3 + i,
                     f"socket {i}, in the slot a closed one gave back")
            push.disconnect(ep)
            script.cmd(f"close {index}")
        check_eq(zs.metrics().value("zmqscope_map_update_failures_total", map="sockets"), 0,
                 "no socket was refused a slot")
    finally:
        ctx.destroy(linger=0)
        zs.close()
        script.close()

    marker = "zs-slot-marker"
    zs = Zmqscope("--name", marker, args=["--max-sockets", "4", "--ttl", "0"], wait_targets=0)
    try:
        for round_ in range(3):
            script = Script("--import", marker=marker)
            ctx = zmq.Context()
            try:
                wait_for(lambda: attached(zs, script.pid), timeout=ATTACH_WITHIN,
                         what=f"process {round_} to be attached")
                push = ctx.socket(zmq.PUSH)
                for k in range(3):
                    index, ep = script.cmd("make PULL tcp://127.0.0.1:0")
                    push.connect(ep)
                    for _ in range(5):
                        push.send(b"x")
                    script.cmd(f"recv {index} 5")
                    push.disconnect(ep)
                    check_eq(zs.metrics().socket_value("zmqscope_frames_received_total", ep,
                                                       pid=script.pid), 5,
                             f"process {round_}, socket {k}")
            finally:
                ctx.destroy(linger=0)
                script.close()
            wait_for(lambda: zs.metrics().total("zmqscope_target_up", pid=script.pid) == 0
                     and not zs.metrics().select("zmqscope_frames_received_total",
                                                 pid=script.pid),
                     timeout=5, what=f"process {round_}'s sockets to be forgotten")
        check_eq(zs.metrics().value("zmqscope_map_update_failures_total", map="sockets"), 0,
                 "an exited process's sockets gave back their slots")
    finally:
        zs.close()


def test_user_keeps_only_cap_bpf():
    ctl = Controller()
    zs = Zmqscope("--pid", str(ctl.pid), args=["--user", "nobody"])
    try:
        status = dict(l.split(":", 1) for l in open(f"/proc/{zs.process.pid}/status")
                      if ":" in l)
        check_eq(status["Uid"].split()[0], "65534", "runs as nobody")
        check_eq(int(status["CapEff"], 16), 1 << 39, "only CAP_BPF is left")
        check_eq(int(status["CapBnd"], 16), 1 << 39, "and nothing can be regained")
        sent = ctl.load(pushes=200, requests=40, heartbeats=40)
        truth = ctl.quiesce(expect_pull_frames=sent["push_frames"], expect_reply=80)
        check_gauges_match(zs.metrics(), ctl.pid, truth, "correct metrics")
    finally:
        zs.close()
        ctl.close()


TESTS = [
    test_name_selector_follows_ten_restarts,
    test_port_selector_and_late_libzmq,
    test_sockets_after_attach_roles_and_close,
    test_exited_target_kept_until_ttl_then_dropped,
    test_exec_replaces_the_process_at_the_same_pid,
    test_container_with_its_own_root,
    test_pinned_daemon_keeps_counters_and_adopts_probes,
    test_http_under_load_and_abuse,
    test_sigkill_during_load_five_times,
    test_socket_map_full_drops_but_keeps_counting,
    test_sockets_give_back_their_slots,
    test_user_keeps_only_cap_bpf,
]
