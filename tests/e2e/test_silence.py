# SPDX-License-Identifier: MIT
"""The server is silent: anything but a fresh, authentic first message gets
zero bytes and a TCP reset, and the reason is logged. Also cross-checks the
handshake against an independent Python implementation (noise_probe)."""

import os
import re
import socket
import struct
import time

import pytest

import noise_probe
from conftest import echo_handler, echo_roundtrip, forward_spec, hostport, probe, wait_until

REFUSED = r"refused peer=127\.0\.0\.1:%d reason="


@pytest.fixture
def silent(pg):
    """A server with short timers and a ban threshold out of reach."""
    key = pg.keygen()
    srv = pg.start_server(key=key, reject_delay="1-2", ban_threshold=1000)
    srv.key = key
    srv.psk = pg.psk(key)
    return srv


def assert_silent_reset(srv, data, reason, source="127.0.0.1"):
    got, outcome, lport = probe(srv.addr, data, source=source, timeout=20)
    assert got == b"", f"server answered {len(got)} bytes: {got[:64].hex()}"
    assert outcome == "reset", f"expected a reset, the connection ended with {outcome}"
    pat = r"refused peer=%s:%d reason=\"?" % (re.escape(source), lport)
    if reason is not None:
        pat += re.escape(reason)
    return srv.wait_for_log(pat)


def test_noise_probe_selftest():
    """The independent implementation matches a published test vector."""
    assert noise_probe.selftest()


# (a) -----------------------------------------------------------------------

def test_silent_connect_send_nothing(silent):
    assert_silent_reset(silent, b"", "no complete first message by the reject delay")


def test_silent_partial_first_message(silent):
    assert_silent_reset(silent, os.urandom(40), "no complete first message by the reject delay")


# (b) -----------------------------------------------------------------------

@pytest.mark.parametrize("size", [64, 1000])
def test_silent_garbage(silent, size):
    assert_silent_reset(silent, os.urandom(size), "no key matched")


def test_silent_http_request(silent):
    req = b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: scanner\r\nAccept: */*\r\n" + b"X-Pad: " + b"a" * 40 + b"\r\n\r\n"
    assert_silent_reset(silent, req, "no key matched")


# (c) -----------------------------------------------------------------------

@pytest.mark.parametrize("cipher", ["chacha20-poly1305", "aes-256-gcm"])
def test_silent_wrong_key(silent, cipher):
    msg = noise_probe.first_message(os.urandom(32), cipher=cipher)
    assert len(msg) == 64
    assert_silent_reset(silent, msg, "no key matched")


def test_silent_right_key_bad_version(silent):
    """Authentic key but wrong version byte: still nothing but a reset."""
    msg = noise_probe.first_message(silent.psk, version=2)
    assert_silent_reset(silent, msg, None)


# cross-check: a valid first message gets exactly message 2 -------------------

@pytest.mark.parametrize("cipher", ["chacha20-poly1305", "aes-256-gcm"])
def test_valid_first_message_gets_valid_message_2(silent, cipher):
    init, msg1, msg2, s = noise_probe.handshake(silent.addr, silent.psk, cipher=cipher, timeout=20)
    try:
        lport = s.getsockname()[1]
        assert len(msg2) == 64  # and check_message_2() decrypted it (ee DH, payload version 1)
        silent.wait_for_log(r"session authenticated id=\d+ peer=127\.0\.0\.1:%d key=default$" % lport)
        # Split() works on our side: the transport keys exist and differ.
        send, recv = init.hs.split()
        assert send.k != recv.k
    finally:
        s.close()


# (d) -----------------------------------------------------------------------

def test_silent_replayed_first_message(silent):
    _, msg1, _, s = noise_probe.handshake(silent.addr, silent.psk, timeout=20)
    s.close()
    assert_silent_reset(silent, msg1, "replayed first message")
    # Still replayed on a third try.
    assert_silent_reset(silent, msg1, "replayed first message")


def test_replay_of_real_client_first_message(pg, silent, relays, echo_server):
    """Capture a real postern client's first message through a relay, check
    it with the independent responder, then replay it: reset, logged."""
    captured = []
    relay = relays(silent.addr, first_hook=lambda i, d, m: d == "c2s" and captured.append(m))
    pg.start_client(server=relay.addr, key=silent.key,
                    forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
    wait_until(lambda: captured, what="the client's first message")
    msg1 = captured[0]
    assert len(msg1) == 64
    # The C client's message decrypts under the independent implementation.
    resp = noise_probe.NNpsk0(silent.psk, initiator=False)
    payload = resp.read_message_1(msg1)
    ts_ms, version = struct.unpack(">QB", payload[:9])
    assert version == 1 and payload[9:] == b"\x00" * 7, payload.hex()
    assert abs(ts_ms / 1000.0 - time.time()) < 60, f"client timestamp {ts_ms} is not now"
    assert_silent_reset(silent, msg1, "replayed first message")


# (e) -----------------------------------------------------------------------

@pytest.mark.parametrize("offset", [-600, +600], ids=["stale", "future"])
def test_silent_timestamp_outside_window(silent, offset):
    msg = noise_probe.first_message(silent.psk, ts_offset_s=offset)
    assert_silent_reset(silent, msg, "timestamp outside window")


# (f) -----------------------------------------------------------------------

def test_ban_after_threshold(pg, tcp_servers):
    echo = tcp_servers(echo_handler)
    key = pg.keygen()
    psk = pg.psk(key)
    srv = pg.start_server(key=key, permit=[hostport(*echo.addr)], reject_delay="1-1",
                          ban_threshold=3, ban_window=60, ban_time=600)
    for _ in range(3):
        assert_silent_reset(srv, os.urandom(64), "no key matched", source="127.0.0.2")
    srv.wait_for_log(r"banned source=127\.0\.0\.2 seconds=600 failures=3")

    # A valid first message from the banned source: reset, nothing back.
    msg = noise_probe.first_message(psk)
    assert_silent_reset(srv, msg, "banned", source="127.0.0.2")
    assert not srv.search(r"session authenticated id=\d+ peer=127\.0\.0\.2:"), "banned source got a session"

    # Another source is unaffected: a real client connects and forwards.
    cli = pg.start_client(server=srv, key=key, forwards=[forward_spec("127.0.0.1", 0, *echo.addr)])
    lport = cli.listen[0][1]
    assert echo_roundtrip(("127.0.0.1", lport))
    srv.wait_for_log(r"session authenticated id=\d+ peer=127\.0\.0\.1:\d+ key=default$")


# replay cache is keyed on the client's ephemeral key (PROTOCOL.md S5) ---------

def test_silent_reused_ephemeral_with_new_timestamp(silent):
    """Same e, fresh timestamp (so different bytes): still a replay."""
    e_priv = os.urandom(32)
    now_ms = int(time.time() * 1000)
    init, msg1, _, s = noise_probe.handshake(silent.addr, silent.psk, timeout=20, e_priv=e_priv, ts_ms=now_ms)
    s.close()
    again = noise_probe.first_message(silent.psk, e_priv=e_priv, ts_ms=now_ms + 1500)
    assert again != msg1 and again[:32] == msg1[:32]
    assert_silent_reset(silent, again, "replayed first message")


# a flood of idle pre-auth connections cannot lock out another source ----------

def test_preauth_flood_does_not_lock_out_other_source(pg, tcp_servers):
    echo = tcp_servers(echo_handler)
    key = pg.keygen()
    # Idle peers may wait 30 s for their first message: the flood outlasts the test.
    srv = pg.start_server(key=key, permit=[hostport(*echo.addr)], reject_delay="30-30",
                          ban_threshold=1000, max_unauth=16)
    flood = []
    try:
        for i in range(5):  # 5 sources x 8 = 40 idle connections > max_unauth 16
            for _ in range(8):
                s = socket.socket()
                flood.append(s)
                s.settimeout(10)
                s.bind((f"127.0.1.{i + 1}", 0))
                s.connect(srv.addr)
                s.sendall(b"\x00" * 10)  # a partial first message, then silence
        # The cap holds: the ones over it are refused (held for their reset,
        # not read), while a real client from elsewhere still gets in.
        srv.wait_for_log(r"refused peer=127\.0\.1\.\d+:\d+ reason=\"too many unauthenticated connections")
        cli = pg.start_client(server=srv, key=key, forwards=[forward_spec("127.0.0.1", 0, *echo.addr)])
        lport = cli.listen[0][1]
        assert echo_roundtrip(("127.0.0.1", lport))
        # No flood connection ever received a byte, nor was closed early.
        for s in flood:
            s.setblocking(False)
            try:
                data = s.recv(100)
            except BlockingIOError:
                data = None
            assert data is None, f"the server ended or answered an idle connection before its delay: {data!r}"
    finally:
        for s in flood:
            s.close()
