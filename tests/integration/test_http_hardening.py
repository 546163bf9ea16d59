"""The HTTP endpoint under hostile clients, and secured (issue 12).

Slowloris (defect 12): a client opens many connections and sends one header
line at a time, never finishing a request.  libmicrohttpd's timeout is an
idle one, so each trickled byte used to keep a slot forever.  These tests run
the attack on loopback for a bounded time and scrape from another loopback
address meanwhile.

--web.config.file: TLS, mTLS and basic auth in the exporter-toolkit format,
checked with a real Prometheus, openssl-made certificates and htpasswd-made
bcrypt hashes.
"""

import base64
import http.client
import json
import os
import resource
import selectors
import socket
import ssl
import subprocess
import time

from harness import (Controller, Metrics, Process, TestFailure, Zmqscope, check, check_eq,
                     free_port, http_get, lmcache, run_zmqscope, tempdir, wait_for)

# Mirrors include/http_guard.h.
PER_IP = 16
TOTAL = 512
RESERVED = 64
DEADLINE_S = 10

ATTACK_S = 20.0
TRICKLE_S = 1.0       # well inside the 10 s idle timeout: only the deadline ends these
SCRAPE_TIMEOUT_S = 3.0
NO_TARGET = ["--name", "^zmqscope-hardening-matches-nothing$"]


def raise_fd_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Slowloris:
    """Keeps `per_address` connections open from each address, trickling headers.

    A connection the server closes is opened again (at most `reopen_per_tick`
    a tick), as a real attacker would.  Records each connection's lifetime.
    """

    def __init__(self, port, addresses, per_address, reopen_per_tick=20):
        self.port = port
        self.sel = selectors.DefaultSelector()
        self.want = {a: per_address for a in addresses}
        self.open = {a: 0 for a in addresses}
        self.reopen_per_tick = reopen_per_tick
        self.lifetimes = []      # (address, seconds) of connections the server ended
        self.max_held = {a: 0 for a in addresses}   # concurrently alive > 1 s
        self.max_held_total = 0
        self.opened = 0
        self.next_refill = 0.0
        self.budget = 0

    def _open(self, addr):
        s = socket.socket()
        s.setblocking(True)
        s.bind((addr, 0))
        s.settimeout(1.0)
        try:
            s.connect(("127.0.0.1", self.port))
        except OSError:
            s.close()
            return
        s.setblocking(False)
        try:
            s.send(b"GET /metrics HTTP/1.1\r\nHost: zmqscope\r\n")
        except OSError:
            s.close()
            return
        now = time.monotonic()
        self.sel.register(s, selectors.EVENT_READ, {"addr": addr, "opened": now, "sent": now})
        self.open[addr] += 1
        self.opened += 1

    def _closed(self, key, now):
        d = key.data
        self.sel.unregister(key.fileobj)
        key.fileobj.close()
        self.open[d["addr"]] -= 1
        self.lifetimes.append((d["addr"], now - d["opened"]))

    def tick(self):
        # Refused connections come back at once: cap the reconnect rate.
        if time.monotonic() >= self.next_refill:
            self.budget = self.reopen_per_tick
            self.next_refill = time.monotonic() + 0.1
        for addr, n in self.want.items():
            while self.open[addr] < n and self.budget > 0:
                self._open(addr)
                self.budget -= 1
        for key, _ in self.sel.select(timeout=0.05):
            try:
                data = key.fileobj.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                self._closed(key, time.monotonic())
        now = time.monotonic()
        held = {a: 0 for a in self.want}
        for key in list(self.sel.get_map().values()):
            d = key.data
            if now - d["opened"] > 1.0:
                held[d["addr"]] += 1
            if now - d["sent"] >= TRICKLE_S:
                try:
                    key.fileobj.send(b"X-Trickle: a\r\n")
                    d["sent"] = now
                except OSError:
                    self._closed(key, now)
        for a, n in held.items():
            self.max_held[a] = max(self.max_held[a], n)
        self.max_held_total = max(self.max_held_total, sum(held.values()))

    def still_open(self):
        now = time.monotonic()
        return [(k.data["addr"], now - k.data["opened"]) for k in self.sel.get_map().values()]

    def close(self):
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()
        self.sel.close()


def scrape(port, source, path="/metrics"):
    """One GET from `source`: (status, seconds, body)."""
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=SCRAPE_TIMEOUT_S,
                                   source_address=(source, 0))
    try:
        c.request("GET", path)
        r = c.getresponse()
        body = r.read().decode()
        return r.status, time.monotonic() - t0, body
    finally:
        c.close()


def attack(zs, addresses, per_address, scraper, probe=None):
    """Runs the slowloris for ATTACK_S while `scraper` scrapes every 0.5 s.

    `probe`: an address that never scrapes; its /healthz attempts are
    recorded as refused or answered.  Returns (attacker, scrapes, probes).
    """
    raise_fd_limit()
    loris = Slowloris(zs.port, addresses, per_address)
    scrapes, probes = [], []
    next_scrape = time.monotonic() + 1.0
    end = time.monotonic() + ATTACK_S
    try:
        while time.monotonic() < end:
            loris.tick()
            if time.monotonic() >= next_scrape:
                try:
                    status, took, body = scrape(zs.port, scraper)
                    Metrics(body)
                    scrapes.append((status, took))
                except (OSError, http.client.HTTPException) as e:
                    scrapes.append((repr(e), None))
                if probe:
                    try:
                        # /healthz: a probe that got in must not earn the reserve itself.
                        probes.append(scrape(zs.port, probe, "/healthz")[0])
                    except (OSError, http.client.HTTPException):
                        probes.append("refused")
                next_scrape = time.monotonic() + 0.5
        still = loris.still_open()
        return loris, scrapes, probes, still
    finally:
        loris.close()


def check_scrapes(scrapes, least=20):
    check(len(scrapes) >= least, f"only {len(scrapes)} scrapes: {scrapes[:3]}")
    failed = [s for s in scrapes if s[0] != 200]
    check(not failed, f"{len(failed)} of {len(scrapes)} scrapes failed during the attack: "
          f"{failed[:3]}")
    worst = max(t for _, t in scrapes)
    check(worst < SCRAPE_TIMEOUT_S, f"slowest scrape took {worst:.2f}s")
    return worst


def check_deadline(loris, still):
    """Trickled connections lived, then died at the whole-request deadline."""
    held = [t for _, t in loris.lifetimes if t > 1.0] + [t for _, t in still]
    check(held, "no attacker connection was ever held open (the attack did not happen)")
    longest = max(held)
    check(longest <= DEADLINE_S + 3,
          f"an attacker connection trickling every {TRICKLE_S}s lived {longest:.1f}s; "
          f"the deadline is {DEADLINE_S}s")
    ended = [t for _, t in loris.lifetimes if t > 1.0]
    check(ended and min(ended) >= DEADLINE_S - 1,
          f"held connections ended before the deadline: {sorted(ended)[:5]}")
    return longest


def test_slowloris_from_one_address():
    """520 trickling connections from 127.0.0.1; scrapes from 127.0.0.2 all succeed."""
    zs = Zmqscope(*NO_TARGET, wait_targets=0)
    try:
        wait_for(lambda: scrape(zs.port, "127.0.0.2", "/healthz")[0] == 200,
                 what="zmqscope to serve")
        loris, scrapes, _, still = attack(zs, ["127.0.0.1"], 520, "127.0.0.2")
        worst = check_scrapes(scrapes)
        check_eq(loris.max_held["127.0.0.1"] <= PER_IP, True,
                 f"at most {PER_IP} connections held from one address "
                 f"(saw {loris.max_held['127.0.0.1']})")
        check(loris.max_held["127.0.0.1"] >= PER_IP // 2,
              f"the attacker held only {loris.max_held['127.0.0.1']} connections")
        longest = check_deadline(loris, still)
        print(f"    {loris.opened} attacker connections, {len(scrapes)} scrapes, slowest "
              f"{worst:.3f}s, longest attacker connection {longest:.1f}s")
        check(zs.process.alive(), "zmqscope survived")
    finally:
        zs.close()


def test_slowloris_from_many_addresses_leaves_room_for_scrapers():
    """40 addresses fill the server; the scraper seen before still gets in, a stranger not."""
    zs = Zmqscope(*NO_TARGET, wait_targets=0)
    attackers = [f"127.0.0.{i}" for i in range(10, 50)]
    check(len(attackers) * PER_IP > TOTAL, "the attack can fill the server")
    try:
        # The scraper has scraped before the attack, as Prometheus would have.
        status, _, body = wait_for(lambda: scrape(zs.port, "127.0.0.2"),
                                   what="a first scrape")
        check_eq(status, 200, "first scrape")
        loris, scrapes, probes, still = attack(zs, attackers, PER_IP, "127.0.0.2",
                                               probe="127.0.0.3")
        worst = check_scrapes(scrapes)
        held = loris.max_held_total
        check(held >= TOTAL - RESERVED - len(attackers),
              f"the attackers held only {held} connections; the server was not full")
        refused = probes.count("refused")
        check(refused >= 1, f"a new address was never refused while the server was full: "
              f"{probes}")
        check_deadline(loris, still)
        print(f"    attackers held up to {held} connections, {len(scrapes)} scrapes, slowest "
              f"{worst:.3f}s, stranger refused {refused}/{len(probes)}")
    finally:
        zs.close()


# ---- --web.config.file -----------------------------------------------------

USER, PASSWORD = "prometheus", "scrape-pass"


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    check_eq(r.returncode, 0, f"openssl {' '.join(args[:2])}: {r.stderr[-500:]}")


def make_pki(d):
    """A server certificate for 127.0.0.1, a client CA, a client it signed, and a stranger."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2"]
    openssl("req", "-x509", *ec, "-subj", "/CN=zmqscope", "-addext",
            "subjectAltName=IP:127.0.0.1", "-keyout", "server.key", "-out", "server.crt", cwd=d)
    openssl("req", "-x509", *ec, "-subj", "/CN=zmqscope-test-ca", "-keyout", "ca.key",
            "-out", "ca.crt", cwd=d)
    openssl("req", *ec[:5], "-subj", "/CN=prometheus", "-keyout", "client.key", "-out",
            "client.csr", cwd=d)
    openssl("x509", "-req", "-in", "client.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", "client.crt", cwd=d)
    openssl("req", "-x509", *ec, "-subj", "/CN=prometheus", "-keyout", "rogue.key", "-out",
            "rogue.crt", cwd=d)


def bcrypt_hash(password):
    """htpasswd's bcrypt (apr-util's implementation, independent of libxcrypt)."""
    r = subprocess.run(["htpasswd", "-nbB", "-C", "8", USER, password], capture_output=True,
                       text=True)
    check_eq(r.returncode, 0, f"htpasswd: {r.stderr}")
    h = r.stdout.strip().split(":", 1)[1]
    check(h.startswith("$2y$08$"), f"htpasswd made a bcrypt hash: {h}")
    return h


def https(port, path, d, auth=None, cert=None, timeout=5.0):
    """GET over TLS, verifying the server against server.crt: (status, headers, body)."""
    ctx = ssl.create_default_context(cafile=os.path.join(d, "server.crt"))
    if cert:
        ctx.load_cert_chain(os.path.join(d, cert + ".crt"), os.path.join(d, cert + ".key"))
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ctx)
    headers = {}
    if auth:
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"{auth[0]}:{auth[1]}".encode()).decode()
    try:
        c.request("GET", path, headers=headers)
        r = c.getresponse()
        return r.status, dict(r.headers), r.read().decode()
    finally:
        c.close()


def refused(fn):
    """fn() must fail below HTTP: no status line ever comes back."""
    try:
        got = fn()
    except (OSError, ssl.SSLError, http.client.HTTPException) as e:
        return type(e).__name__
    raise TestFailure(f"expected the connection to fail, got {got[:2]}")


PROMETHEUS_TLS_CONFIG = """
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: zmqscope
    scheme: https
    tls_config: {{ca_file: '{d}/server.crt'}}
    basic_auth: {{username: '{user}', password: '{password}'}}
    static_configs:
      - targets: ['127.0.0.1:{port}']
  - job_name: wrong_password
    scheme: https
    tls_config: {{ca_file: '{d}/server.crt'}}
    basic_auth: {{username: '{user}', password: 'not-{password}'}}
    static_configs:
      - targets: ['127.0.0.1:{port}']
"""


def test_prometheus_scrapes_over_tls_with_basic_auth():
    """A real Prometheus scrapes over TLS with basic auth; wrong or no password gets 401."""
    ctl = Controller()
    zs = prom = None
    with tempdir() as d:
        try:
            make_pki(d)
            with open(os.path.join(d, "web.yml"), "w") as f:
                f.write("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                        f"basic_auth_users:\n  {USER}: '{bcrypt_hash(PASSWORD)}'\n")
            zs = Zmqscope("--pid", str(ctl.pid), args=["--web.config.file", f"{d}/web.yml"],
                          wait_targets=0)

            def scope():
                status, _, body = https(zs.port, "/metrics", d, auth=(USER, PASSWORD))
                check_eq(status, 200, "authorized /metrics")
                return Metrics(body)
            wait_for(lambda: scope().total("zmqscope_target_up") >= 1, timeout=30,
                     what="zmqscope to attach, seen over TLS")
            sent = ctl.load(pushes=300, requests=40, heartbeats=20)
            ctl.quiesce(expect_pull_frames=sent["push_frames"], expect_reply=60)

            status, headers, body = https(zs.port, "/metrics", d, auth=(USER, "wrong"))
            check_eq(status, 401, "wrong password")
            check(headers.get("WWW-Authenticate", "").startswith("Basic "),
                  f"401 asks for Basic auth: {headers}")
            check("zmqscope_" not in body, "no metrics in the 401")
            check_eq(https(zs.port, "/metrics", d, auth=("nobody", PASSWORD))[0], 401,
                     "unknown user")
            check_eq(https(zs.port, "/metrics", d)[0], 401, "no credentials")
            check_eq(https(zs.port, "/", d)[0], 401, "the index needs auth too")
            check_eq(https(zs.port, "/healthz", d)[:3:2], (200, "ok\n"),
                     "/healthz answers without auth")
            why = refused(lambda: http_get(f"http://127.0.0.1:{zs.port}/metrics"))
            check(zs.process.alive(), "plain HTTP to the TLS port leaves zmqscope up")

            cfg = os.path.join(d, "prometheus.yml")
            with open(cfg, "w") as f:
                f.write(PROMETHEUS_TLS_CONFIG.format(port=zs.port, d=d, user=USER,
                                                     password=PASSWORD))
            web = free_port()
            prom = Process(["prometheus", f"--config.file={cfg}",
                            f"--storage.tsdb.path={d}/data",
                            f"--web.listen-address=127.0.0.1:{web}", "--log.level=warn"])

            def query(expr):
                _, _, out = http_get(f"http://127.0.0.1:{web}/api/v1/query?query={expr}")
                return {r["metric"].get("__name__", expr): float(r["value"][1])
                        for r in json.loads(out)["data"]["result"]}

            expected = lmcache(scope(), ctl.pid)
            check_eq(expected["pull_socket_message_count"], sent["push_frames"],
                     "zmqscope's pull frames against the fixture's")
            for name, want in expected.items():
                full = f"lmcache:cache_controller_{name}"
                got = wait_for(lambda: query(f'{full}{{pid="{ctl.pid}",job="zmqscope"}}'),
                               timeout=30, what=f"Prometheus to have {full}")
                check_eq(list(got.values()), [want], f"Prometheus' {full}")
            check_eq(list(wait_for(lambda: query('up{job="zmqscope"}'),
                                   what="up").values()), [1.0], "the TLS+auth job is up")
            check_eq(list(wait_for(lambda: query('up{job="wrong_password"}'),
                                   what="up").values()), [0.0], "the wrong password job is down")
            print(f"    Prometheus read {len(expected)} gauges over TLS; plain HTTP: {why}")
        finally:
            if prom:
                prom.stop()
            if zs:
                zs.close()
            ctl.close()


def test_mtls_rejects_clients_without_a_valid_cert():
    """client_ca_file + RequireAndVerifyClientCert: no cert, or a cert from elsewhere, fails."""
    with tempdir() as d:
        make_pki(d)
        with open(os.path.join(d, "web.yml"), "w") as f:
            f.write("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
                    "  client_ca_file: ca.crt\n  client_auth_type: RequireAndVerifyClientCert\n")
        zs = Zmqscope(*NO_TARGET, args=["--web.config.file", f"{d}/web.yml"], wait_targets=0)
        try:
            status, _, body = wait_for(lambda: https(zs.port, "/metrics", d, cert="client"),
                                       what="zmqscope to serve over mTLS")
            check_eq(status, 200, "a client with a certificate from the CA")
            Metrics(body)
            no_cert = refused(lambda: https(zs.port, "/metrics", d))
            rogue = refused(lambda: https(zs.port, "/metrics", d, cert="rogue"))
            refused(lambda: https(zs.port, "/healthz", d))
            check_eq(https(zs.port, "/healthz", d, cert="client")[0], 200, "/healthz with a cert")
            check(zs.process.alive(), "zmqscope is up")
            print(f"    no certificate: {no_cert}; a self-signed one: {rogue}")
        finally:
            zs.close()


def curl_scrape(port, source, user, password):
    """One scrape by curl, a process of its own (the flood's threads share this one's GIL)."""
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                        "--interface", source, "--max-time", str(SCRAPE_TIMEOUT_S),
                        "-u", f"{user}:{password}", f"http://127.0.0.1:{port}/metrics"],
                       capture_output=True, text=True)
    code, took = r.stdout.split() if r.returncode == 0 else (f"curl exit {r.returncode}", None)
    return (int(code), float(took)) if took else (code, None)


# The guessers run in a process of their own: 64 threads in this one would
# starve the test's own thread of the GIL.
GUESSER = r"""
import base64, http.client, json, sys, threading, time
port, seconds, user = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
stop, counts, lock = time.monotonic() + seconds, {}, threading.Lock()

def guess(source, n):
    c = None
    while time.monotonic() < stop:
        try:
            if c is None:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5,
                                               source_address=(source, 0))
            auth = base64.b64encode(f"{user}:guess{n}".encode()).decode()
            c.request("GET", "/metrics", headers={"Authorization": "Basic " + auth})
            r = c.getresponse()
            r.read()
            status, n = str(r.status), n + 1
        except (OSError, http.client.HTTPException):
            status = "error"
            if c:
                c.close()
            c = None
            time.sleep(0.05)
        with lock:
            counts[status] = counts.get(status, 0) + 1

threads = [threading.Thread(target=guess, args=(f"127.0.0.{10 + i // 8}", i * 100000))
           for i in range(64)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(counts))
"""


def test_wrong_password_flood_does_not_starve_scrapes():
    """64 keep-alive clients guessing passwords; Prometheus' scrapes still get through."""
    FLOOD_S = 12.0
    with tempdir() as d:
        with open(os.path.join(d, "web.yml"), "w") as f:
            # Cost 10, htpasswd's default: about 65 ms per check on the test VM.
            h = subprocess.run(["htpasswd", "-nbB", "-C", "10", USER, PASSWORD],
                               capture_output=True, text=True, check=True).stdout.strip()
            f.write(f"basic_auth_users:\n  {USER}: '{h.split(':', 1)[1]}'\n")
        zs = Zmqscope(*NO_TARGET, args=["--web.config.file", f"{d}/web.yml"], wait_targets=0)
        guesser = None
        try:
            # Prometheus has scraped before: its password is known good.
            wait_for(lambda: curl_scrape(zs.port, "127.0.0.2", USER, PASSWORD)[0] == 200,
                     what="a first scrape")
            started = time.monotonic()
            guesser = subprocess.Popen(["/usr/bin/python3", "-c", GUESSER, str(zs.port),
                                        str(FLOOD_S), USER], stdout=subprocess.PIPE, text=True)
            time.sleep(1.0)
            scrapes = []
            while time.monotonic() - started < FLOOD_S - 0.5:
                scrapes.append(curl_scrape(zs.port, "127.0.0.2", USER, PASSWORD))
                time.sleep(0.5)
            out, _ = guesser.communicate(timeout=30)
            counts = json.loads(out)
            took = time.monotonic() - started
            worst = check_scrapes(scrapes, least=10)
            check(counts.get("429", 0) > counts.get("401", 0),
                  f"the guesses were not throttled: {counts}")
            check(set(counts) <= {"401", "429", "error"}, f"a wrong password got in: {counts}")
            print(f"    guesses answered {counts} in {took:.1f}s; {len(scrapes)} scrapes, "
                  f"slowest {worst:.3f}s")
        finally:
            if guesser and guesser.poll() is None:
                guesser.kill()
                guesser.wait()
            zs.close()


def test_bad_web_config_exits_before_attaching():
    """A bad --web.config.file is one line on stderr and exit 1, before any probe."""
    ctl = Controller()
    try:
        with tempdir() as d:
            make_pki(d)
            cases = {
                "tls_server_config:\n  cert_file: server.crt\n  keyfile: server.key\n":
                    "unknown key 'tls_server_config.keyfile'",
                "tls_server_config:\n  cert_file: server.crt\n  key_file: ca.key\n":
                    "not a PEM certificate and its private key",
                "basic_auth_users:\n  prometheus: secret\n":
                    "the hash of 'prometheus' is not bcrypt",
                "tls_server_config:\n  cert_file: gone.crt\n  key_file: server.key\n":
                    "gone.crt': No such file or directory",
            }
            for text, want in cases.items():
                with open(os.path.join(d, "web.yml"), "w") as f:
                    f.write(text)
                for cmd in ("run", "start"):
                    rc, out, err = run_zmqscope(cmd, "--pid", str(ctl.pid), "--listen",
                                                f"127.0.0.1:{free_port()}", "--web.config.file",
                                                f"{d}/web.yml", timeout=20)
                    check_eq(rc, 1, f"{cmd} exit code for {want!r} ({err})")
                    lines = err.strip().splitlines()
                    check(len(lines) == 1 and want in lines[0] and "--web.config.file" in lines[0],
                          f"{cmd}: one line saying {want!r}: {err!r}")
                    check("attached" not in err, f"{cmd} attached nothing")
    finally:
        ctl.close()


TESTS = [
    test_slowloris_from_one_address,
    test_slowloris_from_many_addresses_leaves_room_for_scrapers,
    test_prometheus_scrapes_over_tls_with_basic_auth,
    test_mtls_rejects_clients_without_a_valid_cert,
    test_wrong_password_flood_does_not_starve_scrapes,
    test_bad_web_config_exits_before_attaching,
]
