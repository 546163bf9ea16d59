"""Attach and detach at scale (`make bench-attach`): issue 12, defect 9.

    attach_scale.py BUILD OUT [N ...]        (default N: 1 10 100)

For each N: N idle processes that map libzmq (tests/fixtures/libzmq_copies
with no copies), one `zmqscope run --name TOKEN` that selects them all.
  * attach: from zmqscope's start until /metrics shows N targets up;
  * scrapes while detaching: the N processes are killed together and
    /metrics is scraped every 50 ms until every target is down; the
    slowest scrape is the number that matters (Prometheus gives up at 10 s);
  * stop: `zmqscope stop ID`, for a fresh run attached to N live processes;
    it returns when the daemon has exited, which is after every link is
    destroyed (observer_close waits for the reaper).
Writes OUT/attach_scale.md and .json, and prints the markdown.
"""

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

import benchlib as B
from benchlib import log, md_table


def start_idle(build, token, n):
    argv = [os.path.join(build, "fixtures", "libzmq_copies"), f"/nonexistent/{token}", "0", "0",
            "0"]
    procs = []
    for _ in range(n):
        p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        B.read_ready(p, "READY ", 10, "an idle libzmq process")
        procs.append(p)
    return procs


def start_zmqscope(build, token, port, runtime_dir=None):
    env = dict(os.environ)
    if runtime_dir:
        env["ZMQSCOPE_RUNTIME_DIR"] = runtime_dir
    return subprocess.Popen([os.path.join(build, "zmqscope"), "run", "--name", token,
                             "--listen", f"127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
                            env=env)


def targets_up(port):
    try:
        _, body = B.scrape(port, timeout=30)
    except OSError:
        return -1
    return int(sum(v for _, v in B.H.Metrics(body).select("zmqscope_target_up")))


def wait_up(port, n, timeout):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if targets_up(port) == n:
            return time.monotonic() - t0
        time.sleep(0.02)
    raise B.BenchError(f"{n} targets not up within {timeout}s")


def measure(build, n):
    token = f"zsscale{secrets.token_hex(4)}"
    procs = start_idle(build, token, n)
    row = {"n": n}
    try:
        port = B.H.free_port()
        zs = start_zmqscope(build, token, port)
        row["attach_s"] = wait_up(port, n, 120)
        # Killed together: the slowest scrape while their links go.
        for p in procs:
            p.kill()
        worst, t0 = 0.0, time.monotonic()
        while time.monotonic() - t0 < 60:
            took, body = B.scrape(port, timeout=60)
            worst = max(worst, took)
            if sum(v for _, v in B.H.Metrics(body).select("zmqscope_target_up")) == 0:
                break
            time.sleep(0.05)
        row["down_s"] = time.monotonic() - t0
        row["worst_scrape_s"] = worst
        B.stop_process(zs, timeout=120)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    # `zmqscope stop ID` with N live processes attached: it returns once the
    # daemon has exited, and the daemon exits once every link is destroyed.
    procs = start_idle(build, token, n)
    runtime = tempfile.mkdtemp(prefix="zsscale-")
    try:
        port = B.H.free_port()
        zs = start_zmqscope(build, token, port, runtime)
        wait_up(port, n, 120)
        t0 = time.monotonic()
        stop = subprocess.run([os.path.join(build, "zmqscope"), "stop", "1"],
                              env=dict(os.environ, ZMQSCOPE_RUNTIME_DIR=runtime),
                              capture_output=True, text=True, timeout=600)
        row["stop_s"] = time.monotonic() - t0
        if stop.returncode != 0:
            raise B.BenchError(f"zmqscope stop: {stop.stderr.strip()}")
        zs.wait(timeout=10)
        row["stop_progress_lines"] = stop.stderr.count("is stopping:")
    finally:
        shutil.rmtree(runtime, ignore_errors=True)
        for p in procs:
            p.kill()
            p.wait()
    log(f"N={n}: {row}")
    return row


def main():
    build, out = sys.argv[1], sys.argv[2]
    counts = [int(a) for a in sys.argv[3:]] or [1, 10, 100]
    B.init(build)
    rows = [measure(build, n) for n in counts]
    md = ["# Attach and detach at scale", "",
          f"`bench/attach_scale.py`, {time.strftime('%Y-%m-%d')}, kernel {os.uname().release}, "
          f"{os.cpu_count()} CPUs. Idle processes mapping Debian's libzmq, one `--name` "
          "selector.", "",
          md_table(["processes", "attach (s)", "all down after kill (s)",
                    "slowest scrape meanwhile (s)", "`zmqscope stop` (s)"],
                   [[r["n"], f"{r['attach_s']:.2f}", f"{r['down_s']:.2f}",
                     f"{r['worst_scrape_s']:.3f}", f"{r['stop_s']:.2f}"] for r in rows]), ""]
    text = "\n".join(md)
    os.makedirs(out, exist_ok=True)
    B.write_atomic(os.path.join(out, "attach_scale.md"), text)
    B.write_atomic(os.path.join(out, "attach_scale.json"), json.dumps(rows, indent=1) + "\n")
    print(text)


if __name__ == "__main__":
    main()
