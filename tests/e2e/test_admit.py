# SPDX-License-Identifier: MIT
"""Local entrance admission (issue 11): who may use a -L/-D entrance.

Tests run as root; another user is `nobody` through setpriv. Every peer is a
real process connecting over loopback; a refused one sees a reset.
"""

import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import (IO_TIMEOUT, START_TIMEOUT, connect, forward_spec, have_ipv6, hostport,
                      run, wait_until)

PY = "/usr/bin/python3"
NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]

# A peer: connect, send, expect the echo. Prints OK or RESET; exit 0 / 3.
PEER = r"""
import socket, sys
fam = socket.AF_UNIX if sys.argv[1].startswith('/') else (
    socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)
addr = sys.argv[1] if fam == socket.AF_UNIX else (sys.argv[1], int(sys.argv[2]))
s = socket.socket(fam, socket.SOCK_STREAM)
s.settimeout(20)
try:
    s.connect(addr)
    s.sendall(b'admit-me')
    got = b''
    while len(got) < 8:
        b = s.recv(8 - len(got))
        if not b:
            break
        got += b
except OSError:
    got = b''
print('OK' if got == b'admit-me' else 'RESET', flush=True)
sys.exit(0 if got == b'admit-me' else 3)
"""


def peer(host, port=0, prefix=(), exe=PY):
    """Run PEER as a separate process (as another user with ${prefix}); True if echoed."""
    if not os.path.exists(PY):
        pytest.skip(f"{PY} not installed")
    r = run(list(prefix) + [exe, "-c", PEER, str(host), str(port)], timeout=30)
    assert r.stdout.strip() in ("OK", "RESET"), f"peer failed: {r.stdout} {r.stderr}"
    return r.returncode == 0


def need_setpriv():
    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("needs root and setpriv (util-linux) to act as nobody")


def refusal(cli, policy, count=1):
    """The refusal line: 'connection rejected peer=A pid=N exe=EXE uid=U admit=P entrance=E ...'."""
    return cli.wait_for_log(
        r"connection rejected peer=(?:\S+|\"unix socket\") pid=(\d+) exe=(\S+) uid=(\d+) admit="
        + re.escape(policy) + r" entrance=",
        count=count)


def tunnel(pg, echo, forwards, extra=(), expect=None, permit=("any",)):
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=list(permit))
    cli = pg.start_client(server=srv, key=key, forwards=forwards, extra=list(extra),
                          expect_listen=expect)
    return srv, cli


def test_other_uid_refused_by_same_user_and_admitted_by_uid_list(pg, echo_server):
    need_setpriv()
    spec = forward_spec("127.0.0.1", 0, *echo_server.addr)
    # --admit applies to the -L just before it: the first keeps the default.
    _, cli = tunnel(pg, echo_server, [spec, spec], extra=["--admit", "uid:65534"])
    (_, p_default), (_, p_uid) = cli.listen
    assert peer("127.0.0.1", p_default), "our own uid must pass same-user"
    assert not peer("127.0.0.1", p_default, NOBODY), "nobody passed same-user"
    m = refusal(cli, "same-user")
    assert m.group(3) == "65534" and int(m.group(1)) > 1 and m.group(2).startswith("/usr/bin/python")
    assert peer("127.0.0.1", p_uid, NOBODY), "uid:65534 must admit nobody"
    assert not peer("127.0.0.1", p_uid), "uid:65534 admitted root"
    assert refusal(cli, "uid:65534").group(3) == "0"
    assert cli.alive()


def test_exe_admits_the_program_and_refuses_another_of_the_same_user(pg, echo_server, tmp):
    spec = forward_spec("127.0.0.1", 0, *echo_server.addr)
    real = os.path.realpath(PY)
    other = tmp / "other-python"
    shutil.copy(real, other)
    _, cli = tunnel(pg, echo_server, [spec], extra=["--admit", f"exe:{PY}"])
    port = cli.listen[0][1]
    assert peer("127.0.0.1", port), f"exe:{PY} refused {PY}"
    assert not peer("127.0.0.1", port, exe=str(other)), "another executable passed exe:"
    m = refusal(cli, f"exe:{PY}")
    assert m.group(2) == str(other) and m.group(3) == "0"


EXEC_CMD = r"""
import os, socket, sys, time
out, port = sys.argv[1], int(sys.argv[2])
assert port == int(os.environ['POSTERN_PORT'])
def try_once():
    s = socket.create_connection(('127.0.0.1', port), timeout=20)
    try:
        s.sendall(b'admit-me')
        got = b''
        while len(got) < 8:
            b = s.recv(8 - len(got))
            if not b:
                break
            got += b
    except OSError:
        got = b''
    return 'OK' if got == b'admit-me' else 'RESET'
def note(name, text):
    with open(os.path.join(out, name + '.tmp'), 'w') as f:
        f.write(text)
    os.rename(os.path.join(out, name + '.tmp'), os.path.join(out, name))
note('port', str(port))
if os.fork() == 0:
    note('child', try_once())
    os._exit(0)
mid = os.fork()
if mid == 0:
    if os.fork() == 0:
        # Wait until our parent is gone: we are an orphan of CMD's tree now.
        for _ in range(400):
            if os.getppid() != mid:
                break
            time.sleep(0.02)
        note('grandchild', try_once())
        os._exit(0)
    os._exit(0)
os.waitpid(mid, 0)
for _ in range(1000):
    if os.path.exists(os.path.join(out, 'done')):
        break
    time.sleep(0.02)
sys.exit(7)
"""


def test_exec_admits_only_the_command_tree(pg, procs, echo_server, tmp):
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=["any"])
    out = tmp / "exec-out"
    out.mkdir()
    spec = forward_spec("127.0.0.1", 0, *echo_server.addr)
    argv = [pg.bin, "exec", "-k", key, "-L", spec, hostport(*srv.addr), "--",
            PY, "-c", EXEC_CMD, str(out), "$POSTERN_PORT"]
    ex = procs.start(argv, "exec")
    wait_until(lambda: (out / "child").exists() and (out / "grandchild").exists(),
               timeout=START_TIMEOUT, what="the command's child and grandchild connecting")
    port = int((out / "port").read_text())
    assert (out / "child").read_text() == "OK", ex.tail()
    assert (out / "grandchild").read_text() == "OK", "a double-forked grandchild was refused"
    # A sibling: same user, not below CMD.
    assert not peer("127.0.0.1", port), "a process outside the tree was admitted"
    ex.wait_for_log(r"connection rejected .* admit=same-process-tree entrance=")
    (out / "done").write_text("")
    assert ex.wait(timeout=IO_TIMEOUT) == 7, ex.tail()
    with socket.socket() as s:  # the entrance is gone with the command
        s.bind(("127.0.0.1", port))


ASK = """#!/bin/sh
echo "$POSTERN_PID $POSTERN_EXE $POSTERN_UID $POSTERN_DEST" >> {log}
case "$POSTERN_DEST" in
  *:{yes}) exit 0 ;;
  *:{no}) exit 1 ;;
  *:{always}) exit 3 ;;
esac
exec sleep 600
"""


def test_ask_yes_no_and_a_hang_denied_at_the_timeout(pg, tcp_servers, tmp):
    from conftest import echo_handler
    yes, no, hang, always = (tcp_servers(echo_handler) for _ in range(4))
    log = tmp / "ask.log"
    prog = tmp / "ask.sh"
    prog.write_text(ASK.format(log=log, yes=yes.port, no=no.port, always=always.port))
    prog.chmod(0o755)
    specs = [forward_spec("127.0.0.1", 0, *s.addr) for s in (yes, no, hang, always)]
    # --admit before any -L: the default of all three.
    extra = ["--admit", "ask", "--ask-program", str(prog), "--ask-timeout", "5"]
    for spec in specs:
        extra += ["-L", spec]
    _, cli = tunnel(pg, yes, [], extra=extra, expect=specs)
    p_yes, p_no, p_hang, p_always = (lp for _, lp in cli.listen)
    # The hanging question must not hold up anyone else.
    held = connect("127.0.0.1", p_hang)
    held.sendall(b"x")
    wait_until(lambda: log.exists() and f":{hang.port}" in log.read_text(),
               what="the approval program asked about the hanging entrance")
    assert peer("127.0.0.1", p_yes), "approved connection refused while another was asked"
    assert _ends(held), "the unanswered connection was never refused"
    assert not peer("127.0.0.1", p_no), "denied connection admitted"
    cli.wait_for_log(r"connection rejected .* admit=ask entrance=.*approval program did not answer in time")
    cli.wait_for_log(r"connection rejected .* admit=ask entrance=.*approval program said no")
    pid, exe, uid, _ = log.read_text().splitlines()[0].split(" ")
    assert int(pid) > 1 and exe.startswith("/") and uid == "0"
    # Exit 0 is remembered for that process only: a new process is asked again.
    assert peer("127.0.0.1", p_yes)
    assert log.read_text().count(f":{yes.port}\n") == 2
    # Exit 3 covers the executable: the next process of the same program is not asked.
    assert peer("127.0.0.1", p_always) and peer("127.0.0.1", p_always)
    assert log.read_text().count(f":{always.port}\n") == 1


def _ends(sock):
    """Block (bounded) until ${sock} is reset or closed; False if it never is."""
    sock.settimeout(IO_TIMEOUT)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False
    finally:
        sock.close()


def test_unix_entrance_uses_peercred(pg, echo_server, tmp):
    a, b = tmp / "a.sock", tmp / "b.sock"
    target = hostport(*echo_server.addr)
    _, cli = tunnel(pg, echo_server, [f"{a}:{target}", f"{b}:{target}"],
                    extra=["--admit", "uid:65534"], expect=[])
    cli.wait_for_log(r"listening addr=" + re.escape(str(b)) + " target=")
    assert peer(a), "same-user refused our own process on a Unix entrance"
    assert not peer(b), "uid:65534 admitted root on a Unix entrance"
    m = cli.wait_for_log(r"connection rejected peer=\"unix socket\" pid=(\d+) exe=(\S+) uid=0 "
                         r"admit=uid:65534 entrance=" + re.escape(str(b)))
    assert int(m.group(1)) > 1 and m.group(2).startswith("/usr/bin/python")


def test_ipv6_loopback_entrance(pg, echo_server):
    need_setpriv()
    if not have_ipv6():
        pytest.skip("no IPv6 loopback")
    _, cli = tunnel(pg, echo_server, [forward_spec("::1", 0, *echo_server.addr)])
    p6 = cli.listen[0][1]
    assert peer("::1", p6), "same-user refused our own process over IPv6"
    assert not peer("::1", p6, NOBODY), "nobody passed same-user over IPv6"
    m = refusal(cli, "same-user")
    assert m.group(3) == "65534" and m.group(2).startswith("/usr/bin/python")


SOCKS_PEER = r"""
import socket, struct, sys
ok = False
try:
    s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=20)
    s.sendall(b'\x05\x01\x00')
    if s.recv(2) == b'\x05\x00':
        s.sendall(b'\x05\x01\x00\x01' + socket.inet_aton('127.0.0.1') + struct.pack('>H', int(sys.argv[2])))
        rep = s.recv(10)
        if rep[:2] == b'\x05\x00':
            s.sendall(b'admit-me')
            ok = s.recv(8) == b'admit-me'
except OSError:
    pass
print('OK' if ok else 'RESET')
sys.exit(0 if ok else 3)
"""


def test_socks_entrance_is_admitted_too(pg, echo_server):
    need_setpriv()
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=["any"])
    cli = pg.start_client(server=srv, key=key, extra=["-D", "127.0.0.1:0"], expect_listen=[])
    port = int(cli.wait_for_log(r"listening addr=127\.0\.0\.1:(\d+) socks=").group(1))
    args = [PY, "-c", SOCKS_PEER, str(port), str(echo_server.port)]
    assert run(args).returncode == 0, "our own SOCKS client refused"
    assert run(NOBODY + args).returncode == 3, "nobody used a same-user SOCKS entrance"
    assert refusal(cli, "same-user").group(3) == "65534"


@pytest.mark.parametrize("value,msg", [
    ("bogus", "unknown term 'bogus'"),
    ("any same-user", "any cannot be combined"),
    ("uid:", "unknown term"),
    ("uid:12x", "bad uid list"),
    ("exe:relative", "not an absolute path"),
    ("ask ask", "given twice"),
])
def test_bad_admit_values_are_clear_errors(pg, value, msg):
    key = pg.keygen()
    r = run([pg.bin, "client", "-k", key, "-L", "0:127.0.0.1:1", "--admit", value,
             "127.0.0.1:1"])
    assert r.returncode == 2 and "--admit: " in r.stderr and msg in r.stderr, r.stderr


def test_ask_on_the_terminal_without_an_approval_program(pg, echo_server, tmp):
    """In the foreground of a terminal, `ask` asks there: y admits, n refuses."""
    import fcntl
    import pty
    import select
    import termios
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=["any"])
    master, slave = pty.openpty()

    def take_tty():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    cli = subprocess.Popen(
        [str(pg.bin), "client", "-k", str(key), "--admit", "ask", "--ask-timeout", "60",
         "-L", forward_spec("127.0.0.1", 0, *echo_server.addr), hostport(*srv.addr)],
        stdin=slave, stdout=slave, stderr=slave, preexec_fn=take_tty)
    os.close(slave)
    seen = b""

    def read_until(rx):
        nonlocal seen
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            m = re.search(rx, seen)
            if m:
                seen = seen[m.end():]
                return m
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    seen += os.read(master, 4096)
                except OSError:
                    break
        raise AssertionError(f"no /{rx}/ on the terminal; got {seen[-2000:]!r}")

    try:
        port = int(read_until(rb"listening addr=127\.0\.0\.1:(\d+) target=").group(1))
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(1) as pool:
            yes = pool.submit(peer, "127.0.0.1", port)
            m = read_until(rb"allow 127\.0\.0\.1:\d+ \(pid (\d+) (\S+) uid 0\) to use .*\? ")
            assert m.group(2).startswith(b"/usr/bin/python")
            os.write(master, b"y\n")
            assert yes.result(timeout=IO_TIMEOUT), "answered y, still refused"
            no = pool.submit(peer, "127.0.0.1", port)
            read_until(rb"allow 127\.0\.0\.1:\d+ .*\? ")
            os.write(master, b"n\n")
            assert not no.result(timeout=IO_TIMEOUT), "answered n, still admitted"
        read_until(rb"connection rejected .* admit=ask entrance=.*refused on the terminal")
    finally:
        cli.terminate()
        try:
            cli.wait(timeout=5)
        except subprocess.TimeoutExpired:
            cli.kill()
            cli.wait(timeout=5)
        os.close(master)


def test_profile_admit_lines_apply_to_the_forward_before_them(pg, echo_server, tmp):
    need_setpriv()
    key = pg.keygen()
    srv = pg.start_server(key=key, permit=["any"])
    target = hostport(*echo_server.addr)
    conf = tmp / "client.conf"
    conf.write_text(
        "[profile work]\n"
        f"server = {hostport(*srv.addr)}\n"
        f"key_file = {key}\n"
        "admit = loopback\n"  # before any forward: the default
        f"local_forward = 127.0.0.1:0:{target}\n"
        f"local_forward = 127.0.0.1:0:{target}\n"
        "admit = uid:65534\n")  # the second forward only
    spec = f"127.0.0.1:0:{target}"
    cli = pg.start_client(config=conf, profile="work", expect_listen=[spec, spec])
    (_, p_default), (_, p_uid) = cli.listen
    assert peer("127.0.0.1", p_default, NOBODY), "loopback (the profile default) refused nobody"
    assert peer("127.0.0.1", p_default)
    assert not peer("127.0.0.1", p_uid), "the admit line after the second forward did not apply"
    assert peer("127.0.0.1", p_uid, NOBODY)
    assert refusal(cli, "uid:65534").group(3) == "0"


def test_exec_without_a_command_is_a_usage_error(pg):
    key = pg.keygen()
    r = run([pg.bin, "exec", "-k", key, "-L", "0:127.0.0.1:1", "127.0.0.1:1"])
    assert r.returncode == 2 and "no command: give -- CMD" in r.stderr, r.stderr


def test_v4_mapped_peer_is_identified(pg, echo_server):
    """An IPv6 socket reaching 127.0.0.1 through ::ffff:127.0.0.1 is still found."""
    need_setpriv()
    if not have_ipv6():
        pytest.skip("no IPv6")
    _, cli = tunnel(pg, echo_server, [forward_spec("127.0.0.1", 0, *echo_server.addr)])
    port = cli.listen[0][1]
    assert peer("::ffff:127.0.0.1", port), "a v4-mapped peer of our own uid was refused"
    assert not peer("::ffff:127.0.0.1", port, NOBODY), "a v4-mapped nobody passed same-user"
    m = refusal(cli, "same-user")
    assert m.group(3) == "65534" and m.group(2).startswith("/usr/bin/python")
