# SPDX-License-Identifier: MIT
"""Tampering between client and server is detected and never delivered.

A relay passes the two 64-byte handshake messages through, then parses
records (4-byte big-endian length + sealed body) and, on the first
connection only, flips a byte in / drops / duplicates the Nth record in one
direction. The application behind -L must see a correct prefix of its data
and then a reset or close, never wrong bytes; the receiving side logs
"record authentication failed"; the client then reconnects (through the
relay, untouched this time) and the tunnel works again.
"""

import os

import pytest

from conftest import (
    Sender,
    connect,
    echo_roundtrip,
    forward_spec,
    free_port,
    recv_until_end,
)

MiB = 1 << 20
N = 5  # the record to tamper with (0-based, counted after the handshake)


def make_hook(direction, action, index=N, where="middle"):
    state = {"done": False, "len": None}

    def hook(conn, d, i, hdr, body):
        if conn != 0 or d != direction or i != index:
            return [hdr + body]
        state["done"] = True
        state["len"] = len(body)
        if action == "flip":
            b = bytearray(body)
            pos = {"first": 0, "middle": len(b) // 2, "last": len(b) - 1}[where]
            b[pos] ^= 0x01
            return [hdr + bytes(b)]
        if action == "drop":
            return []
        if action == "dup":
            return [hdr + body, hdr + body]
        raise ValueError(action)

    hook.state = state
    return hook


def first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


CASES = [
    ("c2s", "flip", "middle"),
    ("c2s", "flip", "first"),
    ("c2s", "flip", "last"),  # inside the tag
    ("c2s", "drop", None),
    ("c2s", "dup", None),
    ("s2c", "flip", "middle"),
    ("s2c", "drop", None),
    ("s2c", "dup", None),
]


@pytest.mark.parametrize("direction,action,where", CASES,
                         ids=[f"{d}-{a}" + (f"-{w}" if w else "") for d, a, w in CASES])
def test_tampered_record_is_never_delivered(pg, relays, echo_server, direction, action, where):
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=["any"])
    hook = make_hook(direction, action, where=where or "middle")
    relay = relays(srv.addr, record_hook=hook)
    lport = free_port()
    cli = pg.start_client(server=relay.addr, key=key,
                          forwards=[forward_spec("127.0.0.1", lport, *echo_server.addr)])

    pattern = os.urandom(4 * MiB)
    s = connect("127.0.0.1", lport, timeout=30)
    try:
        tx = Sender(s, pattern, shut_wr=True)
        tx.start()
        got, outcome = recv_until_end(s)
        tx.join(timeout=30)
    finally:
        s.close()

    assert hook.state["done"], (
        f"the relay never saw record {N} {direction} (records seen: {relay.records}); test setup problem")
    # Never wrong data: what arrived is an exact prefix of what was sent.
    assert got == pattern[:len(got)], (
        f"corrupted data delivered: first wrong byte at offset {first_diff(got, pattern)} "
        f"of {len(got)} received")
    assert len(got) < len(pattern), (
        f"all {len(pattern)} bytes came back although record {N} {direction} was {action}ped; "
        "tampering went unnoticed")
    assert outcome in ("reset", "eof"), f"the application connection was left hanging ({outcome})"

    receiver = srv if direction == "c2s" else cli
    receiver.wait_for_log(r"session \d+: record authentication failed")
    other = cli if direction == "c2s" else srv
    assert other.alive() and receiver.alive()

    # The client notices, reconnects (relay connection 1 is left alone) and works again.
    cli.wait_for_log(r"session established with ", count=2, timeout=60)
    assert relay.nconn >= 2
    assert echo_roundtrip(("127.0.0.1", lport))


def test_tampered_handshake_message_2(pg, relays, echo_server):
    """A flipped bit in message 2 (first connection only): the client must
    not establish that session; its next attempt goes through untouched."""
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=["any"])
    flipped = []

    def first_hook(idx, d, msg):
        if idx == 0 and d == "s2c":
            b = bytearray(msg)
            b[40] ^= 0x80  # inside the encrypted payload
            flipped.append(True)
            return bytes(b)
        return None

    relay = relays(srv.addr, first_hook=first_hook, parse_records=False)
    lport = free_port()
    cli = pg.start_client(server=relay.addr, key=key, wait=False,
                          forwards=[forward_spec("127.0.0.1", lport, *echo_server.addr)])
    cli.wait_for_log(r"session established with ", timeout=60)
    assert flipped, "the relay did not tamper with message 2"
    assert relay.nconn >= 2, "the client established a session over a tampered message 2"
    assert cli.count(r"session established with ") == 1
    cli.wait_for_log(r"listening on 127\.0\.0\.1:%d for " % lport)
    assert echo_roundtrip(("127.0.0.1", lport))
