# SPDX-License-Identifier: MIT
"""Public-key identities (issue 10): `postern keygen -t x25519`, a server with
a host key and thousands of [key] stanzas holding public keys beside a PSK
one, clients that pin the server's key and do Noise IK. An independent
Python IK initiator (noise_probe.IK) checks the wire format byte for byte;
every refusal is still zero bytes and a reset."""

import base64
import os
import re
import signal
import socket
import struct
import threading

import pytest

import noise_probe
from conftest import IO_TIMEOUT, echo_roundtrip, forward_spec, probe, recv_exactly, run
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def x25519_pair():
    k = X25519PrivateKey.generate()
    priv = k.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                           serialization.NoEncryption())
    return priv, k.public_key().public_bytes(*RAW)


def pub_line(pub):
    return noise_probe.PUB_FILE_PREFIX + base64.b64encode(pub).decode()


def write_private(path, priv):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(noise_probe.PRIV_FILE_PREFIX + base64.b64encode(priv).decode() + "\n")
    return path


def keygen_x25519(pg, name):
    path = pg.tmp / name
    r = run([pg.bin, "keygen", "-t", "x25519", "-o", path])
    assert r.returncode == 0, r.stderr
    return path


def server_conf(pg, host_key, pubs, psk_file=None, extra=""):
    """A config: [server] with host_key, one [key idN] per public key (and 'psk')."""
    lines = ["[server]", "listen = 127.0.0.1:0", f"host_key = {host_key}", extra, ""]
    for i, pub in enumerate(pubs):
        lines += [f"[key id{i}]", f"public_key = {pub_line(pub)}", "permit_open = any", ""]
    if psk_file is not None:
        lines += ["[key psk]", f"key_file = {psk_file}", "permit_open = any", ""]
    path = pg.tmp / "server.conf"
    path.write_text("\n".join(lines))
    return path


def ik_handshake(addr, priv, server_pub, **kw):
    """Connect, send an IK message 1, return (initiator, sock, msg2)."""
    init = noise_probe.IKInitiator(priv, server_pub, **kw)
    s = socket.create_connection(addr, timeout=IO_TIMEOUT)
    s.sendall(init.msg1)
    return init, s, recv_exactly(s, noise_probe.MSG_LEN)


def test_keygen_and_pubkey(pg):
    """keygen -t x25519 writes FILE (0600) and FILE.pub (0644), one line each;
    pubkey prints the same line again; a PSK has no public half."""
    key = keygen_x25519(pg, "alice.key")
    pub = pg.tmp / "alice.key.pub"
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert oct(pub.stat().st_mode & 0o777) == "0o644"
    assert key.read_text().startswith("postern-x25519-v1 ") and key.read_text().count("\n") == 1
    line = pub.read_text()
    assert line.startswith("postern-x25519-pub-v1 ") and line.count("\n") == 1
    r = run([pg.bin, "pubkey", key])
    assert r.returncode == 0 and r.stdout == line
    again = run([pg.bin, "keygen", "-t", "x25519", "-o", key])
    assert again.returncode != 0 and "refusing to overwrite" in again.stderr
    psk = pg.keygen()
    r = run([pg.bin, "pubkey", psk])
    assert r.returncode != 0 and "no public half" in r.stderr
    key.chmod(0o644)
    r = run([pg.bin, "pubkey", key])
    assert r.returncode != 0 and "too open" in r.stderr


def test_python_ik_client_passes_data(pg):
    """An independent IK initiator completes the handshake with the server, and
    a PING record it sends comes back as a PONG under the derived keys."""
    host = keygen_x25519(pg, "gw.key")
    host_pub = noise_probe.load_x25519(str(host) + ".pub")
    priv, pub = x25519_pair()
    srv = pg.start_server(config=server_conf(pg, host, [pub]), permit=[])
    # The server prints the public line its clients pin.
    srv.wait_for_log(r"host key public_key=\"" + re.escape(pub_line(host_pub)) +
                     r"\" public_key_identities=1 psk_identities=0")
    init, s, msg2 = ik_handshake(srv.addr, priv, host_pub)
    try:
        init.check_message_2(msg2)
        send_cs, recv_cs = init.hs.split()
        plain = struct.pack(">BQ", 8, 0x1122334455667788)  # PING
        hdr = struct.pack(">I", len(plain) + noise_probe.TAGLEN)
        s.sendall(hdr + send_cs.encrypt_with_ad(hdr, plain))
        for _ in range(8):
            rh = recv_exactly(s, 4)
            assert len(rh) == 4, "server closed instead of answering the PING"
            body = recv_exactly(s, struct.unpack(">I", rh)[0])
            got = recv_cs.decrypt_with_ad(rh, body)
            if got[0] == 9:
                assert got == struct.pack(">BQ", 9, 0x1122334455667788)
                break
        else:
            pytest.fail("no PONG")
    finally:
        s.close()
    srv.wait_for_log(r"session authenticated .*key=id0$")


def identity_dir(pg, pubs):
    """One identity file per public key: id00000 ... (a fleet's authorized_keys)."""
    d = pg.tmp / "identities"
    d.mkdir()
    for i, pub in enumerate(pubs):
        (d / f"id{i}").write_text(f"public_key = {pub_line(pub)}\npermit_open = any\n")
    return d


@pytest.fixture
def fleet(pg):
    """10,000 public-key identities (an identity_dir) and one PSK identity behind one host key."""
    host = keygen_x25519(pg, "gw.key")
    pairs = [x25519_pair() for _ in range(10000)]
    psk = pg.keygen("psk.key")
    d = identity_dir(pg, [p for _, p in pairs])
    conf = server_conf(pg, host, [], psk_file=psk,
                       extra=f"identity_dir = {d}\nreject_delay = 1\nban_threshold = 1000")
    srv = pg.start_server(config=conf, permit=[])
    srv.host_pub = noise_probe.load_x25519(str(host) + ".pub")
    srv.host_pub_file = str(host) + ".pub"
    srv.pairs = pairs
    srv.psk_file = psk
    return srv


def assert_refused(srv, data, reason):
    got, outcome, lport = probe(srv.addr, data, timeout=20)
    assert got == b"", f"server answered {len(got)} bytes"
    assert outcome == "reset", f"ended with {outcome}, not a reset"
    srv.wait_for_log(r"refused peer=127\.0\.0\.1:%d reason=\"?%s" % (lport, re.escape(reason)))


def test_fleet_last_key_and_psk_connect(pg, fleet, echo_server):
    """The 10,000th public key and the PSK both get tunnels through real clients."""
    key = write_private(pg.tmp / "last.key", fleet.pairs[-1][0])
    spec = forward_spec("127.0.0.1", 0, *echo_server.addr)
    cli = pg.start_client(server=fleet, key=key, forwards=[spec],
                          extra=["--server-key", fleet.host_pub_file])
    echo_roundtrip(cli.listen[0])
    fleet.wait_for_log(r"session authenticated .*key=id9999$")
    cli2 = pg.start_client(server=fleet, key=fleet.psk_file, forwards=[spec], name="pskclient")
    echo_roundtrip(cli2.listen[0])
    fleet.wait_for_log(r"session authenticated .*key=psk$")


def test_fleet_refusals(fleet):
    """Not listed, made for another server, garbage, replayed: 0 bytes, a reset."""
    stranger, _ = x25519_pair()
    assert_refused(fleet, noise_probe.IKInitiator(stranger, fleet.host_pub).msg1, "no key matched")
    _, other_host = x25519_pair()
    # A listed key, but the message is made for another server's key: mac1 fails,
    # the server reads it as a PSK message and no PSK matches.
    wrong = noise_probe.IKInitiator(fleet.pairs[5][0], other_host).msg1
    assert_refused(fleet, wrong, "no key matched")
    assert_refused(fleet, os.urandom(128), "no key matched")
    init, s, msg2 = ik_handshake(fleet.addr, fleet.pairs[42][0], fleet.host_pub)
    s.close()
    init.check_message_2(msg2)
    assert_refused(fleet, init.msg1, "replayed first message")


def test_valid_mac1_junk_is_rate_limited_and_banned(pg, echo_server):
    """A source that knows the server's key and sends junk with a valid mac1 is
    refused unread past its DH budget and banned; meanwhile the 10,000th of
    10,000 public-key identities (and the PSK one) still connects from elsewhere."""
    host = keygen_x25519(pg, "gw.key")
    host_pub = noise_probe.load_x25519(str(host) + ".pub")
    pairs = [x25519_pair() for _ in range(10000)]
    d = identity_dir(pg, [p for _, p in pairs])
    psk = pg.keygen("psk.key")
    conf = server_conf(pg, host, [], psk_file=psk,
                       extra=f"identity_dir = {d}\nreject_delay = 0-1\ndh_rate = 1\ndh_burst = 2\n"
                             "ban_threshold = 6\nban_window = 600")
    srv = pg.start_server(config=conf, permit=[])
    stranger, _ = x25519_pair()

    def attack():
        for _ in range(10):
            probe(srv.addr, noise_probe.IKInitiator(stranger, host_pub).msg1,
                  source="127.0.0.2", timeout=20)

    t = threading.Thread(target=attack)
    t.start()
    try:
        srv.wait_for_log(r"refused peer=127\.0\.0\.2:\d+ reason=\"DH budget of this source spent", timeout=30)
        srv.wait_for_log(r"banned source=127\.0\.0\.2 ", timeout=30)
        key = write_private(pg.tmp / "ok.key", pairs[-1][0])
        spec = forward_spec("127.0.0.1", 0, *echo_server.addr)
        cli = pg.start_client(server=srv, key=key, forwards=[spec],
                              extra=["--server-key", pub_line(host_pub)])
        echo_roundtrip(cli.listen[0])
        srv.wait_for_log(r"session authenticated .*key=id9999$")
        cli2 = pg.start_client(server=srv, key=psk, forwards=[spec], name="pskclient")
        echo_roundtrip(cli2.listen[0])
    finally:
        t.join(60)


def test_client_says_no_answer(pg):
    """A client pinned to the wrong server key hears nothing and says why it may be."""
    host = keygen_x25519(pg, "gw.key")
    _, wrong_pub = x25519_pair()
    priv, pub = x25519_pair()
    srv = pg.start_server(config=server_conf(pg, host, [pub], extra="reject_delay = 0-1"),
                          permit=[])
    key = write_private(pg.tmp / "c.key", priv)
    cli = pg.start_client(server=srv, key=key, forwards=["127.0.0.1:0:127.0.0.1:9"], wait=False,
                          extra=["--server-key", pub_line(wrong_pub), "--connect-attempts", "1",
                                 "--connect-timeout", "5"])
    cli.wait_for_log(r"no answer from 127\.0\.0\.1:%d: wrong server key, a key the server does "
                     r"not list, or not a postern server" % srv.port, timeout=30)
    assert cli.wait(timeout=30) != 0


def test_identity_dir_errors_and_access(pg):
    """identity_dir files are named by file, errors are FILE:LINE, and `postern
    access` lists their identities like [key] stanzas."""
    host = keygen_x25519(pg, "gw.key")
    _, pub = x25519_pair()
    d = identity_dir(pg, [pub])
    (d / "id0").write_text(f"public_key = {pub_line(pub)}\npermit_open = 127.0.0.1:22\n")
    conf = server_conf(pg, host, [], extra=f"identity_dir = {d}")
    r = run([pg.bin, "access", "-c", conf])
    assert r.returncode == 0 and "id0" in r.stdout and "127.0.0.1:22" in r.stdout, r.stdout + r.stderr
    (d / "bad").write_text(f"public_key = {pub_line(pub)}\nlisten = 127.0.0.1:1\n")
    r = run([pg.bin, "server", "-c", conf, "--state-dir", pg.tmp / "st"])
    assert r.returncode != 0 and re.search(r"identities/bad:2: unknown setting 'listen'", r.stderr), r.stderr
    (d / "bad").write_text(f"public_key = {pub_line(pub)}\n")
    r = run([pg.bin, "server", "-c", conf, "--state-dir", pg.tmp / "st"])
    assert r.returncode != 0 and "same public key" in r.stderr, r.stderr


def test_config_errors(pg):
    """Bad public keys and a missing host key are file:line or named errors."""
    conf = pg.tmp / "bad.conf"
    conf.write_text("[server]\nlisten = 127.0.0.1:0\n[key a]\npublic_key = nope\n")
    r = run([pg.bin, "server", "-c", conf, "--state-dir", pg.tmp / "st"])
    assert r.returncode != 0 and re.search(r"bad\.conf:4: .*public_key: not a public key", r.stderr), r.stderr
    _, pub = x25519_pair()
    conf.write_text(f"[server]\nlisten = 127.0.0.1:0\n[key a]\npublic_key = {pub_line(pub)}\n")
    r = run([pg.bin, "server", "-c", conf, "--state-dir", pg.tmp / "st"])
    assert r.returncode != 0 and "set host_key" in r.stderr, r.stderr


# keys at rest ---------------------------------------------------------------

import fcntl
import pty
import select
import subprocess
import termios
import time


def run_pty(argv, answers, timeout=30):
    """Run ${argv} on a pseudo-terminal of its own (its /dev/tty), answering each
    prompt (a regex) in ${answers} with its text; returns (rc, everything seen)."""
    master, slave = os.openpty()

    def ctty():
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)

    p = subprocess.Popen([str(a) for a in argv], stdin=slave, stdout=slave, stderr=slave,
                         start_new_session=True, preexec_fn=ctty, close_fds=True)
    os.close(slave)
    seen, pending = b"", list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                seen += chunk
            if pending and re.search(pending[0][0], seen.decode(errors="replace").split("\n")[-1]):
                os.write(master, pending.pop(0)[1].encode() + b"\n")
            if p.poll() is not None and not r:
                break
        rc = p.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)
    return rc, seen.decode(errors="replace")


def test_passphrase_from_terminal(pg):
    """keygen --passphrase asks twice on the terminal; the key is only readable with it."""
    key = pg.tmp / "t.key"
    rc, out = run_pty([pg.bin, "keygen", "-t", "x25519", "--passphrase", "-o", key],
                      [(r"New passphrase", "tty secret"), (r"Same passphrase again", "tty secret")])
    assert rc == 0, out
    assert key.read_text().startswith("postern-enc-v1 scrypt ")
    assert "tty secret" not in key.read_text()
    pub = (pg.tmp / "t.key.pub").read_text()
    rc, out = run_pty([pg.bin, "pubkey", key], [(r"Passphrase for", "tty secret")])
    assert rc == 0 and pub.strip() in out, out
    rc, out = run_pty([pg.bin, "pubkey", key], [(r"Passphrase for", "not it")])
    assert rc != 0 and "wrong passphrase" in out, out
    # Two different answers when creating: refused, nothing written.
    key2 = pg.tmp / "t2.key"
    rc, out = run_pty([pg.bin, "keygen", "--passphrase", "-o", key2],
                      [(r"New passphrase", "one"), (r"Same passphrase again", "two")])
    assert rc != 0 and "differ" in out and not key2.exists(), out


def test_passphrase_file_env_askpass_and_missing(pg, echo_server):
    """An encrypted client key works from a file, a variable and an askpass
    program; a wrong or missing passphrase is one clear error."""
    host = keygen_x25519(pg, "gw.key")
    key = keygen_x25519(pg, "c.key")
    cpub = noise_probe.load_x25519(str(key) + ".pub")
    pw = pg.tmp / "pw"
    pw.write_text("file secret\n")
    r = run([pg.bin, "key", "encrypt", "--passphrase-file", pw, key])
    assert r.returncode == 0, r.stderr
    assert key.read_text().startswith("postern-enc-v1 ")
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    srv = pg.start_server(config=server_conf(pg, host, [cpub]), permit=[])
    spec = forward_spec("127.0.0.1", 0, *echo_server.addr)
    base = ["--server-key", str(host) + ".pub"]
    cli = pg.start_client(server=srv, key=key, forwards=[spec], extra=base + ["--passphrase-file", str(pw)])
    echo_roundtrip(cli.listen[0])
    cli.stop()
    askpass = pg.tmp / "askpass.sh"
    askpass.write_text("#!/bin/sh\necho 'file secret'\n")
    askpass.chmod(0o755)
    cli = pg.start_client(server=srv, key=key, forwards=[spec], extra=base + ["--askpass", str(askpass)],
                          name="askpass-client")
    echo_roundtrip(cli.listen[0])
    cli.stop()
    env = dict(os.environ, PW_TEST="file secret")
    r = run([pg.bin, "pubkey", key], env=dict(os.environ, POSTERN_ASKPASS=str(askpass)))
    assert r.returncode == 0 and r.stdout.strip() == pub_line(cpub), r.stderr
    wrong = pg.tmp / "wrong"
    wrong.write_text("nope\n")
    r = run([pg.bin, "client", "-k", key, "--passphrase-file", wrong] + base + [f"127.0.0.1:{srv.port}"])
    assert r.returncode != 0 and re.search(r"c\.key: wrong passphrase", r.stderr), r.stderr
    r = run([pg.bin, "client", "-k", key, "--passphrase-env", "PW_MISSING"] + base + [f"127.0.0.1:{srv.port}"])
    assert r.returncode != 0 and "PW_MISSING is not set" in r.stderr, r.stderr
    r = run([pg.bin, "key", "decrypt", "--passphrase-env", "PW_TEST", key], env=env)
    assert r.returncode == 0 and key.read_text().startswith("postern-x25519-v1 "), r.stderr


def test_server_encrypted_host_key(pg):
    """The server reads an encrypted host key with passphrase_file; a wrong one
    stops it with one clear error."""
    host = keygen_x25519(pg, "gw.key")
    host_pub = noise_probe.load_x25519(str(host) + ".pub")
    pw = pg.tmp / "pw"
    pw.write_text("host secret\n")
    r = run([pg.bin, "key", "encrypt", "--passphrase-file", pw, host])
    assert r.returncode == 0, r.stderr
    priv, pub = x25519_pair()
    conf = server_conf(pg, host, [pub], extra=f"passphrase_file = {pw}")
    srv = pg.start_server(config=conf, permit=[])
    init, s, msg2 = ik_handshake(srv.addr, priv, host_pub)
    s.close()
    init.check_message_2(msg2)
    bad = pg.tmp / "bad"
    bad.write_text("nope\n")
    r = run([pg.bin, "server", "-c", conf, "--passphrase-file", bad, "--state-dir", pg.tmp / "st"])
    assert r.returncode != 0 and re.search(r"host_key: key file .*gw\.key: wrong passphrase", r.stderr), r.stderr


def test_reload_keeps_removes_and_adds_public_key_identities(pg, echo_server):
    """SIGHUP with public-key identities: a kept key's session keeps carrying
    bytes, a removed key's session is closed, and a key added by the reload
    gets in (the IK table is rebuilt with the PSK set)."""
    host = keygen_x25519(pg, "gw.key")
    keep, drop, add = (keygen_x25519(pg, n) for n in ("keep.key", "drop.key", "add.key"))

    def pub_of(path):
        return (path.parent / (path.name + ".pub")).read_text().strip()

    psk = pg.keygen("psk.key")
    conf = pg.tmp / "server.conf"

    def write(names):
        lines = ["[server]", "listen = 127.0.0.1:0", f"host_key = {host}", ""]
        for name, path in names:
            lines += [f"[key {name}]", f"public_key = {pub_of(path)}", "permit_open = any", ""]
        lines += ["[key psk]", f"key_file = {psk}", "permit_open = any", ""]
        conf.write_text("\n".join(lines))

    write([("keep", keep), ("drop", drop)])
    srv = pg.start_server(config=conf)
    spec = forward_spec("127.0.0.1", 0, *echo_server.addr)
    server_key = ["--server-key", str(host) + ".pub"]
    kept = pg.start_client(server=srv, key=keep, forwards=[spec], extra=server_key, name="kept")
    gone = pg.start_client(server=srv, key=drop, forwards=[spec], extra=server_key, name="gone")
    srv.wait_for_log(r"session authenticated .*key=drop$")
    with socket.create_connection(kept.listen[0], timeout=IO_TIMEOUT) as live:
        live.sendall(b"before")
        assert recv_exactly(live, 6) == b"before"
        write([("keep", keep), ("add", add)])
        os.kill(srv.p.pid, signal.SIGHUP)
        srv.wait_for_log(r"reload applied ")
        srv.wait_for_log(r"session revoked by reload id=\d+ peer=\S+ key=drop$")
        live.sendall(b"after")
        assert recv_exactly(live, 5) == b"after"
    gone.wait_for_log(r"session closed |peer closed the session")
    added = pg.start_client(server=srv, key=add, forwards=[spec], extra=server_key, name="added")
    echo_roundtrip(added.listen[0])
    srv.wait_for_log(r"session authenticated .*key=add$")
