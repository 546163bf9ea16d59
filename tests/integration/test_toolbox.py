"""The SRE toolbox against real processes: `zmqscope top` in a real terminal
(tmux), the Grafana dashboard's queries in a real Prometheus, and the Debian
package installed and purged on this machine."""

import contextlib
import json
import math
import os
import re
import subprocess
import threading
import time

import urllib.parse

from harness import (ROOT, Controller, Process, TestFailure, Zmqscope, check, check_eq,
                     free_port, http_get, run_zmqscope, tempdir, wait_for, zmqscope_bin)


# ---- a terminal -------------------------------------------------------------

class Tmux:
    """A detached tmux session on a private server, so nothing else is touched."""

    def __init__(self, width=80, height=24):
        self.server = f"zmqscope-test-{os.getpid()}"
        self.target = "top"
        self._tmux("new-session", "-d", "-s", self.target, "-x", str(width), "-y", str(height),
                   "env", "-i", "PATH=/usr/bin:/bin", "TERM=screen", "PS1=$ ", "HOME=/tmp",
                   f"ZMQSCOPE_RUNTIME_DIR={os.environ['ZMQSCOPE_RUNTIME_DIR']}",
                   "sh")

    def _tmux(self, *args):
        r = subprocess.run(["tmux", "-L", self.server, *args], capture_output=True, text=True,
                           timeout=10)
        check(r.returncode == 0, f"tmux {args[0]} failed: {r.stderr.strip()}")
        return r.stdout

    def send(self, *keys):
        self._tmux("send-keys", "-t", self.target, *keys)

    def type_line(self, text):
        self.send("-l", text)
        self.send("Enter")

    def screen(self):
        return self._tmux("capture-pane", "-p", "-t", self.target).split("\n")

    def alternate_on(self):
        return self._tmux("display-message", "-p", "-t", self.target, "#{alternate_on}").strip()

    def resize(self, width, height):
        self._tmux("resize-window", "-t", self.target, "-x", str(width), "-y", str(height))

    def close(self):
        subprocess.run(["tmux", "-L", self.server, "kill-server"], capture_output=True)


# ---- reading top's screen ---------------------------------------------------

SOCK_ROW = re.compile(r"^\s*(\d+) (\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)"
                      r"\s+(\d+) ([01]) ([01])\s*$")
LAT_ROW = re.compile(r"^(hnd|req)\s+(\d+) (\S+)\s+(\S+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)\s*$")


def parse_screen(lines):
    """top's two tables: sockets by endpoint, latency by (kind, role, msg_type)."""
    sockets, latency = {}, {}
    for line in lines:
        m = SOCK_ROW.match(line)
        if m:
            sockets[m.group(4)] = {"pid": int(m.group(1)), "role": m.group(2),
                                   "type": m.group(3), "rx_rate": m.group(5),
                                   "tx_rate": m.group(6), "rxb_rate": m.group(7),
                                   "txb_rate": m.group(8), "rx_msgs": int(m.group(9)),
                                   "pending": int(m.group(10)), "active": int(m.group(11))}
            continue
        m = LAT_ROW.match(line)
        if m:
            latency[(m.group(1), m.group(3), m.group(4))] = {
                "pid": int(m.group(2)), "count": int(m.group(5)), "rate": m.group(6),
                "p50": m.group(7), "p99": m.group(8)}
    return sockets, latency


def rate_value(text):
    """Undoes top_fmt_rate / top_fmt_bytes: '12.3', '4.5K', '1.2M'."""
    scale = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
    if text == "-":
        return math.nan
    if text[-1] in scale:
        return float(text[:-1]) * scale[text[-1]]
    return float(text)


def quantile(q, buckets):
    """Prometheus' histogram_quantile over [(le, cumulative)], written independently."""
    buckets = sorted(buckets)
    total = buckets[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    lo, below = 0.0, 0.0
    for le, cum in buckets:
        if cum >= rank:
            if math.isinf(le):
                return lo
            return lo + (le - lo) * (rank - below) / (cum - below) if cum > below else le
        lo, below = le, cum
    return lo


def fmt_seconds(v):
    if math.isnan(v):
        return "-"
    if v < 1e-3:
        return f"{v * 1e6:.0f}us"
    if v < 1:
        return f"{v * 1e3:.2f}ms"
    return f"{v:.2f}s"


def short_endpoint(ep, width=15):
    ep = ep[6:] if ep.startswith("tcp://") else ep
    return ep if len(ep) <= width else "~" + ep[-(width - 1):]


def expected_tables(m):
    """What top must show for exposition m: per endpoint, and per latency series."""
    sockets = {}
    for name, labels, value in m.samples:
        if name == "zmqscope_messages_received_total":
            ep = short_endpoint(labels["endpoint"])
            sockets[ep] = sockets.get(ep, 0) + value
    latency = {}
    for kind, fam in (("hnd", "zmqscope_handler_duration_seconds"),
                      ("req", "zmqscope_request_duration_seconds")):
        series = {}
        for name, labels, value in m.samples:
            key = (kind, labels.get("role"), labels.get("msg_type"))
            if name == fam + "_bucket":
                series.setdefault(key, {"buckets": []})["buckets"].append(
                    (float(labels["le"]), value))
            elif name == fam + "_count":
                series.setdefault(key, {"buckets": []})["count"] = value
        for key, s in series.items():
            latency[key] = {"count": int(s["count"]), "p50": fmt_seconds(quantile(0.5, s["buckets"])),
                            "p99": fmt_seconds(quantile(0.99, s["buckets"]))}
    return sockets, latency


def instance_id_for(port):
    rc, out, err = run_zmqscope("status", "--json")
    check_eq(rc, 0, f"status --json ({err})")
    for inst in json.loads(out):
        if inst["status"] and inst["status"]["listen"].endswith(f":{port}"):
            return inst["id"]
    raise TestFailure(f"no instance listens on port {port}: {out[:300]}")


def wait_screen(term, pred, what, timeout=15):
    return wait_for(lambda: pred(term.screen()), timeout=timeout, interval=0.2, what=what)


def check_counts_match(term, zs, what):
    """Once traffic has stopped: every count on the screen equals /metrics."""
    want_sock, want_lat = expected_tables(zs.metrics())

    def matches(lines):
        got_sock, got_lat = parse_screen(lines)
        if {ep: s["rx_msgs"] for ep, s in got_sock.items()} != want_sock:
            return None
        shown = {k: {"count": v["count"], "p50": v["p50"], "p99": v["p99"]}
                 for k, v in got_lat.items()}
        if not shown or any(want_lat.get(k) != v for k, v in shown.items()):
            return None
        return got_sock, got_lat
    try:
        return wait_screen(term, matches, what, timeout=10)
    except TestFailure:
        raise TestFailure(f"{what}: screen {parse_screen(term.screen())} vs /metrics "
                          f"{want_sock} {want_lat}")


def test_top_reads_an_instance_in_a_terminal():
    """top ID under tmux: rates under load and counts at rest match /metrics; keys sort;
    a resize redraws; q restores the terminal."""
    ctl = Controller()
    zs = Zmqscope("--pid", str(ctl.pid))
    term = Tmux(80, 24)
    load_done = threading.Event()
    stop_load, lock, threads = threading.Event(), threading.Lock(), []
    try:
        first = ctl.load(pushes=50, requests=20, heartbeats=10)
        ident = instance_id_for(zs.port)
        term.type_line("clear; echo BEFORE-TOP")
        wait_screen(term, lambda l: "BEFORE-TOP" in l[0], "the shell")
        term.type_line(f"{zmqscope_bin()} top {ident} --interval 2")
        wait_screen(term, lambda l: l[0].startswith("zmqscope top  instance"), "top's title")
        check_eq(term.alternate_on(), "1", "top runs on the alternate screen")

        # Under load: the reply socket's rate on screen against /metrics' own delta.
        reply_ep = short_endpoint(ctl.reply)
        sent = {"push_frames": 0, "requests": 0, "heartbeats": 0}

        def load():
            # Rounds of load until told to stop: steady traffic for as long as needed.
            try:
                while not stop_load.is_set():
                    r = ctl.load(pushes=1000, push_workers=1, requests=1000, req_workers=2,
                                 heartbeats=100)
                    with lock:
                        for k in sent:
                            sent[k] += r[k]
            finally:
                load_done.set()
        # Two overlapping loops, so one's start-up gap is covered by the other.
        threads += [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
            time.sleep(0.3)  # staggered, so their rounds do not start and end together
        compared = 0
        deadline = time.monotonic() + 60
        while compared < 2 and time.monotonic() < deadline:
            # top shows the rate over its last 2 s interval, which ended at most
            # 2 s before the capture: /metrics sampled over the 4 s before it
            # brackets every 2 s window that can be.
            samples = []
            for _ in range(17):
                samples.append((time.monotonic(), zs.metrics().socket_value(
                    "zmqscope_messages_received_total", ctl.reply)))
                time.sleep(0.25)
            lines = term.screen()
            check(not load_done.is_set(), "the load stopped early")
            windows = [(samples[i + 8][1] - samples[i][1]) / (samples[i + 8][0] - samples[i][0])
                       for i in range(len(samples) - 8)]
            got, _ = parse_screen(lines)
            check(reply_ep in got, f"the reply socket on screen: {lines}")
            shown = rate_value(got[reply_ep]["rx_rate"])
            if min(windows) < 50:
                continue
            check(0.8 * min(windows) <= shown <= 1.2 * max(windows),
                  f"reply RX/s on screen {shown} vs /metrics' 2 s windows "
                  f"{min(windows):.1f}..{max(windows):.1f}")
            # The controller replies to each request: TX/s tracks RX/s.
            check(rate_value(got[reply_ep]["tx_rate"]) > 0, "reply TX/s under load")
            check(rate_value(got[reply_ep]["rxb_rate"]) > shown, "reply RXB/s under load")
            compared += 1
            print(f"    top RX/s {shown} vs /metrics {min(windows):.1f}..{max(windows):.1f}")
        stop_load.set()
        for t in threads:
            t.join(timeout=120)
        check(compared >= 1, "no moment under load to compare rates at")
        ctl.quiesce(expect_pull_frames=first["push_frames"] + sent["push_frames"],
                    expect_reply=30 + sent["requests"] + sent["heartbeats"])
        got_sock, _ = check_counts_match(term, zs, "counts at rest")
        check_eq(got_sock[reply_ep]["rx_msgs"], 20 + sent["requests"], "reply messages vs load")

        # Sorting by endpoint.
        term.send("e")
        lines = wait_screen(term, lambda l: "sort endpoint" in l[0] and l, "sort by endpoint")
        order = [row for row in (SOCK_ROW.match(x) for x in lines) if row]
        eps = [r.group(4) for r in order]
        check_eq(eps, sorted(eps), "socket rows sorted by endpoint")
        term.send("r")
        lines = wait_screen(term, lambda l: "sort endpoint rev" in l[0] and l, "reversed")
        eps = [r.group(4) for r in (SOCK_ROW.match(x) for x in lines) if r]
        check_eq(eps, sorted(eps, reverse=True), "reversed order")

        # A bigger window redraws: the key line moves to the new last row and
        # every latency series fits.
        term.resize(100, 30)
        lines = wait_screen(term, lambda l: len(l) >= 30 and l[29].startswith("q quit") and l,
                            "redraw at 100x30")
        _, want_lat = expected_tables(zs.metrics())
        check_eq(len(parse_screen(lines)[1]), len(want_lat), "latency rows at 100x30")
        term.resize(80, 24)
        wait_screen(term, lambda l: l[23].startswith("q quit"), "redraw at 80x24")
        check(all(len(x) <= 80 for x in term.screen()), "nothing wider than 80 columns")

        term.send("q")
        lines = wait_screen(term, lambda l: "BEFORE-TOP" in "\n".join(l) and l,
                            "the shell's screen back")
        check_eq(term.alternate_on(), "0", "alternate screen left")
        check(not any("zmqscope top  instance" in x or x.startswith("LAT ") for x in lines),
              f"top left nothing on the normal screen: {lines}")
    finally:
        stop_load.set()
        for t in threads:
            t.join(timeout=120)
        term.close()
        zs.close()
        ctl.close()


def test_top_attaches_by_itself():
    """top --pid attaches its own probes; its counts equal the controller's truth."""
    ctl = Controller()
    term = Tmux(80, 24)
    try:
        term.type_line(f"{zmqscope_bin()} top --pid {ctl.pid} --interval 0.5")
        wait_screen(term, lambda l: l[0].startswith("zmqscope top  attached"), "top's title")
        wait_screen(term, lambda l: "targets: 1 up" in l[1], "the target attached")
        sent = ctl.load(pushes=200, requests=40, heartbeats=10)
        truth = ctl.quiesce(expect_pull_frames=sent["push_frames"], expect_reply=50)

        def shown(lines):
            sockets, _ = parse_screen(lines)
            got = {ep: s["rx_msgs"] for ep, s in sockets.items()}
            want = {short_endpoint(ctl.pull): sent["pushes"],
                    short_endpoint(ctl.reply): 40, short_endpoint(ctl.heartbeat): 10}
            return got if all(got.get(k) == v for k, v in want.items()) else None
        try:
            wait_screen(term, shown, "top's counts to reach the load's")
        except TestFailure:
            raise TestFailure(f"screen {parse_screen(term.screen())[0]} vs sent {sent['pushes']}")
        check_eq(truth["lmcache"]["reply_socket_message_count"], 50, "fixture's own count")
        term.send("q")
        wait_screen(term, lambda l: term.alternate_on() == "0", "top to quit")
    finally:
        term.close()
        ctl.close()


def test_top_refuses_without_a_terminal():
    rc, out, err = run_zmqscope("top")
    check_eq(rc, 2, "exit code without a terminal")
    check("needs a terminal" in err and err.count("\n") == 1, f"one-line error: {err!r}")


# ---- the Grafana dashboard against a real Prometheus -------------------------

DASHBOARD = os.path.join(ROOT, "deploy", "grafana", "zmqscope.json")
PROMETHEUS_CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - {rules}
scrape_configs:
  - job_name: zmqscope
    static_configs:
      - targets: ['127.0.0.1:{port}']
"""
# The controller-state gauges of "The rest of LMCache's gauges": empty panels
# are allowed for these only while zmqscope does not export them at all.
STATE_GAUGES = ["registered_workers_count", "kv_pool_keys_count",
                "kv_op_seq_discontinuity_count", "full_sync_workers_syncing",
                "full_sync_workers_completed", "full_sync_global_progress",
                "full_sync_missing_batches_total"]
# Grafana's $__rate_interval with a 1 s scrape interval is 4 s at least; a
# wider window keeps the instant queries steady.
RATE_INTERVAL = "30s"
RULES = os.path.join(ROOT, "deploy", "prometheus", "zmqscope-rules.yml")


class LoadLoop:
    """Rounds of load.py against a controller, in threads, until stopped."""

    def __init__(self, ctl, threads=1, **opts):
        self.stop_event = threading.Event()
        self.rounds = 0
        self.errors = []
        self.threads = [threading.Thread(target=self._run, args=(ctl, opts))
                        for _ in range(threads)]
        for t in self.threads:
            t.start()

    def _run(self, ctl, opts):
        while not self.stop_event.is_set():
            try:
                ctl.load(**opts)
                self.rounds += 1
            except Exception as e:  # reported by stop()
                self.errors.append(repr(e))
                return

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=120)
        check(not self.errors, f"load failed: {self.errors}")


def prom_regex_escape(value):
    """What Grafana does to a multi-value variable's values for Prometheus."""
    return re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", value)


def substitute(expr, values):
    expr = expr.replace("$__rate_interval", RATE_INTERVAL)
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace("$" + name, values[name])
    check("$" not in expr, f"unsubstituted variable in {expr}")
    return expr


def test_dashboard_panels_return_series():
    """Every panel query of the dashboard, its variables resolved through their own
    label_values queries, returns series from a real Prometheus scraping zmqscope
    while the fixture is under load."""
    with open(DASHBOARD) as f:
        dash = json.load(f)
    ctl = Controller()
    zs = Zmqscope("--pid", str(ctl.pid))
    load = prom = None
    try:
        load = LoadLoop(ctl, pushes=400, push_workers=1, requests=400, heartbeats=40)
        with tempdir() as d:
            cfg = os.path.join(d, "prometheus.yml")
            with open(cfg, "w") as f:
                f.write(PROMETHEUS_CONFIG.format(port=zs.port, rules=RULES))
            web = free_port()
            prom = Process(["prometheus", f"--config.file={cfg}",
                            f"--storage.tsdb.path={d}/data",
                            f"--web.listen-address=127.0.0.1:{web}", "--log.level=warn"])
            api = f"http://127.0.0.1:{web}/api/v1"

            def get(path, **params):
                status, _, body = http_get(f"{api}/{path}?" + urllib.parse.urlencode(params,
                                                                                   doseq=True))
                data = json.loads(body)
                check_eq(data["status"], "success", f"{path} {params}")
                return data["data"]

            def series(expr):
                return get("query", query=expr)["result"]
            # Enough samples for rates: the handler histogram must be moving.
            wait_for(lambda: any(float(r["value"][1]) > 0 for r in series(
                f'rate(zmqscope_handler_duration_seconds_count[{RATE_INTERVAL}])')),
                timeout=60, interval=0.5, what="Prometheus to have rates")

            values = {}
            for var in dash["templating"]["list"]:
                if var["type"] != "query":
                    continue
                m = re.match(r"label_values\((.*), (\w+)\)$", var["query"]["query"])
                check(m, f"variable {var['name']}: {var['query']['query']}")
                match = substitute(m.group(1), values)
                found = sorted({s[m.group(2)] for s in get("series", **{"match[]": match})
                                if m.group(2) in s})
                check(found, f"variable ${var['name']} has no values ({match})")
                values[var["name"]] = "(" + "|".join(prom_regex_escape(v) for v in found) + ")"
                print(f"    ${var['name']}: {len(found)} values")

            exported = zs.metrics().text
            report = []
            for panel in dash["panels"]:
                if panel["type"] == "row":
                    continue
                counts = [len(series(substitute(t["expr"], values))) for t in panel["targets"]]
                status = "ok"
                if min(counts) == 0:
                    names = re.findall(r"lmcache:cache_controller_(\w+)",
                                       " ".join(t["expr"] for t in panel["targets"]))
                    allowed = names and all(n in STATE_GAUGES and
                                            f"lmcache:cache_controller_{n}" not in exported
                                            for n in names)
                    status = "allowed: not exported by zmqscope yet" if allowed else "NO SERIES"
                report.append((panel["title"], counts, status))
                print(f"    panel {panel['title']!r}: {counts} series ({status})")
            bad = [r for r in report if r[2] == "NO SERIES"]
            check(not bad, f"panels without series: {bad}")
            check(sum(1 for r in report if r[2] == "ok") >= len(report) - len(STATE_GAUGES),
                  "at most the state gauges may be empty")

            # The rules on the same real series: recordings exist, nothing alerts
            # while all is well, and a controller that exits is noticed.
            pid = str(ctl.pid)
            for record, want in (("zmqscope:messages_received:rate5m", 3),
                                 ("zmqscope:bytes_received:rate5m", 3),
                                 ("zmqscope:map_fill:ratio", 6)):
                got = wait_for(lambda: series(f'{record}{{pid=~"{pid}|"}}'), timeout=20,
                               what=f"recording rule {record}")
                check_eq(len(got), want, f"{record} series")
            p99 = wait_for(lambda: series("zmqscope:handler_duration_seconds:p99_5m"),
                           timeout=20, what="p99 recording")
            check_eq(sorted(r["metric"]["msg_type"] for r in p99), sorted(
                v for v in values["msg_type"].strip("()").split("|")), "p99 per msg_type")
            check(all(0 < float(r["value"][1]) < 0.5 for r in p99),
                  f"p99s between 0 and the alert's 0.5 s: {[r['value'][1] for r in p99]}")
            alerts = get("alerts")["alerts"]
            check_eq([a["labels"]["alertname"] for a in alerts], [], "alerts while healthy")
            load.stop()
            load = None
            ctl.close()
            alert = wait_for(lambda: [a for a in get("alerts")["alerts"]
                                      if a["labels"]["alertname"] == "ZmqscopeTargetDown"],
                             timeout=20, interval=0.5, what="ZmqscopeTargetDown")
            check_eq((alert[0]["labels"]["pid"], alert[0]["state"]), (pid, "pending"),
                     "the exited controller's alert (pending for its 1m)")
    finally:
        if load:
            load.stop()
        if prom:
            prom.stop()
        zs.close()
        ctl.close()


# ---- the Debian package -------------------------------------------------------

SNAPSHOT_ROOTS = ["/usr", "/etc", "/var/lib/dpkg/info", "/var/lib/systemd"]


def file_list():
    """Every path under the places a package can leave files (/lib is /usr/lib here)."""
    r = subprocess.run(["find", *SNAPSHOT_ROOTS, "-xdev"], capture_output=True, text=True,
                       timeout=300)
    return set(r.stdout.splitlines())


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, **kw)


def test_deb_installs_verifies_and_purges():
    """make deb's package: lintian finds no error, it installs, zmqscope --version and
    systemd-analyze verify work from it, and purging leaves no file behind."""
    state = run(["dpkg-query", "-W", "-f=${Status}", "zmqscope"])
    check("installed" not in state.stdout,
          "a zmqscope package is installed on this machine: purge it first (dpkg -P zmqscope)")
    version = run([zmqscope_bin(), "--version"]).stdout.split()[-1]
    built = run([os.path.join(ROOT, "scripts", "build-deb.sh"), os.path.dirname(zmqscope_bin()),
                 version])
    check_eq(built.returncode, 0, f"build-deb.sh: {built.stderr}")
    deb = built.stdout.strip().splitlines()[-1]
    lint = run(["lintian", "--fail-on", "error", deb])
    print("    lintian: " + (lint.stdout.strip().replace("\n", "; ") or "no tags"))
    check_eq(lint.returncode, 0, f"lintian errors: {lint.stdout}")
    control = run(["dpkg-deb", "-f", deb, "Depends"]).stdout
    for lib in ("libbpf1", "libelf1", "libmicrohttpd12", "libncurses6", "libc6"):
        check(lib in control, f"Depends names {lib}: {control}")

    before = file_list()
    installed = False
    try:
        r = run(["dpkg", "-i", deb])
        check_eq(r.returncode, 0, f"dpkg -i: {r.stderr}")
        installed = True
        listed = set(run(["dpkg", "-L", "zmqscope"]).stdout.split())
        for path in ("/usr/sbin/zmqscope", "/usr/share/man/man8/zmqscope.8.gz",
                     "/lib/systemd/system/zmqscope.service",
                     "/usr/share/bash-completion/completions/zmqscope",
                     "/usr/share/zmqscope/zmqscope.json",
                     "/usr/share/zmqscope/zmqscope-rules.yml"):
            check(path in listed and os.path.exists(path), f"{path} installed")
        r = run(["/usr/sbin/zmqscope", "--version"])
        check_eq((r.returncode, r.stdout.strip()), (0, f"zmqscope {version}"), "--version")
        r = run(["systemd-analyze", "verify", "/lib/systemd/system/zmqscope.service"])
        check_eq(r.returncode, 0, f"systemd-analyze verify: {r.stderr}")
        check("zmqscope.service" not in r.stderr, f"unit warnings: {r.stderr}")
        r = run(["man", "-w", "zmqscope"])
        check_eq(r.stdout.strip(), "/usr/share/man/man8/zmqscope.8.gz", "man finds the page")
        r = run(["promtool", "check", "rules", "/usr/share/zmqscope/zmqscope-rules.yml"])
        check_eq(r.returncode, 0, f"installed rules: {r.stdout}{r.stderr}")
        r = run(["bash", "-c", ". /usr/share/bash-completion/completions/zmqscope && "
                 "complete -p zmqscope"])
        check("_zmqscope" in r.stdout, f"completion loads: {r.stdout}{r.stderr}")
    finally:
        if installed:
            r = run(["dpkg", "--purge", "zmqscope"])
            check_eq(r.returncode, 0, f"dpkg --purge: {r.stderr}")
    after = file_list()
    check_eq(sorted(after - before), [], "files left after purge")
    check_eq(sorted(before - after), [], "files removed by install and purge")
    state = run(["dpkg-query", "-W", "-f=${Status}", "zmqscope"])
    check("installed" not in state.stdout, f"dpkg still knows it: {state.stdout}")


TESTS = [
    test_top_reads_an_instance_in_a_terminal,
    test_top_attaches_by_itself,
    test_top_refuses_without_a_terminal,
    test_dashboard_panels_return_series,
    test_deb_installs_verifies_and_purges,
]
