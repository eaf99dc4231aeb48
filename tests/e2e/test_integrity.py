# SPDX-License-Identifier: MIT
"""Tampering between client and server is detected and never delivered.

A relay passes the two 64-byte handshake messages through, then parses
records (4-byte big-endian length + sealed body) and, on the first
connection only, flips a byte in / drops / duplicates the Nth record in one
direction. The application behind -L must see a correct prefix of its data
and then a reset (the session died without GOODBYE), never wrong bytes; the receiving side logs
"record authentication failed"; the client then reconnects (through the
relay, untouched this time) and the tunnel works again.
"""

import os

import pytest

from conftest import (
    connect,
    echo_roundtrip,
    exchange,
    forward_spec,
)

MiB = 1 << 20
N = 5  # the record to tamper with (0-based, counted after the handshake)


def make_hook(direction, action, index=N, where="middle"):
    state = {"done": False, "len": None, "held": None}

    def hook(conn, d, i, hdr, body):
        if conn != 0 or d != direction:
            return [hdr + body]
        if action == "swap":  # reorder records N and N+1
            if i == index:
                state["held"] = hdr + body
                return []
            if i == index + 1:
                state["done"] = True
                return [hdr + body, state["held"]]
            return [hdr + body]
        if i != index:
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
        if action == "len-shrink":
            # A smaller, in-bounds length: the header is associated data, so the
            # tag over the (shorter) body must fail.
            return [(len(body) - 1).to_bytes(4, "big") + body]
        if action == "len-huge":
            # A length beyond the protocol's bound: rejected before the body is read.
            return [b"\xff\xff\xff\xf0" + body]
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
    ("c2s", "swap", None),
    ("c2s", "len-shrink", None),
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
    cli = pg.start_client(server=relay.addr, key=key,
                          forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
    lport = cli.listen[0][1]

    pattern = os.urandom(4 * MiB)
    s = connect("127.0.0.1", lport, timeout=30)
    try:
        got, outcome, _ = exchange(s, pattern)
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
    # The session died without GOODBYE: channels are reset, never closed as if complete.
    assert outcome == "reset", f"the application connection ended with {outcome}, not a reset"

    receiver = srv if direction == "c2s" else cli
    receiver.wait_for_log(r"record authentication failed session=\d+")
    check_after_tamper(srv, cli, relay, lport)


def check_after_tamper(srv, cli, relay, lport):
    assert srv.alive() and cli.alive()

    # The client notices, reconnects (relay connection 1 is left alone) and works again.
    cli.wait_for_log(r"session established ", count=2, timeout=60)
    assert relay.nconn >= 2
    assert echo_roundtrip(("127.0.0.1", lport))


@pytest.mark.parametrize("direction", ["c2s", "s2c"])
def test_record_length_out_of_bounds(pg, relays, echo_server, direction):
    """A record header announcing more than the protocol allows ends the
    session at once (the receiver must not wait for or buffer the body)."""
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=["any"])
    hook = make_hook(direction, "len-huge")
    relay = relays(srv.addr, record_hook=hook)
    cli = pg.start_client(server=relay.addr, key=key,
                          forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
    lport = cli.listen[0][1]
    pattern = os.urandom(4 * MiB)
    s = connect("127.0.0.1", lport, timeout=30)
    try:
        got, outcome, _ = exchange(s, pattern)
    finally:
        s.close()
    assert hook.state["done"], f"the relay never saw record {N} {direction}: {relay.records}"
    assert got == pattern[:len(got)], f"corrupted data delivered at offset {first_diff(got, pattern)}"
    assert len(got) < len(pattern)
    assert outcome == "reset", f"the application connection ended with {outcome}, not a reset"
    receiver = srv if direction == "c2s" else cli
    receiver.wait_for_log(r"session closed ")
    check_after_tamper(srv, cli, relay, lport)


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
    cli = pg.start_client(server=relay.addr, key=key, wait=False,
                          forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
    cli.wait_for_log(r"session established ", timeout=60)
    lport = int(cli.wait_for_log(r"listening addr=127\.0\.0\.1:(\d+) target=").group(1))
    assert flipped, "the relay did not tamper with message 2"
    assert relay.nconn >= 2, "the client established a session over a tampered message 2"
    assert cli.count(r"session established ") == 1
    cli.wait_for_log(r"listening addr=127\.0\.0\.1:%d target=" % lport)
    assert echo_roundtrip(("127.0.0.1", lport))
