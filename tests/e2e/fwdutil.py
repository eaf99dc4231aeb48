# SPDX-License-Identifier: MIT
"""Helpers for the forwarding tests (-L/-R/-D, Unix sockets, policy).

Plain functions and classes on top of conftest's Proc/Postern; the fixtures
that use them live in test_forwarding.py. Loopback only, every wait bounded.
"""

import os
import re
import socket
import struct
import subprocess
import sys
from pathlib import Path

from conftest import (
    IO_TIMEOUT,
    START_TIMEOUT,
    TCPServerThread,
    VERBOSE,
    hostport,
    recv_exactly,
    recv_until_end,
    run,
    wait_port,
)

MiB = 1 << 20


# --------------------------------------------------------------------------
# postern server and client with every forwarding flag


def start_server(pg, key, permit_open=(), permit_listen=(), allow_forwarding=None,
                 gateway_ports=None, allow_unix=None, host="127.0.0.1", extra=(), name="server"):
    """Quick-mode server for the key 'default' with the forwarding policy flags."""
    argv = []
    for p in permit_listen:
        argv += ["--permit-listen", p]
    if allow_forwarding is not None:
        argv += ["--allow-forwarding", allow_forwarding]
    if gateway_ports is not None:
        argv += ["--gateway-ports", gateway_ports]
    if allow_unix is not None:
        argv += ["--allow-unix-forwarding", "yes" if allow_unix is True else
                 "no" if allow_unix is False else allow_unix]
    argv += list(extra)
    return pg.start_server(key=key, host=host, permit=list(permit_open), extra=argv, name=name)


LISTEN_RX = r" INFO forward: listening addr=\S+ (?:target|socks)="
REMOTE_OK_RX = (r' INFO client: remote forward listening listen=(?:"[^"]*"|\S+) '
                r'(?:port=(\d+) target=\S+ allocated=yes|port=\d+ target=\S+)')


def start_client(pg, server, key=None, L=(), R=(), D=(), config=None, profile=None, extra=(),
                 wait=True, nlisten=None, nremote=None, name="client"):
    """`postern client` with -L/-R/-D specs (strings).

    With wait=True, waits for the session, one "listening addr=" line per -L and
    -D (or ${nlisten}) and one remote-forward success line per -R (or
    ${nremote}). The ports the server allocated for -R port 0, in the order
    they were logged, are in proc.allocated. An -L or -D with listen port 0
    binds a free port; the ports the TCP entrances got, in the order logged
    (every -L, then every -D), are in proc.lports and proc.dports.
    """
    argv = [pg.bin, "client"]
    if config is not None:
        argv += ["-c", config]
        if profile is not None:
            argv.append(profile)
    if key is not None:
        argv += ["-k", key]
    for f in L:
        argv += ["-L", f]
    for f in R:
        argv += ["-R", f]
    for f in D:
        argv += ["-D", f]
    if VERBOSE:
        argv.append("-v")
    argv += list(extra)
    if server is not None:
        addr = server.addr if hasattr(server, "addr") else server
        argv.append(hostport(*addr))
    proc = pg.procs.start(argv, name)
    proc.allocated, proc.lports, proc.dports = [], [], []
    if wait:
        proc.wait_for_log(r"session established ", timeout=START_TIMEOUT)
        nl = len(L) + len(D) if nlisten is None else nlisten
        nr = len(R) if nremote is None else nremote
        if nl:
            proc.wait_for_log(LISTEN_RX, count=nl, timeout=START_TIMEOUT)
            for m in re.finditer(r" INFO forward: listening addr=(?:\S+):(\d+) (socks=)?", proc.log()):
                (proc.dports if m.group(2) else proc.lports).append(int(m.group(1)))
        if nr:
            proc.wait_for_log(REMOTE_OK_RX, count=nr, timeout=START_TIMEOUT)
            proc.allocated = [int(m.group(1)) for m in re.finditer(REMOTE_OK_RX, proc.log()) if m.group(1)]
    return proc


def wait_exit(proc, timeout=START_TIMEOUT):
    """Wait for ${proc} to exit by itself; returns its exit status."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{proc.name} (pid {proc.pid}) still running after {timeout} s; "
                             f"log tail:\n{proc.tail()}") from None


# --------------------------------------------------------------------------
# HTTP: python3 -m http.server and curl


def start_http(procs, tmp, host="127.0.0.1", size=1 * MiB + 4321, name="http.server"):
    """Serve a directory with one random file blob.bin; returns (port, blob)."""
    www = Path(tmp) / f"www-{name}"
    www.mkdir(exist_ok=True)
    blob = os.urandom(size)
    (www / "blob.bin").write_bytes(blob)
    port = free_tcp_port(host)
    p = procs.start([sys.executable, "-m", "http.server", str(port), "--bind", host,
                     "--directory", str(www)], name)
    wait_port(host, port, proc=p.p)
    return port, blob


def free_tcp_port(host="127.0.0.1"):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def curl(tmp, url, *opts, timeout=30):
    """curl ${url} with ${opts}; returns (CompletedProcess, body bytes)."""
    out = Path(tmp) / f"curl-{os.urandom(4).hex()}.out"
    r = run(["curl", "-sS", "-g", "--fail", "--max-time", str(timeout), "-o", out, *opts, url],
            timeout=timeout + 15)
    body = out.read_bytes() if out.exists() else b""
    return r, body


# --------------------------------------------------------------------------
# servers that count connections: TCP (conftest.TCPServerThread) and Unix


class UnixServer(TCPServerThread):
    """A threaded AF_UNIX stream server: echo (default) or a fixed greeting first.

    .accepted counts connections (the endpoint-multiplexing tests assert zero).
    """

    def __init__(self, path, greeting=None):
        self.greeting = greeting
        super().__init__(self._serve, path=path, backlog=64)

    def _serve(self, c, srv):
        if self.greeting is not None:
            c.sendall(self.greeting)
        while True:
            d = c.recv(1 << 16)
            if not d:
                break
            c.sendall(d)
        c.shutdown(socket.SHUT_WR)


def unix_echo_roundtrip(path, nbytes=256 * 1024):
    """Random bytes through a Unix socket entrance to an echo; assert intact."""
    from conftest import exchange

    data = os.urandom(nbytes)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(IO_TIMEOUT)
    try:
        s.connect(str(path))
        got, outcome, tx = exchange(s, data)
    finally:
        s.close()
    assert tx.error is None, f"sending failed after {tx.sent} bytes: {tx.error!r}"
    assert outcome == "eof", f"echo ended with {outcome} after {len(got)} bytes"
    assert got == data, f"echo returned {len(got)} bytes, differing from the {len(data)} sent"
    return True


def refused_stream(connect_fn, data=b"knock knock"):
    """Open a stream with ${connect_fn}(), send ${data}, read until the end.

    Returns (received, outcome); a refused or reset connect counts as
    (b"", "refused"/"reset").
    """
    try:
        s = connect_fn()
    except ConnectionRefusedError:
        return b"", "refused"
    except ConnectionResetError:
        return b"", "reset"
    try:
        try:
            s.sendall(data)
        except (ConnectionResetError, BrokenPipeError):
            return b"", "reset"
        return recv_until_end(s)
    finally:
        s.close()


def tcp_connector(host, port):
    def f():
        s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(IO_TIMEOUT)
        try:
            s.connect((host, port))
        except BaseException:
            s.close()
            raise
        return s

    return f


def unix_connector(path):
    def f():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(IO_TIMEOUT)
        try:
            s.connect(str(path))
        except BaseException:
            s.close()
            raise
        return s

    return f


# --------------------------------------------------------------------------
# raw SOCKS


def socks_conn(addr):
    s = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(IO_TIMEOUT)
    s.connect(addr)
    return s


def socks5_greet(s):
    s.sendall(b"\x05\x01\x00")
    rep = recv_exactly(s, 2)
    assert rep == b"\x05\x00", f"SOCKS5 method selection: got {rep!r}, expected 05 00"


def socks5_request(host, port, cmd=1):
    """VER CMD RSV ATYP DST.ADDR DST.PORT for an IPv4/IPv6 literal or a name."""
    try:
        addr = b"\x01" + socket.inet_pton(socket.AF_INET, host)
    except OSError:
        try:
            addr = b"\x04" + socket.inet_pton(socket.AF_INET6, host)
        except OSError:
            name = host.encode()
            addr = b"\x03" + bytes([len(name)]) + name
    return bytes([5, cmd, 0]) + addr + struct.pack(">H", port)


def socks5_connect(addr, host, port, cmd=1):
    """Full SOCKS5 CONNECT; returns (reply bytes (10 or fewer), outcome, socket).

    The caller closes the socket. outcome is "ok" when a full 10-byte reply
    arrived; after a non-zero REP the server must close: then the outcome of
    reading on is returned ("eof"/"reset"/...).
    """
    s = socks_conn(addr)
    socks5_greet(s)
    s.sendall(socks5_request(host, port, cmd))
    rep = recv_exactly(s, 10)
    if len(rep) == 10 and rep[1] == 0:
        return rep, "ok", s
    rest, outcome = recv_until_end(s)
    return rep + rest, outcome, s


def socks4_request(ip, port, user=b"", host=None, cmd=1):
    """SOCKS4 (ip = dotted IPv4) or 4a (host = name, ip ignored)."""
    if host is not None:
        dst = b"\x00\x00\x00\x01"
    else:
        dst = socket.inet_aton(ip)
    req = bytes([4, cmd]) + struct.pack(">H", port) + dst + user + b"\x00"
    if host is not None:
        req += (host if isinstance(host, bytes) else host.encode()) + b"\x00"
    return req


def socks4_connect(addr, ip, port, host=None, cmd=1):
    """Returns (reply bytes, outcome, socket) like socks5_connect (8-byte reply)."""
    s = socks_conn(addr)
    s.sendall(socks4_request(ip, port, host=host, cmd=cmd))
    rep = recv_exactly(s, 8)
    if len(rep) == 8 and rep[1] == 0x5A:
        return rep, "ok", s
    rest, outcome = recv_until_end(s)
    return rep + rest, outcome, s


def raw_exchange(addr, data):
    """Send ${data} raw to ${addr}, read until the peer ends: (received, outcome)."""
    s = socks_conn(addr)
    try:
        try:
            s.sendall(data)
        except (ConnectionResetError, BrokenPipeError):
            return b"", "reset"
        return recv_until_end(s)
    finally:
        s.close()


# --------------------------------------------------------------------------
# what a process listens on (ss)


def tcp_listeners(port):
    """[(local address without port, pid or None)] of TCP listeners on ${port}."""
    r = run(["ss", "-ltnpH", f"sport = :{port}"], timeout=10)
    assert r.returncode == 0, f"ss failed: {r.stderr}"
    out = []
    for line in r.stdout.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        local = fields[3]
        addr = local.rsplit(":", 1)[0]
        m = re.search(r"pid=(\d+)", line)
        out.append((addr, int(m.group(1)) if m else None))
    return out


def listen_addrs_of(port, pid):
    """The set of addresses ${pid} listens on with TCP port ${port} (asserting nobody else does)."""
    ls = tcp_listeners(port)
    others = [x for x in ls if x[1] is not None and x[1] != pid]
    assert not others, f"port {port} also held by another process: {others}"
    return {a for a, _ in ls}


def can_connect(host, port, timeout=5.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------------
# keys with fixed bytes (for reproducible key ids in the access matrix)


def write_fixed_key(path, seed):
    import base64

    raw = bytes((seed * 37 + i * 11) & 0xFF for i in range(32))
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("postern-psk-v1 " + base64.b64encode(raw).decode() + "\n")
    return path
