# SPDX-License-Identifier: MIT
"""Bad input: every case exits non-zero (2 for usage/config errors) with a
message on stderr, promptly, without a crash (no signal)."""

import base64
import os
import re
import socket
import stat
import subprocess
import textwrap

import pytest

from conftest import free_port, run

# Here free_port() names a server address where nothing listens: every command
# in this file must fail on its input before it connects, and one that started
# by mistake must find no service there (port 0 would not be a valid address).

TIMEOUT = 15  # a parser that accepts bad input may start running: that is a hang


def run_bad(argv, cwd=None):
    try:
        r = run(argv, timeout=TIMEOUT, cwd=cwd)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{' '.join(map(str, argv))} did not exit within {TIMEOUT} s (accepted bad input?)")
    assert r.returncode >= 0, f"killed by signal {-r.returncode}: {r.stderr}"
    assert r.returncode != 0, f"exited 0 on bad input; stderr: {r.stderr!r}"
    assert r.stderr.strip(), "no message on stderr"
    assert "Sanitizer" not in r.stderr and "runtime error" not in r.stderr, r.stderr
    return r


@pytest.fixture
def key(pg):
    return pg.keygen("good.key")


# --------------------------------------------------------------------------
# -L specs

# (spec, the reason the message must give)
BAD_SPECS = [
    ("abc", "expected [bind_address:]port:host:hostport in 'abc'"),
    ("2222:host", "expected [bind_address:]port:host:hostport in '2222:host'"),
    ("70000:h:22", "bad port '70000' in '70000:h:22'"),
    ("[::1:22:h:1", "unbalanced '[' in '[::1:22:h:1'"),
    ("2222:h:70000", "bad port '70000' in '2222:h:70000'"),
    ("2222:h:0", "bad port '0' in '2222:h:0' (expected 1..65535)"),
    ("2222::22", "missing host in '2222::22'"),
    ("2222:h:", "missing port in '2222:h:'"),
    ("-1:h:22", "bad port '-1' in '-1:h:22'"),
    ("x:y:2222:h:22", "expected [bind_address:]port:host:hostport in 'x:y:2222:h:22'"),
    ("", "empty forward spec"),
]


@pytest.mark.parametrize("spec,why", BAD_SPECS, ids=[repr(s) for s, _ in BAD_SPECS])
def test_bad_forward_spec(postern_bin, key, spec, why):
    port = free_port()  # nothing listens there; a client that starts would retry forever
    r = run_bad([postern_bin, "client", "-k", key, "-L", spec, f"127.0.0.1:{port}"])
    assert r.returncode == 2, f"exit {r.returncode}: {r.stderr}"
    # The exact reason, naming the spec: "-L" alone would match any usage text.
    assert why in r.stderr, f"message lacks {why!r}: {r.stderr!r}"


# --------------------------------------------------------------------------
# config files


def write(path, text, mode=0o600):
    path.write_text(textwrap.dedent(text))
    os.chmod(path, mode)
    return path


def server_conf_case(tmp, key, body):
    return write(tmp / "server.conf", body.format(port=free_port(), key=key))


SERVER_CONF_ERRORS = {
    # name: (file text, line number reported, extra text expected in the message)
    "syntax": ("""\
        [server]
        listen = 127.0.0.1:{port}
        this line is broken
        [key a]
        key_file = {key}
        permit_open = any
        """, 3, None),
    "unterminated-section": ("""\
        [server]
        listen = 127.0.0.1:{port}
        [key a
        key_file = {key}
        """, 3, None),
    "unknown-setting": ("""\
        [server]
        listen = 127.0.0.1:{port}

        [key alice]
        permt_open = any
        key_file = {key}
        """, 5, "unknown setting"),
    "unknown-section": ("""\
        [server]
        listen = 127.0.0.1:{port}
        [frobnicate]
        x = 1
        [key a]
        key_file = {key}
        permit_open = any
        """, 3, None),
    "bad-number": ("""\
        [server]
        listen = 127.0.0.1:{port}
        replay_window = soon
        [key a]
        key_file = {key}
        permit_open = any
        """, 3, None),
    "bad-reject-delay": ("""\
        [server]
        listen = 127.0.0.1:{port}
        reject_delay = 3-1
        [key a]
        key_file = {key}
        permit_open = any
        """, 3, None),
    "bad-permit": ("""\
        [server]
        listen = 127.0.0.1:{port}
        [key a]
        key_file = {key}
        permit_open = 127.0.0.1:99999
        """, 5, None),
    "busy-poll-too-long": ("""\
        [server]
        listen = 127.0.0.1:{port}
        busy_poll = 1001
        [key a]
        key_file = {key}
        permit_open = any
        """, 3, "busy_poll"),
    "duplicate-key-name": ("""\
        [server]
        listen = 127.0.0.1:{port}
        [key a]
        key_file = {key}
        permit_open = any
        [key a]
        key_file = {key}
        permit_open = any
        """, 6, None),
}


@pytest.mark.parametrize("case", sorted(SERVER_CONF_ERRORS))
def test_server_config_error_names_file_and_line(postern_bin, tmp, key, case):
    text, line, extra = SERVER_CONF_ERRORS[case]
    conf = server_conf_case(tmp, key, text)
    r = run_bad([postern_bin, "server", "-c", conf])
    assert r.returncode == 2, f"exit {r.returncode}: {r.stderr}"
    assert re.search(re.escape(f"server.conf:{line}") + r"\b", r.stderr), \
        f"expected 'server.conf:{line}' in: {r.stderr!r}"
    if extra:
        assert extra in r.stderr, r.stderr


def test_client_config_errors(postern_bin, tmp, key):
    conf = write(tmp / "client.conf", f"""\
        [profile office]
        server = 127.0.0.1:{free_port()}
        key_file = {key}
        local_forward = 2222:127.0.0.1
        """)
    r = run_bad([postern_bin, "client", "-c", conf, "office"])
    assert r.returncode == 2, r.stderr
    assert "client.conf:4" in r.stderr, r.stderr

    conf = write(tmp / "client2.conf", f"""\
        [profile office]
        server = 127.0.0.1:{free_port()}
        key_file = {key}
        lcoal_forward = 2222:127.0.0.1:22
        """)
    r = run_bad([postern_bin, "client", "-c", conf, "office"])
    assert r.returncode == 2, r.stderr
    assert "client2.conf:4" in r.stderr, r.stderr


def test_client_unknown_profile(postern_bin, tmp, key):
    conf = write(tmp / "client.conf", f"""\
        [profile office]
        server = 127.0.0.1:{free_port()}
        key_file = {key}
        local_forward = 0:127.0.0.1:22
        """)
    r = run_bad([postern_bin, "client", "-c", conf, "nosuchprofile"])
    assert r.returncode == 2, r.stderr
    assert "nosuchprofile" in r.stderr, r.stderr


def test_missing_config_file(postern_bin, tmp):
    r = run_bad([postern_bin, "server", "-c", tmp / "does-not-exist.conf"])
    assert r.returncode in (1, 2), r.stderr
    assert "does-not-exist.conf" in r.stderr


# --------------------------------------------------------------------------
# key files


def write_key(path, raw, mode=0o600, prefix="postern-psk-v1 "):
    path.write_text(prefix + base64.b64encode(raw).decode() + "\n")
    os.chmod(path, mode)
    return path


@pytest.mark.parametrize("role", ["server", "client"])
@pytest.mark.parametrize("kind", ["short", "long", "garbage", "empty", "missing"])
def test_bad_key_file(postern_bin, tmp, role, kind):
    path = tmp / f"{kind}.key"
    if kind == "short":
        write_key(path, os.urandom(16))
    elif kind == "long":
        write_key(path, os.urandom(48))
    elif kind == "garbage":
        path.write_bytes(os.urandom(45))
        os.chmod(path, 0o600)
    elif kind == "empty":
        path.write_bytes(b"")
        os.chmod(path, 0o600)
    port = free_port()
    if role == "server":
        argv = [postern_bin, "server", "-l", f"127.0.0.1:{port}", "-k", path, "--permit-open", "any"]
    else:
        argv = [postern_bin, "client", "-k", path, "-L", "0:127.0.0.1:22", f"127.0.0.1:{port}"]
    r = run_bad(argv)
    assert r.returncode == 2, f"exit {r.returncode}: {r.stderr}"
    assert str(path) in r.stderr or path.name in r.stderr, f"message does not name the key file: {r.stderr!r}"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_file_permissions_too_open(postern_bin, pg, mode):
    path = pg.keygen("open.key")
    os.chmod(path, mode)
    r = run_bad([postern_bin, "server", "-l", "127.0.0.1:0", "-k", path, "--permit-open", "any"])
    assert r.returncode == 2, f"exit {r.returncode}: {r.stderr}"
    assert path.name in r.stderr, r.stderr
    assert "chmod 600" in r.stderr, r.stderr
    assert base64.b64encode(pg.psk(path)).decode() not in r.stderr, "the key leaked into the message"


def test_keygen_creates_0600_key(postern_bin, tmp):
    path = tmp / "new.key"
    r = run([postern_bin, "keygen", "-o", path])
    assert r.returncode == 0, r.stderr
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
    text = path.read_text()
    assert re.fullmatch(r"postern-psk-v1 [A-Za-z0-9+/]{43}=\n", text), repr(text)
    assert len(base64.b64decode(text.split()[1])) == 32
    # Two keys differ.
    r = run([postern_bin, "keygen", "-o", tmp / "new2.key"])
    assert r.returncode == 0
    assert (tmp / "new2.key").read_text() != text


def test_keygen_refuses_to_overwrite(postern_bin, pg):
    path = pg.keygen("existing.key")
    before = path.read_bytes()
    r = run_bad([postern_bin, "keygen", "-o", path])
    assert path.read_bytes() == before, "keygen overwrote an existing key"
    assert path.name in r.stderr, r.stderr
    # Also for a non-key file that happens to be there.
    other = path.parent / "notes.txt"
    other.write_text("precious\n")
    r = run_bad([postern_bin, "keygen", "-o", other])
    assert other.read_text() == "precious\n"


# --------------------------------------------------------------------------
# command line


@pytest.mark.parametrize("argv", [
    ["frobnicate"],
    ["server", "--no-such-flag"],
    ["client", "--no-such-flag"],
    ["server", "--preauth-timeout", "5"],
    ["server", "--replay-window", "86400"],
    ["client", "--keepalive", "99999"],
    ["client", "--exit-on-forward-failure=no"],
    ["server", "--max-refusals", "soon"],
    ["server", "--max-refusals", "15"],
    ["server", "--ban-exempt", "10.0.0.0/40"],
    ["server", "--reject-delay", "3-1"],
    ["server", "--reject-delay", "fast"],
    ["server", "--ban-threshold", "-5"],
    ["server", "-l", "not-an-address"],
    ["server", "-l", "127.0.0.1:70000"],
    ["server", "--permit-open", "127.0.0.1"],
    ["client", "--cipher", "rot13"],
    ["client", "--keepalive", "often"],
    ["client", "--busy-poll", "1001"],
    ["client", "--busy-poll", "-1"],
    ["server", "--busy-poll", "lots"],
    ["server", "--replay-cache", "1023"],
    ["server", "--replay-quota", "15"],
    ["server", "--replay-quota", "many"],
    ["server", "--state-dir", ""],
    ["keygen"],
], ids=lambda a: " ".join(a))
def test_usage_errors(postern_bin, key, argv):
    full = [postern_bin] + argv
    # Complete the command so only the bad part is bad.
    if argv[0] == "server" and "-l" not in argv:
        full += ["-l", "127.0.0.1:0"]
    if argv[0] == "server":
        full += ["-k", key] + (["--permit-open", "any"] if "--permit-open" not in argv else [])
    if argv[0] == "client":
        full += ["-k", key, "-L", "0:127.0.0.1:22", f"127.0.0.1:{free_port()}"]
    r = run_bad(full)
    assert r.returncode == 2, f"exit {r.returncode}: {r.stderr}"


def test_server_without_key_is_usage_error(postern_bin):
    r = run_bad([postern_bin, "server", "-l", "127.0.0.1:0"])
    assert r.returncode == 2, r.stderr


def test_client_without_server_is_usage_error(postern_bin, key):
    r = run_bad([postern_bin, "client", "-k", key, "-L", "0:127.0.0.1:22"])
    assert r.returncode == 2, r.stderr


def test_listen_address_in_use_is_runtime_error(postern_bin, key):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        r = run_bad([postern_bin, "server", "-l", f"127.0.0.1:{port}", "-k", key, "--permit-open", "any"])
    assert r.returncode == 1, f"exit {r.returncode}: {r.stderr}"
    assert str(port) in r.stderr, r.stderr


def test_version_and_help(postern_bin):
    r = run([postern_bin, "--version"], timeout=TIMEOUT)
    assert r.returncode == 0 and r.stdout.strip(), (r.returncode, r.stdout, r.stderr)
    assert "postern" in r.stdout.lower()
    r = run([postern_bin, "--help"], timeout=TIMEOUT)
    assert r.returncode == 0 and "server" in r.stdout and "client" in r.stdout, r.stdout
    for sub in ("server", "client", "keygen"):
        r = run([postern_bin, sub, "--help"], timeout=TIMEOUT)
        assert r.returncode == 0, (sub, r.stderr)
        assert r.stdout.strip(), f"{sub} --help printed nothing on stdout"


# --------------------------------------------------------------------------
# messages in flag language (issue 16), from the one settings table


def test_messages_speak_flag_language(postern_bin, key):
    port = free_port()
    cases = [
        (["client", "-k", key, "--keepalive", "99999", f"127.0.0.1:{port}"],
         "postern client: --keepalive: '99999' is out of range 0..3600"),
        (["client"], "postern client: no server: give SERVER:PORT"),
        (["client", f"127.0.0.1:{port}"],
         "postern client: no key: give -k FILE (or key_file in a profile)"),
        (["server", "--permt-open", "x"],
         "postern server: unknown option '--permt-open' (see 'postern server --help')"),
        (["server", "-k", key, "--replay-window", "86400", "-l", f"127.0.0.1:{port}"],
         "postern server: --replay-window: '86400' is out of range 1..3600"),
    ]
    for argv, want in cases:
        r = run_bad([postern_bin] + argv)
        assert r.returncode == 2, (argv, r.stderr)
        assert r.stderr.strip() == want, (argv, r.stderr)
    r = run_bad([postern_bin, "client", "-k", key, "-L", "::1:2222:127.0.0.1:22",
                 f"127.0.0.1:{port}"])
    assert "[::1]" in r.stderr and "brackets" in r.stderr, r.stderr


def test_file_and_flag_refuse_the_same_value(postern_bin, key, tmp_path):
    conf = tmp_path / "server.conf"
    conf.write_text(f"[server]\nlisten = 127.0.0.1:{free_port()}\nreplay_window = 86400\n"
                    f"[key a]\nkey_file = {key}\n")
    r = run_bad([postern_bin, "server", "-c", str(conf)])
    assert r.returncode == 2 and "server.conf:3: replay_window: '86400' is out of range" \
        in r.stderr, r.stderr


def test_settings_after_exit_on_forward_failure(postern_bin, key, tmp_path):
    # Issue 16.1: every setting after exit_on_forward_failure was "set twice".
    # The profile must parse; the bad flag after it proves the file was read.
    conf = tmp_path / "t.conf"
    conf.write_text(f"[profile o]\nserver = 127.0.0.1:{free_port()}\nkey_file = {key}\n"
                    "exit_on_forward_failure = yes\nkeepalive = 25\ncipher = auto\n")
    r = run_bad([postern_bin, "client", "-c", str(conf), "--keepalive", "x"])
    assert r.returncode == 2, r.stderr
    assert "set twice" not in r.stderr, r.stderr
    assert r.stderr.startswith("postern client: --keepalive: bad value 'x'"), r.stderr


def test_preauth_timeout_names_its_replacement(postern_bin, key, tmp_path):
    conf = tmp_path / "server.conf"
    conf.write_text(f"[server]\nlisten = 127.0.0.1:{free_port()}\npreauth_timeout = 10\n"
                    f"[key a]\nkey_file = {key}\n")
    r = run_bad([postern_bin, "server", "-c", str(conf)])
    assert r.returncode == 2, r.stderr
    assert "server.conf:3: preauth_timeout" in r.stderr and "reject_delay" in r.stderr, r.stderr
