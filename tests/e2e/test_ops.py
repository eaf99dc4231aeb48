"""Running it for real (issue 13): SIGHUP reload with sessions live, `postern
check`, privilege drop. Every test drives real postern processes."""

import os
import pwd
import shutil
import signal
import socket
import tempfile
from pathlib import Path

import datetime
import hashlib
import json
import subprocess

import re

import pytest
from test_peers import ssh_argv, sshd  # noqa: F401 (a fixture)

from conftest import (MiB, connect, echo_roundtrip, forward_spec, free_port, hostport, probe,
                      recv_until_end, run, send_in_chunks, sha256, sink_sha_handler,
                      wait_until)


def server_conf(path, port, keys, extra="", listen=None):
    """[server] with ${listen} (default 127.0.0.1:${port}) and one stanza per (name, key, permit)."""
    listen = listen or [f"127.0.0.1:{port}"]
    text = "[server]\n" + "".join(f"listen = {l}\n" for l in listen) + extra + "\n"
    for name, key, permit in keys:
        text += f"[key {name}]\nkey_file = {key}\npermit_open = {permit}\n"
    path.write_text(text)
    return path


def hup(proc):
    proc.p.send_signal(signal.SIGHUP)


def log_time(m):
    """The time stamp (UTC seconds) of the log line around match ${m}."""
    line = m.string[m.string.rfind("\n", 0, m.start()) + 1:]
    stamp = datetime.datetime.strptime(line[:23], "%Y-%m-%dT%H:%M:%S.%f")
    return stamp.replace(tzinfo=datetime.timezone.utc).timestamp()


def reloaded(proc, n):
    """Wait for the ${n}-th reload outcome line and return it."""
    return proc.wait_for_log(r"reload (applied|rejected, configuration unchanged).*",
                             count=n)


# --- reload -------------------------------------------------------------------

def test_reload_keeps_kept_session_and_closes_removed(pg, tmp, tcp_servers, echo_server):
    """A 64 MiB upload through key 'a' runs across a SIGHUP that removes key
    'b': the upload completes with the right checksum, 'b's session is closed
    (its open connection ends), and a session of 'b' cannot come back."""
    ka, kb = pg.keygen("a.key"), pg.keygen("b.key")
    sink = tcp_servers(sink_sha_handler, conn_timeout=120)
    port = free_port()
    conf = tmp / "server.conf"
    server_conf(conf, port, [("a", ka, hostport(*sink.addr)), ("b", kb, hostport(*echo_server.addr))])
    srv = pg.start_server(config=conf)
    ca = pg.start_client(server=srv, key=ka, forwards=[forward_spec("127.0.0.1", 0, *sink.addr)],
                         name="client-a")
    cb = pg.start_client(server=srv, key=kb,
                         forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)], name="client-b")
    sb = connect(*cb.listen[0])
    sb.sendall(b"before")
    assert sb.recv(6) == b"before"

    data = os.urandom(64 * MiB)
    s = connect(*ca.listen[0], timeout=120)
    try:
        send_in_chunks(s, data[:32 * MiB])
        server_conf(conf, port, [("a", ka, hostport(*sink.addr))])
        hup(srv)
        assert "reload applied" in reloaded(srv, 1).group(0)
        srv.wait_for_log(r"session revoked by reload id=\d+ peer=\S+ key=b$")
        # The rest of the transfer goes after the reload, on the same session.
        send_in_chunks(s, data[32 * MiB:])
        s.shutdown(socket.SHUT_WR)
        reply, outcome = recv_until_end(s)
    finally:
        s.close()
    assert outcome == "eof", outcome
    assert reply.decode(errors="replace") == f"{sha256(data)} {len(data)}\n"
    assert srv.count(r"session authenticated .*key=a$") == 1, "key a's session was not kept"

    # b's connection ends (the session under it is gone) ...
    sb.settimeout(10)
    _, outcome_b = recv_until_end(sb)
    sb.close()
    assert outcome_b in ("eof", "reset"), outcome_b
    closed = srv.wait_for_log(r"session closed id=\d+ reason=\"key revoked by reload\"")
    # ... within a second of the SIGHUP, by the server's own clock ...
    hupped = srv.wait_for_log(r"reloading from=SIGHUP")
    assert log_time(closed) - log_time(hupped) <= 1.0, (hupped.group(0), closed.group(0))
    # ... and b's client, reconnecting, is refused: the key is gone.
    srv.wait_for_log(r"refused peer=127\.0\.0\.1:\d+ reason=\"no key matched")


def test_reload_replaced_key_is_a_revocation(pg, tmp, echo_server):
    """[key a] keeps its name but now names another key file: the session
    made with the old key is closed, and a client holding the new key gets in."""
    old, new = pg.keygen("old.key"), pg.keygen("new.key")
    port = free_port()
    conf = tmp / "server.conf"
    server_conf(conf, port, [("a", old, hostport(*echo_server.addr))])
    srv = pg.start_server(config=conf)
    fwd = [forward_spec("127.0.0.1", 0, *echo_server.addr)]
    c_old = pg.start_client(server=srv, key=old, forwards=fwd, name="client-old")
    echo_roundtrip(c_old.listen[0])
    server_conf(conf, port, [("a", new, hostport(*echo_server.addr))])
    hup(srv)
    assert "reload applied" in reloaded(srv, 1).group(0)
    srv.wait_for_log(r"session revoked by reload id=\d+ peer=\S+ key=a$")
    c_old.wait_for_log(r"session closed id=\d+ reason=\"peer closed the session\"")
    c_new = pg.start_client(server=srv, key=new, forwards=fwd, name="client-new")
    echo_roundtrip(c_new.listen[0])
    assert srv.count(r"session authenticated .*key=a$") == 2


def test_reload_bad_config_keeps_old(pg, tmp, echo_server):
    """A config with an error is rejected whole on SIGHUP (logged with
    file:line); the old keys, policy and listener keep serving."""
    ka, kb = pg.keygen("a.key"), pg.keygen("b.key")
    port = free_port()
    conf = tmp / "server.conf"
    server_conf(conf, port, [("a", ka, hostport(*echo_server.addr))])
    srv = pg.start_server(config=conf)
    cli = pg.start_client(server=srv, key=ka,
                          forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
    echo_roundtrip(cli.listen[0])
    # Valid stanzas first (a new key b, a tighter policy for a), then a typo:
    # none of it may apply.
    conf.write_text(f"[server]\nlisten = 127.0.0.1:{port}\n"
                    f"[key a]\nkey_file = {ka}\npermit_open = 127.0.0.1:1\n"
                    f"[key b]\nkey_file = {kb}\npermit_open = any\npermt_listen = any\n")
    hup(srv)
    line = reloaded(srv, 1).group(0)
    assert "server.conf:9: unknown setting 'permt_listen' in [key b]" in line, line
    assert "configuration unchanged" in line
    echo_roundtrip(cli.listen[0])  # a's old policy still allows the echo server
    assert srv.count(r"denied") == 0
    # A missing key file is an error too.
    server_conf(conf, port, [("a", ka, "any"), ("b", tmp / "nope.key", "any")])
    hup(srv)
    line = reloaded(srv, 2).group(0)
    assert "nope.key" in line and "configuration unchanged" in line, line
    echo_roundtrip(cli.listen[0])


def test_reload_policy_applies_to_new_channels(pg, tmp, echo_server):
    """A kept key whose permit_open no longer allows a destination: the
    channel already open keeps carrying bytes; a new one is denied."""
    ka = pg.keygen("a.key")
    port = free_port()
    conf = tmp / "server.conf"
    server_conf(conf, port, [("a", ka, hostport(*echo_server.addr))])
    srv = pg.start_server(config=conf)
    cli = pg.start_client(server=srv, key=ka,
                          forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
    s = connect(*cli.listen[0])
    s.sendall(b"one")
    assert s.recv(3) == b"one"
    server_conf(conf, port, [("a", ka, "127.0.0.1:1")])
    hup(srv)
    assert "reload applied" in reloaded(srv, 1).group(0)
    s.sendall(b"two")
    assert s.recv(3) == b"two"
    s.close()
    try:
        t = connect(*cli.listen[0])
    except ConnectionResetError:  # the denial's reset can land on connect() itself
        outcome = "reset"
    else:
        t.settimeout(10)
        _, outcome = recv_until_end(t)
        t.close()
    assert outcome in ("eof", "reset"), outcome
    srv.wait_for_log(r"denied session=\d+ channel=\d+ target=127\.0\.0\.1:\d+ key=a ")


def test_reload_adds_key_and_listener(pg, tmp, echo_server):
    """SIGHUP adds a key and a listen address: a client of the new key gets in
    through the new address; a removed address stops accepting."""
    ka, kb = pg.keygen("a.key"), pg.keygen("b.key")
    p1, p2 = free_port(), free_port()
    conf = tmp / "server.conf"
    server_conf(conf, p1, [("a", ka, "any")])
    srv = pg.start_server(config=conf)
    server_conf(conf, p1, [("a", ka, "any"), ("b", kb, hostport(*echo_server.addr))],
                listen=[f"127.0.0.1:{p2}"])
    hup(srv)
    assert "reload applied" in reloaded(srv, 1).group(0)
    srv.wait_for_log(rf"listening addr=127\.0\.0\.1:{p2}$")
    srv.wait_for_log(rf"reload: no longer listening listen=127\.0\.0\.1:{p1}$")
    cli = pg.start_client(server=("127.0.0.1", p2), key=kb,
                          forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
    echo_roundtrip(cli.listen[0])
    srv.wait_for_log(r"session authenticated .*key=b$")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", p1), timeout=5).close()


def client_profile(path, server, key, forwards):
    addr = server if isinstance(server, tuple) else server.addr
    text = f"[profile office]\nserver = {hostport(*addr)}\nkey_file = {key}\n"
    text += "".join(f"local_forward = {f}\n" for f in forwards)
    path.write_text(text)
    return path


def test_client_reload_adds_and_removes_forwards(pg, tmp, tcp_servers, echo_server):
    """SIGHUP to a client: a forward added to its profile starts listening; a
    removed one stops accepting, while a connection it already carried keeps
    carrying bytes; a forward kept keeps its port."""
    key = pg.keygen()
    srv = pg.start_server(key=key)
    other = tcp_servers(lambda c, s: (c.sendall(b"other"), c.close()))
    pa, pb = free_port(), free_port()
    fa = forward_spec("127.0.0.1", pa, *echo_server.addr)
    fb = forward_spec("127.0.0.1", pb, *other.addr)
    conf = client_profile(tmp / "client.conf", srv, key, [fa])
    cli = pg.start_client(config=conf, profile="office", expect_listen=[fa])
    live = connect("127.0.0.1", pa)
    live.sendall(b"one")
    assert live.recv(3) == b"one"

    client_profile(conf, srv, key, [fa, fb])
    hup(cli)
    cli.wait_for_log(r"reload applied local=2 ")
    cli.wait_for_log(rf"listening addr=127\.0\.0\.1:{pb} target=")
    t = connect("127.0.0.1", pb)
    t.settimeout(10)
    got, _ = recv_until_end(t)
    t.close()
    assert got == b"other"
    echo_roundtrip(("127.0.0.1", pa))

    client_profile(conf, srv, key, [fb])
    hup(cli)
    cli.wait_for_log(r"reload applied local=1 ", count=1)
    cli.wait_for_log(r"reload removed forward=\"-L 127\.0\.0\.1:\d+:127\.0\.0\.1:\d+\"")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", pa), timeout=5).close()
    live.sendall(b"two")
    assert live.recv(3) == b"two"
    live.close()
    # A profile with an error changes nothing.
    conf.write_text(conf.read_text() + "locl_forward = 1:2:3\n")
    hup(cli)
    line = cli.wait_for_log(r"reload rejected, configuration unchanged error=.*").group(0)
    assert "client.conf:5: unknown setting 'locl_forward'" in line, line
    assert cli.count(r"session established") == 1


def test_client_reload_new_key_moves_to_a_new_session(pg, tmp, echo_server):
    """SIGHUP after the profile's key_file changed (key rollover on the same
    server): the client brings up a session with the new key, new
    connections go through it, the old session closes with GOODBYE, the -R
    forward comes back on the new session (same port), and the -L listener
    never stops."""
    ka, kb = pg.keygen("a.key"), pg.keygen("b.key")
    rport = free_port()
    conf = tmp / "server.conf"
    both = f"any\npermit_listen = {rport}"
    server_conf(conf, free_port(), [("a", ka, both), ("b", kb, both)])
    srv = pg.start_server(config=conf)
    lport = free_port()
    fa = forward_spec("127.0.0.1", lport, *echo_server.addr)
    prof = tmp / "client.conf"
    client_profile(prof, srv, ka, [fa])
    prof.write_text(prof.read_text() + f"remote_forward = {rport}:{hostport(*echo_server.addr)}\n")
    cli = pg.start_client(config=prof, profile="office", expect_listen=[fa])
    cli.wait_for_log(rf"remote forward listening listen=\"port {rport}\" ")
    srv.wait_for_log(r"session authenticated .*key=a$")
    echo_roundtrip(("127.0.0.1", lport))

    prof.write_text(prof.read_text().replace(f"key_file = {ka}", f"key_file = {kb}"))
    hup(cli)
    cli.wait_for_log(r"reload: moving to a new session server=")
    srv.wait_for_log(r"session authenticated .*key=b$")
    cli.wait_for_log(r"handover old=1 new=2")
    cli.wait_for_log(r"session closed id=1 reason=\"replaced by reload\"")
    srv.wait_for_log(r"session closed id=\d+ reason=\"peer closed the session\"")
    cli.wait_for_log(rf"remote forward listening listen=\"port {rport}\" ", count=2)
    assert cli.count(r"remote forward failed") == 0, cli.tail()
    echo_roundtrip(("127.0.0.1", lport))
    echo_roundtrip(("127.0.0.1", rport))
    assert cli.count(r"listening addr=") == 1, "the -L listener was reopened"
    assert cli.alive() and srv.count(r"session authenticated ") == 2


def test_client_reload_new_server(pg, tmp, echo_server):
    """SIGHUP after the profile names another server: the client moves there
    (the new server sees the session and carries the forward); the old
    server sees its session end."""
    key = pg.keygen()
    s1 = pg.start_server(key=key, permit=["any"], name="server-1")
    s2 = pg.start_server(key=key, permit=["any"], name="server-2")
    lport = free_port()
    fa = forward_spec("127.0.0.1", lport, *echo_server.addr)
    prof = client_profile(tmp / "client.conf", s1, key, [fa])
    cli = pg.start_client(config=prof, profile="office", expect_listen=[fa])
    echo_roundtrip(("127.0.0.1", lport))
    client_profile(prof, s2, key, [fa])
    hup(cli)
    s2.wait_for_log(r"session authenticated .*key=default$")
    s1.wait_for_log(r"session closed id=1 reason=\"peer closed the session\"")
    cli.wait_for_log(r"session established id=2 server=" + re.escape(hostport(*s2.addr)) + " ")
    echo_roundtrip(("127.0.0.1", lport))
    assert cli.count(r"session closed ") == 1 and s2.count(r"session closed ") == 0


def test_client_reload_unreachable_server_keeps_the_old_session(pg, tmp, echo_server):
    """A reload to a server that does not answer: the old session keeps
    carrying new connections while the client keeps trying; a bad key file
    is rejected whole."""
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=["any"])
    lport = free_port()
    fa = forward_spec("127.0.0.1", lport, *echo_server.addr)
    prof = client_profile(tmp / "client.conf", srv, key, [fa])
    cli = pg.start_client(config=prof, profile="office", expect_listen=[fa])
    prof.write_text(prof.read_text().replace("key_file = ", "key_file = /nonexistent/"))
    hup(cli)
    line = cli.wait_for_log(r"reload rejected, configuration unchanged error=.*").group(0)
    assert "/nonexistent/" in line, line
    client_profile(prof, ("127.0.0.1", free_port()), key, [fa])
    hup(cli)
    cli.wait_for_log(r"connect failed server=127\.0\.0\.1:\d+ ", count=1)
    cli.wait_for_log(r"reconnecting delay=")
    echo_roundtrip(("127.0.0.1", lport))
    assert cli.count(r"session closed id=1 ") == 0 and srv.count(r"session closed ") == 0


# --- daemon life -----------------------------------------------------------------

def test_sigterm_removes_what_it_created(pg, tmp, echo_server):
    """pid_file and the control socket exist while the server runs and are
    gone after SIGTERM, which closes sessions with a GOODBYE and exits 0."""
    key = pg.keygen()
    pidf, ctl = tmp / "postern.pid", tmp / "ctl.sock"
    srv = pg.start_server(key=key, permit=[hostport(*echo_server.addr)],
                          extra=["--pid-file", str(pidf), "--control", str(ctl)])
    assert pidf.read_text() == f"{srv.pid}\n"
    assert ctl.exists()
    cli = pg.start_client(server=srv, key=key,
                          forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
    echo_roundtrip(cli.listen[0])
    srv.p.send_signal(signal.SIGTERM)
    assert srv.p.wait(timeout=20) == 0
    assert not pidf.exists() and not ctl.exists()
    cli.wait_for_log(r"session closed id=\d+ reason=\"peer closed the session\"")


@pytest.mark.parametrize("flags", [["--log", "syslog"], ["--syslog"]])
def test_log_syslog_leaves_stderr_quiet(pg, tmp, flags):
    """log = syslog (or --syslog): the lines go to syslog, not stderr (the
    control socket shows the server is up); the default writes them to stderr."""
    key = pg.keygen()
    ctl = tmp / "ctl.sock"
    srv = pg.start_server(key=key, extra=[*flags, "--control", str(ctl)], port=free_port(),
                          wait=False)
    wait_until(lambda: run([pg.bin, "status", "--control", ctl]).returncode == 0,
               what="the control socket to answer")
    assert srv.alive()
    assert "listening addr=" not in srv.log() and "server ready" not in srv.log(), srv.log()


def test_client_log_syslog(pg):
    """The client's log = syslog: its one ERROR line does not reach stderr; the
    exit status still says it failed."""
    key = pg.keygen()
    args = [pg.bin, "client", "-k", key, "--connect-attempts", "1", f"127.0.0.1:{free_port()}"]
    plain = run(args)
    assert plain.returncode == 1 and "cannot establish a session" in plain.stderr
    for flags in (["--log", "syslog"], ["--syslog"]):
        quiet = run(args + flags)
        assert quiet.returncode == 1 and quiet.stderr == "", (flags, quiet.stderr)


# --- client resilience -----------------------------------------------------------

def test_server_killed_during_traffic_client_comes_back_with_remote_forwards(
        pg, tmp, tcp_servers, echo_server):
    """kill -9 the server while a transfer runs: the client notices, keeps
    its -L listener, reconnects when a server is back on the port, asks for
    its -R forward again, and both directions work anew."""
    key = pg.keygen()
    rport = free_port()
    state = tmp / "state"
    args = dict(key=key, permit=[hostport(*echo_server.addr)], state_dir=state,
                extra=["--permit-listen", str(rport), "--keepalive", "1"])
    srv = pg.start_server(**args)
    port = srv.port
    cli = pg.start_client(server=srv, key=key,
                          forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)],
                          extra=["-R", f"{rport}:{hostport(*echo_server.addr)}", "--keepalive", "1"])
    cli.wait_for_log(rf"remote forward listening listen=\"port {rport}\" ")
    lport = cli.listen[0][1]
    s = connect("127.0.0.1", lport)
    s.sendall(b"x" * 65536)
    srv.kill()
    cli.wait_for_log(r"session closed id=\d+ ", timeout=10)
    cli.wait_for_log(r"reconnecting delay=\d+(\.\d)?s")
    s.settimeout(10)
    _, outcome = recv_until_end(s)
    s.close()
    assert outcome in ("reset", "eof"), outcome
    srv2 = pg.start_server(port=port, name="server-2", **args)
    cli.wait_for_log(r"session established ", count=2, timeout=90)
    cli.wait_for_log(rf"remote forward listening listen=\"port {rport}\" ", count=2)
    echo_roundtrip(("127.0.0.1", lport))
    echo_roundtrip(("127.0.0.1", rport))
    srv2.wait_for_log(r"session authenticated .*key=default$")
    assert cli.alive()


# --- -W (stdio mode) ----------------------------------------------------------------

def test_stdio_mode_as_ssh_proxycommand(pg, sshd, tmp):  # noqa: F811
    """ssh through `postern client -W %h:%p` as its ProxyCommand, to a real
    sshd behind the server: a command runs, 8 MiB go up and come back
    hashed, and the postern client exits when ssh is done."""
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=[f"127.0.0.1:{sshd.port}"])
    proxy = f"{pg.bin} client -k {key} -W %h:%p {hostport(*srv.addr)}"
    argv = ssh_argv(sshd.port, sshd.client_key, "echo", "via-W")
    argv[1:1] = ["-o", f"ProxyCommand={proxy}"]
    r = run(argv, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "via-W", (r.returncode, r.stdout, r.stderr)
    srv.wait_for_log(r"session authenticated .*key=default$")
    blob = os.urandom(8 * MiB)
    argv = ssh_argv(sshd.port, sshd.client_key, "sha256sum")
    argv[1:1] = ["-o", f"ProxyCommand={proxy}"]
    up = subprocess.run(argv, input=blob, capture_output=True, timeout=120)
    assert up.returncode == 0, up.stderr
    assert up.stdout.split()[0].decode() == hashlib.sha256(blob).hexdigest()
    # Each ssh ran its own client, which ended with it.
    srv.wait_for_log(r"session closed ", count=2)


def test_stdio_mode_refuses_forwards(pg):
    key = pg.keygen()
    r = run([pg.bin, "client", "-k", key, "-W", "127.0.0.1:22", "-L", "1:127.0.0.1:2",
             "127.0.0.1:1"])
    assert r.returncode == 2 and "-W takes stdin and stdout" in r.stderr, r.stderr


# --- control socket: status, metrics, ctl -------------------------------------------

def status_json(pg, path):
    r = run([pg.bin, "status", "--control", path, "--json"])
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_status_json_two_channels_and_metrics(pg, tmp, echo_server):
    """A session with two open channels: status (text and --json) shows the
    identity, the peer, both channels and byte counters that move; the
    metrics parse as Prometheus text and agree."""
    from prometheus_client import parser  # python3-prometheus-client (setup-debian.sh)
    ka = pg.keygen("a.key")
    ctl = tmp / "server.sock"
    conf = server_conf(tmp / "server.conf", free_port(), [("a", ka, hostport(*echo_server.addr))],
                       f"control = {ctl}\n")
    srv = pg.start_server(config=conf)
    assert (os.stat(ctl).st_mode & 0o777) == 0o600
    cli = pg.start_client(server=srv, key=ka,
                          forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
    s1, s2 = connect(*cli.listen[0]), connect(*cli.listen[0])
    for s in (s1, s2):
        s.sendall(b"x" * 1000)
        assert len(recv_exactly_n(s, 1000)) == 1000
    st = status_json(pg, ctl)
    assert st["role"] == "server" and st["version"] == 1
    assert len(st["sessions"]) == 1
    sess = st["sessions"][0]
    assert sess["identity"] == "a" and sess["peer"].startswith("127.0.0.1:")
    assert sess["channels"] == 2
    dests = [c["target"] for c in sess["channel_list"]]
    assert dests == [hostport(*echo_server.addr)] * 2, sess
    assert sorted(c["bytes_in"] for c in sess["channel_list"]) == [1000, 1000]
    assert all(c["open"] for c in sess["channel_list"])
    assert sess["bytes_in"] >= 2000 and sess["bytes_out"] >= 2000
    s1.sendall(b"y" * 5000)
    assert len(recv_exactly_n(s1, 5000)) == 5000
    st2 = status_json(pg, ctl)
    assert st2["sessions"][0]["bytes_in"] >= sess["bytes_in"] + 5000
    assert sorted(c["bytes_in"] for c in st2["sessions"][0]["channel_list"]) == [1000, 6000]
    text = run([pg.bin, "status", "-c", conf])
    assert text.returncode == 0 and "identity a" in text.stdout and "channels 2" in text.stdout
    m = run([pg.bin, "metrics", "-c", conf])
    assert m.returncode == 0, m.stderr
    fams = {f.name: f for f in parser.text_string_to_metric_families(m.stdout)}
    assert fams["postern_sessions"].samples[0].value == 1
    assert fams["postern_channels"].samples[0].value == 2
    got = {smp.labels["direction"]: smp.value for smp in fams["postern_bytes"].samples
           if smp.name == "postern_bytes_total"}
    assert got["in"] >= 7000 and got["out"] >= 7000
    assert {smp.labels["reason"] for smp in fams["postern_refusals"].samples} >= {"no_key", "banned"}
    s1.close()
    s2.close()


def test_metrics_listen_scrape(pg, tmp, echo_server):
    """metrics_listen serves GET /metrics over HTTP, parseable by
    prometheus_client and counting the session; other paths get 404."""
    from prometheus_client import parser  # python3-prometheus-client (setup-debian.sh)
    import urllib.error
    import urllib.request
    key = pg.keygen()
    mport = free_port()
    srv = pg.start_server(key=key, permit=[hostport(*echo_server.addr)],
                          extra=["--metrics-listen", f"127.0.0.1:{mport}"])
    srv.wait_for_log(rf"metrics url=http://127\.0\.0\.1:{mport}/metrics")
    cli = pg.start_client(server=srv, key=key,
                          forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
    echo_roundtrip(cli.listen[0])
    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        body = r.read().decode()
    fams = {f.name: f for f in parser.text_string_to_metric_families(body)}
    assert fams["postern_sessions"].samples[0].value == 1
    assert fams["postern_sessions_authenticated"].samples[0].value == 1
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://127.0.0.1:{mport}/other", timeout=10)
    assert e.value.code == 404


def test_control_socket_refuses_other_uid(pg, tmp):
    """Even with the socket file opened up to everyone, a peer of another uid
    (checked with SO_PEERCRED) gets no answer, and the refusal is logged."""
    if os.geteuid() != 0:
        pytest.skip("needs root to connect as another uid")
    nobody = pwd.getpwnam("nobody")
    d = Path(tempfile.mkdtemp(prefix="postern-ctl-"))
    try:
        os.chmod(d, 0o755)
        ctl = d / "server.sock"
        srv = pg.start_server(key=pg.keygen(), extra=["--control", str(ctl)])
        os.chmod(ctl, 0o666)
        r = subprocess.run([pg.bin, "status", "--control", str(ctl)], capture_output=True,
                           text=True, timeout=20, user=nobody.pw_uid, group=nobody.pw_gid,
                           extra_groups=[])
        assert r.returncode == 1 and r.stdout == "", (r.stdout, r.stderr)
        assert "closed without an answer" in r.stderr, r.stderr
        srv.wait_for_log(r"connection refused peer=\"?uid 65534")
        # Root still gets its answer.
        assert run([pg.bin, "status", "--control", str(ctl)]).returncode == 0
        srv.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_ctl_forward_and_cancel_on_running_client(pg, tmp, echo_server):
    """`postern ctl forward -L` on a running client opens a forward that
    carries a connection; `ctl cancel` closes it; bad requests fail clearly."""
    key = pg.keygen()
    srv = pg.start_server(key=key)
    ctl = tmp / "client.sock"
    cli = pg.start_client(server=srv, key=key, extra=["--control", str(ctl)])
    port = free_port()
    spec = forward_spec("127.0.0.1", port, *echo_server.addr)
    r = run([pg.bin, "ctl", "--control", ctl, "forward", "-L", spec])
    assert r.returncode == 0 and f"added -L {spec}" in r.stdout, (r.stdout, r.stderr)
    echo_roundtrip(("127.0.0.1", port))
    st = status_json(pg, ctl)
    assert st["role"] == "client" and st["established"] is True
    assert [f["listening"] for f in st["forwards"]] == [True]
    r = run([pg.bin, "ctl", "--control", ctl, "cancel", "-L", spec])
    assert r.returncode == 0, r.stderr
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    r = run([pg.bin, "ctl", "--control", ctl, "cancel", "-L", spec])
    assert r.returncode == 1 and "no such forward" in r.stderr, r.stderr
    r = run([pg.bin, "ctl", "--control", ctl, "forward", "-L", "nonsense"])
    assert r.returncode == 1 and "local_forward" in r.stderr, r.stderr
    r = run([pg.bin, "ctl", "--control", ctl, "unban", "1.2.3.4"])
    assert r.returncode == 1 and "server's control socket" in r.stderr
    assert cli.alive()


def test_ctl_unban(pg, tmp, echo_server):
    """A source banned for failed handshakes is listed by `ctl bans` and let
    back in by `ctl unban`."""
    key = pg.keygen()
    ctl = tmp / "server.sock"
    srv = pg.start_server(key=key, ban_threshold="1", reject_delay="1-1",
                          extra=["--control", str(ctl)])
    probe(srv.addr, os.urandom(96))
    srv.wait_for_log(r"banned source=127\.0\.0\.1 seconds=")
    r = run([pg.bin, "ctl", "--control", ctl, "bans"])
    assert r.returncode == 0 and "ban 127.0.0.1 " in r.stdout, r.stdout
    r = run([pg.bin, "ctl", "--control", ctl, "unban", "127.0.0.1"])
    assert r.returncode == 0 and "unbanned 127.0.0.1" in r.stdout, r.stderr
    assert "ban 127.0.0.1" not in run([pg.bin, "ctl", "--control", ctl, "bans"]).stdout
    cli = pg.start_client(server=srv, key=key,
                          forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
    echo_roundtrip(cli.listen[0])


def recv_exactly_n(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


# --- postern check ---------------------------------------------------------------

BROKEN = [
    ("[server]\nlisten = 127.0.0.1:7000\n[key a]\nkey_file = {key}\npermt_open = any\n",
     "c.conf:5: unknown setting 'permt_open' in [key a]"),
    ("[server]\nlisten = 127.0.0.1:99999\n[key a]\nkey_file = {key}\n",
     "c.conf:2: listen"),
    ("[server]\nlisten = 127.0.0.1:7000\nkeepalive = 99999\n[key a]\nkey_file = {key}\n",
     "c.conf:3: keepalive: '99999' is out of range 0..3600"),
    ("[server]\nlisten = 127.0.0.1:7000\nuser = ../root\n[key a]\nkey_file = {key}\n",
     "c.conf:3: user: '../root' is not a user name"),
    ("[server]\nlisten = 127.0.0.1:7000\nlog = journal\n[key a]\nkey_file = {key}\n",
     "c.conf:3: log: bad value 'journal'"),
    ("[server]\nlisten = 127.0.0.1:7000\n[key a]\nkey_file = {key}\n[key a]\nkey_file = {key}\n",
     "c.conf:5:"),
    ("[server]\nlisten = 127.0.0.1:7000\n[key a]\nkey_file = /nonexistent/k.key\n",
     "/nonexistent/k.key"),
]


@pytest.mark.parametrize("text,want", BROKEN)
def test_check_broken_configs(pg, tmp, text, want):
    key = pg.keygen("k.key")
    conf = tmp / "c.conf"
    conf.write_text(text.format(key=key))
    r = run([pg.bin, "check", "-c", conf])
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert want in r.stderr, r.stderr
    assert r.stderr.startswith("postern check: "), r.stderr


def test_check_client_profile(pg, tmp):
    key = pg.keygen("k.key")
    conf = tmp / "client.conf"
    conf.write_text(f"[profile office]\nserver = gw.example:7000\nkey_file = {key}\n"
                    "local_forward = 8080:intranet:80\n")
    r = run([pg.bin, "check", "client", "-c", conf, "office"])
    assert r.returncode == 0 and "office: ok: 1 local" in r.stdout, r.stderr
    conf.write_text(f"[profile office]\nserver = gw.example:7000\nkey_file = {key}\n"
                    "local_forward = 8080:intranet\n")
    r = run([pg.bin, "check", "client", "-c", conf])
    assert r.returncode == 1 and "client.conf:4: local_forward: expected" in r.stderr, r.stderr
    conf.write_text(f"[profile office]\nserver = gw.example:7000\nkey_file = {tmp}/nokey\n")
    r = run([pg.bin, "check", "client", "-c", conf])
    assert r.returncode == 1 and "nokey" in r.stderr, r.stderr


def test_check_good_config(pg, tmp):
    key = pg.keygen("k.key")
    conf = server_conf(tmp / "c.conf", 7000, [("a", key, "any"), ("b", pg.keygen(), "any")])
    r = run([pg.bin, "check", "-c", conf])
    assert r.returncode == 0, r.stderr
    assert "ok: 2 key(s), 1 listen address(es)" in r.stdout
    # Flags are checked as the server would take them.
    r = run([pg.bin, "check", "-c", conf, "--keepalive", "99999"])
    assert r.returncode == 1 and "--keepalive: '99999' is out of range" in r.stderr, r.stderr


# --- privilege drop ---------------------------------------------------------------

def proc_uids(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(x) for x in line.split()[1:]]
    raise AssertionError("no Uid line")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to change user")
def test_privilege_drop_then_reload(pg, echo_server):
    """user = nobody: after binding, every uid of the server is nobody's, and
    a reload (read as nobody) still applies: a key added by it gets in."""
    nobody = pwd.getpwnam("nobody")
    # tmp_path's parents are root's 0700: nobody needs a directory it can reach.
    d = Path(tempfile.mkdtemp(prefix="postern-drop-"))
    try:
        os.chmod(d, 0o755)
        ka, kb = pg.keygen("a.key"), pg.keygen("b.key")
        keys = []
        for k in (ka, kb):
            dst = d / k.name
            shutil.copy(k, dst)
            os.chown(dst, nobody.pw_uid, nobody.pw_gid)
            os.chmod(dst, 0o600)
            keys.append(dst)
        port = free_port()
        conf = server_conf(d / "server.conf", port, [("a", keys[0], "any")], "user = nobody\n")
        os.chmod(conf, 0o644)
        srv = pg.start_server(config=conf, state_dir=d / "state")
        srv.wait_for_log(r"running as user=nobody uid=65534 ")
        assert proc_uids(srv.p.pid) == [nobody.pw_uid] * 4
        server_conf(conf, port, [("a", keys[0], "any"), ("b", keys[1], "any")], "user = nobody\n")
        hup(srv)
        assert "reload applied" in reloaded(srv, 1).group(0)
        cli = pg.start_client(server=srv, key=kb,
                              forwards=[forward_spec("127.0.0.1", 0, *echo_server.addr)])
        echo_roundtrip(cli.listen[0])
        srv.wait_for_log(r"session authenticated .*key=b$")
        srv.stop()
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_entrances_added_at_run_time_keep_the_admit_policy(pg, tmp, echo_server):
    """A forward added by `ctl forward` (or a reload) admits by the client's
    policy like the ones it started with: with `--admit uid:65534` as the
    default, root's connection to the new entrance is refused and logged."""
    key = pg.keygen()
    srv = pg.start_server(key=key)
    ctl = tmp / "client.sock"
    cli = pg.start_client(server=srv, key=key, extra=["--admit", "uid:65534", "--control", str(ctl)])
    port = free_port()
    spec = forward_spec("127.0.0.1", port, *echo_server.addr)
    r = run([pg.bin, "ctl", "--control", ctl, "forward", "-L", spec])
    assert r.returncode == 0, (r.stdout, r.stderr)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.settimeout(5)
        try:
            c.sendall(b"hello")
            got = c.recv(5)
        except OSError:
            got = b""
    assert got == b"", "the new entrance let root through a uid:65534 policy"
    cli.wait_for_log(r"connection rejected .* admit=uid:65534 ")
    os.kill(cli.p.pid, signal.SIGHUP)
    cli.wait_for_log(r"reload applied ")
