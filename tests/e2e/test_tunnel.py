# SPDX-License-Identifier: MIT
"""Data through -L: integrity, half-close, concurrency, destination failures,
config files with several keys and profiles, and reconnection."""

import os
import re
import selectors
import signal
import socket
import struct
import textwrap
import threading

import pytest

from conftest import (
    MiB,
    IO_TIMEOUT,
    Sender,
    connect,
    echo_roundtrip,
    send_in_chunks,
    forward_spec,
    free_port,
    hostport,
    make_source_handler,
    probe,
    recv_exactly,
    recv_until_end,
    sha256,
    sink_sha_handler,
    wait_port,
    wait_until,
)

MiB = 1 << 20


# --------------------------------------------------------------------------
# 1. 64 MiB each way, half-close in both directions


def test_upload_64mib_then_half_close(pg, tcp_servers):
    """Client sends 64 MiB and SHUT_WR; the destination sees EOF, replies with
    the SHA-256 it computed, and the reply still reaches the client."""
    sink = tcp_servers(sink_sha_handler, conn_timeout=120)
    _, _, laddr = pg.tunnel(sink.addr, permit=[hostport(*sink.addr)])
    data = os.urandom(64 * MiB)
    s = connect(*laddr, timeout=120)
    try:
        send_in_chunks(s, data)
        s.shutdown(socket.SHUT_WR)
        reply, outcome = recv_until_end(s)
    finally:
        s.close()
    assert outcome == "eof", f"after half-close: {outcome}, reply so far {reply!r}"
    assert reply.decode(errors="replace") == f"{sha256(data)} {len(data)}\n"
    assert sink.errors == []


def test_download_64mib_then_half_close(pg, tcp_servers):
    """The destination sends 64 MiB and SHUT_WR; the client sees EOF, then
    sends the SHA-256 it computed back, which the destination must receive."""
    src = tcp_servers(make_source_handler(64 * MiB), conn_timeout=120)
    _, _, laddr = pg.tunnel(src.addr, permit=[hostport(*src.addr)])
    s = connect(*laddr, timeout=120)
    try:
        got, outcome = recv_until_end(s)
        assert outcome == "eof", f"download ended with {outcome} after {len(got)} bytes"
        digest = sha256(got).encode()
        s.sendall(digest)
        s.shutdown(socket.SHUT_WR)
        rest, outcome2 = recv_until_end(s)
    finally:
        s.close()
    assert rest == b"" and outcome2 == "eof", (rest, outcome2)
    wait_until(lambda: src.results or src.errors, what="the source server to finish")
    assert src.errors == []
    _, sent_sha, n, reply = src.results[0]
    assert len(got) == n == 64 * MiB
    assert digest.decode() == sent_sha, "downloaded bytes differ from the bytes sent"
    assert reply == digest, f"destination got {reply!r} after its half-close, expected {digest!r}"


@pytest.mark.parametrize("cipher", ["chacha20-poly1305", "aes-256-gcm"])
def test_round_trip_each_cipher(pg, echo_server, cipher):
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=[hostport(*echo_server.addr)])
    cli = pg.start_client(server=srv, key=key, cipher=cipher,
                          forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
    lport = cli.listen[0][1]
    assert echo_roundtrip(("127.0.0.1", lport), 8 * MiB)
    srv.wait_for_log(r"session authenticated id=\d+ peer=127\.0\.0\.1:\d+ key=default$")
    assert cli.alive() and srv.alive()


@pytest.mark.parametrize("usec", ["0", "1000"])
def test_busy_poll_off_and_longest(pg, echo_server, usec):
    """The loop runs the same with polling off (plain uv_run) and at its longest
    window: data, small round trips and a clean SIGTERM exit."""
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=[hostport(*echo_server.addr)], extra=["--busy-poll", usec])
    cli = pg.start_client(server=srv, key=key, forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)],
                          extra=["--busy-poll", usec])
    lport = cli.listen[0][1]
    assert echo_roundtrip(("127.0.0.1", lport), 8 * MiB)
    with socket.create_connection(("127.0.0.1", lport), timeout=10) as s:
        for i in range(200):
            msg = b"%05d" % i
            s.sendall(msg)
            assert recv_exactly(s, len(msg)) == msg
    for proc in (cli, srv):
        assert proc.stop() == 0 and not proc.needed_sigkill, proc.tail()


def test_sustained_echo_many_rounds_and_parallel(pg, echo_server):
    """Many 8 MiB echo round trips on one session (flow-control windows fill
    and drain over and over), then 8 such channels in parallel."""
    _, _, laddr = pg.tunnel(echo_server.addr)
    for _ in range(24):
        assert echo_roundtrip(laddr, 8 * MiB)
    errors = []

    def one():
        try:
            echo_roundtrip(laddr, 8 * MiB)
        except BaseException as e:  # collected and asserted below
            errors.append(repr(e))

    threads = [threading.Thread(target=one, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "parallel echo channels did not finish"
    assert errors == [], errors


# --------------------------------------------------------------------------
# 2. 200 channels open at once


def test_200_concurrent_channels(pg, echo_server):
    N, SIZE = 200, 48 * 1024
    _, _, laddr = pg.tunnel(echo_server.addr)
    payloads = [i.to_bytes(4, "big") + os.urandom(SIZE - 4) for i in range(N)]
    socks = []
    try:
        for _ in range(N):
            socks.append(connect(*laddr, timeout=IO_TIMEOUT))
        sel = selectors.DefaultSelector()
        state = {}
        for i, s in enumerate(socks):
            s.setblocking(False)
            state[s] = {"i": i, "sent": 0, "recv": bytearray(), "end": None}
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        pending = N
        deadline_ok = wait_deadline(120)
        while pending:
            if not deadline_ok():
                raise AssertionError(f"{pending} of {N} channels unfinished after 120 s")
            for k, ev in sel.select(timeout=1.0):
                s = k.fileobj
                st = state[s]
                data = payloads[st["i"]]
                if ev & selectors.EVENT_WRITE and st["sent"] < SIZE:
                    try:
                        st["sent"] += s.send(data[st["sent"]:st["sent"] + 65536])
                    except BlockingIOError:
                        pass
                    if st["sent"] == SIZE:
                        sel.modify(s, selectors.EVENT_READ)
                if ev & selectors.EVENT_READ:
                    try:
                        chunk = s.recv(65536)
                    except BlockingIOError:
                        continue
                    except ConnectionResetError:
                        chunk, st["end"] = b"", "reset"
                    if chunk:
                        st["recv"] += chunk
                    if not chunk or len(st["recv"]) >= SIZE:
                        st["end"] = st["end"] or ("eof" if not chunk else "done")
                        sel.unregister(s)
                        pending -= 1
        bad = [(st["i"], st["end"], len(st["recv"])) for st in state.values()
               if bytes(st["recv"]) != payloads[st["i"]]]
        assert not bad, f"{len(bad)} channels got wrong data (index, end, bytes): {bad[:10]}"
        # All 200 destination connections existed at the same time.
        assert echo_server.accepted == N, echo_server.accepted
        assert echo_server.max_active == N, echo_server.max_active
    finally:
        for s in socks:
            s.close()
    # Every close propagates: the echo server sees EOF on all 200.
    wait_until(lambda: len(echo_server.results) + len(echo_server.errors) >= N, timeout=30,
               what="all echo connections to end")
    assert echo_server.errors == []
    assert sorted(r[1] for r in echo_server.results) == [SIZE] * N


def wait_deadline(seconds):
    import time

    end = time.monotonic() + seconds
    return lambda: time.monotonic() < end


# --------------------------------------------------------------------------
# 8. destination failures


def test_destination_connect_refused(pg):
    closed = free_port()
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=[f"127.0.0.1:{closed}"])
    cli = pg.start_client(server=srv, key=key, forwards=[forward_spec("127.0.0.1", 0, "127.0.0.1", closed)])
    lport = cli.listen[0][1]
    got, outcome, _ = probe(("127.0.0.1", lport), b"hello?")
    assert got == b""
    assert outcome == "reset", f"local connection ended with {outcome}, expected a reset"
    cli.wait_for_log(r"open failed channel=\d+ target=\S+ error=\"connect failed: Connection refused")
    assert cli.alive() and srv.alive()


def test_destination_not_permitted(pg, tcp_servers):
    from conftest import echo_handler

    allowed = tcp_servers(echo_handler)
    other = tcp_servers(echo_handler)
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=[hostport(*allowed.addr)])
    cli = pg.start_client(server=srv, key=key, forwards=[
        forward_spec("127.0.0.1", 0, *allowed.addr),
        forward_spec("127.0.0.1", 0, *other.addr),
    ])
    l_ok = cli.listen[0][1]
    l_no = cli.listen[1][1]
    got, outcome, _ = probe(("127.0.0.1", l_no), b"let me in")
    assert got == b"", f"denied channel delivered {got!r}"
    assert outcome == "reset", f"local connection ended with {outcome}, expected a reset"
    srv.wait_for_log(r"channel denied session=\d+ channel=\d+ target=" + re.escape(hostport(*other.addr))
                     + r" key=default reason=\"not in permit_open")
    cli.wait_for_log(r"open failed channel=\d+ target=\S+ error=\"administratively prohibited: not in permit_open")
    assert other.accepted == 0, "the server connected to a destination outside permit_open"
    # The session survives a denied channel.
    assert echo_roundtrip(("127.0.0.1", l_ok))


# --------------------------------------------------------------------------
# 10. config files: two keys with different permit_open, two client profiles


def test_config_files_two_keys_two_profiles(pg, tmp, tcp_servers):
    from conftest import echo_handler

    dest_a = tcp_servers(echo_handler)
    dest_b = tcp_servers(echo_handler)
    alice = pg.keygen("alice.key")
    bob = pg.keygen("bob.key")
    server_conf = tmp / "server.conf"
    server_conf.write_text(textwrap.dedent(f"""\
        # two keys, each allowed one destination
        [server]
        listen = 127.0.0.1:0
        max_refusals = 100
        reject_delay = 1-1

        [key alice]
        key_file = {alice}
        permit_open = {hostport(*dest_a.addr)}

        [key bob]
        key_file = {bob}
        permit_open = {hostport(*dest_b.addr)}
        """))
    srv = pg.start_server(config=server_conf)  # reads the port it got from its log
    sport = srv.port
    client_conf = tmp / "client.conf"
    client_conf.write_text(textwrap.dedent(f"""\
        [profile alice]
        server = 127.0.0.1:{sport}
        key_file = {alice}
        local_forward = 0:{hostport(*dest_a.addr)}
        local_forward = 0:{hostport(*dest_b.addr)}

        [profile bob]
        server = 127.0.0.1:{sport}
        key_file = {bob}
        local_forward = 0:{hostport(*dest_a.addr)}
        local_forward = 0:{hostport(*dest_b.addr)}
        """))
    ca = pg.start_client(config=client_conf, profile="alice", name="client-alice",
                         expect_listen=[f"0:{hostport(*dest_a.addr)}", f"0:{hostport(*dest_b.addr)}"])
    srv.wait_for_log(r"session authenticated .*key=alice$")
    cb = pg.start_client(config=client_conf, profile="bob", name="client-bob",
                         expect_listen=[f"0:{hostport(*dest_a.addr)}", f"0:{hostport(*dest_b.addr)}"])
    srv.wait_for_log(r"session authenticated .*key=bob$")
    (_, la_a), (_, la_b) = ca.listen
    (_, lb_a), (_, lb_b) = cb.listen

    def denied(lport):
        got, outcome, _ = probe(("127.0.0.1", lport), b"x" * 100)
        assert outcome == "reset", f"denied channel ended with {outcome}, expected a reset"
        return got

    assert echo_roundtrip(("127.0.0.1", la_a))
    assert denied(la_b) == b""
    srv.wait_for_log(r"denied session=\d+ channel=\d+ target=" + re.escape(hostport(*dest_b.addr)) + r" key=alice reason=\"not in permit_open")
    ca.wait_for_log(r"administratively prohibited")

    assert echo_roundtrip(("127.0.0.1", lb_b))
    assert denied(lb_a) == b""
    srv.wait_for_log(r"denied session=\d+ channel=\d+ target=" + re.escape(hostport(*dest_a.addr)) + r" key=bob reason=\"not in permit_open")
    cb.wait_for_log(r"administratively prohibited")

    # Each destination was reached exactly once: by its own key's round trip.
    assert dest_a.accepted == 1, dest_a.accepted
    assert dest_b.accepted == 1, dest_b.accepted
    assert srv.count(r"denied .* key=alice ") == 1 and srv.count(r"denied .* key=bob ") == 1


# --------------------------------------------------------------------------
# 11. reconnect after the server restarts


def test_client_reconnects_after_server_restart(pg, echo_server):
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=[hostport(*echo_server.addr)])
    port = srv.port
    cli = pg.start_client(server=srv, key=key, forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
    lport = cli.listen[0][1]
    assert echo_roundtrip(("127.0.0.1", lport))

    srv.stop()
    cli.wait_for_log(r"reconnecting delay=\d+(\.\d)?s", timeout=30)
    assert cli.alive(), "client exited when the server went away"

    srv2 = pg.start_server(key=key, port=port, permit=[hostport(*echo_server.addr)], name="server-2")
    cli.wait_for_log(r"session established ", count=2, timeout=90)
    srv2.wait_for_log(r"session authenticated .*key=default$")
    wait_port("127.0.0.1", lport, timeout=15, proc=cli.p)
    assert echo_roundtrip(("127.0.0.1", lport))
    assert echo_server.accepted >= 2


def test_rekeying_in_both_directions_keeps_data_intact(pg, echo_server):
    """With a rekey every 4 records, both ends change keys many times in each
    direction while 8 MiB echo through, and not one byte is lost or altered."""
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=[hostport(*echo_server.addr)],
                          extra=["--rekey-records", "4", "-v"])
    cli = pg.start_client(server=srv, key=key, forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)],
                          extra=["--rekey-records", "4", "-v"])
    lport = cli.listen[0][1]
    assert echo_roundtrip(("127.0.0.1", lport), nbytes=8 * MiB)
    for proc in (srv, cli):
        proc.wait_for_log(r"rekeyed the sending key", count=3)
        proc.wait_for_log(r"rekeyed the receiving key", count=3)
    assert echo_roundtrip(("127.0.0.1", lport))


def test_keepalive_detects_a_frozen_server(pg, echo_server):
    """A server that stops answering (SIGSTOP) is noticed by keepalives, not by a
    read that hangs forever; once it is back the client reconnects."""
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=[hostport(*echo_server.addr)], extra=["--keepalive", "1"])
    cli = pg.start_client(server=srv, key=key, forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)],
                          extra=["--keepalive", "1"])
    lport = cli.listen[0][1]
    assert echo_roundtrip(("127.0.0.1", lport))
    os.kill(srv.pid, signal.SIGSTOP)
    try:
        cli.wait_for_log(r"closed id=\d+ reason=\"peer timed out \(no keepalive\)\"", timeout=20)
    finally:
        os.kill(srv.pid, signal.SIGCONT)
    cli.wait_for_log(r"session established ", count=2, timeout=30)
    wait_port("127.0.0.1", lport, timeout=15, proc=cli.p)
    assert echo_roundtrip(("127.0.0.1", lport))


# --------------------------------------------------------------------------
# resets and truncation are propagated, never turned into a clean close


def rst_close(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_reset_propagates_from_application_to_destination(pg, tcp_servers):
    """The application resets its connection: the destination sees a reset, not EOF."""
    seen = {}
    got_data = threading.Event()

    def handler(conn, srv):
        buf = b""
        while len(buf) < 5:
            chunk = conn.recv(5 - len(buf))
            if not chunk:
                break
            buf += chunk
        seen["data"] = buf
        got_data.set()
        seen["end"] = recv_until_end(conn)[1]

    dest = tcp_servers(handler)
    _, _, laddr = pg.tunnel(dest.addr)
    s = connect(*laddr)
    s.sendall(b"hello")
    assert got_data.wait(IO_TIMEOUT), "the destination never got the first bytes"
    rst_close(s)
    wait_until(lambda: "end" in seen, timeout=IO_TIMEOUT, what="the destination connection to end")
    assert seen["data"] == b"hello"
    assert seen["end"] == "reset", f"destination saw {seen['end']} after the application reset"


def test_reset_propagates_from_destination_to_application(pg, tcp_servers):
    """The destination resets its connection: the application sees a reset, not EOF."""
    delivered = threading.Event()

    def handler(conn, srv):
        conn.sendall(b"partial answer")
        delivered.wait(IO_TIMEOUT)
        rst_close(conn)

    dest = tcp_servers(handler)
    _, _, laddr = pg.tunnel(dest.addr)
    s = connect(*laddr)
    try:
        first = recv_exactly(s, len(b"partial answer"))
        delivered.set()
        rest, outcome = recv_until_end(s)
    finally:
        s.close()
    assert first == b"partial answer"
    assert rest == b""
    assert outcome == "reset", f"application saw {outcome} after the destination reset"


def test_server_killed_midstream_resets_channel(pg, tcp_servers):
    """A session that dies without GOODBYE (server SIGKILLed) must reset the
    application's channel: a truncated download never looks complete."""
    src = tcp_servers(make_source_handler(512 * MiB))
    srv, cli, laddr = pg.tunnel(src.addr)
    s = connect(*laddr)
    try:
        head = recv_exactly(s, 2 * MiB)
        assert len(head) == 2 * MiB
        srv.kill()
        rest, outcome = recv_until_end(s)
    finally:
        s.close()
    assert len(head) + len(rest) < 512 * MiB
    assert outcome == "reset", f"after the server died the application saw {outcome}, not a reset"
    cli.wait_for_log(r"reconnecting delay=\d+(\.\d)?s")
    assert cli.alive()


def test_client_killed_midstream_resets_destination(pg, tcp_servers):
    """The client process dies: the server must reset the destination
    connection (truncation), not half-close it as if the upload were complete."""
    seen = {}
    started = threading.Event()

    def handler(conn, srv):
        n = 0
        try:
            while True:
                chunk = conn.recv(1 << 16)
                if not chunk:
                    seen["end"] = "eof"
                    break
                n += len(chunk)
                if n >= MiB:
                    started.set()
        except ConnectionResetError:
            seen["end"] = "reset"
        seen["n"] = n

    dest = tcp_servers(handler)
    srv, cli, laddr = pg.tunnel(dest.addr)
    s = connect(*laddr)
    tx = Sender(s, os.urandom(256 * MiB), shut_wr=False)
    tx.start()
    try:
        assert started.wait(IO_TIMEOUT), "upload did not start"
        cli.kill()
        wait_until(lambda: "end" in seen, timeout=IO_TIMEOUT, what="the destination connection to end")
    finally:
        s.close()
        tx.join(timeout=IO_TIMEOUT)
    assert seen["end"] == "reset", f"destination saw {seen['end']} after the client died mid-upload"
    srv.wait_for_log(r"session closed ")
    assert srv.alive()


def test_server_killed_after_half_close_resets_channel(pg, tcp_servers):
    """The application has sent its whole request and half-closed; the session
    then dies before the answer. The application must see a reset, not an EOF
    that would make an empty/truncated answer look complete."""
    got_eof = threading.Event()
    release = threading.Event()

    def handler(conn, srv):
        recv_until_end(conn)  # the request, up to the half-close
        got_eof.set()
        release.wait(IO_TIMEOUT)

    dest = tcp_servers(handler)
    srv, cli, laddr = pg.tunnel(dest.addr)
    s = connect(*laddr)
    try:
        s.sendall(b"GET /answer\r\n")
        s.shutdown(socket.SHUT_WR)
        assert got_eof.wait(IO_TIMEOUT), "the destination never saw the half-close"
        srv.kill()
        rest, outcome = recv_until_end(s)
    finally:
        release.set()
        s.close()
    assert rest == b""
    assert outcome == "reset", f"after the session died the half-closed application saw {outcome}, not a reset"
    cli.wait_for_log(r"reconnecting delay=\d+(\.\d)?s")


def test_flags_override_the_file(pg, tmp):
    # -l replaces the file's listen list; a flag beats the same setting in the
    # file; settings that once were file-only have flags now (issue 16).
    key = pg.keygen("k.key")
    file_port, flag_port = free_port(), free_port()
    conf = tmp / "server.conf"
    conf.write_text(f"[server]\nlisten = 127.0.0.1:{file_port}\nreject_delay = 0-0\n"
                    f"keepalive = 30\nmax_sessions = 1\n"
                    f"[key a]\nkey_file = {key}\npermit_open = any\n")
    srv = pg.start_server(config=str(conf), port=flag_port,
                          extra=["--keepalive", "0", "--max-sessions", "5",
                                 "--max-unauth-per-source", "4"])
    srv.wait_for_log(r"server ready keys=1 listeners=1")
    assert f"listening addr=127.0.0.1:{file_port}" not in srv.log(), srv.log()
    with socket.create_connection(("127.0.0.1", flag_port), timeout=5):
        pass


def test_small_request_then_half_close_while_connecting(pg, echo_server):
    """A request and its EOF both arrive while the server is still connecting
    to the destination: the EOF must wait for the held bytes (it used to
    shut the socket first, so the bytes were refused and the channel reset)."""
    for size in (1, 4096, 60000):
        _, _, laddr = pg.tunnel(echo_server.addr, permit=[hostport(*echo_server.addr)])
        for _ in range(5):
            echo_roundtrip(laddr, size)
