# SPDX-License-Identifier: MIT
"""What one key holder can make the server spend (issue 9, findings 3 and 4):
memory through replies it never reads and data its destinations never read,
and descriptors through channels. Each test drives a real server with a real
or raw (noise_probe) client and measures the server process itself."""

import os
import socket
import struct
import threading

import pytest

import noise_probe
from conftest import (
    IO_TIMEOUT,
    START_TIMEOUT,
    connect,
    forward_spec,
    free_port,
    hostport,
    recv_exactly,
    wait_until,
)

MiB = 1 << 20


def asan_build(binary):
    """1 if ${binary} is built with AddressSanitizer (it keeps freed memory in
    quarantine and pads every block, so its RSS says little about ours)."""
    with open(binary, "rb") as f:
        return b"__asan_init" in f.read()


@pytest.fixture
def rss_slack(pg, monkeypatch):
    """How far RSS bounds stretch for this binary: 1, or 3 under ASan with
    its quarantine off (the servers started afterwards inherit the setting)."""
    if not asan_build(pg.bin):
        return 1
    opts = os.environ.get("ASAN_OPTIONS", "")
    monkeypatch.setenv("ASAN_OPTIONS", (opts + ":" if opts else "") + "quarantine_size_mb=0")
    return 3


def vm_rss(pid):
    """Resident set of ${pid} in bytes, from /proc/PID/status."""
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


class RawSession:
    """An authenticated session spoken from Python: records and frames by hand."""

    def __init__(self, addr, psk):
        init, _, _, self.sock = noise_probe.handshake(addr, psk, timeout=IO_TIMEOUT)
        self.send_cs, self.recv_cs = init.hs.split()

    def record(self, plain):
        hdr = struct.pack(">I", len(plain) + noise_probe.TAGLEN)
        return hdr + self.send_cs.encrypt_with_ad(hdr, plain)

    def close(self):
        self.sock.close()


def ping(cookie):
    return struct.pack(">BQ", 8, cookie)


def test_ping_flood_without_reading_keeps_server_memory_bounded(pg, rss_slack):
    """A peer that sends PINGs and never reads its socket: the server must stop
    reading once the PONGs it owes are queued past a bound, instead of queueing
    replies without end (the old server grew ~8 bytes of RSS per byte sent)."""
    key = pg.keygen()
    srv = pg.start_server(key=key)
    base = vm_rss(srv.pid)
    s = RawSession(srv.addr, pg.psk(key))
    s.sock.settimeout(2.0)
    sent, cookie, budget = 0, 0, 16 * MiB
    try:
        while sent < budget:
            chunk = b"".join(s.record(ping(cookie + i)) for i in range(8192))
            cookie += 8192
            try:
                s.sock.sendall(chunk)
            except socket.timeout:
                # The server stopped reading us: exactly what bounds its memory.
                break
            sent += len(chunk)
        grown = vm_rss(srv.pid) - base
        # Old code: about 130 MiB for 16 MiB of PINGs (measured: 198 MiB for
        # 24). Now: one receive buffer (1 MiB) of PINGs and the queued PONGs
        # up to the 1 MiB bound; the socket buffers are the kernel's.
        assert grown < 24 * MiB * rss_slack, f"server RSS grew {grown / MiB:.1f} MiB after {sent / MiB:.1f} MiB of PINGs"
        assert srv.alive()
    finally:
        s.close()


def hold_handler(conn, srv):
    """A destination that accepts and never reads, until the test ends."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    while not srv._stop.wait(0.1):
        pass


def push(addr, nbytes, results):
    """Open a -L connection and push ${nbytes} into it for as long as it takes them."""
    try:
        c = connect(*addr)
    except OSError as e:
        results.append(("connect", repr(e)))
        return
    c.settimeout(3.0)
    try:
        c.sendall(b"\xab" * nbytes)
        results.append(("sent", nbytes))
    except (socket.timeout, OSError) as e:
        results.append(("stalled", repr(e)))
    finally:
        c.close()


def test_buffer_budget_bounds_memory_and_refuses_new_channels(pg, tcp_servers, echo_server, rss_slack):
    """Many channels filling their windows toward a destination that never
    reads: the server buffers at most about its budget, refuses new channels
    with OPEN_FAIL resource "buffer budget reached" (logged), and another
    session's open channel keeps working."""
    key = pg.keygen()
    srv = pg.start_server(key=key, extra=["--session-buffer", "4", "--server-buffer", "4"])
    base = vm_rss(srv.pid)
    sink = tcp_servers(hold_handler)
    lport_a, lport_b, lport_b2 = free_port(), free_port(), free_port()
    pg.start_client(server=srv, key=key, name="client-a",
                    forwards=[forward_spec("127.0.0.1", lport_a, *sink.addr)])
    cli_b = pg.start_client(server=srv, key=key, name="client-b",
                            forwards=[forward_spec("127.0.0.1", lport_b, *echo_server.addr),
                                      forward_spec("127.0.0.1", lport_b2, *echo_server.addr)])
    # B's channel is open before A fills the server's buffers.
    b = connect("127.0.0.1", lport_b)
    b.sendall(b"before")
    assert recv_exactly(b, 6) == b"before"

    results, threads = [], []
    for _ in range(12):
        t = threading.Thread(target=push, args=(("127.0.0.1", lport_a), 4 * MiB, results), daemon=True)
        t.start()
        threads.append(t)
    try:
        wait_until(lambda: len(results) == len(threads), timeout=30, what="the pushers to stall or finish")
        grown = vm_rss(srv.pid) - base
        # Old code: 12 channels x 4 MiB windows, about 70 MiB. Budget: 4 MiB
        # plus one DATA record of overshoot, plus the socket queues' own heap.
        assert grown < 24 * MiB * rss_slack, f"server RSS grew {grown / MiB:.1f} MiB"

        # A new channel from B is refused with a reason, while the process is over budget.
        try:
            n = connect("127.0.0.1", lport_b2)
            n.sendall(b"new")
            n.close()
        except OSError:  # the refusal's reset may already be here
            pass
        cli_b.wait_for_log(r"open failed .*buffer budget reached")
        srv.wait_for_log(r"channel refused session=\d+ channel=\d+ reason=\"buffer budget reached")
        # B's existing channel is unaffected: B is under its share and still read.
        b.sendall(b"after")
        assert recv_exactly(b, 5) == b"after"
    finally:
        b.close()
        for t in threads:
            t.join(timeout=10)


def test_one_session_cannot_take_every_descriptor(pg, echo_server):
    """With a low descriptor limit, one session opens channels until refused
    ("descriptor budget reached"); a second client still completes its
    handshake and opens channels (the old server ran out of descriptors and
    refused every new handshake)."""
    key = pg.keygen()
    port = free_port()
    argv = ["prlimit", "--nofile=300:300", pg.bin, "server", "-l", hostport("127.0.0.1", port),
            "-k", key, "--permit-open", "any", "--state-dir", str(pg.tmp / "state")]
    srv = pg.procs.start(argv, "server")
    srv.watch = True
    srv.wait_for_log(r"listening addr=" + hostport("127.0.0.1", port).replace(".", r"\."), timeout=START_TIMEOUT)
    srv.addr = ("127.0.0.1", port)
    lport_a, lport_b = free_port(), free_port()
    pg.start_client(server=srv.addr, key=key, name="client-a",
                    forwards=[forward_spec("127.0.0.1", lport_a, *echo_server.addr)])
    held, refused = [], False
    try:
        for i in range(400):
            try:
                c = connect("127.0.0.1", lport_a)
                held.append(c)
                c.sendall(b"x")
                got = c.recv(1)
            except OSError:  # the refused channel's reset, at whatever step it lands
                got = b""
            if got != b"x":
                refused = True
                break
        assert refused, f"{len(held)} channels opened under a 300-descriptor limit"
        srv.wait_for_log(r"channel refused session=\d+ channel=\d+ reason=\"descriptor budget reached")
        # A second client: handshake and a working channel.
        pg.start_client(server=srv.addr, key=key, name="client-b",
                        forwards=[forward_spec("127.0.0.1", lport_b, *echo_server.addr)])
        for _ in range(3):
            c = connect("127.0.0.1", lport_b)
            held.append(c)
            c.sendall(b"hello")
            assert recv_exactly(c, 5) == b"hello"
    finally:
        for c in held:
            c.close()


def test_remote_listeners_draw_on_the_descriptor_budget(pg, echo_server):
    """-R listeners are descriptors too: one session asking for many of them
    is refused ("descriptor budget reached") before the process runs out, and
    another client still handshakes and carries bytes (the listeners used to
    be outside every budget)."""
    key = pg.keygen()
    port = free_port()
    argv = ["prlimit", "--nofile=300:300", pg.bin, "server", "-l", hostport("127.0.0.1", port),
            "-k", key, "--permit-open", "any", "--permit-listen", "127.0.0.1:*",
            "--state-dir", str(pg.tmp / "state")]
    srv = pg.procs.start(argv, "server")
    srv.watch = True
    srv.wait_for_log(r"listening addr=" + hostport("127.0.0.1", port).replace(".", r"\."), timeout=START_TIMEOUT)
    srv.addr = ("127.0.0.1", port)
    remotes = []
    for _ in range(200):
        remotes += ["-R", f"127.0.0.1:0:{hostport(*echo_server.addr)}"]
    pg.start_client(server=srv.addr, key=key, name="client-a", wait=False,
                    extra=["--no-exit-on-forward-failure"] + remotes)
    srv.wait_for_log(r"remote forward failed session=\d+ key=default error=\"descriptor budget reached")
    allocated = srv.count(r"remote forward listening session=\d+ listen=127\.0\.0\.1:\d+")
    assert 0 < allocated < 200, f"{allocated} of 200 listeners under a 300-descriptor limit"
    lport = free_port()
    pg.start_client(server=srv.addr, key=key, name="client-b",
                    forwards=[forward_spec("127.0.0.1", lport, *echo_server.addr)])
    with connect("127.0.0.1", lport) as c:
        c.sendall(b"hello")
        assert recv_exactly(c, 5) == b"hello"
