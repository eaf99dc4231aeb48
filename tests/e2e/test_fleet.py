# SPDX-License-Identifier: MIT
"""A fleet of gateways sharing replay, bans and grants through a real Redis.

Every test starts its own redis-server on loopback (a free port, no
persistence, its own directory) and two postern servers with [fleet]
pointing at it. Redis is killed by pid with the other processes.
"""
import json
import re
import socket
import threading
import time

from conftest import (echo_roundtrip, forward_spec, free_port, have_ipv6, probe, run,
                      wait_until)
from test_spa import FILTERED_S, KNOCK, TUNNEL, knock_cmd, net  # noqa: F401 (net: a fixture)

REDIS = "/usr/bin/redis-server"


class Redis:
    def __init__(self, procs, tmp, port=None, name="redis", password=None):
        self.procs, self.tmp, self.password = procs, tmp, password
        self.port = port or free_port()
        self.name = name
        self.proc = None
        self.start()

    def start(self):
        d = self.tmp / f"{self.name}-dir"
        d.mkdir(exist_ok=True)
        self.proc = self.procs.start(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(d), "--protected-mode", "no",
             *(["--requirepass", self.password] if self.password else [])], self.name)
        self.proc.wait_for_log(r"Ready to accept connections", timeout=10)

    def stop(self):
        self.proc.kill()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"


def fleet_key(pg):
    """The key every gateway of the test's fleet shares (made once per test)."""
    path = pg.tmp / "fleet.key"
    return path if path.exists() else pg.keygen("fleet.key")


def gateway(pg, tmp, key, redis_url, name, extra=(), **kw):
    ctl = tmp / f"{name}.ctl"
    srv = pg.start_server(key=key, name=name, extra=[
        "--fleet-redis", redis_url, "--fleet-name", name, "--fleet-key", str(fleet_key(pg)),
        "--control", str(ctl), *extra], **kw)
    srv.ctl = ctl
    return srv


def status(pg, srv):
    r = run([pg.bin, "status", "--control", srv.ctl, "--json"])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def fleet_state(pg, srv):
    return status(pg, srv)["fleet"]["state"]


def wait_up(pg, *srvs):
    for s in srvs:
        wait_until(lambda: fleet_state(pg, s) == "up", timeout=10, what=f"{s.name}: fleet up")


def assert_silent_reset(srv, data, reason, source="127.0.0.1"):
    got, outcome, lport = probe(srv.addr, data, source=source, timeout=20)
    assert got == b"", f"server answered {len(got)} bytes"
    assert outcome == "reset", f"expected a reset, got {outcome}"
    peer = f"[{source}]" if ":" in source else source
    return srv.wait_for_log(r"refused peer=%s:%d reason=\"?%s" % (
        re.escape(peer), lport, re.escape(reason)))


def capture_first_message(pg, srv, key, relays, echo_server):
    """A real client's first message to ${srv}, captured by a relay."""
    captured = []
    relay = relays(srv.addr, first_hook=lambda i, d, m: d == "c2s" and captured.append(m))
    cli = pg.start_client(server=relay.addr, key=key, name=f"client-{srv.name}",
                          forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
    wait_until(lambda: captured, what="the client's first message")
    return captured[0], cli


def test_first_message_accepted_at_a_is_refused_at_b(pg, tmp, procs, relays, echo_server):
    redis = Redis(procs, tmp)
    key = pg.keygen()
    a = gateway(pg, tmp, key, redis.url, "gw-a", reject_delay="1-2", ban_threshold=1000)
    b = gateway(pg, tmp, key, redis.url, "gw-b", reject_delay="1-2", ban_threshold=1000)
    wait_up(pg, a, b)
    msg1, cli = capture_first_message(pg, a, key, relays, echo_server)
    a.wait_for_log(r"session authenticated .*key=default$")
    echo_roundtrip(("127.0.0.1", cli.listen[0][1]), 4096)
    assert_silent_reset(b, msg1, "replayed (accepted by another gateway")
    assert b.count(r"session authenticated") == 0
    st = status(pg, b)["fleet"]
    assert st["state"] == "up" and st["replays"] == 1 and st["name"] == "gw-b"
    text = run([pg.bin, "status", "--control", b.ctl])
    assert re.search(r"^fleet up name gw-b since \d+ s claims 1 replays 1 ", text.stdout, re.M), \
        text.stdout
    m = run([pg.bin, "metrics", "--control", b.ctl]).stdout
    assert "postern_fleet_up 1" in m and 'postern_fleet_claims_total{result="replay"} 1' in m, m
    assert 'postern_refusals_total{reason="replay"} 1' in m, m


def test_unix_socket_url(pg, tmp, procs, relays, echo_server):
    sock = tmp / "redis.sock"
    d = tmp / "redis-unix"
    d.mkdir()
    redis = procs.start([REDIS, "--port", "0", "--unixsocket", str(sock), "--save", "",
                         "--appendonly", "no", "--dir", str(d)], "redis")
    redis.wait_for_log(r"ready to accept connections at ", timeout=10)
    key = pg.keygen()
    a = gateway(pg, tmp, key, f"unix:{sock}", "gw-a", reject_delay="1-2", ban_threshold=1000)
    b = gateway(pg, tmp, key, f"unix:{sock}", "gw-b", reject_delay="1-2", ban_threshold=1000)
    wait_up(pg, a, b)
    msg1, _ = capture_first_message(pg, a, key, relays, echo_server)
    a.wait_for_log(r"session authenticated")
    assert_silent_reset(b, msg1, "replayed (accepted by another gateway")


def test_ban_at_a_applies_at_b_within_a_second(pg, tmp, procs):
    redis = Redis(procs, tmp)
    key = pg.keygen()
    kw = dict(reject_delay="1", ban_threshold=2, ban_window=60, ban_time=60)
    a = gateway(pg, tmp, key, redis.url, "gw-a", **kw)
    b = gateway(pg, tmp, key, redis.url, "gw-b", **kw)
    wait_up(pg, a, b)
    junk = bytes(range(160))
    threads = [threading.Thread(target=probe, args=(a.addr, junk, "127.0.0.2", 20))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    a.wait_for_log(r"banned source=127\.0\.0\.2 ")
    banned_at = time.monotonic()
    b.wait_for_log(r"banned source=127\.0\.0\.2 seconds=\d+ origin=gw-a", timeout=5)
    assert time.monotonic() - banned_at < 1.0, "the ban reached B later than a second"
    assert_silent_reset(b, junk, "banned", source="127.0.0.2")
    assert "127.0.0.2" in json.dumps(status(pg, b)["bans"])
    # A gateway that joins later takes the live ban from Redis (resync).
    c = gateway(pg, tmp, key, redis.url, "gw-c", **kw)
    c.wait_for_log(r"banned source=127\.0\.0\.2 seconds=\d+ origin=gw-a", timeout=5)


def test_ipv6_ban_is_shared_by_its_64(pg, tmp, procs):
    assert have_ipv6(), "the fleet tests need IPv6 on loopback"
    redis = Redis(procs, tmp)
    key = pg.keygen()
    kw = dict(host="::1", reject_delay="1", ban_threshold=1, ban_window=60, ban_time=60)
    a = gateway(pg, tmp, key, redis.url, "gw-a", **kw)
    b = gateway(pg, tmp, key, redis.url, "gw-b", **kw)
    wait_up(pg, a, b)
    probe(a.addr, bytes(range(160)), "::1", 20)
    a.wait_for_log(r"banned source=::/64 ")
    b.wait_for_log(r"banned source=::/64 seconds=\d+ origin=gw-a", timeout=5)
    assert_silent_reset(b, bytes(range(160)), "banned", source="::1")


def test_redis_down_then_back(pg, tmp, procs, relays, echo_server):
    redis = Redis(procs, tmp)
    key = pg.keygen()
    a = gateway(pg, tmp, key, redis.url, "gw-a", reject_delay="1-2", ban_threshold=1000)
    b = gateway(pg, tmp, key, redis.url, "gw-b", reject_delay="1-2", ban_threshold=1000)
    wait_up(pg, a, b)
    msg1, cli = capture_first_message(pg, a, key, relays, echo_server)
    a.wait_for_log(r"session authenticated")
    lport = cli.listen[0][1]

    redis.stop()
    wait_until(lambda: fleet_state(pg, a) == "degraded", timeout=5, what="A degraded")
    a.wait_for_log(r"fleet degraded: serving from local state")
    # The established session still carries data; new sessions are still accepted.
    echo_roundtrip(("127.0.0.1", lport), 64 * 1024)
    cli2 = pg.start_client(server=a, key=key, name="client-down",
                           forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
    echo_roundtrip(("127.0.0.1", cli2.listen[0][1]), 4096)
    assert status(pg, a)["fleet"]["local"] >= 1
    assert a.count(r"fleet degraded") == 1, "the degradation is logged once"

    redis.start()
    wait_up(pg, a, b)
    # A fresh capture: the first one is in no Redis any more (it restarted empty).
    msg2, cli3 = capture_first_message(pg, a, key, relays, echo_server)
    wait_until(lambda: a.count(r"session authenticated") >= 3, what="the third session")
    assert_silent_reset(b, msg2, "replayed (accepted by another gateway")
    echo_roundtrip(("127.0.0.1", lport), 4096)


class SlowProxy:
    """TCP proxy to ${target} that holds every chunk ${delay} seconds."""

    def __init__(self, target, delay):
        self.target, self.delay = target, delay
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(16)
        self.port = self.ls.getsockname()[1]
        self.socks = []
        self.stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stop:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                u = socket.create_connection(self.target, timeout=5)
            except OSError:
                c.close()
                continue
            self.socks += [c, u]
            for src, dst in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src, dst):
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    break
                time.sleep(self.delay)
                dst.sendall(d)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass

    def close(self):
        self.stop = True
        self.ls.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def test_slow_redis_does_not_stall_handshakes_or_tunnels(pg, tmp, procs, echo_server):
    redis = Redis(procs, tmp)
    proxy = SlowProxy(("127.0.0.1", redis.port), 0)
    try:
        key = pg.keygen()
        url = f"redis://127.0.0.1:{proxy.port}/0"
        a = gateway(pg, tmp, key, url, "gw-a", extra=["--fleet-timeout", "200"],
                    reject_delay="2-3", ban_threshold=1000)
        wait_up(pg, a)
        cli = pg.start_client(server=a, key=key, name="client-1",
                              forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
        lport = cli.listen[0][1]
        # From now on Redis answers 0.6 s late: more than the fleet timeout.
        proxy.delay = 0.6
        stop = threading.Event()
        worst = [0.0]

        def pinger():
            while not stop.is_set():
                t = time.monotonic()
                echo_roundtrip(("127.0.0.1", lport), 1024)
                worst[0] = max(worst[0], time.monotonic() - t)
                time.sleep(0.02)

        th = threading.Thread(target=pinger, daemon=True)
        th.start()
        try:
            for i in range(4):
                t = time.monotonic()
                c = pg.start_client(server=a, key=key, name=f"client-n{i}",
                                    forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
                # Judged within the pre-auth bound (the reject delay), not held by Redis.
                assert time.monotonic() - t < 2.0 + 1.0
                echo_roundtrip(("127.0.0.1", c.listen[0][1]), 1024)
                c.stop()
        finally:
            stop.set()
            th.join(10)
        assert worst[0] < 0.5, f"an echo on another tunnel took {worst[0]:.2f} s"
        st = status(pg, a)["fleet"]
        assert st["timeouts"] >= 1 and st["local"] >= 1, st
        assert st["state"] == "degraded"
        assert a.count(r"fleet degraded") == 1
    finally:
        proxy.close()


def test_fail_closed_refuses_while_redis_is_down(pg, tmp, procs):
    redis = Redis(procs, tmp)
    key = pg.keygen()
    a = gateway(pg, tmp, key, redis.url, "gw-a", extra=["--fleet-fail-closed", "yes"],
                reject_delay="1", ban_threshold=1000)
    wait_up(pg, a)
    redis.stop()
    wait_until(lambda: fleet_state(pg, a) == "degraded", timeout=5, what="A degraded")
    assert status(pg, a)["fleet"]["fail_closed"] is True
    cli = pg.start_client(server=a, key=key, name="client-closed", wait=False)
    a.wait_for_log(r"reason=\"?fleet unreachable \(fail_closed\)")
    cli.stop()


def test_password_file_and_a_wrong_password(pg, tmp, procs, relays, echo_server):
    redis = Redis(procs, tmp, password="s3cret-pw")
    key = pg.keygen()
    good, bad = tmp / "good.pass", tmp / "bad.pass"
    good.write_text("s3cret-pw\n")
    bad.write_text("wrong\n")
    a = gateway(pg, tmp, key, redis.url, "gw-a", extra=["--fleet-password-file", str(good)],
                reject_delay="1-2", ban_threshold=1000)
    b = gateway(pg, tmp, key, redis.url, "gw-b", extra=["--fleet-password-file", str(good)],
                reject_delay="1-2", ban_threshold=1000)
    c = gateway(pg, tmp, key, redis.url, "gw-c", extra=["--fleet-password-file", str(bad)])
    wait_up(pg, a, b)
    c.wait_for_log(r"fleet degraded: serving from local state")
    assert fleet_state(pg, c) == "degraded"
    msg1, _ = capture_first_message(pg, a, key, relays, echo_server)
    a.wait_for_log(r"session authenticated")
    assert_silent_reset(b, msg1, "replayed (accepted by another gateway")
    for srv in (a, b, c):
        assert "s3cret" not in srv.log(), "the password must not be logged"


def test_settings_reject_a_host_name(pg, tmp):
    key = pg.keygen()
    conf = tmp / "bad.conf"
    conf.write_text(f"[server]\nlisten = 127.0.0.1:0\nstate_dir = {tmp / 's'}\n"
                    f"[fleet]\nredis = redis://redis.example:6379/0\n"
                    f"[key a]\nkey_file = {key}\n")
    r = run([pg.bin, "server", "-c", conf])
    assert r.returncode != 0
    assert "bad.conf:5: redis" in r.stderr and "not an IP address" in r.stderr, r.stderr


# --- knocks (listener backend, in network namespaces; test_spa.py's helpers) ---

def spa_fleet(net, pg, procs, key):
    """Redis and gateways A (gw4) and B (a second address) in the gateway namespace."""
    nt = net
    gw_b = nt.gw4.rsplit(".", 1)[0] + ".3"
    nt.sh("g", "ip", "addr", "add", f"{gw_b}/24", "dev", nt.if_g)
    rport = 6379
    rdir = pg.tmp / "redis-ns"
    rdir.mkdir()
    redis = procs.start(nt.ns("g", REDIS, "--port", str(rport), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--dir", str(rdir)), "redis")
    redis.wait_for_log(r"Ready to accept connections", timeout=10)
    gws = []
    for name, addr in (("gw-a", nt.gw4), ("gw-b", gw_b)):
        conf = pg.tmp / f"{name}.conf"
        conf.write_text(
            "[server]\n"
            f"listen = {addr}:{TUNNEL}\n"
            f"state_dir = {pg.tmp / ('state-' + name)}\n"
            f"control = {pg.tmp / (name + '.ctl')}\n"
            "[spa]\n"
            f"listen = {addr}:{KNOCK}\n"
            "backend = listener\n"
            "grant_timeout = 30\n"
            "[fleet]\n"
            f"redis = redis://127.0.0.1:{rport}/0\n"
            f"name = {name}\n"
            f"key_file = {fleet_key(pg)}\n"
            "[key a]\n"
            f"key_file = {key}\n"
            "permit_open = any\n")
        srv = procs.start(nt.ns("g", pg.bin, "server", "-c", str(conf)), name)
        srv.watch = True
        srv.wait_for_log(r"server ready", timeout=15)
        srv.ctl = pg.tmp / (name + ".ctl")
        srv.conf = conf
        gws.append(srv)
    wait_up(pg, *gws)
    return gws[0], gws[1], gw_b


def test_knock_replayed_to_b_is_refused(net, pg, procs):
    key = pg.keygen()
    a, b, gw_b = spa_fleet(net, pg, procs, key)
    pkt = pg.tmp / "knock.bin"
    knock_cmd(pg, net, key, "-A", f"tcp/{TUNNEL}", "--save", pkt)
    a.wait_for_log(r"spa: granted src=%s access=tcp/%d" % (re.escape(net.cl4), TUNNEL))
    assert net.probe("send", gw_b, KNOCK, pkt, 1) == "silent"
    b.wait_for_log(r"knock refused peer=%s port=\d+ key=a reason=\"replayed \(accepted by "
                   r"another gateway" % re.escape(net.cl4))


def test_knock_to_a_opens_b(net, pg, procs):
    key = pg.keygen()
    a, b, gw_b = spa_fleet(net, pg, procs, key)
    got = net.probe("connect", gw_b, TUNNEL, FILTERED_S)
    assert got == "timeout", f"B's tunnel port should look filtered, got {got}"
    knock_cmd(pg, net, key, "-A", f"tcp/{TUNNEL}")
    a.wait_for_log(r"spa: granted src=%s access=tcp/%d" % (re.escape(net.cl4), TUNNEL))
    b.wait_for_log(r"spa: granted src=%s access=tcp/%d seconds=\d+ key=a origin=gw-a"
                   % (re.escape(net.cl4), TUNNEL), timeout=5)
    cli = procs.start(net.ns("c", pg.bin, "client", "-k", str(key), "-L", "127.0.0.1:0:127.0.0.1:9",
                             f"{gw_b}:{TUNNEL}"), "client")
    cli.watch = True
    cli.wait_for_log(r"session established ", timeout=15)
    r = run([pg.bin, "fw-list", "-c", str(b.conf)])
    assert r.returncode == 0, r.stderr
    assert re.search(r"^grant %s tcp/%d .*origin gw-a " % (re.escape(net.cl4), TUNNEL),
                     r.stdout, re.M), r.stdout
    assert status(pg, b)["fleet"]["grants_in"] >= 1


def test_settings_require_the_fleet_key(pg, tmp):
    """Fingerprints in Redis are keyed: a [fleet] without key_file names itself."""
    key = pg.keygen()
    conf = tmp / "nokey.conf"
    conf.write_text(f"[server]\nlisten = 127.0.0.1:0\nstate_dir = {tmp / 's'}\n"
                    f"[fleet]\nredis = redis://127.0.0.1:6379/0\n"
                    f"[key a]\nkey_file = {key}\n")
    for cmd in ("server", "check"):
        r = run([pg.bin, cmd, "-c", conf])
        assert r.returncode != 0
        assert "nokey.conf:4: [fleet] has no key_file" in r.stderr, r.stderr
