"""Churn benchmark (`make bench-churn`): does zmqscope's memory stay flat while
the processes it watches come and go?

    run_bench.py --churn SECONDS      (scripts/bench.sh BUILD --churn SECONDS)

One `zmqscope run --name REGEX --ttl 20` for the whole run.  The regex
selects, by a token on their command lines:
  * two tests/fixtures/controller.py processes at a time, under light load
    (a PUSH message every 50 ms and a DEALER request every 200 ms to each,
    sent from this process); every 6 s the older one is replaced, killed
    with SIGKILL or asked to quit, in turn;
  * one tests/fixtures/socket_script.py that makes 10 PAIR sockets every
    half second and closes the oldest beyond 60.
Every 10 s: zmqscope's VmRSS and VmHWM, its CPU, and one scrape (targets
up, socket series).  The verdict: after a 60 s warm-up, every sample within
±10% of the first one taken after it.  --ttl 20 (default 300) lets the series
of exited controllers expire within the warm-up, so a steady state exists
to compare against; with 300 they would pile up for five minutes first.

Writes OUT/churn.md and OUT/churn.json, and prints the markdown.
"""

import contextlib
import datetime
import json
import os
import secrets
import signal
import subprocess
import time

import benchlib as B
from benchlib import log, md_table

WARMUP_S = 60
SAMPLE_EVERY_S = 10
REPLACE_EVERY_S = 6
TICK_S = 0.05
TOLERANCE = 0.10
TTL_S = 20
SOCKETS_PER_STEP, MAX_OPEN_SOCKETS = 10, 60


class Client:
    """PUSH and DEALER sockets from this process to one controller."""

    def __init__(self, zctx, ctl):
        import zmq
        self.ctl = ctl
        self.push = zctx.socket(zmq.PUSH)
        self.dealer = zctx.socket(zmq.DEALER)
        for s in (self.push, self.dealer):
            s.linger = 0
            s.sndhwm = 100
        self.push.connect(ctl.info["pull"])
        self.dealer.connect(ctl.info["reply"])

    def close(self):
        self.push.close(0)
        self.dealer.close(0)


class Churn:
    def __init__(self, stack, token):
        import msgpack
        import zmq
        self.zmq, self.msgpack = zmq, msgpack
        self.stack, self.token = stack, token
        self.zctx = zmq.Context()
        stack.callback(self.zctx.destroy, 0)
        self.clients = []            # oldest first
        self.started = self.killed = self.quit = 0
        self.pushes = self.requests = self.replies = 0
        self.sockets_made = self.sockets_closed = 0
        self.open_sockets = []
        self.kill_next = True

    # -- controllers --
    def start_controller(self):
        ctl = B.Controller("bare", extra=["--label", f"churn={self.token}"])
        self.started += 1
        client = Client(self.zctx, ctl)
        self.clients.append(client)
        return client

    def stop_controller(self, client):
        client.close()
        ctl = client.ctl
        if self.kill_next:
            ctl.process.kill(signal.SIGKILL)
            self.killed += 1
        else:
            ctl.close()
            self.quit += 1
        self.kill_next = not self.kill_next
        self.clients.remove(client)

    def close_all(self):
        for client in list(self.clients):
            client.close()
            client.ctl.close()
        self.clients = []

    def load_tick(self, n):
        zmq = self.zmq
        for c in self.clients:
            with contextlib.suppress(zmq.Again):
                c.push.send(self.msgpack.packb({"type": "KVAdmitMsg", "key": n}), zmq.NOBLOCK)
                self.pushes += 1
            if n % 4 == 0:
                with contextlib.suppress(zmq.Again):
                    c.dealer.send_multipart([b"", self.msgpack.packb(
                        {"type": "LookupMsg", "req_id": f"c{n}", "tokens": [1, 2, 3]})],
                        zmq.NOBLOCK)
                    self.requests += 1
            while True:
                try:
                    c.dealer.recv_multipart(zmq.NOBLOCK)
                    self.replies += 1
                except zmq.Again:
                    break

    # -- sockets --
    def socket_step(self, script):
        lines = [f"make PAIR inproc://churn-{self.sockets_made + i}"
                 for i in range(SOCKETS_PER_STEP)]
        excess = len(self.open_sockets) + SOCKETS_PER_STEP - MAX_OPEN_SOCKETS
        closing = self.open_sockets[:max(0, excess)]
        lines += [f"close {i}" for i in closing]
        script.proc.stdin.write("".join(line + "\n" for line in lines))
        script.proc.stdin.flush()
        for line in lines:
            answer = script.proc.stdout.readline()
            if not answer.startswith("OK"):
                raise B.BenchError(f"socket_script answered {answer!r} to {line!r}")
            if line.startswith("make"):
                self.open_sockets.append(int(answer.split()[1]))
        self.open_sockets = self.open_sockets[len(closing):]
        self.sockets_made += SOCKETS_PER_STEP
        self.sockets_closed += len(closing)


def sample(z, t, churn):
    pid = z.process.pid
    mem = B.memory_kib(pid)
    _, body = B.scrape(z.port)
    m = B.H.Metrics(body)
    up = m.select("zmqscope_target_up")
    return {"t": round(t, 1), "rss_kib": mem["VmRSS"], "hwm_kib": mem["VmHWM"],
            "cpu_s": B.cpu_seconds(pid), "targets_up": int(sum(v for _, v in up)),
            "targets_listed": len(up),
            "socket_series": len({(l.get("pid"), l.get("socket")) for l, _ in
                                  m.select("zmqscope_frames_received_total")}),
            "controllers_started": churn.started, "sockets_made": churn.sockets_made}


def analyse(samples):
    after = [s for s in samples if s["t"] >= WARMUP_S]
    if len(after) < 2:
        return {"verdict": "n/a", "reason": f"need at least two samples after the {WARMUP_S} s "
                                             f"warm-up: run longer"}
    base = after[0]["rss_kib"]
    devs = [(s["rss_kib"] - base) / base for s in after]
    n = len(after)
    mt = sum(s["t"] for s in after) / n
    mr = sum(s["rss_kib"] for s in after) / n
    var = sum((s["t"] - mt) ** 2 for s in after)
    slope = sum((s["t"] - mt) * (s["rss_kib"] - mr) for s in after) / var if var else 0
    ok = all(abs(d) <= TOLERANCE for d in devs)
    return {"verdict": "PASS" if ok else "FAIL", "baseline_kib": base,
            "baseline_t": after[0]["t"], "min_kib": min(s["rss_kib"] for s in after),
            "max_kib": max(s["rss_kib"] for s in after),
            "max_deviation": max(devs, key=abs), "slope_kib_per_min": slope * 60,
            "samples_after_warmup": n}


def report(res):
    a, c = res["analysis"], res["counts"]
    out = ["# zmqscope churn benchmark", "",
           f"Run {res['started']}, {res['seconds']:.0f} s. `zmqscope run --name "
           f"'{res['regex']}' --ttl {TTL_S}` watched controllers started and replaced every "
           f"{REPLACE_EVERY_S} s (two alive at a time, killed with SIGKILL or asked to quit in "
           f"turn) under light load, plus a socket_script making {SOCKETS_PER_STEP} sockets every "
           f"0.5 s and closing the oldest beyond {MAX_OPEN_SOCKETS}. zmqscope's memory sampled "
           f"every {SAMPLE_EVERY_S} s, with one scrape.", ""]
    if a["verdict"] == "n/a":
        out += [f"**Verdict: n/a**: {a['reason']}.", ""]
    else:
        out += [f"**Verdict: {a['verdict']}**: after the {WARMUP_S} s warm-up, VmRSS stayed "
                f"between {a['min_kib'] / 1024:.2f} and {a['max_kib'] / 1024:.2f} MiB; the "
                f"largest deviation from the first post-warm-up sample "
                f"({a['baseline_kib'] / 1024:.2f} MiB at {a['baseline_t']:.0f} s) is "
                f"{a['max_deviation']:+.1%} (limit ±{TOLERANCE:.0%}); trend "
                f"{a['slope_kib_per_min']:+.1f} KiB/min over {a['samples_after_warmup']} samples.",
                ""]
    out += [f"zmqscope {'was still running' if res['zmqscope_alive'] else 'HAD EXITED'} at the "
            f"end, and used {res['zmqscope_cpu_s']:.1f} s of CPU. Controllers: "
            f"{c['started']} started, {c['killed']} SIGKILLed, {c['quit']} quit. Sockets: "
            f"{c['sockets_made']} made, {c['sockets_closed']} closed. Load: {c['pushes']} "
            f"pushes, {c['requests']} requests, {c['replies']} replies.", "",
            md_table(["t (s)", "VmRSS MiB", "VmHWM MiB", "CPU s", "targets up / listed",
                      "socket series", "controllers started", "sockets made"],
                     [[s["t"], f"{s['rss_kib'] / 1024:.2f}", f"{s['hwm_kib'] / 1024:.2f}",
                       f"{s['cpu_s']:.2f}", f"{s['targets_up']} / {s['targets_listed']}",
                       s["socket_series"], s["controllers_started"], s["sockets_made"]]
                      for s in res["samples"]]), "",
            "Reproduce: `make bench-churn CHURN_SECONDS=600` (as root).", ""]
    return "\n".join(out)


def main(seconds, out_dir):
    token = "zmqscope-churn-" + secrets.token_hex(4)
    # "chur[n]" matches the token but not zmqscope's own command line.
    regex = token.replace("churn", "chur[n]")
    res = {"started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
           "seconds": seconds, "regex": regex, "ttl": TTL_S}
    samples = []
    with contextlib.ExitStack() as stack:
        churn = Churn(stack, token)
        stack.callback(churn.close_all)
        z = B.H.Zmqscope("--name", regex, args=["--ttl", str(TTL_S)], wait_targets=0)
        stack.callback(z.close)
        script = B.H.Process([B.PYTHON, os.path.join(B.FIXTURES, "socket_script.py"),
                              "--import", token], ready_prefix="READY ", stdin=subprocess.PIPE)
        stack.callback(script.kill)
        churn.start_controller()
        churn.start_controller()
        t0 = time.monotonic()
        next_sample, next_replace, next_sockets, n = 0.0, REPLACE_EVERY_S, 0.0, 0
        log(f"churn: {seconds:.0f}s, --name '{regex}'")
        while True:
            t = time.monotonic() - t0
            if t >= next_sample:
                samples.append(sample(z, t, churn))
                s = samples[-1]
                log(f"churn: t={t:5.0f}s VmRSS {s['rss_kib'] / 1024:.2f} MiB, targets up "
                    f"{s['targets_up']}, socket series {s['socket_series']}")
                next_sample += SAMPLE_EVERY_S
            if t >= seconds:
                if t - samples[-1]["t"] >= 1:
                    samples.append(sample(z, t, churn))
                break
            if t >= next_replace:
                churn.stop_controller(churn.clients[0])
                churn.start_controller()
                next_replace += REPLACE_EVERY_S
            if t >= next_sockets:
                churn.socket_step(script)
                next_sockets += 0.5
            churn.load_tick(n)
            n += 1
            time.sleep(TICK_S)
        res["zmqscope_alive"] = z.process.alive()
        res["zmqscope_cpu_s"] = B.cpu_seconds(z.process.pid) if res["zmqscope_alive"] else 0
    res["samples"] = samples
    res["counts"] = {k: getattr(churn, k) for k in (
        "started", "killed", "quit", "pushes", "requests", "replies", "sockets_made",
        "sockets_closed")}
    res["analysis"] = analyse(samples)
    md = report(res)
    os.makedirs(out_dir, exist_ok=True)
    B.write_atomic(os.path.join(out_dir, "churn.json"), json.dumps(res, indent=1) + "\n")
    B.write_atomic(os.path.join(out_dir, "churn.md"), md)
    print(md)
    return 0 if res["analysis"]["verdict"] != "FAIL" and res["zmqscope_alive"] else 1

