#!/usr/bin/python3
"""The wire layer's rows of the benchmark, runnable alone (`make bench-wire`).

    wire_bench.py [--build DIR] [--rounds N] [--pushes N] [--requests N]

1. Throughput and controller CPU per message of the LMCache-shaped fixture
   (tests/fixtures/controller.py) under: bare, LMCache's in-process
   counters, the bpftrace peer (bench/peer.bt), and zmqscope with each
   layer: app (the default), wire, and both; for 1-frame pushes and
   DEALER/REQ requests.  The conditions run interleaved in each round,
   their order rotated from round to round; medians over the rounds.
   Each observed round checks the observer's counts against the fixture's.
2. What the tracepoints cost processes that are not targets: a loop of
   read/write syscalls (bench/syscall_loop.c) timed with the wire layer
   attached to a controller and without, and the wire programs' own
   run time per invocation from kernel.bpf_stats_enabled.

Writes bench/results/wire.md and wire.json.
"""

import argparse
import contextlib
import datetime
import json
import os
import platform
import subprocess
import sys
import time

import benchlib as B
from benchlib import fmt, log, md_table, median

CONDITIONS = ("bare", "lmcache", "bpftrace", "app", "wire", "app,wire")
LAYERS = ("app", "wire", "app,wire")
TEXT = {
    "bare": "bare (`--no-instrument`)",
    "lmcache": "LMCache in-process (`--instrument lmcache`)",
    "bpftrace": "bpftrace peer (`bench/peer.bt`)",
    "app": "zmqscope `--layer app` (default)",
    "wire": "zmqscope `--layer wire`",
    "app,wire": "zmqscope `--layer app,wire`",
}
WORKLOADS = ("pushes", "requests")


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build", default=os.path.join(B.ROOT, "build"))
    p.add_argument("--out", default=os.path.join(B.BENCH, "results"))
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--pushes", type=int, default=20000)
    p.add_argument("--requests", type=int, default=5000)
    p.add_argument("--syscalls", type=int, default=1000000, help="read+write pairs per loop run")
    p.add_argument("--syscall-runs", type=int, default=7)
    p.add_argument("--only-syscalls", action="store_true",
                   help="part 2 alone, printed, not written to --out (for development)")
    return p.parse_args()


def observed_counts(zs, ctl):
    truth = ctl.truth()["sockets"]
    m = zs.metrics()
    seen = (m.value("lmcache:cache_controller_pull_socket_message_count", pid=ctl.pid),
            m.value("lmcache:cache_controller_reply_socket_message_count", pid=ctl.pid))
    want = (truth["pull"]["frames_received"],
            truth["reply"]["messages_received"] + truth["heartbeat"]["messages_received"])
    return {"ok": seen == want, "observed": list(seen), "truth": list(want)}


def wait_wire_counts(zs, ctl, timeout=10):
    """The wire sees a reply's last bytes a syscall after the app: let it settle."""
    deadline = time.monotonic() + timeout
    while True:
        c = observed_counts(zs, ctl)
        if c["ok"] or time.monotonic() > deadline:
            return c
        time.sleep(0.1)


def throughput_round(cond, rnd, args, libdir):
    env = B.env_with_lib(libdir)
    with contextlib.ExitStack() as stack:
        ctl = B.Controller("lmcache" if cond == "lmcache" else "bare", env=env)
        stack.callback(ctl.close)
        zs = bt = None
        tool_pid = None
        if cond in LAYERS:
            zs = B.H.Zmqscope("--pid", str(ctl.pid), args=["--layer", cond])
            stack.callback(zs.close)
            tool_pid = zs.process.pid
        elif cond == "bpftrace":
            bt = B.Bpftrace(B.PEER_BT, [B.libzmq_of(ctl.pid), ctl.pid], pid=ctl.pid)
            stack.callback(bt.close)
            tool_pid = bt.pid
        run_bench.run_load(ctl, "pushes", 500, seed=1000 + rnd)
        run_bench.run_load(ctl, "requests", 200, seed=2000 + rnd)
        out = {}
        for wl in WORKLOADS:
            n = args.pushes if wl == "pushes" else args.requests
            out[wl] = run_bench.measure_workload(ctl, tool_pid, wl, n, seed=rnd)
        if zs:
            out["counts"] = wait_wire_counts(zs, ctl)
        elif bt:
            out["counts"] = run_bench.counts_check("bpftrace", ctl, bt, bt.stop())
        else:
            out["counts"] = None
        return out


def part_throughput(args, libdir):
    rounds = []
    for rnd in range(args.rounds + 1):
        row = {"warmup": rnd == 0}
        # Rotated each round: this VM drifts between fast and slow spells within a
        # round, and a fixed order would give each position its own share of them.
        shift = rnd % len(CONDITIONS)
        for cond in CONDITIONS[shift:] + CONDITIONS[:shift]:
            r = throughput_round(cond, rnd, args, libdir)
            row[cond] = r
            log(f"throughput: round {rnd}/{args.rounds}{' (warm-up)' if rnd == 0 else ''} "
                f"{cond:8s} pushes {r['pushes']['msgs_per_s']:8,.0f}/s  requests "
                f"{r['requests']['msgs_per_s']:7,.0f}/s"
                + ("" if r["counts"] is None else
                   "  counts " + ("ok" if r["counts"]["ok"] else "MISMATCH")))
        rounds.append(row)
    measured = [r for r in rounds if not r["warmup"]]
    summary = {}
    for wl in WORKLOADS:
        s = {}
        for cond in CONDITIONS:
            rates = [r[cond][wl]["msgs_per_s"] for r in measured]
            cpus = [r[cond][wl]["cpu_us_per_msg"] for r in measured]
            s[cond] = {"msgs_per_s": median(rates), "cpu_us_per_msg": median(cpus)}
        # Loss per round against the same round's bare run, then the median.
        for cond in CONDITIONS:
            losses = [1 - r[cond][wl]["msgs_per_s"] / r["bare"][wl]["msgs_per_s"]
                      for r in measured]
            added = [r[cond][wl]["cpu_us_per_msg"] - r["bare"][wl]["cpu_us_per_msg"]
                     for r in measured]
            s[cond]["loss"] = median(losses)
            s[cond]["added_cpu_us_per_msg"] = median(added)
            s[cond]["rounds_below_lmcache"] = sum(
                r[cond][wl]["msgs_per_s"] > r["lmcache"][wl]["msgs_per_s"] for r in measured)
        summary[wl] = s
    counts = {c: [r[c]["counts"] for r in measured] for c in ("bpftrace",) + LAYERS}
    return {"rounds": rounds, "summary": summary,
            # None: a round whose counts could not be read (bpftrace did not exit in time).
            "counts_ok": {c: None if any(x["ok"] is None for x in v) else all(x["ok"] for x in v)
                          for c, v in counts.items()},
            "counts": counts}


def syscall_loop(binary, n):
    out = subprocess.run([binary, str(n)], capture_output=True, text=True, check=True).stdout
    return float(out.split()[1])


@contextlib.contextmanager
def tp_floor(build, *programs):
    """Empty tp_btf programs (bench/tp_floor.c; all of them unless named), while in the block."""
    proc = subprocess.Popen([os.path.join(build, "bench", "tp_floor"),
                             os.path.join(build, "bench", "tp_floor.bpf.o"), *programs],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        B.read_ready(proc, "READY", 30, "tp_floor")
        yield proc
    finally:
        proc.stdin.close()
        B.stop_process(proc)


# Conditions of part 2, in the order each round runs them: no program, an empty one on
# sys_exit (the floor of the wire layer's mechanism), empty ones on sys_enter and
# sys_exit (what a layer that also used sys_enter could not go under), the layer.
SYSCALL_CONDITIONS = (("off", "no tracepoint"),
                      ("floor", "empty tp_btf program on sys_exit (floor)"),
                      ("floor_both", "empty tp_btf programs on sys_enter and sys_exit"),
                      ("wire", "`--layer wire` attached"))


def part_syscalls(args, libdir):
    """Alternating runs of SYSCALL_CONDITIONS."""
    binary = os.path.join(args.build, "bench", "syscall_loop")
    runs = {c: [] for c, _ in SYSCALL_CONDITIONS}
    stats = {}
    with contextlib.ExitStack() as stack:
        ctl = B.Controller("bare", env=B.env_with_lib(libdir))
        stack.callback(ctl.close)
        syscall_loop(binary, args.syscalls // 10)  # warm
        for i in range(args.syscall_runs):
            for cond in runs:
                before = {p["id"] for p in B.bpf_programs()}
                with contextlib.ExitStack() as inner:
                    if cond == "floor":
                        inner.enter_context(tp_floor(args.build, "empty_exit"))
                    elif cond == "floor_both":
                        inner.enter_context(tp_floor(args.build))
                    elif cond == "wire":
                        zs = B.H.Zmqscope("--pid", str(ctl.pid), args=["--layer", "wire"])
                        inner.callback(zs.close)
                    if i == 0 and cond in ("floor", "wire"):
                        ids = set(B.new_programs(before, prefixes=("wire_", "empty_")))
                        with B.sysctl("kernel.bpf_stats_enabled", 1):
                            s0 = B.program_stats(ids)
                            runs[cond].append(syscall_loop(binary, args.syscalls))
                            stats.update(B.stats_delta(s0, B.program_stats(ids)))
                    else:
                        runs[cond].append(syscall_loop(binary, args.syscalls))
    per_prog = {name: {"runs": cnt, "ns_per_run": ns / cnt}
                for name, (cnt, ns) in stats.items() if cnt}
    med = {c: median(v) for c, v in runs.items()}
    return {"runs": runs, "median": med, "floor_added_ns": med["floor"] - med["off"],
            "floor_both_added_ns": med["floor_both"] - med["off"],
            "wire_added_ns": med["wire"] - med["off"],
            "wire_over_floor_ns": med["wire"] - med["floor"], "programs": per_prog}


def part_program_cost(args, libdir):
    """The wire programs' run time per message on the target (kernel.bpf_stats_enabled)."""
    out = {}
    with contextlib.ExitStack() as stack:
        ctl = B.Controller("bare", env=B.env_with_lib(libdir))
        stack.callback(ctl.close)
        before = {p["id"] for p in B.bpf_programs()}
        zs = B.H.Zmqscope("--pid", str(ctl.pid), args=["--layer", "wire"])
        stack.callback(zs.close)
        ids = set(B.new_programs(before, prefixes=("wire_",)))
        run_bench.run_load(ctl, "pushes", 500, seed=1)
        run_bench.run_load(ctl, "requests", 200, seed=2)
        with B.sysctl("kernel.bpf_stats_enabled", 1):
            for wl in WORKLOADS:
                n = args.pushes if wl == "pushes" else args.requests
                s0 = B.program_stats(ids)
                run_bench.measure_workload(ctl, None, wl, n, seed=3)
                d = B.stats_delta(s0, B.program_stats(ids))
                out[wl] = {"messages": n,
                           "runs_per_msg": sum(c for c, _ in d.values()) / n,
                           "ns_per_msg": sum(t for _, t in d.values()) / n}
    return out


def report(res):
    t, sc = res["throughput"], res["syscalls"]
    res["config"]["syscall_runs"] = len(sc["runs"]["off"])
    lines = [f"# zmqscope wire layer: benchmark rows ({res['date']})", "",
             f"{res['host']}. `make bench-wire` (bench/wire_bench.py), {t['config']['rounds']} "
             f"measured rounds after a warm-up, conditions interleaved in each round (the "
             "order rotated from round to round); "
             f"{t['config']['pushes']:,} 1-frame pushes and {t['config']['requests']:,} "
             f"requests ({run_bench.REQ_WORKERS} DEALER/REQ workers) per round. Loss and "
             "added CPU are per round against that round's bare run, then the median.", ""]
    targets = []
    for wl in WORKLOADS:
        s = t["summary"][wl]
        for c in ("wire", "app,wire"):
            targets.append([f"{TEXT[c]}: throughput loss below in-process counters ({wl})",
                            f"{100 * s[c]['loss']:.1f} % vs {100 * s['lmcache']['loss']:.1f} % "
                            f"(added CPU {s[c]['added_cpu_us_per_msg']:.1f} vs "
                            f"{s['lmcache']['added_cpu_us_per_msg']:.1f} µs/msg); lost less "
                            f"in {s[c]['rounds_below_lmcache']} of {t['config']['rounds']} "
                            "rounds",
                            "MET" if s[c]["loss"] < s["lmcache"]["loss"] else "MISSED"])
    lines += ["## Targets", "", md_table(["target", "measured (medians)", "result"], targets),
              ""]
    for wl in WORKLOADS:
        s = t["summary"][wl]
        rows = [[TEXT[c], fmt(s[c]["msgs_per_s"]), fmt(100 * s[c]["loss"], 1) + " %",
                 fmt(s[c]["cpu_us_per_msg"], 1), fmt(s[c]["added_cpu_us_per_msg"], 1)]
                for c in CONDITIONS]
        lines += [f"## {run_bench.WORKLOAD_TEXT[wl]}", "",
                  md_table(["condition", "msgs/s (median)", "throughput loss",
                            "controller CPU µs/msg", "added CPU µs/msg"], rows), ""]
    lines += ["Counts matched the fixture's in every observed round (zmqscope: LMCache's "
              "pull and reply message counts; the peer: messages and frames received): "
              + ", ".join(f"{TEXT[c]} {({None: 'not read', True: 'yes', False: 'NO'})[ok]}"
                          for c, ok in t["counts_ok"].items()) + ".", "",
              "## Host-wide cost per syscall (a process that is not a target)", "",
              f"A loop of {res['config']['syscalls']:,} write(/dev/null) + read(/dev/zero) "
              f"pairs, {res['config']['syscall_runs']} runs each way, alternating; the wire "
              "layer attached to a controller in the other process.", "",
              md_table(["condition", "ns per syscall (median)", "runs"],
                       [[name, fmt(sc["median"][c], 1), ", ".join(fmt(x, 1) for x in sc["runs"][c])]
                        for c, name in SYSCALL_CONDITIONS]), "",
              f"Added per syscall by the wire layer: **{fmt(sc['wire_added_ns'], 1)} ns**; "
              f"by an empty program on the same tracepoint: {fmt(sc['floor_added_ns'], 1)} ns, "
              f"so the wire layer's own filtering adds {fmt(sc['wire_over_floor_ns'], 1)} ns; "
              "empty programs on both sys_enter and sys_exit, as the layer used before it read "
              f"the arguments at exit, add {fmt(sc['floor_both_added_ns'], 1)} ns "
              "(medians; the run times per program, from kernel.bpf_stats_enabled during one "
              "run, include the stats' own clock reads):", "",
              md_table(["program", "invocations", "ns per invocation"],
                       [[n, fmt(p["runs"]), fmt(p["ns_per_run"], 1)]
                        for n, p in sorted(sc["programs"].items())]), ""]
    pc = res["program_cost"]
    lines += ["## The wire programs' own time on the target", "",
              "kernel.bpf_stats_enabled during one more run of each workload (its clock reads "
              "included): every syscall of the controller runs the sys_exit program; the "
              "parsing is in the read and write syscalls of libzmq's I/O thread.", "",
              md_table(["workload", "program runs per message", "program ns per message"],
                       [[run_bench.WORKLOAD_TEXT[wl], fmt(pc[wl]["runs_per_msg"], 1),
                         fmt(pc[wl]["ns_per_msg"])] for wl in WORKLOADS]), ""]
    return "\n".join(lines) + "\n"


def main():
    args = parse_args()
    global run_bench
    B.init(args.build)
    import run_bench as rb
    run_bench = rb
    B.exit_on_signals()
    res = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
           "host": f"{platform.node()}, kernel {platform.release()}, {os.cpu_count()} CPUs",
           "config": vars(args)}
    with B.private_libzmq() as libdir:
        if args.only_syscalls:
            print(json.dumps(part_syscalls(args, libdir), indent=1))
            return 0
        res["throughput"] = part_throughput(args, libdir)
        res["throughput"]["config"] = {"rounds": args.rounds, "pushes": args.pushes,
                                       "requests": args.requests}
        res["syscalls"] = part_syscalls(args, libdir)
        res["program_cost"] = part_program_cost(args, libdir)
    md = report(res)
    os.makedirs(args.out, exist_ok=True)
    B.write_atomic(os.path.join(args.out, "wire.json"), json.dumps(res, indent=1) + "\n")
    B.write_atomic(os.path.join(args.out, "wire.md"), md)
    print(md)
    return 0


run_bench = None

if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        B.log("interrupted: everything started has been stopped")
        sys.exit(130)
