# SPDX-License-Identifier: MIT
"""What a newcomer hits first: a forward that cannot be bound under
--no-exit-on-forward-failure, the signals a sysadmin sends by habit, a wrong
key (the client gives up before the server bans it), and ban_exempt."""

import os
import signal
import socket
import subprocess
from concurrent.futures import ThreadPoolExecutor

import noise_probe
from conftest import echo_roundtrip, forward_spec, free_port, hostport, probe


def test_no_exit_on_forward_failure_covers_a_local_port_in_use(pg, echo_server):
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=[hostport(*echo_server.addr)])
    busy = socket.socket()
    try:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        free = free_port()
        specs = [forward_spec("127.0.0.1", taken, *echo_server.addr),
                 forward_spec("127.0.0.1", free, *echo_server.addr)]
        cli = pg.start_client(server=srv, key=key, forwards=specs, expect_listen=specs[1:],
                              extra=["--no-exit-on-forward-failure"])
        cli.wait_for_log(r"cannot open forward kind=local forward=1 error=.*Address already in use")
        cli.wait_for_log(r"continuing without it")
        assert echo_roundtrip(("127.0.0.1", free))
        assert cli.alive(), f"client exited ({cli.returncode}):\n{cli.tail()}"
        assert not cli.search(r"exiting: a requested forward")
    finally:
        busy.close()


def test_habitual_signals_are_logged_and_do_not_kill(pg, echo_server):
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=[hostport(*echo_server.addr)])
    lport = free_port()
    cli = pg.start_client(server=srv, key=key, forwards=[forward_spec("127.0.0.1", lport, *echo_server.addr)])
    for proc in (srv, cli):
        os.kill(proc.pid, signal.SIGHUP)
        proc.wait_for_log(r"reloading from=SIGHUP")
        proc.wait_for_log(r"reload applied ")
        os.kill(proc.pid, signal.SIGUSR1)
        proc.wait_for_log(r"status ")
        os.kill(proc.pid, signal.SIGUSR2)
        proc.wait_for_log(r"signal ignored .*signal=SIGUSR2")
    srv.wait_for_log(r"status sessions=1 channels=\d+ unauthenticated=0 ")
    srv.wait_for_log(r"status bans=0$")
    cli.wait_for_log(r"status server=127\.0\.0\.1:\d+ session=established ")
    assert echo_roundtrip(("127.0.0.1", lport))
    assert srv.alive() and cli.alive(), f"server {srv.returncode}, client {cli.returncode}"


def test_wrong_key_client_gives_up_before_the_server_bans_it(pg, echo_server):
    key = pg.keygen()
    wrong = pg.keygen()
    # Default ban settings (5 failures in 60 s); a short delay keeps the test short.
    srv = pg.start_server(key=key, permit=[hostport(*echo_server.addr)], reject_delay="1-1")
    cli = pg.start_client(server=srv, key=wrong, wait=False)
    try:
        rc = cli.wait(timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"a client with a wrong key kept trying:\n{cli.tail()}")
    assert rc == 1, f"exit {rc}:\n{cli.tail()}"
    assert cli.search(r"ERROR client: cannot establish a session server=127\.0\.0\.1:\d+ attempts=3 reason="
                      r"\"the server refused the handshake: wrong key, clocks more than replay_window apart, "
                      r"or this address is banned\"$"), cli.tail()
    assert srv.count(r"refused peer=127\.0\.0\.1:\d+ ") == 3, srv.tail()
    assert not srv.search(r"banned"), srv.tail()
    # The corrected key gets in from the same address right away.
    lport = free_port()
    pg.start_client(server=srv, key=key, forwards=[forward_spec("127.0.0.1", lport, *echo_server.addr)],
                    name="client-2")
    assert echo_roundtrip(("127.0.0.1", lport))


def test_ban_exempt_source_is_never_banned(pg, echo_server):
    key = pg.keygen()
    psk = pg.psk(key)
    srv = pg.start_server(key=key, permit=[hostport(*echo_server.addr)], reject_delay="1-1",
                          ban_threshold=2, ban_window=600, extra=["--ban-exempt", "127.0.0.1"])

    def junk(source):
        return probe(srv.addr, os.urandom(64), source=source, timeout=20)

    with ThreadPoolExecutor(8) as ex:
        for got, outcome, _ in ex.map(junk, ["127.0.0.1"] * 8 + ["127.0.0.2"] * 2):
            assert got == b"" and outcome == "reset"
    # The threshold is live (another source is banned) ...
    srv.wait_for_log(r"banned source=127\.0\.0\.2 seconds=\d+ failures=2")
    assert srv.count(r"refused peer=127\.0\.0\.1:\d+ reason=\"no key matched") == 8
    # ... but the exempt one is not, and still gets a session.
    assert not srv.search(r"banned source=127\.0\.0\.1 "), srv.tail()
    init, _, _, s = noise_probe.handshake(srv.addr, psk, timeout=20)
    s.close()
    srv.wait_for_log(r"session authenticated id=\d+ peer=127\.0\.0\.1:\d+ ")
    lport = free_port()
    pg.start_client(server=srv, key=key, forwards=[forward_spec("127.0.0.1", lport, *echo_server.addr)])
    assert echo_roundtrip(("127.0.0.1", lport))


def test_server_whose_only_key_permits_nothing_warns_at_start(pg):
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=[])
    srv.wait_for_log(r"WARN server: key permits nothing: every forward it asks for will be denied .* key=default$")
    ok = pg.start_server(key=key, permit=["127.0.0.1:1"], name="server-2")
    ok.wait_for_log(r"server ready ")
    assert not ok.search(r"permits nothing")


def test_denied_localhost_says_names_never_match_addresses(pg, echo_server):
    key = pg.keygen()
    port = echo_server.addr[1]
    srv = pg.start_server(key=key, permit=[f"127.0.0.1:{port}"])
    lport = free_port()
    pg.start_client(server=srv, key=key, forwards=[forward_spec("127.0.0.1", lport, "localhost", port)])
    try:
        with socket.create_connection(("127.0.0.1", lport), timeout=10) as s:
            s.recv(1)
    except ConnectionResetError:
        pass  # the denied channel is reset: expected
    srv.wait_for_log(r"denied session=\d+ channel=\d+ target=localhost:%d key=default reason=\"not in permit_open \(names never match "
                     r"addresses: localhost is not permit_open 127\.0\.0\.1:%d" % (port, port))


def test_reject_delay_below_one_second_warns_at_start(pg):
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=["127.0.0.1:1"], reject_delay="0-2")
    srv.wait_for_log(r"WARN server: reject_delay starts below 1 s")
    ok = pg.start_server(key=key, permit=["127.0.0.1:1"], reject_delay="1-2", name="server-2")
    ok.wait_for_log(r"server ready ")
    assert not ok.search(r"reject_delay starts below")
