"""zmqscope never harms its target (issue 12): everything at once, under load."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time

from harness import (FIXTURES, PYTHON, Process, Zmqscope, check, check_eq, tempdir,
                     wait_for)

PUSHES = 400      # per measured thread
REQUESTS = 200
STOPPED_S = 10.0  # the one instance is SIGSTOPped this long


def read_tagged(stream, tag, timeout=60.0):
    """The next stdout line that starts with `tag`, decoded; other lines are skipped."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1:])
    raise AssertionError(f"no {tag} line from the target")


def exact_counts(zs, pid, measure, what):
    """Every measured socket's frames, in and out, exactly as the target made them."""
    def settled():
        m = zs.metrics()
        pulls = [m.total("zmqscope_frames_received_total", pid=pid, type="PULL", endpoint=ep)
                 for ep in measure["pulls"]]
        pushes = [m.total("zmqscope_frames_sent_total", pid=pid, type="PUSH", endpoint=ep)
                  for ep in measure["pulls"]]
        rep = (m.total("zmqscope_messages_received_total", pid=pid, type="REP",
                       endpoint=measure["rep"]),
               m.total("zmqscope_messages_sent_total", pid=pid, type="REP",
                       endpoint=measure["rep"]))
        settled.last = (pulls, pushes, rep)
        return (pulls == [PUSHES] * len(pulls) and pushes == [PUSHES] * len(pushes)
                and rep == (REQUESTS, REQUESTS))
    try:
        wait_for(settled, timeout=10, what=what)
    finally:
        pulls, pushes, rep = getattr(settled, "last", ([], [], ()))
        print(f"    {what}: PULL {sorted(set(pulls))} PUSH {sorted(set(pushes))} REP {rep}")


def test_target_unharmed_by_churn_two_instances_and_a_stopped_observer():
    """Attach while the target forks, execs, runs 16 zmq threads and dlopens and
    dlcloses libzmq; two instances on it, one SIGSTOPped for 10 s while new
    sockets carry traffic. Every reply is right, the target saw no failure,
    and both instances count every measured frame exactly."""
    import zmq
    marker = f"zsfault{os.getpid()}"
    with tempdir() as d:
        copy = os.path.join(d, "libzmq-copy.so")
        shutil.copyfile("/usr/lib/x86_64-linux-gnu/libzmq.so.5", copy)
        target = Process([PYTHON, os.path.join(FIXTURES, "fault_target.py"), marker, copy],
                         ready_prefix="READY ", stdin=subprocess.PIPE)
        pid = target.pid
        out, inp = target.proc.stdout, target.proc.stdin
        zs_name = zs_pid = None
        ctx = zmq.Context()
        stopped = False
        try:
            inp.write("churn\n")
            inp.flush()
            read_tagged(out, "CHURNING")
            # Both attach while the churn runs: --name also picks up the forks and execs.
            zs_name = Zmqscope("--name", marker, wait_targets=0)
            zs_pid = Zmqscope("--pid", str(pid), wait_targets=0)
            for zs in (zs_name, zs_pid):
                wait_for(lambda zs=zs: zs.metrics().total("zmqscope_target_up", pid=pid) == 1,
                         timeout=30, what="the target to be attached")
            time.sleep(1.0)  # a second of churn under both instances' probes

            os.kill(zs_name.process.pid, signal.SIGSTOP)
            stopped, t_stop = True, time.monotonic()
            inp.write(f"measure {PUSHES}\n")
            inp.flush()
            measure = read_tagged(out, "MEASURE")
            req = ctx.socket(zmq.REQ)
            req.connect(measure["rep"])
            req.setsockopt(zmq.RCVTIMEO, 10000)
            wrong = 0
            for i in range(REQUESTS):
                req.send(b"q%d" % i)
                wrong += req.recv() != b"re:q%d" % i
            check_eq(wrong, 0, "replies that were wrong")
            measured = read_tagged(out, "MEASURED")
            check_eq(measured["ok"], [True] * 16, "every measured thread got its frames back")
            # The running instance counts while the other is stopped.
            exact_counts(zs_pid, pid, measure, "the running instance's counts")
            time.sleep(max(0.0, STOPPED_S - (time.monotonic() - t_stop)))
            os.kill(zs_name.process.pid, signal.SIGCONT)
            stopped = False

            inp.write("calm\n")
            inp.flush()
            calm = read_tagged(out, "CALM")
            print(f"    the target's own tally: {calm}")
            for key in ("load_errors", "fork_failures", "exec_failures", "dlopen_failures"):
                check_eq(calm[key], 0, key)
            check(calm["forks"] >= 5 and calm["execs"] >= 3 and calm["dlopens"] >= 5,
                  f"it forked, exec'd and dlopened throughout: {calm}")
            check(calm["load_messages"] >= 16 * 500, f"the 16 threads ran: {calm}")
            check_eq(calm["replies"], REQUESTS, "the REP answered each request once")
            check(target.alive(), "the target is alive")
            children = {labels["pid"] for labels, _ in
                        zs_name.metrics().select("zmqscope_target_up")} - {str(pid)}
            print(f"    children the --name instance attached: {len(children)}")
            check(len(children) >= 1, "the --name instance attached forked or exec'd children")
            for zs, what in ((zs_pid, "the --pid instance"),
                             (zs_name, "the --name instance, after its 10 s stop")):
                exact_counts(zs, pid, measure, what + "'s counts")
                check(zs.process.alive(), f"{what} is still running")
        finally:
            if stopped:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(zs_name.process.pid, signal.SIGCONT)
            ctx.destroy(linger=0)
            for zs in (zs_name, zs_pid):
                if zs:
                    zs.close()
            with contextlib.suppress(Exception):
                inp.write("calm\nquit\n")
                inp.flush()
            target.kill()


TESTS = [test_target_unharmed_by_churn_two_instances_and_a_stopped_observer]
