"""Shared machinery for zmqscope's integration tests.

Everything a test needs is started here, inside the test, and torn down
with it: fixture controllers, zmqscope itself, Prometheus.  Tests run as
root against real BPF; nothing is mocked.
"""

import contextlib
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3"
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
BUILD = os.environ.get("ZS_BUILD", os.path.join(ROOT, "build"))


def zmqscope_bin():
    return os.path.join(BUILD, "zmqscope")


class TestFailure(AssertionError):
    pass


def check(cond, what):
    if not cond:
        raise TestFailure(what)


def check_eq(actual, expected, what):
    if actual != expected:
        raise TestFailure(f"{what}: got {actual!r}, expected {expected!r}")


def wait_for(pred, timeout=10.0, interval=0.05, what="condition"):
    """Polls pred() until it returns a true value, which is returned."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except (OSError, ValueError, KeyError, urllib.error.URLError):
            last = None
        time.sleep(interval)
    raise TestFailure(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def _fixed_port_range():
    """Ports the kernel never picks for bind(0) or connect(): below the ephemeral range."""
    lo = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    return (10000, lo - 1) if lo > 11000 else (1025, lo - 1)


_FIXED_PORTS = _fixed_port_range()
_port_rng = random.Random(os.getpid())
_ports_given = set()


def free_port():
    """A TCP port on 127.0.0.1 that nothing holds, from outside the ephemeral range.

    A port that bind(0) picked is handed back before the fixture binds it,
    and meanwhile a tcp://127.0.0.1:0 bind or an outgoing connection can be
    given the same number ("Address already in use", seen in CI). Ports
    below the ephemeral range are never handed out that way; none is given
    twice in one run.
    """
    lo, hi = _FIXED_PORTS
    for _ in range(500):
        port = _port_rng.randint(lo, hi)
        if port in _ports_given:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise TestFailure("no free TCP port below the ephemeral range")


def http_get(url, timeout=5.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, dict(r.headers), r.read().decode()


# ---- Prometheus text ------------------------------------------------------

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


class Metrics:
    """A parsed exposition: samples as (name, labels dict, value)."""

    def __init__(self, text):
        self.text = text
        self.samples = []
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            m = LINE.match(line)
            if not m:
                raise TestFailure(f"unparseable exposition line: {line!r}")
            labels = dict(LABEL.findall(m.group(2) or ""))
            self.samples.append((m.group(1), labels, float(m.group(3))))

    def select(self, name, **labels):
        return [(l, v) for n, l, v in self.samples
                if n == name and all(l.get(k) == str(v2) for k, v2 in labels.items())]

    def value(self, name, **labels):
        found = self.select(name, **labels)
        if len(found) != 1:
            raise TestFailure(f"expected one {name}{labels}, found {len(found)}")
        return found[0][1]

    def total(self, name, **labels):
        return sum(v for _, v in self.select(name, **labels))

    def socket_value(self, name, endpoint, **labels):
        return self.total(name, endpoint=endpoint, **labels)


# ---- processes --------------------------------------------------------------

class Process:
    """A child process whose stdout is read for a READY line."""

    def __init__(self, argv, env=None, ready_prefix=None, timeout=15.0, **kw):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=env, **kw)
        self.ready = None
        if ready_prefix:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                line = self.proc.stdout.readline()
                if not line:
                    break
                if line.startswith(ready_prefix):
                    self.ready = line[len(ready_prefix):].strip()
                    break
            if self.ready is None:
                self.kill()
                raise TestFailure(f"{argv[0]} never printed {ready_prefix!r}: "
                                  f"{self.proc.stderr.read()[-2000:]}")

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        if self.alive():
            os.kill(self.proc.pid, sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TestFailure(f"{self.argv[0]} did not exit within {timeout}s of signal {sig}")


def control(port, command, timeout=10.0):
    """One command on a fixture's line-based control port; its JSON answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(command.encode() + b"\n")
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    text = buf.decode().strip()
    return json.loads(text) if text.startswith(("{", "[")) else text


class Controller:
    """tests/fixtures/controller.py: the LMCache-shaped asyncio controller."""

    def __init__(self, delays=None, instrument=True, labels=None, python=PYTHON, cwd=None,
                 script=None):
        self.metrics_port = free_port()
        argv = [python, script or os.path.join(FIXTURES, "controller.py"),
                "--pull", "tcp://127.0.0.1:0", "--reply", "tcp://127.0.0.1:0",
                "--heartbeat", "tcp://127.0.0.1:0", "--metrics-port", str(self.metrics_port),
                "--control-port", "0"]
        if not instrument:
            argv.append("--no-instrument")
        for t, ms in (delays or {}).items():
            argv += ["--delay", f"{t}={ms}"]
        for k, v in (labels or {}).items():
            argv += ["--label", f"{k}={v}"]
        self.process = Process(argv, ready_prefix="READY ", cwd=cwd)
        self.info = json.loads(self.process.ready)
        self.pid = self.info["pid"]
        self.pull = self.info["pull"]
        self.reply = self.info["reply"]
        self.heartbeat = self.info["heartbeat"]
        self.control_port = self.info["control_port"]

    def truth(self):
        return control(self.control_port, "truth")

    def command(self, cmd):
        return control(self.control_port, cmd)

    def load(self, nice=0, **opts):
        """Runs tests/fixtures/load.py against this controller; its LOAD summary.

        nice > 0 runs the load at a lower priority, so that on two cores it
        does not steal the controller's CPU where timings are measured.
        """
        argv = ["nice", "-n", str(nice)] if nice else []
        argv += [PYTHON, os.path.join(FIXTURES, "load.py"), "--pull", self.pull,
                 "--reply", self.reply, "--heartbeat", self.heartbeat]
        for k, v in opts.items():
            argv += [f"--{k.replace('_', '-')}", str(v)]
        r = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        summary = None
        for line in r.stdout.splitlines():
            if line.startswith("LOAD "):
                summary = json.loads(line[5:])
        check(r.returncode == 0 and summary is not None,
              f"load.py failed ({r.returncode}): {r.stderr[-1500:]}")
        return summary

    def quiesce(self, expect_pull_frames=None, expect_reply=None, timeout=60.0):
        """Waits until the controller has handled everything and is idle."""
        def settled():
            t = self.truth()
            lm = t["lmcache"]
            if lm["pull_socket_active_requests"] or lm["reply_socket_active_requests"]:
                return None
            if expect_pull_frames is not None and \
                    lm["pull_socket_message_count"] != expect_pull_frames:
                return None
            if expect_reply is not None and lm["reply_socket_message_count"] != expect_reply:
                return None
            return t
        return wait_for(settled, timeout=timeout, interval=0.1, what="controller to settle")

    def close(self):
        if self.process.alive():
            with contextlib.suppress(OSError, ValueError):
                self.command("quit")
            with contextlib.suppress(TestFailure):
                self.process.stop(timeout=10)
        self.process.kill()


class CController:
    """tests/fixtures/c_controller.c: the buffer-API controller (zmq_recv/zmq_send)."""

    def __init__(self, static=False, delay_us=0):
        binary = os.path.join(BUILD, "fixtures", "c_controller_static" if static
                              else "c_controller")
        self.binary = binary
        self.pull_port, self.reply_port, self.control_port = free_port(), free_port(), free_port()
        self.pull = f"tcp://127.0.0.1:{self.pull_port}"
        self.reply = f"tcp://127.0.0.1:{self.reply_port}"
        argv = [binary, "--pull", self.pull, "--reply", self.reply,
                "--control-port", str(self.control_port)]
        if delay_us:
            argv += ["--handler-delay-us", str(delay_us)]
        self.process = Process(argv, ready_prefix="READY ")
        self.pid = json.loads(self.process.ready)["pid"]

    def truth(self):
        return control(self.control_port, "truth")

    def close(self):
        if self.process.alive():
            with contextlib.suppress(OSError, ValueError):
                control(self.control_port, "quit")
        with contextlib.suppress(TestFailure):
            self.process.stop(timeout=10)
        self.process.kill()


class Zmqscope:
    """`zmqscope run` in the background, serving on a free loopback port."""

    def __init__(self, *selector, args=(), port=None, wait_targets=1, env=None):
        self.port = port or free_port()
        self.argv = [zmqscope_bin(), "run", *selector, "--listen", f"127.0.0.1:{self.port}",
                     *args]
        self.process = Process(self.argv, env=env)
        self.url = f"http://127.0.0.1:{self.port}"
        # Serving means the probes can attach: a selector's processes started
        # after this are seen from their start.  Behind TLS the caller waits.
        if wait_targets or "--web.config.file" not in self.argv:
            wait_for(lambda: self._targets_up() >= wait_targets, timeout=30,
                     what=f"zmqscope to serve and attach to {wait_targets} target(s)")

    def _targets_up(self):
        if not self.process.alive():
            raise TestFailure(f"zmqscope exited {self.process.proc.returncode}: "
                              f"{self.process.proc.stderr.read()}")
        return self.metrics().total("zmqscope_target_up")

    def metrics(self):
        status, headers, body = http_get(self.url + "/metrics")
        check_eq(status, 200, "/metrics status")
        return Metrics(body)

    def stop(self):
        rc = self.process.stop(signal.SIGTERM, timeout=30)
        return rc

    def close(self):
        if self.process.alive():
            with contextlib.suppress(TestFailure):
                self.stop()
        self.process.kill()


def run_zmqscope(*args, env=None, timeout=60, preexec=None):
    """Runs a short zmqscope command; (exit code, stdout, stderr)."""
    r = subprocess.run([zmqscope_bin(), *args], capture_output=True, text=True, env=env,
                       timeout=timeout, preexec_fn=preexec)
    return r.returncode, r.stdout, r.stderr


# ---- BPF state seen from outside --------------------------------------------

ZS_PROGRAMS = ("zmq_msg_recv_en", "zmq_msg_recv_re", "zmq_recv_entry", "zmq_recv_return",
               "zmq_msg_send_en", "zmq_msg_send_re", "zmq_send_entry", "zmq_send_return",
               "zmq_getsockopt_", "zmq_socket_entr", "zmq_socket_retu", "zmq_bind_entry",
               "zmq_bind_return", "zmq_connect_ent", "zmq_connect_ret", "zmq_close_entry",
               "handler_entry", "handler_return", "zmq_poll_entry", "zmq_proxy_entry",
               "zmq_device_entr", "internal_send_", "internal_recv_", "dl_debug_state",
               "zmq_msg_send_se", "zmq_send_sessio")

# Links zmqscope puts at least on a pyzmq controller's libzmq, with uprobe sessions, where
# libzmq's internal send and receive carry the public ones: 12 probes.
MIN_TARGET_PROBES = 12


def zmqscope_programs():
    """Ids of loaded BPF programs that are zmqscope's (names are cut at 15)."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {p["id"] for p in json.loads(out or "[]")
            if p.get("name", "").startswith(ZS_PROGRAMS)}


def zmqscope_links():
    """perf_event links whose program is one of zmqscope's."""
    progs = zmqscope_programs()
    out = subprocess.run(["bpftool", "-j", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return [l for l in json.loads(out or "[]") if l.get("prog_id") in progs]


def lmcache(metrics, pid):
    """The six LMCache gauges zmqscope exports for one pid."""
    names = ["pull_socket_message_count", "reply_socket_message_count",
             "pull_socket_active_requests", "reply_socket_active_requests",
             "pull_socket_has_pending", "reply_socket_has_pending"]
    return {n: metrics.value(f"lmcache:cache_controller_{n}", pid=pid) for n in names}


def check_gauges_match(metrics, pid, truth, what):
    """zmqscope's six LMCache gauges for pid equal the fixture's own (its `truth`)."""
    check_eq(lmcache(metrics, pid), {k: float(v) for k, v in truth["lmcache"].items()}, what)


@contextlib.contextmanager
def tempdir():
    with tempfile.TemporaryDirectory(prefix="zmqscope-test-") as d:
        yield d
