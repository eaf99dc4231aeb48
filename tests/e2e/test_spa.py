"""Single packet authorization, backend `listener`, in network namespaces.

Each test builds its own pair of namespaces (client and gateway, joined by a
veth pair, IPv4 10.77.N.0/24 and IPv6 fd77:N::/64), runs the server in the
gateway namespace and every client-side program in the client namespace,
and deletes both afterwards. Without a knock the tunnel port must look
filtered (a connect times out: no SYN-ACK, no RST); a knock opens it for the
knocker's address until the grant expires; established sessions stay.
"""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import START_TIMEOUT, run, wait_until
import spa_probe

HERE = Path(__file__).resolve().parent
PROBE = str(HERE / "spa_probe.py")
PY = "/usr/bin/python3"
TUNNEL, KNOCK, TARGET, ENTRANCE = 7000, 62201, 7100, 7200
FILTERED_S = 1.5  # a connect that gets no SYN-ACK within this is "filtered"


class Net:
    def __init__(self):
        n = os.getpid() % 250 + 1
        self.tag = f"{os.getpid()}"
        self.ns_c, self.ns_g = f"pst-c-{self.tag}", f"pst-g-{self.tag}"
        self.if_c, self.if_g = f"pvc{self.tag}"[:15], f"pvg{self.tag}"[:15]
        self.gw4, self.cl4 = f"10.77.{n}.1", f"10.77.{n}.2"
        self.gw6, self.cl6 = f"fd77:{n:x}::1", f"fd77:{n:x}::2"

    def ns(self, which, *argv):
        return ["ip", "netns", "exec", self.ns_c if which == "c" else self.ns_g, *argv]

    def sh(self, which, *argv, check=True, timeout=20):
        r = subprocess.run(self.ns(which, *argv), capture_output=True, text=True,
                           timeout=timeout)
        if check:
            assert r.returncode == 0, f"{argv} in {which}: {r.returncode} {r.stderr}"
        return r

    def probe(self, *args, timeout=20):
        return self.sh("c", PY, PROBE, *map(str, args), timeout=timeout).stdout.strip()


def must(argv):
    r = run(argv)
    assert r.returncode == 0, f"{' '.join(map(str, argv))}: {r.stderr}"


@pytest.fixture
def net():
    assert os.geteuid() == 0, "test_spa needs root for its network namespaces"
    nt = Net()
    try:
        must(["ip", "netns", "add", nt.ns_c])
        must(["ip", "netns", "add", nt.ns_g])
        must(["ip", "link", "add", nt.if_c, "type", "veth", "peer", "name", nt.if_g])
        must(["ip", "link", "set", nt.if_c, "netns", nt.ns_c])
        must(["ip", "link", "set", nt.if_g, "netns", nt.ns_g])
        for which, ifname, a4, a6 in (("c", nt.if_c, nt.cl4, nt.cl6), ("g", nt.if_g, nt.gw4, nt.gw6)):
            nt.sh(which, "ip", "link", "set", "lo", "up")
            nt.sh(which, "ip", "addr", "add", f"{a4}/24", "dev", ifname)
            nt.sh(which, "ip", "addr", "add", f"{a6}/64", "dev", ifname, "nodad")
            nt.sh(which, "ip", "link", "set", ifname, "up")
        yield nt
    finally:
        run(["ip", "netns", "del", nt.ns_c])
        run(["ip", "netns", "del", nt.ns_g])


def write_conf(pg, nt, key, grant_timeout=30, state="state", extra_key="", extra_server="",
               receive="socket"):
    conf = pg.tmp / f"spa-{state}.conf"
    conf.write_text(
        "[server]\n" + extra_server +
        f"listen = {nt.gw4}:{TUNNEL}\n"
        f"listen = [{nt.gw6}]:{TUNNEL}\n"
        f"state_dir = {pg.tmp / state}\n"
        f"control = {pg.tmp / (state + '.ctl')}\n"
        "[spa]\n"
        f"listen = {nt.gw4}:{KNOCK}\n"
        f"listen = [{nt.gw6}]:{KNOCK}\n"
        "backend = listener\n"
        f"receive = {receive}\n"
        f"grant_timeout = {grant_timeout}\n"
        "[key a]\n"
        f"key_file = {key}\n"
        "permit_open = any\n" + extra_key)
    return conf


def start_gateway(procs, pg, nt, conf, name="server"):
    srv = procs.start(nt.ns("g", pg.bin, "server", "-c", str(conf)), name)
    srv.watch = True
    srv.wait_for_log(r"server ready", timeout=START_TIMEOUT)
    assert srv.search(r"spa: ready backend=listener")
    receive = re.search(r"^receive = (\w+)$", conf.read_text(), re.M)
    if receive:
        assert srv.count(r"spa: knocks listening addr=\S+ receive=%s$" % receive.group(1)) == 2
    return srv


def start_echo(procs, nt):
    echo = procs.start(nt.ns("g", PY, PROBE, "echo", str(TARGET)), "echo")
    echo.wait_for_log(r"^ready", timeout=START_TIMEOUT)
    return echo


def knock_cmd(pg, nt, key, *args, gw=None):
    r = subprocess.run(nt.ns("c", pg.bin, "knock", "-k", str(key), *map(str, args),
                             gw or nt.gw4), capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, f"knock: {r.stderr}"
    assert r.stdout == "", "knock prints nothing on success"


def assert_filtered(nt, host=None):
    got = nt.probe("connect", host or nt.gw4, TUNNEL, FILTERED_S)
    assert got == "timeout", f"tunnel port should look filtered (no SYN-ACK, no RST), got {got}"


@pytest.mark.parametrize("receive", ["socket", "ring"])
def test_knock_opens_the_tunnel_until_the_grant_expires(net, pg, procs, receive):
    nt = net
    key = pg.keygen()
    conf = write_conf(pg, nt, key, grant_timeout=3, receive=receive)
    srv = start_gateway(procs, pg, nt, conf)
    start_echo(procs, nt)
    assert_filtered(nt)
    assert_filtered(nt, nt.gw6)

    knock_cmd(pg, nt, key, "-A", f"tcp/{TUNNEL}", "--label", "e2e")
    srv.wait_for_log(r"spa: granted src=%s access=tcp/%d seconds=3 key=a label=e2e$"
                     % (re.escape(nt.cl4), TUNNEL))
    cli = procs.start(nt.ns("c", pg.bin, "client", "-k", str(key), "-L",
                            f"127.0.0.1:{ENTRANCE}:127.0.0.1:{TARGET}", f"{nt.gw4}:{TUNNEL}"),
                      "client")
    cli.watch = True
    cli.wait_for_log(r"session established ", timeout=START_TIMEOUT)
    cli.wait_for_log(r"listening addr=127\.0\.0\.1:%d" % ENTRANCE, timeout=START_TIMEOUT)
    hold = procs.start(nt.ns("c", PY, PROBE, "hold", str(ENTRANCE), "12"), "hold")
    hold.wait_for_log(r"echo ok 1$")
    # fw-list (the control socket is a path: reachable from any namespace).
    r = run([pg.bin, "fw-list", "-c", str(conf)])
    assert r.returncode == 0, r.stderr
    assert re.search(r"^grant %s tcp/%d forward - identity a origin local [1-3] s left$"
                     % (re.escape(nt.cl4), TUNNEL), r.stdout, re.M), r.stdout
    r = run([pg.bin, "status", "-c", str(conf), "--json"])
    assert r.returncode == 0 and '"grants":[{"source":"%s"' % nt.cl4 in r.stdout, r.stdout
    r = run([pg.bin, "metrics", "-c", str(conf)])
    assert 'postern_knocks_total{result="accepted"} 1' in r.stdout, r.stdout
    assert "postern_spa_grants 1" in r.stdout, r.stdout
    # IPv6 is still closed: the grant is for the knocker's IPv4 address only.
    assert_filtered(nt, nt.gw6)

    srv.wait_for_log(r"spa: grant expired src=%s access=tcp/%d" % (re.escape(nt.cl4), TUNNEL),
                     timeout=10)
    assert_filtered(nt)
    # The session let in before expiry keeps working after it.
    n = hold.count(r"^echo ok")
    wait_until(lambda: hold.count(r"^echo ok") >= n + 4, what="echo after the grant expired")
    assert hold.alive() or hold.returncode == 0, hold.tail()
    r = run([pg.bin, "fw-list", "-c", str(conf)])
    assert r.returncode == 0 and r.stdout == "", r.stdout


@pytest.mark.parametrize("receive", ["socket", "ring"])
def test_ipv6_knock(net, pg, procs, receive):
    nt = net
    key = pg.keygen()
    conf = write_conf(pg, nt, key, receive=receive)
    srv = start_gateway(procs, pg, nt, conf)
    r = run([pg.bin, "access", "-c", str(conf)])
    assert r.returncode == 0 and re.search(r"spa_access +the tunnel's listen ports", r.stdout), r.stdout
    assert_filtered(nt, nt.gw6)
    knock_cmd(pg, nt, key, "-A", f"tcp/{TUNNEL}", gw=f"[{nt.gw6}]:{KNOCK}")
    srv.wait_for_log(r"spa: granted src=%s access=tcp/%d seconds=30 " % (re.escape(nt.cl6), TUNNEL))
    assert nt.probe("connect", nt.gw6, TUNNEL, 5) == "ok"
    assert_filtered(nt)  # IPv4 stays closed


@pytest.mark.parametrize("receive", ["socket", "ring"])
def test_replayed_knock_opens_nothing_also_after_restart(net, pg, procs, receive):
    nt = net
    key = pg.keygen()
    conf = write_conf(pg, nt, key, grant_timeout=1, receive=receive)
    srv = start_gateway(procs, pg, nt, conf)
    pkt = pg.tmp / "knock.bin"
    knock_cmd(pg, nt, key, "-A", f"tcp/{TUNNEL}", "--save", pkt)
    srv.wait_for_log(r"spa: granted src=\S+ access=tcp/%d" % TUNNEL)
    srv.wait_for_log(r"spa: grant expired", timeout=10)
    assert_filtered(nt)
    assert nt.probe("send", nt.gw4, KNOCK, pkt, 1) == "silent"
    srv.wait_for_log(r"knock refused peer=%s port=\d+ key=a reason=\"replayed knock\""
                     % re.escape(nt.cl4))
    assert srv.count(r"spa: granted") == 1
    assert_filtered(nt)

    srv.stop()
    srv = start_gateway(procs, pg, nt, conf, name="server2")
    assert nt.probe("send", nt.gw4, KNOCK, pkt, 1) == "silent"
    srv.wait_for_log(r"reason=\"replayed knock\"")
    assert srv.count(r"spa: granted") == 0
    assert_filtered(nt)
    assert (pg.tmp / "state" / "knock.log").exists()


@pytest.mark.parametrize("receive", ["socket", "ring"])
def test_bad_knocks_open_nothing_and_get_no_reply(net, pg, procs, receive):
    nt = net
    key, other = pg.keygen(), pg.keygen()
    psk, wrong = pg.psk(key), pg.psk(other)
    srv = start_gateway(procs, pg, nt, write_conf(pg, nt, key, receive=receive))
    good = spa_probe.knock(psk, access=((6, TUNNEL),), label=b"e2e")
    stale = spa_probe.knock(psk, access=((6, TUNNEL),), ts_ms=int((time.time() - 600) * 1000))
    future = spa_probe.knock(psk, access=((6, TUNNEL),), ts_ms=int((time.time() + 600) * 1000))
    flipped = bytearray(good)
    flipped[40] ^= 0x04
    cases = {
        "wrong key": (spa_probe.knock(wrong, access=((6, TUNNEL),)), r"no key matched"),
        "stale": (stale, r"timestamp outside replay_window"),
        "future": (future, r"timestamp outside replay_window"),
        "truncated": (good[:-1], r"no key matched"),
        "short": (good[:20], r"bad length 20"),
        "flipped": (bytes(flipped), r"no key matched"),
        "kind": (b"\x07" + good[1:], r"not a knock"),
        "oversized": (good + os.urandom(1300), r"datagram over 1200 bytes"),
        "trailing": (spa_probe.knock(psk, body=spa_probe.payload(access=((6, TUNNEL),)) + b"\0"),
                     r"trailing bytes"),
        "not allowed port": (spa_probe.knock(psk, access=((6, 22),)), r"tcp/22 not in spa_access"),
        "foreign address": (spa_probe.knock(psk, access=((6, TUNNEL),), allow="10.9.9.9"),
                            r"spa_trust_address = no"),
        "too long": (spa_probe.knock(psk, access=((6, TUNNEL),), timeout=3600),
                     r"asks for 3600 s, spa_max_grant is 300 s"),
    }
    seen = {}
    for name, (data, why) in cases.items():
        path = pg.tmp / f"bad-{name.replace(' ', '-')}.bin"
        path.write_bytes(data)
        assert nt.probe("send", nt.gw4, KNOCK, path, 0.5) == "silent", name
        # Each refusal is logged, with its own reason.
        seen[why] = seen.get(why, 0) + 1
        srv.wait_for_log(r"knock refused peer=%s port=\d+ .*reason=.*(%s)" % (re.escape(nt.cl4), why),
                         count=seen[why])
    assert srv.count(r"spa: granted") == 0
    assert_filtered(nt)
    # The same construction with the right key and a fresh clock opens the
    # port: the refusals above were for the reasons named, not the builder.
    path = pg.tmp / "good.bin"
    path.write_bytes(good)
    assert nt.probe("send", nt.gw4, KNOCK, path, 0.5) == "silent"
    srv.wait_for_log(r"spa: granted src=%s access=tcp/%d" % (re.escape(nt.cl4), TUNNEL))
    assert nt.probe("connect", nt.gw4, TUNNEL, 5) == "ok"


def test_client_knock_connects_in_one_command(net, pg, procs):
    nt = net
    key = pg.keygen()
    srv = start_gateway(procs, pg, nt, write_conf(pg, nt, key))
    start_echo(procs, nt)
    assert_filtered(nt)
    cli = procs.start(nt.ns("c", pg.bin, "client", "-k", str(key), "--knock", "-L",
                            f"127.0.0.1:{ENTRANCE}:127.0.0.1:{TARGET}", f"{nt.gw4}:{TUNNEL}"),
                      "client")
    cli.watch = True
    cli.wait_for_log(r"knocked server=%s:%d port=%d access=tcp/%d"
                     % (re.escape(nt.gw4), TUNNEL, KNOCK, TUNNEL), timeout=START_TIMEOUT)
    cli.wait_for_log(r"session established ", timeout=START_TIMEOUT)
    srv.wait_for_log(r"spa: granted src=%s access=tcp/%d" % (re.escape(nt.cl4), TUNNEL))
    cli.wait_for_log(r"listening addr=127\.0\.0\.1:%d" % ENTRANCE, timeout=START_TIMEOUT)
    hold = procs.start(nt.ns("c", PY, PROBE, "hold", str(ENTRANCE), "1"), "hold")
    hold.wait_for_log(r"echo ok 1$")


def test_public_key_knock(net, pg, procs):
    nt = net
    host, cli = pg.tmp / "host.key", pg.tmp / "cli.key"
    for path in (host, cli):
        r = run([pg.bin, "keygen", "-t", "x25519", "-o", path])
        assert r.returncode == 0, r.stderr
    conf = pg.tmp / "spa-ik.conf"
    conf.write_text(
        "[server]\n"
        f"listen = {nt.gw4}:{TUNNEL}\n"
        f"state_dir = {pg.tmp / 'state-ik'}\n"
        f"host_key = {host}\n"
        "[spa]\n"
        f"listen = {nt.gw4}:{KNOCK}\n"
        "[key pk]\n"
        f"public_key_file = {cli}.pub\n"
        "permit_open = any\n")
    srv = start_gateway(procs, pg, nt, conf)
    assert_filtered(nt)
    # Without the server's public key there is no knock to send.
    r = subprocess.run(nt.ns("c", pg.bin, "knock", "-k", str(cli), "-A", f"tcp/{TUNNEL}", nt.gw4),
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "--server-key" in r.stderr, r.stderr
    pkt = pg.tmp / "ik.bin"
    knock_cmd(pg, nt, cli, "--server-key", f"{host}.pub", "-A", f"tcp/{TUNNEL}", "--save", pkt)
    srv.wait_for_log(r"spa: granted src=%s access=tcp/%d seconds=30 key=pk" % (re.escape(nt.cl4), TUNNEL))
    assert nt.probe("connect", nt.gw4, TUNNEL, 5) == "ok"
    data = bytearray(pkt.read_bytes())
    assert data[0] == 2 and 147 <= len(data) <= 235
    data[10] ^= 1  # in e: mac1 no longer matches
    bad = pg.tmp / "ik-bad.bin"
    bad.write_bytes(bytes(data))
    assert nt.probe("send", nt.gw4, KNOCK, bad, 0.5) == "silent"
    srv.wait_for_log(r"reason=\"bad mac1\"")
    assert nt.probe("send", nt.gw4, KNOCK, pkt, 0.5) == "silent"
    srv.wait_for_log(r"key=pk reason=\"replayed knock\"")


def test_a_second_knock_extends_the_grant(net, pg, procs):
    """A knock for a live grant's tuple moves its expiry. The listener's filter
    holds sources, not times, so it is left as it is: the port stays open past
    the first knock's expiry and closes at the second's."""
    nt = net
    key = pg.keygen()
    conf = write_conf(pg, nt, key, grant_timeout=3)
    srv = start_gateway(procs, pg, nt, conf)
    src = re.escape(nt.cl4)
    knock_cmd(pg, nt, key, "-A", f"tcp/{TUNNEL}")
    srv.wait_for_log(r"spa: granted src=%s access=tcp/%d seconds=3 " % (src, TUNNEL))
    t0 = time.monotonic()  # the first grant ends by t0 + 3
    time.sleep(1.5)
    knock_cmd(pg, nt, key, "-A", f"tcp/{TUNNEL}", "--timeout", "4")
    srv.wait_for_log(r"spa: grant extended src=%s access=tcp/%d seconds=4 " % (src, TUNNEL))
    time.sleep(max(0.0, t0 + 3.5 - time.monotonic()))
    assert nt.probe("connect", nt.gw4, TUNNEL, FILTERED_S) == "ok"
    assert srv.count(r"spa: grant expired") == 0
    srv.wait_for_log(r"spa: grant expired src=%s access=tcp/%d" % (src, TUNNEL), timeout=10)
    assert time.monotonic() - t0 >= 5.0, "the grant expired at the first knock's time"
    assert_filtered(nt)


def test_a_banned_source_loses_its_grant(net, pg, procs):
    nt = net
    key = pg.keygen()
    conf = write_conf(pg, nt, key, extra_server="ban_threshold = 1\nreject_delay = 1\n")
    srv = start_gateway(procs, pg, nt, conf)
    knock_cmd(pg, nt, key, "-A", f"tcp/{TUNNEL}")
    srv.wait_for_log(r"spa: granted src=%s access=tcp/%d" % (re.escape(nt.cl4), TUNNEL))
    assert nt.probe("junk", nt.gw4, TUNNEL) == "closed"
    srv.wait_for_log(r"banned source=%s" % re.escape(nt.cl4))
    srv.wait_for_log(r"spa: grant revoked reason=banned src=%s access=tcp/%d" % (re.escape(nt.cl4), TUNNEL))
    assert_filtered(nt)
    # While banned, its knocks open nothing either.
    knock_cmd(pg, nt, key, "-A", f"tcp/{TUNNEL}")
    srv.wait_for_log(r"knock refused peer=%s port=\d+ reason=banned" % re.escape(nt.cl4))
    assert_filtered(nt)


def test_per_key_policy(net, pg, procs):
    """spa_trust_address, spa_access, spa_max_grant and spa_forward of a second key."""
    nt = net
    key, trusted = pg.keygen(), pg.keygen()
    conf = write_conf(pg, nt, key, extra_key=(
        "[key b]\n"
        f"key_file = {trusted}\n"
        "permit_open = any\n"
        f"spa_access = tcp/{TUNNEL}\n"
        "spa_access = udp/53\n"
        "spa_max_grant = 10\n"
        "spa_forward = 10.0.0.5:22\n"
        "spa_trust_address = yes\n"))
    srv = start_gateway(procs, pg, nt, conf)
    r = run([pg.bin, "access", "-c", str(conf)])
    assert re.search(r"spa_access +tcp/%d, udp/53" % TUNNEL, r.stdout), r.stdout
    assert re.search(r"spa_forward +10\.0\.0\.5:22", r.stdout), r.stdout
    psk = pg.psk(trusted)

    def send(name, **kw):
        path = pg.tmp / f"{name}.bin"
        path.write_bytes(spa_probe.knock(psk, **kw))
        assert nt.probe("send", nt.gw4, KNOCK, path, 0.5) == "silent"

    # Sent over IPv4, naming the client's IPv6 address: that address is opened.
    send("allow6", access=((6, TUNNEL),), allow=nt.cl6, timeout=10)
    srv.wait_for_log(r"spa: granted src=%s access=tcp/%d seconds=10 key=b" % (re.escape(nt.cl6), TUNNEL))
    assert nt.probe("connect", nt.gw6, TUNNEL, 5) == "ok"
    assert_filtered(nt)
    send("long", access=((6, TUNNEL),), timeout=11)
    srv.wait_for_log(r"key=b reason=\"asks for 11 s, spa_max_grant is 10 s\"")
    send("port", access=((6, TUNNEL), (6, 22)))
    srv.wait_for_log(r"key=b reason=\"tcp/22 not in spa_access\"")
    send("fwd-other", access=((17, 53),), forward=("10.0.0.6", 22))
    srv.wait_for_log(r"reason=\"forward to 10\.0\.0\.6:22 not in spa_forward\"")
    # Allowed by the policy, but the listener backend cannot DNAT.
    send("fwd", access=((17, 53),), forward=("10.0.0.5", 22))
    srv.wait_for_log(r"listener backend cannot forward")
    assert_filtered(nt)


# Sends every file named on the command line as one datagram to HOST:PORT, at once.
BURST = r"""
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for path in sys.argv[3:]:
    s.sendto(open(path, "rb").read(), (host, port))
"""


def test_grant_lines_are_bounded_by_log_rate(net, pg, procs):
    """A key holder can send valid knocks as fast as junk: every one is granted and
    counted, but its log lines stop at log_rate per second and the rest are counted."""
    nt = net
    key = pg.keygen()
    conf = write_conf(pg, nt, key, extra_server="log_rate = 3\n")
    srv = start_gateway(procs, pg, nt, conf)
    burst = []
    # Saved only: sent to a port nobody listens on, so the burst is their first arrival.
    nowhere = f"{nt.gw4}:{KNOCK + 100}"
    for i in range(30):
        burst.append(pg.tmp / f"burst{i}.bin")
        knock_cmd(pg, nt, key, "-A", f"tcp/{TUNNEL}", "--save", burst[-1], gw=nowhere)
    nt.sh("c", PY, "-c", BURST, nt.gw4, str(KNOCK), *map(str, burst))

    def accepted():
        r = run([pg.bin, "metrics", "-c", str(conf)])
        m = re.search(r'^postern_knocks_total\{result="accepted"\} (\d+)$', r.stdout, re.M)
        return int(m.group(1)) if m else -1

    wait_until(lambda: accepted() == 30, what="30 knocks accepted")
    lines = srv.count(r"spa: (granted|grant extended) src=")
    # The burst may straddle one second boundary: two budgets at most.
    assert 1 <= lines <= 6, f"{lines} grant lines for 30 knocks at log_rate = 3"
    # The next second's first line reports what the last one held back.
    time.sleep(1.1)
    late = pg.tmp / "late.bin"
    knock_cmd(pg, nt, key, "-A", f"tcp/{TUNNEL}", "--save", late, gw=nowhere)
    nt.sh("c", PY, "-c", BURST, nt.gw4, str(KNOCK), str(late))
    srv.wait_for_log(r"similar lines suppressed count=(\d+) log_rate=3/s")
    counts = [int(c) for c in re.findall(r"similar lines suppressed count=(\d+)",
                                        srv.log())]
    assert sum(counts) + lines == 30, (counts, lines)
    assert srv.count(r"knock refused") == 0
    assert accepted() == 31
    # Every knock was granted, logged or not: the port is open.
    assert nt.probe("connect", nt.gw4, TUNNEL, FILTERED_S) != "timeout"


def test_ring_without_cap_net_raw_is_a_clear_start_error(net, pg):
    """receive = ring is an explicit choice: without the privilege the server does not
    fall back to the socket quietly, it refuses to start and says why."""
    nt = net
    key = pg.keygen()
    conf = write_conf(pg, nt, key, receive="ring")
    r = run(nt.ns("g", "setpriv", "--inh-caps=-net_raw", "--bounding-set=-net_raw",
                  pg.bin, "server", "-c", str(conf)), timeout=20)
    assert r.returncode != 0
    assert re.search(r"\[spa\] listen %s:%d: packet ring: socket: Operation not permitted "
                     r"\(receive = ring needs CAP_NET_RAW\)" % (re.escape(nt.gw4), KNOCK),
                     r.stderr), r.stderr


def test_ring_takes_only_packets_for_its_listen_address(net, pg, procs):
    """A ring hears every packet to the port; one bound to one address must still judge
    only what the socket would have been given: a knock to another address of the host
    opens nothing and is not even judged."""
    nt = net
    key = pg.keygen()
    other = nt.gw4.rsplit(".", 1)[0] + ".3"
    nt.sh("g", "ip", "addr", "add", f"{other}/24", "dev", nt.if_g)
    srv = start_gateway(procs, pg, nt, write_conf(pg, nt, key, receive="ring"))
    knock_cmd(pg, nt, key, "-A", f"tcp/{TUNNEL}", gw=f"{other}:{KNOCK}")
    knock_cmd(pg, nt, key, "-A", f"tcp/{TUNNEL}", "--label", "right")
    srv.wait_for_log(r"spa: granted src=%s access=tcp/%d .* label=right$" % (re.escape(nt.cl4), TUNNEL))
    assert srv.count(r"spa: granted") == 1
    assert srv.count(r"knock refused") == 0
    r = run([pg.bin, "metrics", "--control", str(pg.tmp / "state.ctl")])
    assert re.search(r'^postern_knocks_total\{result="accepted"\} 1$', r.stdout, re.M), r.stdout
    assert re.search(r'^postern_knocks_total\{result="refused"\} 0$', r.stdout, re.M), r.stdout
    assert re.search(r"^postern_knock_ring_drops_total 0$", r.stdout, re.M), r.stdout


def test_a_full_ring_drops_in_the_kernel_and_counts(net, pg, procs):
    """ring_size bounds what a flood can make the server hold: with the server
    stopped, a flood fills its two 64 KiB blocks and the kernel drops the rest
    (counted); afterwards the server judges no more than the ring held, and a
    real knock still gets through."""
    nt = net
    key = pg.keygen()
    conf = write_conf(pg, nt, key, receive="ring")
    conf.write_text(conf.read_text().replace("receive = ring\n", "receive = ring\nring_size = 128\n"))
    srv = start_gateway(procs, pg, nt, conf)
    os.kill(srv.pid, signal.SIGSTOP)
    try:
        flood = ("import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                 "for i in range(2000):\n    s.sendto(b'\\x07' * 1000, ('%s', %d))\n"
                 % (nt.gw4, KNOCK))
        nt.sh("c", PY, "-c", flood)
    finally:
        os.kill(srv.pid, signal.SIGCONT)
    knock_cmd(pg, nt, key, "-A", f"tcp/{TUNNEL}", "--label", "after")
    srv.wait_for_log(r"spa: granted src=%s .* label=after$" % re.escape(nt.cl4))
    r = run([pg.bin, "metrics", "--control", str(pg.tmp / "state.ctl")])
    drops = int(re.search(r"^postern_knock_ring_drops_total (\d+)$", r.stdout, re.M).group(1))
    refused = int(re.search(r'^postern_knocks_total\{result="refused"\} (\d+)$', r.stdout,
                            re.M).group(1))
    # Two blocks of 64 KiB hold at most 2 * 65536 / 1000 of these datagrams.
    assert refused <= 2 * 65536 // 1000, r.stdout
    assert drops >= 2000 - refused - 5, r.stdout
