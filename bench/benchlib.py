"""Helpers shared by bench/run_bench.py and bench/churn.py.

Processes come from tests/integration/harness.py (call init() first: it
points the harness at the build directory before importing it).  Everything
started here is meant to be used in a `with` block or an ExitStack, so that
it is stopped again whatever happens.
"""

import contextlib
import ctypes
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
PYTHON = "/usr/bin/python3"
PEER_BT = os.path.join(BENCH, "peer.bt")
FLOOR_BT = os.path.join(BENCH, "floor.bt")
FLOOR_ENTRY_BT = os.path.join(BENCH, "floor_entry.bt")
TIMED_LOAD = os.path.join(BENCH, "timed_load.py")
CLK_TCK = os.sysconf("SC_CLK_TCK")

H = None  # tests/integration/harness.py, once init() has run
_T0 = time.monotonic()


class BenchError(RuntimeError):
    pass


def init(build):
    """Imports the integration harness for this build; returns it."""
    global H
    os.environ["ZS_BUILD"] = os.path.abspath(build)
    # Keep the bench's zmqscope instances apart from real ones and the tests'.
    os.environ.setdefault("ZMQSCOPE_RUNTIME_DIR", "/run/zmqscope-bench")
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    import harness
    H = harness
    return harness


def log(msg):
    print(f"[{time.monotonic() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def exit_on_signals():
    """SIGTERM and SIGHUP unwind like Ctrl-C does, so every `finally` runs."""
    def handler(sig, frame):
        log(f"{signal.Signals(sig).name}: stopping everything started, then exiting")
        raise SystemExit(128 + sig)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


# ---- statistics ------------------------------------------------------------

def median(xs):
    return statistics.median(xs) if xs else None


def percentile(xs, p):
    """Linear interpolation between closest ranks; p in [0, 100]."""
    if not xs:
        return None
    s = sorted(xs)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


# ---- /proc -----------------------------------------------------------------

def cpu_seconds(pid):
    """CPU time of a process (all its threads), in seconds.

    Read from the process's CPU-time clock (the scheduler's runtime, in ns):
    utime + stime in /proc/PID/stat come in 10 ms ticks, which is 2 µs a
    message over 5,000 requests, coarser than the differences measured.
    """
    try:
        return time.clock_gettime_ns(((~pid) << 3) | 2) / 1e9  # MAKE_PROCESS_CPUCLOCK(pid, SCHED)
    except OSError:
        pass
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def memory_kib(pid):
    """VmRSS and VmHWM of a process, in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(value.split()[0])
    return out


def io_counters(pid):
    """/proc/PID/io: syscr (read-type syscalls) and rchar (bytes read), among others."""
    with open(f"/proc/{pid}/io") as f:
        return {k: int(v) for k, v in (line.split(":") for line in f)}


def libzmq_of(pid):
    """The libzmq file a process has mapped."""
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and "libzmq" in os.path.basename(parts[5]):
                return parts[5]
    raise BenchError(f"process {pid} maps no libzmq")


def system_libzmq():
    """The real file behind libzmq.so.5, as the dynamic loader finds it."""
    ctypes.CDLL("libzmq.so.5")
    return os.path.realpath(libzmq_of(os.getpid()))


@contextlib.contextmanager
def private_libzmq():
    """A directory holding a private copy of libzmq.so.5, for LD_LIBRARY_PATH.

    uprobes are per file: a process loading this copy is the only one that
    takes the traps of probes attached to it, whoever else maps libzmq.
    """
    d = tempfile.mkdtemp(prefix="zmqscope-bench-lib-")
    try:
        shutil.copy2(system_libzmq(), os.path.join(d, "libzmq.so.5"))
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


SNAPSHOT_FILES = ("zmqscope", "bench/probe_cost", "fixtures/c_controller")


@contextlib.contextmanager
def build_snapshot():
    """Copies the binaries the bench runs and points the harness at the copies.

    Someone rebuilding build/ halfway through a run would otherwise leave a
    report measured on two different builds.
    """
    d = tempfile.mkdtemp(prefix="zmqscope-bench-build-")
    old = H.BUILD
    try:
        for rel in SNAPSHOT_FILES:
            src = os.path.join(old, rel)
            if os.path.exists(src):
                os.makedirs(os.path.dirname(os.path.join(d, rel)), exist_ok=True)
                shutil.copy2(src, os.path.join(d, rel))
        H.BUILD = d
        yield d
    finally:
        H.BUILD = old
        shutil.rmtree(d, ignore_errors=True)


def env_with_lib(libdir):
    env = dict(os.environ)
    if libdir:
        env["LD_LIBRARY_PATH"] = libdir
    return env


@contextlib.contextmanager
def sysctl(name, value):
    """Sets a sysctl for the duration of the block, then puts the old value back."""
    path = "/proc/sys/" + name.replace(".", "/")
    with open(path) as f:
        old = f.read().strip()
    with open(path, "w") as f:
        f.write(str(value))
    try:
        yield old
    finally:
        with open(path, "w") as f:
            f.write(old)


# ---- processes -------------------------------------------------------------

def read_ready(proc, prefix, timeout, what):
    """The rest of the first stdout line starting with prefix; kills proc on timeout."""
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        for line in proc.stdout:
            if line.startswith(prefix):
                return line[len(prefix):].strip()
    finally:
        timer.cancel()
    err = proc.stderr.read()[-1500:] if proc.stderr else ""
    raise BenchError(f"{what} never printed {prefix!r} within {timeout}s: {err}")


def stop_process(proc, sig=signal.SIGTERM, timeout=10.0):
    """Signals a Popen and waits; SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


class Controller:
    """tests/fixtures/controller.py, bare (--no-instrument) or --instrument lmcache."""

    def __init__(self, mode, env=None, extra=()):
        argv = [PYTHON, os.path.join(FIXTURES, "controller.py"),
                "--pull", "tcp://127.0.0.1:0", "--reply", "tcp://127.0.0.1:0",
                "--heartbeat", "tcp://127.0.0.1:0", "--metrics-port", str(H.free_port()),
                "--control-port", "0", *extra]
        argv += ["--no-instrument"] if mode == "bare" else ["--instrument", mode]
        self.mode = mode
        self.process = H.Process(argv, env=env, ready_prefix="READY ")
        self.info = json.loads(self.process.ready)
        self.pid = self.info["pid"]

    def truth(self):
        return H.control(self.info["control_port"], "truth")

    def close(self):
        if self.process.alive():
            with contextlib.suppress(Exception):
                H.control(self.info["control_port"], "quit", timeout=5)
            stop_process(self.process.proc, timeout=10)
        self.process.kill()


class CController:
    def __init__(self):
        self.c = H.CController()
        self.pid = self.c.pid
        self.pull, self.reply = self.c.pull, self.c.reply

    def truth(self):
        return self.c.truth()

    def close(self):
        self.c.close()


class Bpftrace:
    """bpftrace running a script; ready once its BEGIN printed READY."""

    def __init__(self, script, args, pid=None, timeout=60):
        argv = ["bpftrace"] + (["-p", str(pid)] if pid else []) + [script, *map(str, args)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
        self.pid = self.proc.pid
        read_ready(self.proc, "READY", timeout, f"bpftrace {os.path.basename(script)}")

    def stop(self, attempts=3, wait=5):
        """SIGINT, like Ctrl-C; what it printed on the way out, or None if it did not exit.

        bpftrace 0.17 now and then sits on in epoll_wait after a SIGINT, so
        the signal is repeated (self.sigints counts them).  One that still
        has not exited is killed, its kernel stack kept in self.stuck.
        """
        self.stuck, self.sigints = None, 0
        if self.proc.poll() is not None:
            return None
        for _ in range(attempts):
            self.proc.send_signal(signal.SIGINT)
            self.sigints += 1
            try:
                out, _ = self.proc.communicate(timeout=wait)
                return out
            except subprocess.TimeoutExpired:
                pass
        with contextlib.suppress(OSError):
            with open(f"/proc/{self.proc.pid}/stack") as f:
                self.stuck = f.read()
        self.proc.kill()
        self.proc.communicate()
        return None

    def close(self):
        self.stop()


def bpftrace_totals(output):
    """Sums of each @map[key]: N line in bpftrace's exit output, by map name."""
    totals = {}
    for line in output.splitlines():
        if line.startswith("@") and "[" in line and "]: " in line:
            name = line[1:line.index("[")]
            with contextlib.suppress(ValueError):
                totals[name] = totals.get(name, 0) + int(line.rsplit(": ", 1)[1])
    return totals


# ---- HTTP ------------------------------------------------------------------

def scrape(port, path="/metrics", timeout=10):
    """One GET on a fresh connection: (seconds, body)."""
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read().decode()
        if resp.status != 200:
            raise BenchError(f"GET {path}: HTTP {resp.status}")
    finally:
        conn.close()
    return time.perf_counter() - t0, body


def sample_value(text, name, **labels):
    """The value of the one sample of `name` with these labels, or None."""
    found = H.Metrics(text).select(name, **labels)
    return found[0][1] if len(found) == 1 else None


# ---- bpftool ---------------------------------------------------------------

ZS_PROGRAM_PREFIXES = ("zmq_", "handler_", "internal_")


def bpf_programs():
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out or "[]")


def new_programs(before_ids, prefixes=ZS_PROGRAM_PREFIXES):
    """BPF programs loaded since before_ids was taken, named with a prefix: {id: name}."""
    return {p["id"]: p["name"] for p in bpf_programs()
            if p["id"] not in before_ids and p.get("name", "").startswith(prefixes)}


def program_stats(ids):
    """{name: (run_cnt, run_time_ns)} for these program ids (stats must be on)."""
    out = {}
    for p in bpf_programs():
        if p["id"] in ids:
            cnt, ns = out.get(p["name"], (0, 0))
            out[p["name"]] = (cnt + p.get("run_cnt", 0), ns + p.get("run_time_ns", 0))
    return out


def stats_delta(before, after):
    return {name: (after[name][0] - before.get(name, (0, 0))[0],
                   after[name][1] - before.get(name, (0, 0))[1]) for name in after}


# ---- files -----------------------------------------------------------------

def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def md_table(headers, rows, align=None):
    """A GitHub markdown table; align is a string of 'l'/'r' per column."""
    align = align or "l" + "r" * (len(headers) - 1)
    out = ["| " + " | ".join(headers) + " |",
           "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def fmt(x, digits=0, none="n/a"):
    if x is None:
        return none
    if round(x, digits) == 0:
        x = 0.0  # no "-0.0"
    return f"{x:,.{digits}f}"
