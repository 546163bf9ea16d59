"""(g) Bad input: one line on stderr that says what to do, a non-zero exit, the target untouched."""

import os
import socket
import subprocess

from harness import (Controller, check, check_eq, free_port, run_zmqscope, zmqscope_bin,
                     zmqscope_links)


def one_line_error(rc, err, want_rc, must_mention, what):
    lines = [l for l in err.splitlines() if l.strip()]
    check_eq(rc, want_rc, f"{what}: exit code")
    check_eq(len(lines), 1, f"{what}: lines on stderr ({err!r})")
    check(lines[0].startswith("zmqscope: "), f"{what}: message prefix ({lines[0]!r})")
    for word in must_mention:
        check(word in lines[0], f"{what}: message mentions {word!r} ({lines[0]!r})")


def free_pid():
    pid_max = int(open("/proc/sys/kernel/pid_max").read())
    for pid in range(pid_max - 1, 1, -1):
        if not os.path.exists(f"/proc/{pid}"):
            return pid
    raise AssertionError("no free pid")


def test_bad_input_gets_one_line_and_nonzero_exit():
    ctl = Controller()
    sleeper = subprocess.Popen(["sleep", "120"])
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        listen = ["--listen", f"127.0.0.1:{free_port()}"]
        pid = free_pid()
        rc, _, err = run_zmqscope("run", "--pid", str(pid), *listen)
        one_line_error(rc, err, 1, [f"no process with pid {pid}", "zmqscope list"], "no such pid")

        rc, _, err = run_zmqscope("run", "--pid", str(sleeper.pid), *listen)
        one_line_error(rc, err, 1, [str(sleeper.pid), "does not map libzmq"], "no libzmq")

        rc, _, err = run_zmqscope("run", "--pid", str(ctl.pid), "--listen",
                                  f"127.0.0.1:{busy.getsockname()[1]}")
        one_line_error(rc, err, 1, ["Address already in use", "--listen"], "busy port")

        for label in ("9lives=x", "novalue", "pid=1", "__x=y"):
            rc, _, err = run_zmqscope("run", "--pid", str(ctl.pid), "--label", label, *listen)
            one_line_error(rc, err, 2, ["--label", label], f"bad label {label}")

        rc, _, err = run_zmqscope("run", "--pid", str(ctl.pid), "--bogus", *listen)
        one_line_error(rc, err, 2, ["--bogus", "--help"], "unknown flag")
        rc, _, err = run_zmqscope("frobnicate")
        one_line_error(rc, err, 2, ["frobnicate", "--help"], "unknown command")
        rc, _, err = run_zmqscope("run", *listen)
        one_line_error(rc, err, 2, ["--pid"], "no selector")
        rc, _, err = run_zmqscope("run", "--pid", "12abc", *listen)
        one_line_error(rc, err, 2, ["12abc"], "malformed pid")
        rc, _, err = run_zmqscope("run", "--pid", str(ctl.pid), "--listen", "localhost:80")
        one_line_error(rc, err, 2, ["numeric"], "hostname in --listen")
        rc, _, err = run_zmqscope("stop", "4242")
        one_line_error(rc, err, 1, ["4242", "status"], "stop of an unknown instance")

        # Root without a single capability: what an unprivileged user gets.
        r = subprocess.run(["setpriv", "--inh-caps=-all", "--ambient-caps=-all",
                            "--bounding-set=-all", zmqscope_bin(), "run", "--pid",
                            str(ctl.pid), *listen], capture_output=True, text=True, timeout=60)
        one_line_error(r.returncode, r.stderr, 1, ["permission denied", "CAP_BPF"],
                       "no capabilities")

        check_eq(zmqscope_links(), [], "nothing left attached")
        check(ctl.process.alive(), "the controller survived")
        sent = ctl.load(pushes=100, requests=20, heartbeats=20)
        check_eq(sent["replies_verified"], 40, "the controller still answers")
        check_eq(ctl.quiesce(expect_pull_frames=sent["push_frames"])["lmcache"]
                 ["pull_socket_message_count"], sent["push_frames"], "its counts are intact")
    finally:
        busy.close()
        sleeper.kill()
        sleeper.wait()
        ctl.close()


def test_help_and_version():
    rc, out, err = run_zmqscope("--version")
    check_eq((rc, err), (0, ""), "--version")
    check(out.startswith("zmqscope "), "--version text")
    for cmd in ("run", "start", "stop", "status", "list"):
        rc, out, err = run_zmqscope(cmd, "--help")
        check_eq(rc, 0, f"{cmd} --help exit code")
        check(f"zmqscope {cmd}" in out and "--help" in out, f"{cmd} --help text: {out[:200]}")
    rc, out, _ = run_zmqscope("--help")
    check(rc == 0 and "Commands:" in out, "top-level --help")


TESTS = [test_bad_input_gets_one_line_and_nonzero_exit, test_help_and_version]
