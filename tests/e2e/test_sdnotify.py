# SPDX-License-Identifier: MIT
"""sd_notify (issue 14): under Type=notify units, server and client tell
systemd through $NOTIFY_SOCKET when they are ready, reloading and stopping.
The socket here is a Python AF_UNIX datagram socket standing in for systemd:
a path, and an abstract name ("@..."), as systemd uses both."""

import os
import signal
import socket

import pytest

from conftest import echo_roundtrip, forward_spec

RECV_TIMEOUT = 15.0


class Notify:
    """A datagram socket playing systemd's notification socket."""

    def __init__(self, tmp, abstract):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"postern-test-notify-{os.getpid()}-{id(self)}"
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            path = str(tmp / "notify.sock")
            self.sock.bind(path)
            self.env = path
        self.sock.settimeout(RECV_TIMEOUT)

    def expect(self, state):
        """The next message; fails unless it holds ${state} (e.g. READY=1)."""
        try:
            msg = self.sock.recv(4096).decode()
        except socket.timeout:
            pytest.fail(f"no sd_notify message within {RECV_TIMEOUT} s (expected {state})")
        assert state in msg.split("\n"), f"expected {state}, got {msg!r}"
        return msg

    def close(self):
        self.sock.close()


@pytest.fixture(params=["path", "abstract"])
def notify(request, tmp):
    n = Notify(tmp, request.param == "abstract")
    try:
        yield n
    finally:
        n.close()


def start_server(pg, procs, tmp, key, notify):
    argv = [pg.bin, "server", "-l", "127.0.0.1:0", "-k", key, "--permit-open", "any",
            "--state-dir", tmp / "state-notify", "--reject-delay", "1-1"]
    env = dict(os.environ, NOTIFY_SOCKET=notify.env)
    srv = procs.start(argv, "server", env=env)
    srv.watch = True
    return srv


def test_server_notifies_ready_reloading_stopping(pg, procs, tmp, notify):
    key = pg.keygen()
    srv = start_server(pg, procs, tmp, key, notify)
    notify.expect("READY=1")
    # READY=1 comes after the listeners: the server already logged its port.
    assert "listening on 127.0.0.1:" in srv.log()
    os.kill(srv.pid, signal.SIGHUP)
    msg = notify.expect("RELOADING=1")
    assert any(line.startswith("MONOTONIC_USEC=") for line in msg.split("\n")), msg
    notify.expect("READY=1")
    srv.wait_for_log(r"reload")
    os.kill(srv.pid, signal.SIGTERM)
    notify.expect("STOPPING=1")
    srv.p.wait(timeout=10)
    assert srv.returncode == 0


def test_client_notifies_ready_once_forwards_are_up(pg, procs, tmp, notify, echo_server):
    key = pg.keygen()
    srv = pg.start_server(key=key)
    argv = [pg.bin, "client", "-k", key, "-L", forward_spec("127.0.0.1", 0, *echo_server.addr),
            f"{srv.host}:{srv.port}"]
    cli = procs.start(argv, "client", env=dict(os.environ, NOTIFY_SOCKET=notify.env))
    cli.watch = True
    notify.expect("READY=1")
    m = cli.wait_for_log(r"listening on 127\.0\.0\.1:(\d+)")
    echo_roundtrip(("127.0.0.1", int(m.group(1))))
    os.kill(cli.pid, signal.SIGHUP)
    notify.expect("RELOADING=1")
    notify.expect("READY=1")
    os.kill(cli.pid, signal.SIGTERM)
    notify.expect("STOPPING=1")
    cli.p.wait(timeout=10)


def test_no_notify_socket_changes_nothing(pg, procs, tmp):
    """Without $NOTIFY_SOCKET (or with one nobody listens on) the daemon runs as before."""
    key = pg.keygen()
    env = dict(os.environ, NOTIFY_SOCKET=str(tmp / "nobody-listens.sock"))
    argv = [pg.bin, "server", "-l", "127.0.0.1:0", "-k", key, "--permit-open", "any",
            "--state-dir", tmp / "state-nobody"]
    srv = procs.start(argv, "server", env=env)
    srv.watch = True
    srv.wait_for_log(r"server ready")
    os.kill(srv.pid, signal.SIGTERM)
    srv.p.wait(timeout=10)
    assert srv.returncode == 0
