"""The HTTP endpoint under hostile clients (issue 12, defect 12: slowloris).

A slowloris client opens many connections and sends one header line at a
time, never finishing a request.  libmicrohttpd's timeout is an idle one, so
each trickled byte used to keep a slot forever.  These tests run the attack
on loopback for a bounded time and scrape from another loopback address
meanwhile.
"""

import http.client
import resource
import selectors
import socket
import time

from harness import Metrics, TestFailure, Zmqscope, check, check_eq, wait_for

# Mirrors include/http_guard.h.
PER_IP = 16
TOTAL = 256
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

    `probe`: an address that never scraped before; its attempts are recorded
    as refused or answered.  Returns (attacker, scrapes, probes).
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
                        probes.append(scrape(zs.port, probe)[0])
                    except (OSError, http.client.HTTPException):
                        probes.append("refused")
                next_scrape = time.monotonic() + 0.5
        still = loris.still_open()
        return loris, scrapes, probes, still
    finally:
        loris.close()


def check_scrapes(scrapes):
    check(len(scrapes) >= 20, f"only {len(scrapes)} scrapes in {ATTACK_S}s")
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
    """20 addresses fill the server; the scraper seen before still gets in, a stranger not."""
    zs = Zmqscope(*NO_TARGET, wait_targets=0)
    attackers = [f"127.0.0.{i}" for i in range(10, 30)]
    check(len(attackers) * PER_IP > TOTAL, "the attack can fill the server")
    try:
        # The scraper has scraped before the attack, as Prometheus would have.
        status, _, body = wait_for(lambda: scrape(zs.port, "127.0.0.2"),
                                   what="a first scrape")
        check_eq(status, 200, "first scrape")
        loris, scrapes, probes, still = attack(zs, attackers, PER_IP, "127.0.0.2",
                                               probe="127.0.0.3")
        worst = check_scrapes(scrapes)
        held = sum(loris.max_held.values())
        check(held >= TOTAL - 32 - len(attackers),
              f"the attackers held only {held} connections; the server was not full")
        refused = probes.count("refused")
        check(refused >= 1, f"a new address was never refused while the server was full: "
              f"{probes}")
        check_deadline(loris, still)
        print(f"    attackers held up to {held} connections, {len(scrapes)} scrapes, slowest "
              f"{worst:.3f}s, stranger refused {refused}/{len(probes)}")
    finally:
        zs.close()


TESTS = [
    test_slowloris_from_one_address,
    test_slowloris_from_many_addresses_leaves_room_for_scrapers,
]
