# SPDX-License-Identifier: MIT
"""fwknop compatibility: the real fwknop client (Debian's fwknop-client)
opens a postern server's tunnel port, and a packet with a wrong HMAC key
opens nothing.

Topology: two network namespaces made here, joined by a veth pair:
    cli 10.77.1.2  <---->  gw 10.77.1.1 (postern server, tunnel port 7000,
                                          SPA on udp/62201, listener backend)
Before a knock a connect from cli to gw:7000 times out (no RST: the
listener drops SYNs from sources without a grant). The fwknop client runs
with flags only and HOME in the test's tmp, so no rc file is read or
written anywhere else.
"""
import os
import shutil
import subprocess
import time

import pytest

from conftest import IO_TIMEOUT, START_TIMEOUT, run, wait_until

GW, CLI = "10.77.1.1", "10.77.1.2"
TUNNEL_PORT, SPA_PORT = 7000, 62201

# One connect from inside a namespace: prints connected, refused or timeout.
CONNECT = r"""
import socket, sys
s = socket.socket()
s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print("connected")
except socket.timeout:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print("error", e)
"""


def ns_run(ns, *argv, env=None, check=True, timeout=20):
    r = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                       timeout=timeout, env=env)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} in {ns} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def try_connect(ns, host, port, timeout=1.5):
    r = ns_run(ns, "/usr/bin/python3", "-c", CONNECT, host, str(port), str(timeout))
    return r.stdout.strip()


@pytest.fixture
def spa_net():
    """Namespaces gw and cli joined by a veth pair; deleted afterwards."""
    assert os.geteuid() == 0, "fwknop e2e needs root to create network namespaces"
    assert shutil.which("ip"), "iproute2 is missing (scripts/setup-debian.sh installs it)"
    tag = os.getpid()
    gw, cli = f"pfk-gw-{tag}", f"pfk-cli-{tag}"
    made = []
    try:
        for ns in (gw, cli):
            r = run(["ip", "netns", "add", ns])
            assert r.returncode == 0, f"ip netns add {ns}: {r.stderr.strip()}"
            made.append(ns)
            ns_run(ns, "ip", "link", "set", "lo", "up")
        va, vb = f"pfkg{tag % 100000}", f"pfkc{tag % 100000}"
        ns_run(gw, "ip", "link", "add", va, "type", "veth", "peer", "name", vb, "netns", cli)
        ns_run(gw, "ip", "addr", "add", f"{GW}/24", "dev", va)
        ns_run(gw, "ip", "link", "set", va, "up")
        ns_run(cli, "ip", "addr", "add", f"{CLI}/24", "dev", vb)
        ns_run(cli, "ip", "link", "set", vb, "up")
        yield gw, cli
    finally:
        for ns in made:
            run(["ip", "netns", "del", ns])


def fwknop_keys(home):
    """A fresh KEY_BASE64 / HMAC_KEY_BASE64 pair from `fwknop -k`."""
    r = subprocess.run(["fwknop", "--no-rc-file", "--no-save-args", "-k"], capture_output=True,
                       text=True, timeout=20, env={**os.environ, "HOME": str(home)})
    assert r.returncode == 0, r.stderr
    keys = dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)
    return keys["KEY_BASE64"].strip(), keys["HMAC_KEY_BASE64"].strip()


def knock(cli, home, key, hmac):
    """The real client, sending one SPA packet from ${cli} for tcp/7000."""
    env = {**os.environ, "HOME": str(home)}
    ns_run(cli, "fwknop", "--no-rc-file", "--no-save-args", "-A", f"tcp/{TUNNEL_PORT}",
           "-a", CLI, "-D", GW, "-p", str(SPA_PORT), "--key-base64-rijndael", key,
           "--key-base64-hmac", hmac, "--use-hmac", "--hmac-digest-type", "sha256",
           env=env)


def test_real_fwknop_client_opens_the_tunnel_port(spa_net, pg, procs, tmp):
    assert shutil.which("fwknop"), "fwknop-client is missing (scripts/setup-debian.sh installs it)"
    gw, cli = spa_net
    home = tmp / "home"
    home.mkdir()
    key, hmac = fwknop_keys(home)
    _, wrong_hmac = fwknop_keys(home)
    tunnel_key = pg.keygen("tunnel.key")
    conf = tmp / "server.conf"
    conf.write_text(
        "[server]\n"
        f"listen = {GW}:{TUNNEL_PORT}\n"
        f"control = {tmp}/server.sock\n"
        "[spa]\n"
        f"listen = {GW}:{SPA_PORT}\n"
        "backend = listener\n"
        "grant_timeout = 30\n"
        "[key tunnel]\n"
        f"key_file = {tunnel_key}\n"
        "permit_open = any\n"
        "[key fwknop-user]\n"
        f"fwknop_key_base64 = {key}\n"
        f"fwknop_hmac_key_base64 = {hmac}\n"
    )
    os.chmod(conf, 0o600)
    srv = procs.start(["ip", "netns", "exec", gw, pg.bin, "server", "-c", str(conf),
                       "--state-dir", str(tmp / "state")], "server")
    srv.watch = True
    srv.wait_for_log(r"listening addr=" + GW.replace(".", r"\.") + ":%d" % TUNNEL_PORT,
                     timeout=START_TIMEOUT)

    # Filtered before any knock: no SYN-ACK, no RST.
    assert try_connect(cli, GW, TUNNEL_PORT) == "timeout"

    # The right Rijndael key with a wrong HMAC key opens nothing.
    knock(cli, home, key, wrong_hmac)
    time.sleep(1.0)
    assert try_connect(cli, GW, TUNNEL_PORT) == "timeout"

    # The real client with the identity's keys: the port opens for cli.
    knock(cli, home, key, hmac)
    deadline = time.monotonic() + IO_TIMEOUT
    got = None
    while time.monotonic() < deadline:
        got = try_connect(cli, GW, TUNNEL_PORT, timeout=1.0)
        if got == "connected":
            break
        time.sleep(0.1)
    assert got == "connected", f"after a valid fwknop knock the connect gave {got!r}"
    # The grant is the fwknop identity's, for the address the client named (-a).
    r = run([pg.bin, "fw-list", "-c", str(conf)])
    assert r.returncode == 0, r.stderr
    assert f"grant {CLI} tcp/{TUNNEL_PORT} forward - identity fwknop-user " in r.stdout, r.stdout
    # The listener backend has no kernel table to show.
    r = run([pg.bin, "fw-list", "-c", str(conf), "--kernel"])
    assert r.returncode != 0 and "keeps no kernel table" in r.stderr, (r.stdout, r.stderr)
    srv.stop()


# Send the bytes of a file as one UDP datagram (a captured packet, replayed).
SEND = r"""
import socket, sys
data = open(sys.argv[1], "rb").read().strip()
socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(data, (sys.argv[2], int(sys.argv[3])))
"""


def test_captured_fwknop_packet_opens_once_also_after_restart(spa_net, pg, procs, tmp):
    """A real fwknop packet, captured (-T -B: built, saved, not sent) and sent
    three times: the first opens the port; sent again after that grant ran
    out it opens nothing, nor after a server restart (knock.log)."""
    assert shutil.which("fwknop"), "fwknop-client is missing (scripts/setup-debian.sh installs it)"
    gw, cli = spa_net
    home = tmp / "home"
    home.mkdir()
    key, hmac = fwknop_keys(home)
    pkt, send = tmp / "spa.pkt", tmp / "send.py"
    send.write_text(SEND)
    conf = tmp / "server.conf"
    conf.write_text(
        "[server]\n"
        f"listen = {GW}:{TUNNEL_PORT}\n"
        f"control = {tmp}/server.sock\n"
        "[spa]\n"
        f"listen = {GW}:{SPA_PORT}\n"
        "grant_timeout = 2\n"
        "[key fwknop-user]\n"
        f"fwknop_key_base64 = {key}\n"
        f"fwknop_hmac_key_base64 = {hmac}\n"
    )
    os.chmod(conf, 0o600)
    subprocess.run(["fwknop", "--no-rc-file", "--no-save-args", "-A", f"tcp/{TUNNEL_PORT}",
                    "-a", CLI, "-D", GW, "-p", str(SPA_PORT), "--key-base64-rijndael", key,
                    "--key-base64-hmac", hmac, "--use-hmac", "-T", "-B", str(pkt)],
                   capture_output=True, text=True, timeout=20, check=True,
                   env={**os.environ, "HOME": str(home)})
    assert pkt.stat().st_size > 0

    def start():
        srv = procs.start(["ip", "netns", "exec", gw, pg.bin, "server", "-c", str(conf),
                           "--state-dir", str(tmp / "state")], "server")
        srv.watch = True
        srv.wait_for_log(r"server ready", timeout=START_TIMEOUT)
        return srv

    def grants():
        r = run([pg.bin, "fw-list", "-c", str(conf)])
        assert r.returncode == 0, r.stderr
        return [l for l in r.stdout.splitlines() if l.startswith("grant ")]

    def replay():
        ns_run(cli, "/usr/bin/python3", str(send), str(pkt), GW, str(SPA_PORT))

    srv = start()
    replay()
    wait_until(lambda: grants(), timeout=IO_TIMEOUT, what="the first send's grant")
    wait_until(lambda: not grants(), timeout=IO_TIMEOUT, what="the grant running out")
    replay()
    time.sleep(1.0)
    assert grants() == []
    assert try_connect(cli, GW, TUNNEL_PORT) == "timeout"
    assert srv.stop() == 0, srv.tail()

    srv = start()
    replay()
    time.sleep(1.0)
    assert grants() == []
    assert try_connect(cli, GW, TUNNEL_PORT) == "timeout"
    srv.stop()
