# SPDX-License-Identifier: MIT
"""Real third-party peers through -L: curl + python http.server (IPv4 and
IPv6), OpenSSH (a protocol where the server speaks first), iperf3."""

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import (
    connect,
    forward_spec,
    free_port,
    have_ipv6,
    hostport,
    require_tool,
    run,
)

pytestmark = pytest.mark.peers

MiB = 1 << 20


# --------------------------------------------------------------------------
# curl <-> python3 -m http.server


def start_http(procs, tmp, host):
    www = tmp / "www"
    www.mkdir(exist_ok=True)
    blob = os.urandom(6 * MiB + 12345)
    (www / "blob.bin").write_bytes(blob)
    (www / "small.txt").write_bytes(b"hello through postern\n")
    # http.server reports its port only on buffered stdout: pick one first.
    port = free_port(host)
    http = procs.start([sys.executable, "-m", "http.server", str(port), "--bind", host, "--directory", str(www)],
                       "http.server")
    # http.server logs "Serving HTTP on ..." to stdout (buffered); poll the port instead.
    from conftest import wait_port

    wait_port(host, port, proc=http.p)
    return port, blob


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_curl_through_tunnel(pg, procs, tmp, family):
    require_tool("curl")
    if family == "ipv6" and not have_ipv6():
        pytest.skip("no ::1 on this machine")
    host = "127.0.0.1" if family == "ipv4" else "::1"
    hport, blob = start_http(procs, tmp, host)
    key = pg.keygen()
    srv = pg.start_server(key=key, host=host, permit=[hostport(host, hport)])
    cli = pg.start_client(server=srv, key=key, forwards=[forward_spec(host, 0, host, hport)])
    lport = cli.listen[0][1]
    base = f"http://{hostport(host, lport)}"
    out1, out2 = tmp / "got1.bin", tmp / "got2.txt"
    r = run(["curl", "-sS", "-g", "--fail", "--max-time", "60",
             "-o", out1, f"{base}/blob.bin", "-o", out2, f"{base}/small.txt"], timeout=90)
    assert r.returncode == 0, f"curl failed ({r.returncode}): {r.stderr}"
    got = out1.read_bytes()
    assert len(got) == len(blob) and got == blob, f"downloaded {len(got)} bytes, differ from the served file"
    assert out2.read_bytes() == b"hello through postern\n"
    srv.wait_for_log(r"session authenticated id=\d+ peer=" + re.escape(hostport(host, "")) + r"\d+ key=default$")


# --------------------------------------------------------------------------
# OpenSSH: the server speaks first


@pytest.fixture
def sshd(tmp, procs):
    for tool in ("ssh", "ssh-keygen"):
        require_tool(tool)
    if not os.path.exists("/usr/sbin/sshd"):
        pytest.skip("openssh-server not installed")
    if os.geteuid() != 0:
        pytest.skip("the sshd test logs in as root and needs to run as root")
    d = tmp / "sshd"
    d.mkdir()
    os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
    for name in ("host_key", "client_key"):
        r = run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "postern-e2e", "-f", d / name])
        assert r.returncode == 0, r.stderr
    (d / "authorized_keys").write_text((d / "client_key.pub").read_text())
    os.chmod(d / "authorized_keys", 0o600)
    # sshd has no "port 0 and report it": pick one first.
    port = free_port()
    cfg = d / "sshd_config"
    cfg.write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {d}/host_key\n"
        f"PidFile {d}/sshd.pid\n"
        f"AuthorizedKeysFile {d}/authorized_keys\n"
        "PermitRootLogin yes\n"
        "StrictModes no\n"
        "UsePAM no\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PrintMotd no\n"
        "UseDNS no\n"
    )
    p = procs.start(["/usr/sbin/sshd", "-D", "-e", "-f", cfg], "sshd")
    p.wait_for_log(r"Server listening on 127\.0\.0\.1 port %d" % port)
    p.port = port
    p.client_key = d / "client_key"
    return p


def ssh_argv(port, key, *cmd):
    return ["ssh", "-F", "/dev/null", "-p", str(port), "-i", str(key),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=20",
            "-o", "LogLevel=ERROR", "root@127.0.0.1", *cmd]


def read_banner(port):
    s = connect("127.0.0.1", port, timeout=20)
    try:
        buf = b""
        while b"\n" not in buf and len(buf) < 512:
            chunk = s.recv(512)
            if not chunk:
                break
            buf += chunk
        return buf
    finally:
        s.close()


def test_ssh_banner_server_speaks_first(pg, sshd):
    """Connect to -L and send nothing: sshd's banner must still arrive."""
    _, _, laddr = pg.tunnel(("127.0.0.1", sshd.port), permit=[f"127.0.0.1:{sshd.port}"])
    direct = read_banner(sshd.port)
    assert direct.startswith(b"SSH-2.0-"), direct
    banner = read_banner(laddr[1])
    assert banner.startswith(b"SSH-2.0-"), f"through the tunnel got {banner!r}"
    assert banner == direct


def test_ssh_login_and_bulk_through_tunnel(pg, sshd, tmp):
    _, _, laddr = pg.tunnel(("127.0.0.1", sshd.port), permit=[f"127.0.0.1:{sshd.port}"])
    lport = laddr[1]
    r = run(ssh_argv(lport, sshd.client_key, "echo", "tunnel-ok"), timeout=60)
    assert r.returncode == 0, f"ssh failed ({r.returncode}): {r.stderr}"
    assert r.stdout.strip() == "tunnel-ok"

    # Bulk both ways over the same kind of channel: upload 4 MiB on stdin,
    # the remote side hashes it; download a file and compare.
    blob = os.urandom(4 * MiB)
    path = tmp / "ssh-blob.bin"
    path.write_bytes(blob)
    up = subprocess.run(ssh_argv(lport, sshd.client_key, "sha256sum"), input=blob,
                        capture_output=True, timeout=90)
    assert up.returncode == 0, up.stderr
    import hashlib

    assert up.stdout.split()[0].decode() == hashlib.sha256(blob).hexdigest()
    down = subprocess.run(ssh_argv(lport, sshd.client_key, "cat", str(path)), stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=90)
    assert down.returncode == 0, down.stderr
    assert down.stdout == blob


# --------------------------------------------------------------------------
# iperf3


def test_iperf3_through_tunnel(pg, procs):
    require_tool("iperf3")
    iport = free_port()
    srv_i = procs.start(["iperf3", "-s", "-p", str(iport), "-B", "127.0.0.1", "-1", "--forceflush"], "iperf3-server")
    # Don't probe the port: a one-off (-1) iperf3 server would take the probe as its client.
    srv_i.wait_for_log(r"Server listening on %d" % iport)
    _, _, laddr = pg.tunnel(("127.0.0.1", iport), permit=[f"127.0.0.1:{iport}"])
    r = run(["iperf3", "-c", "127.0.0.1", "-p", str(laddr[1]), "-t", "2", "-J", "--connect-timeout", "10000"],
            timeout=60)
    try:
        j = json.loads(r.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"iperf3 output is not JSON (rc {r.returncode}): {r.stdout[:500]} {r.stderr[:500]}")
    assert "error" not in j, j.get("error")
    assert r.returncode == 0, r.stderr
    assert j["start"]["connected"][0]["remote_port"] == laddr[1]
    sent = j["end"]["sum_sent"]["bytes"]
    received = j["end"]["sum_received"]["bytes"]
    assert sent > 0 and received > 0, (sent, received)
    # The client's per-interval byte counts add up to its total, and the
    # receiver (behind the tunnel) never counts more than was sent.
    assert sum(iv["sum"]["bytes"] for iv in j["intervals"]) == sent
    assert received <= sent, (sent, received)
    srv_i.wait(timeout=20)  # -1: the iperf3 server exits after its one test
    assert srv_i.returncode == 0, srv_i.tail()
