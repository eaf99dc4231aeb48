# SPDX-License-Identifier: MIT
"""SPA with the nftables backend, end to end, in network namespaces.

Three namespaces made by the test (names carry the pid) and deleted in
finally: a client (10.77.1.2 and a second address 10.77.1.3), a gateway
(10.77.1.1 towards the client, 10.77.2.1 towards the inside) running
`postern server` with `[spa] backend = nftables`, and an internal host
(10.77.2.2) with no route back to the client, so a forward reaches it only
through the gateway's DNAT and masquerade. Every rule lands in the gateway's
namespace, never the host's ruleset.

The test inspects the kernel with `nft -j list table` inside the gateway
namespace (a test may run nft; postern never does). It never sleeps for an
outcome: it polls the ruleset, and a "filtered" port is a connect that times
out (no RST: ECONNREFUSED would be a failure).
"""

import json
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import IO_TIMEOUT, START_TIMEOUT, run, wait_until

NET_C, NET_I = "10.77.1", "10.77.2"
GW, CLIENT, CLIENT2, INTERNAL = f"{NET_C}.1", f"{NET_C}.2", f"{NET_C}.3", f"{NET_I}.2"
GW6, CLIENT6, CLIENT6B = "fd77:1::1", "fd77:1::2", "fd77:1::3"
KNOCK_PORT = 62201
GUARDED, OPEN_PORT, FWD_PORT, INTERNAL_PORT = 8080, 8081, 5001, 80
TABLE = "postern"
GRANT_S = 3
FILTERED_S = 2.0  # how long a connect waits before we call the port filtered

# A TCP service: a banner naming the service and the peer it sees, then echo.
SERVE = r"""
import socket, sys, threading
name, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
l = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind((host, port))
l.listen(64)
print("ready", flush=True)
def serve(c, peer):
    with c:
        c.sendall(f"{name} sees {peer[0]}\n".encode())
        while True:
            d = c.recv(65536)
            if not d:
                return
            c.sendall(d)
while True:
    c, p = l.accept()
    threading.Thread(target=serve, args=(c, p), daemon=True).start()
"""

# One connect from a chosen source: "timeout", "refused" or "banner: <line>".
PROBE = r"""
import socket, sys
host, port, src, wait = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.settimeout(wait)
s.bind((src, 0))
try:
    s.connect((host, port))
    print("banner:", s.makefile().readline().strip())
except socket.timeout:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
"""

# A connection opened while granted, used again after the grant is gone:
# connect, print the banner, wait for the go file, send a line, print its echo.
HOLD = r"""
import os, socket, sys, time
host, port, src, go = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket()
s.settimeout(10)
s.bind((src, 0))
s.connect((host, port))
f = s.makefile("rb")
print("banner:", f.readline().decode().strip(), flush=True)
deadline = time.monotonic() + 60
while not os.path.exists(go) and time.monotonic() < deadline:
    time.sleep(0.05)
s.sendall(b"still here\n")
print("echo:", f.readline().decode().strip(), flush=True)
"""


def sh(argv, timeout=20):
    r = run(argv, timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def ns_exec(ns, *argv):
    return ["ip", "netns", "exec", ns, *map(str, argv)]


@pytest.fixture
def topo(tmp, procs):
    """client -- gateway -- internal, three namespaces joined by two veth pairs."""
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (scripts/setup-debian.sh installs it)")
    if os.geteuid() != 0:
        pytest.fail("the nftables SPA test creates network namespaces and needs root")
    tag = f"{os.getpid()}"
    names = {"c": f"pst-nc-{tag}", "g": f"pst-ng-{tag}", "i": f"pst-ni-{tag}"}
    made = []
    try:
        for ns in names.values():
            sh(["ip", "netns", "add", ns])
            made.append(ns)
            sh(ns_exec(ns, "ip", "link", "set", "lo", "up"))
        c, g, i = names["c"], names["g"], names["i"]
        sh(["ip", "link", "add", f"pc{tag}", "netns", c, "type", "veth", "peer", "name", f"pg{tag}",
            "netns", g])
        sh(["ip", "link", "add", f"pi{tag}", "netns", i, "type", "veth", "peer", "name", f"ph{tag}",
            "netns", g])
        for ns, dev, addrs in ((c, f"pc{tag}", (f"{CLIENT}/24", f"{CLIENT2}/24",
                                                f"{CLIENT6}/64", f"{CLIENT6B}/64")),
                               (g, f"pg{tag}", (f"{GW}/24", f"{GW6}/64")),
                               (g, f"ph{tag}", (f"{NET_I}.1/24",)),
                               (i, f"pi{tag}", (f"{INTERNAL}/24",))):
            for a in addrs:
                # nodad: an IPv6 address is usable at once, not after duplicate
                # detection. The second client address is deprecated
                # (preferred_lft 0) so the knock's source is always the first;
                # a probe can still bind it (IPv4: the second is secondary).
                extra = ["nodad"] if ":" in a else []
                if a.startswith(CLIENT6B + "/"):
                    extra += ["preferred_lft", "0"]
                sh(ns_exec(ns, "ip", "addr", "add", a, "dev", dev, *extra))
            sh(ns_exec(ns, "ip", "link", "set", dev, "up"))
        # The client reaches the inside only through the gateway; the inside
        # has no route back (masquerade is what answers).
        sh(ns_exec(c, "ip", "route", "add", f"{NET_I}.0/24", "via", GW))
        (tmp / "serve.py").write_text(SERVE)
        (tmp / "probe.py").write_text(PROBE)
        (tmp / "hold.py").write_text(HOLD)
        yield names
    finally:
        # Stop our processes the gentle way first (SIGTERM: the server removes
        # its table and is checked for a clean exit), then whatever still runs
        # in our namespaces, which this test started too.
        procs.stop_all()
        for ns in made:
            r = run(["ip", "netns", "pids", ns])
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
        for ns in made:
            run(["ip", "netns", "del", ns])


def serve(procs, tmp, ns, name, host, port):
    p = procs.start(ns_exec(ns, "/usr/bin/python3", "-u", tmp / "serve.py", name, host, port),
                    f"serve-{name}")
    p.wait_for_log(r"^ready$", timeout=START_TIMEOUT)
    return p


def probe(tmp, ns, host, port, src, wait=FILTERED_S):
    r = run(ns_exec(ns, "/usr/bin/python3", tmp / "probe.py", host, port, src, wait),
            timeout=wait + 20)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def table(ns):
    """{set or map name: [element key tuple, or (key tuple, data tuple)]}; None if absent."""
    r = run(ns_exec(ns, "nft", "-j", "list", "table", "inet", TABLE))
    if r.returncode != 0:
        return None
    out = {}

    def val(v):
        if isinstance(v, dict) and "elem" in v:
            v = v["elem"]["val"]
        if isinstance(v, dict) and "concat" in v:
            return tuple(str(x) for x in v["concat"])
        return (str(v),)

    for obj in json.loads(r.stdout)["nftables"]:
        s = obj.get("set") or obj.get("map")
        if not s:
            continue
        elems = []
        for e in s.get("elem", []):
            if isinstance(e, list):  # map: [key, data]
                elems.append((val(e[0]), val(e[1])))
            else:
                elems.append(val(e))
        out[s["name"]] = elems
    return out


def wait_elem(ns, name, elem, present=True, timeout=START_TIMEOUT):
    def check():
        t = table(ns) or {}
        return (elem in t.get(name, [])) == present

    wait_until(check, timeout=timeout,
               what=f"{elem} {'in' if present else 'gone from'} {name}: {table(ns)}")


def server_conf(tmp, key, forward=False):
    spa_key = (f"spa_access = tcp/{FWD_PORT}\nspa_forward = {INTERNAL}:{INTERNAL_PORT}\n"
               "spa_masquerade = yes\n" if forward else f"spa_access = tcp/{GUARDED}\n")
    text = (f"[server]\nlisten = {GW}:7000\ncontrol = {tmp}/server.sock\n\n"
            f"[spa]\nlisten = {GW}:{KNOCK_PORT}\nlisten = [{GW6}]:{KNOCK_PORT}\n"
            "backend = nftables\n"
            f"grant_timeout = {GRANT_S}\nguard = tcp/{GUARDED}\nguard = tcp/{FWD_PORT}\n"
            f"nft_table = {TABLE}\nnft_remove_on_exit = yes\nip_forward = set\n\n"
            f"[key alice]\nkey_file = {key}\npermit_open = any\n{spa_key}")
    path = tmp / "server.conf"
    path.write_text(text)
    return path


def start_gateway(pg, procs, tmp, g, conf):
    argv = ns_exec(g, pg.bin, "server", "-c", conf, "--state-dir", tmp / "state")
    srv = procs.start(argv, "server")
    srv.watch = True
    srv.wait_for_log(r"listening addr=", timeout=START_TIMEOUT)
    # Ready when the guard is in the kernel: nothing before that is filtered.
    wait_until(lambda: (table(g) or {}).get("guard"), timeout=START_TIMEOUT,
               what="the server's nftables table with its guard set")
    assert sorted(table(g)["guard"]) == sorted([("tcp", str(GUARDED)), ("tcp", str(FWD_PORT))])
    return srv


def knock(pg, c, key, *args, gw=GW):
    r = run(ns_exec(c, pg.bin, "knock", "-k", key, *args, gw))
    assert r.returncode == 0, f"knock failed ({r.returncode}): {r.stderr}"
    return r


def fw_list(pg, g, conf, *flags):
    r = run(ns_exec(g, pg.bin, "fw-list", "-c", conf, *flags))
    assert r.returncode == 0, f"fw-list failed ({r.returncode}): {r.stderr}"
    return r.stdout


def test_nft_knock_opens_the_guarded_port_for_the_sender_only(pg, procs, tmp, topo):
    c, g = topo["c"], topo["g"]
    key = pg.keygen("alice.key")
    conf = server_conf(tmp, key)
    serve(procs, tmp, g, "gw", "0.0.0.0", GUARDED)
    serve(procs, tmp, g, "gw-open", "0.0.0.0", OPEN_PORT)
    srv = start_gateway(pg, procs, tmp, g, conf)
    # The tunnel's own port 7000 is not in guard: the server says it is open to all.
    srv.wait_for_log(r"tunnel port not guarded, open without a knock port=7000 "
                     r"backend=nftables", timeout=START_TIMEOUT)

    # Before any knock: the guarded port is filtered (no RST), others untouched.
    assert probe(tmp, c, GW, GUARDED, CLIENT) == "timeout"
    assert probe(tmp, c, GW, OPEN_PORT, CLIENT) == f"banner: gw-open sees {CLIENT}"

    # A knock that names another address is refused (the key does not trust
    # payload addresses); the plain knock after it is processed after it.
    run(ns_exec(c, pg.bin, "knock", "-k", key, "--allow", CLIENT2, "-A", f"tcp/{GUARDED}", GW))
    knock(pg, c, key, "-A", f"tcp/{GUARDED}")
    mine = (CLIENT, "tcp", str(GUARDED))
    wait_elem(g, "allow4", mine)
    assert table(g)["allow4"] == [mine], table(g)

    assert probe(tmp, c, GW, GUARDED, CLIENT) == f"banner: gw sees {CLIENT}"
    # Only the authenticated source: the client's second address stays out.
    assert probe(tmp, c, GW, GUARDED, CLIENT2) == "timeout"

    listing = fw_list(pg, g, conf)
    assert any(CLIENT in line and str(GUARDED) in line for line in listing.splitlines()), listing
    # --kernel: the table as the kernel holds it, the element with its time left.
    kernel = fw_list(pg, g, conf, "--kernel")
    assert f"table inet {TABLE}" in kernel and f"{CLIENT} . tcp . {GUARDED}" in kernel, kernel
    objs = json.loads(fw_list(pg, g, conf, "--kernel", "--json"))["nftables"]
    assert any(o.get("set", {}).get("name") == "allow4" for o in objs), objs

    # A connection made during the grant outlives it.
    go = tmp / "go"
    hold = procs.start(ns_exec(c, "/usr/bin/python3", "-u", tmp / "hold.py", GW, GUARDED, CLIENT, go),
                       "hold")
    hold.wait_for_log(rf"^banner: gw sees {CLIENT}$", timeout=START_TIMEOUT)

    # The kernel expires the element by itself (grant_timeout = 3 s).
    wait_elem(g, "allow4", mine, present=False, timeout=GRANT_S + 10)
    assert probe(tmp, c, GW, GUARDED, CLIENT) == "timeout"
    go.write_text("go")
    hold.wait_for_log(r"^echo: still here$", timeout=IO_TIMEOUT)

    # Shutdown removes the table (nft_remove_on_exit = yes).
    assert srv.stop() == 0, srv.tail()
    assert table(g) is None
    assert probe(tmp, c, GW, GUARDED, CLIENT) == f"banner: gw sees {CLIENT}"


def test_nft_second_knock_moves_the_kernel_timeout(pg, procs, tmp, topo):
    """A knock for a live grant's tuple re-adds its element with the new
    timeout: the kernel keeps it past the first knock's expiry."""
    c, g = topo["c"], topo["g"]
    key = pg.keygen("alice.key")
    conf = server_conf(tmp, key)
    serve(procs, tmp, g, "gw", "0.0.0.0", GUARDED)
    srv = start_gateway(pg, procs, tmp, g, conf)
    mine = (CLIENT, "tcp", str(GUARDED))
    knock(pg, c, key, "-A", f"tcp/{GUARDED}")
    wait_elem(g, "allow4", mine)
    t0 = time.monotonic()  # the first element ends by t0 + GRANT_S
    time.sleep(1.5)
    knock(pg, c, key, "-A", f"tcp/{GUARDED}", "--timeout", "6")
    srv.wait_for_log(r"spa: grant extended src=%s access=tcp/%d seconds=6 "
                     % (re.escape(CLIENT), GUARDED), timeout=START_TIMEOUT)
    time.sleep(max(0.0, t0 + GRANT_S + 1.0 - time.monotonic()))
    assert mine in table(g)["allow4"], table(g)
    assert probe(tmp, c, GW, GUARDED, CLIENT) == f"banner: gw sees {CLIENT}"
    wait_elem(g, "allow4", mine, present=False, timeout=10)
    assert time.monotonic() - t0 >= 6.0, "the kernel expired the element at the first timeout"


def test_nft_forward_reaches_the_internal_host_through_dnat(pg, procs, tmp, topo):
    c, g, i = topo["c"], topo["g"], topo["i"]
    sh(ns_exec(g, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"))
    key = pg.keygen("alice.key")
    conf = server_conf(tmp, key, forward=True)
    serve(procs, tmp, i, "internal", "0.0.0.0", INTERNAL_PORT)
    start_gateway(pg, procs, tmp, g, conf)

    assert probe(tmp, c, GW, FWD_PORT, CLIENT) == "timeout"

    knock(pg, c, key, "--forward", f"{INTERNAL}:{INTERNAL_PORT}", "-A", f"tcp/{FWD_PORT}")
    wait_elem(g, "dnat4", ((CLIENT, "tcp", str(FWD_PORT)), (INTERNAL, str(INTERNAL_PORT))))
    # ip_forward = set: the server turned forwarding on (a new namespace starts with it off).
    assert sh(ns_exec(g, "cat", "/proc/sys/net/ipv4/ip_forward")).stdout.strip() == "1"
    t = table(g)
    flow = (CLIENT, INTERNAL, "tcp", str(INTERNAL_PORT))
    assert t["fwd4"] == [flow] and t["masq4"] == [flow], t
    assert t["allow4"] == [], t  # a forward does not open the gateway's own port

    # DNAT to the inside, masqueraded: the internal host sees the gateway.
    assert probe(tmp, c, GW, FWD_PORT, CLIENT) == f"banner: internal sees {NET_I}.1"
    assert probe(tmp, c, GW, FWD_PORT, CLIENT2) == "timeout"

    listing = fw_list(pg, g, conf)
    assert any(CLIENT in line and INTERNAL in line for line in listing.splitlines()), listing

    wait_elem(g, "dnat4", ((CLIENT, "tcp", str(FWD_PORT)), (INTERNAL, str(INTERNAL_PORT))),
              present=False, timeout=GRANT_S + 10)
    assert probe(tmp, c, GW, FWD_PORT, CLIENT) == "timeout"


def test_nft_leaves_other_tables_alone(pg, procs, tmp, topo):
    """A table the gateway's admin owns (even one named like ours in another
    family) survives the server's start and stop untouched."""
    g = topo["g"]
    theirs = ("add table inet admin\n"
              "add chain inet admin in { type filter hook input priority 10; }\n"
              "add rule inet admin in tcp dport 9 counter\n"
              f"add table ip {TABLE}\nadd chain ip {TABLE} mine\n")
    subprocess.run(ns_exec(g, "nft", "-f", "-"), input=theirs, text=True, check=True,
                   timeout=20)
    before = sh(ns_exec(g, "nft", "list", "table", "inet", "admin")).stdout
    key = pg.keygen("alice.key")
    srv = start_gateway(pg, procs, tmp, g, server_conf(tmp, key))
    assert sh(ns_exec(g, "nft", "list", "table", "inet", "admin")).stdout == before
    srv.stop()
    assert table(g) is None
    assert sh(ns_exec(g, "nft", "list", "table", "inet", "admin")).stdout == before
    assert "chain mine" in sh(ns_exec(g, "nft", "list", "table", "ip", TABLE)).stdout


def test_nft_knock_over_ipv6(pg, procs, tmp, topo):
    """The same over IPv6: the knock goes to the gateway's v6 address, the
    grant lands in allow6 for the sender's address and no other."""
    c, g = topo["c"], topo["g"]
    key = pg.keygen("alice.key")
    conf = server_conf(tmp, key)
    serve(procs, tmp, g, "gw6", "::", GUARDED)
    start_gateway(pg, procs, tmp, g, conf)

    assert probe(tmp, c, GW6, GUARDED, CLIENT6) == "timeout"
    knock(pg, c, key, "-A", f"tcp/{GUARDED}", gw=f"[{GW6}]:{KNOCK_PORT}")
    mine = (CLIENT6, "tcp", str(GUARDED))
    wait_elem(g, "allow6", mine)
    t = table(g)
    assert t["allow6"] == [mine] and t["allow4"] == [], t
    assert probe(tmp, c, GW6, GUARDED, CLIENT6) == f"banner: gw6 sees {CLIENT6}"
    assert probe(tmp, c, GW6, GUARDED, CLIENT6B) == "timeout"
    # The v4 side of the same port stays closed: the grant is for one address.
    assert probe(tmp, c, GW, GUARDED, CLIENT) == "timeout"
    wait_elem(g, "allow6", mine, present=False, timeout=GRANT_S + 10)
    assert probe(tmp, c, GW6, GUARDED, CLIENT6) == "timeout"


def test_nft_grants_after_dropping_to_nobody(pg, procs, tmp, topo):
    """user = nobody: the server keeps CAP_NET_ADMIN alone across the drop,
    so knocks still become kernel elements (a forward too, with ip_forward =
    set writing the sysctl as nobody), and shutdown still removes the table."""
    import pwd
    import tempfile
    from pathlib import Path

    c, g, i = topo["c"], topo["g"], topo["i"]
    nobody = pwd.getpwnam("nobody")
    sh(ns_exec(g, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"))
    key = pg.keygen("alice.key")
    conf = server_conf(tmp, key, forward=True)
    conf.write_text(conf.read_text().replace("[server]\n", "[server]\nuser = nobody\n", 1)
                    + f"spa_access = tcp/{GUARDED}\n")
    # tmp's parents are root's 0700: the state directory must be reachable by nobody.
    d = Path(tempfile.mkdtemp(prefix="postern-nft-drop-"))
    try:
        os.chmod(d, 0o755)
        serve(procs, tmp, g, "gw", "0.0.0.0", GUARDED)
        srv = procs.start(ns_exec(g, pg.bin, "server", "-c", conf, "--state-dir", d / "state"),
                          "server")
        srv.watch = True
        srv.wait_for_log(r"kept for the nftables backend capability=CAP_NET_ADMIN user=nobody",
                         timeout=START_TIMEOUT)
        srv.wait_for_log(r"running as user=nobody", timeout=START_TIMEOUT)
        wait_until(lambda: (table(g) or {}).get("guard"), timeout=START_TIMEOUT,
                   what="the server's nftables table with its guard set")
        pid = srv.p.pid  # ip netns exec execs the server: the same process
        status = dict(line.split(":", 1) for line in
                      Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
        assert status["Uid"].split() == [str(nobody.pw_uid)] * 4, status["Uid"]
        # CAP_NET_ADMIN (bit 12) and nothing else, effective and permitted.
        assert int(status["CapEff"], 16) == 1 << 12, status["CapEff"]
        assert int(status["CapPrm"], 16) == 1 << 12, status["CapPrm"]
        assert int(status["CapInh"], 16) == 0 and int(status["CapAmb"], 16) == 0, status

        assert probe(tmp, c, GW, GUARDED, CLIENT) == "timeout"
        knock(pg, c, key, "-A", f"tcp/{GUARDED}")
        wait_elem(g, "allow4", (CLIENT, "tcp", str(GUARDED)))
        assert probe(tmp, c, GW, GUARDED, CLIENT) == f"banner: gw sees {CLIENT}"

        serve(procs, tmp, i, "internal", "0.0.0.0", INTERNAL_PORT)
        # Start (still root) turned forwarding on; off again, the grant (as nobody) must.
        sh(ns_exec(g, "sh", "-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"))
        knock(pg, c, key, "--forward", f"{INTERNAL}:{INTERNAL_PORT}", "-A", f"tcp/{FWD_PORT}")
        wait_elem(g, "dnat4", ((CLIENT, "tcp", str(FWD_PORT)), (INTERNAL, str(INTERNAL_PORT))))
        assert sh(ns_exec(g, "cat", "/proc/sys/net/ipv4/ip_forward")).stdout.strip() == "1"
        assert probe(tmp, c, GW, FWD_PORT, CLIENT) == f"banner: internal sees {NET_I}.1"
        assert srv.stop() == 0, srv.tail()
        assert table(g) is None
    finally:
        shutil.rmtree(d, ignore_errors=True)
