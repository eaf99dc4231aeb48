# SPDX-License-Identifier: MIT
"""Socket options postern chooses for itself (src/util/tcpopt.c).

Connections between two loopback addresses must not pace: postern gives its
own loopback sockets a non-pacing congestion control even where the system
default is BBR.  The test runs in a network namespace it creates, with BBR as
that namespace's default, so the application's own sockets show what postern
would have had; `ss -ti` reports each socket's congestion control.
"""

import os
import re
import subprocess
import time

import pytest

from conftest import IO_TIMEOUT, START_TIMEOUT, run

NON_PACING = {"cubic", "reno"}

# A target that accepts and holds connections, and an application that
# connects through the entrance and holds its connection: plain Python, so
# their sockets keep the namespace's default congestion control.
HOLD_SERVER = """
import socket, sys, time
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1]))); l.listen(8)
print("ready", flush=True)
held = [l.accept()[0] for _ in range(1)]
time.sleep(60)
"""
HOLD_CLIENT = """
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"x")
print("connected", flush=True)
time.sleep(60)
"""


def ns_run(ns, *argv, check=True):
    r = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=20)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} in {ns} failed: {r.stderr.strip()}")
    return r


@pytest.fixture
def bbr_netns():
    if os.geteuid() != 0:
        pytest.skip("needs root to create a network namespace")
    ns = f"postern-cc-{os.getpid()}"
    r = run(["ip", "netns", "add", ns])
    if r.returncode != 0:
        pytest.skip(f"cannot create a network namespace: {r.stderr.strip()}")
    try:
        ns_run(ns, "ip", "link", "set", "lo", "up")
        r = ns_run(ns, "sh", "-c", "echo bbr > /proc/sys/net/ipv4/tcp_congestion_control", check=False)
        if r.returncode != 0:
            pytest.skip(f"BBR is not available in this kernel: {r.stderr.strip()}")
        yield ns
    finally:
        run(["ip", "netns", "del", ns])


def socket_ccs(ns):
    """{(local port, peer port): congestion control} of established TCP sockets in ${ns}."""
    out = ns_run(ns, "ss", "-tinH", "state", "established").stdout
    ccs, key = {}, None
    for line in out.splitlines():
        m = re.match(r"\s*\d+\s+\d+\s+\S+:(\d+)\s+\S+:(\d+)", line)
        if m:
            key = (int(m.group(1)), int(m.group(2)))
            continue
        cc = re.search(r"\b(\w+) wscale:", line)  # "ts sack cubic wscale:7,7 ..."
        if key is not None and cc:
            ccs[key] = cc.group(1)
            key = None
    return ccs


def wait_sockets(ns, want, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    while True:
        ccs = socket_ccs(ns)
        if len(ccs) >= want or time.monotonic() > deadline:
            return ccs
        time.sleep(0.05)


def test_loopback_connections_do_not_pace(bbr_netns, pg, procs):
    ns = bbr_netns
    key = pg.keygen()
    sport, eport, tport = 7101, 7102, 7103
    pre = ["ip", "netns", "exec", ns]
    target = procs.start(pre + ["python3", "-c", HOLD_SERVER, str(tport)], "target")
    target.wait_for_log(r"ready", timeout=START_TIMEOUT)
    srv = procs.start(pre + [pg.bin, "server", "-l", f"127.0.0.1:{sport}", "-k", str(key),
                             "--permit-open", "any", "--state-dir", str(pg.tmp / "state")],
                      "server")
    srv.watch = True
    srv.wait_for_log(r"listening addr=127\.0\.0\.1:%d" % sport, timeout=START_TIMEOUT)
    cli = procs.start(pre + [pg.bin, "client", "-k", str(key), "-L", f"{eport}:127.0.0.1:{tport}",
                             f"127.0.0.1:{sport}"], "client")
    cli.watch = True
    cli.wait_for_log(r"listening addr=127\.0\.0\.1:%d" % eport, timeout=START_TIMEOUT)
    app = procs.start(pre + ["python3", "-c", HOLD_CLIENT, str(eport)], "app")
    app.wait_for_log(r"connected", timeout=IO_TIMEOUT)

    ccs = wait_sockets(ns, 6)

    def one(pred, what):
        found = [cc for (lp, pp), cc in ccs.items() if pred(lp, pp)]
        assert len(found) == 1, f"expected one {what} socket, found {found} in {ccs}"
        return found[0]

    # The namespace's default, as the application's own sockets show it: the
    # test could not tell postern's choice from the default otherwise.
    assert one(lambda lp, pp: pp == eport, "application") == "bbr"
    assert one(lambda lp, pp: lp == tport, "target") == "bbr"
    # postern's four: both ends of the tunnel, the accepted entrance
    # connection and the exit's connection to the target.
    assert one(lambda lp, pp: pp == sport, "tunnel (client end)") in NON_PACING
    assert one(lambda lp, pp: lp == sport, "tunnel (server end)") in NON_PACING
    assert one(lambda lp, pp: lp == eport, "entrance") in NON_PACING
    assert one(lambda lp, pp: pp == tport, "exit") in NON_PACING
