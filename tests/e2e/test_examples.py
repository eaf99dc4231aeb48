# SPDX-License-Identifier: MIT
"""Every command and configuration example in README.md and man/postern.1.scd
runs as written, against loopback, so an example cannot rot.

The examples are extracted, not copied: a block added to either document is
picked up the next time the suite runs.

What is extracted
    README.md: every fenced block. ```ini blocks are configuration files:
    one with a [server] or [key NAME] section is written as server.conf,
    one with [profile NAME] as client.conf (the names the README's commands
    use). Every other block is a list of shell commands (a trailing "\\"
    continues a line, "#" starts a comment). The block under "### What you
    see" is log output and must match the real log format instead.
    man/postern.1.scd: the ``` blocks of FILES (configuration, as above),
    EXAMPLES (commands) and LOG FORMAT (log output), read from the scdoc
    source the page is built from.

What runs
    postern keygen / server / client / access lines, and ssh lines (against
    a test sshd). Other programs (make, scripts/, bench/) are the build and
    CI entry points, which CI runs itself, and apt and systemctl (what they
    install is test_package.py's); they are listed in SKIPPED_PROGRAMS.
    The configuration files are written before the commands run (the README
    shows `postern access -c server.conf` before the file), their key_file
    keys are created with `postern keygen`, and after the commands
    `postern server -c server.conf` starts and `postern client -c
    client.conf` connects to it.

The substitutions, applied mechanically to every example (SUBSTITUTIONS and
the functions below them; nothing else changes a command):
    0.0.0.0:PORT / [::]:PORT        -> 127.0.0.1:0 / [::1]:0 (the server
                                       logs the port it got)
    gateway.example:7000, gw:7000   -> the server the example started last
    127.0.0.1:22                    -> a test sshd; 127.0.0.1:80 and
                                       127.0.0.1:5432 -> echo servers
    /tmp/..., /run/...              -> the same names under the test's tmp dir
    client listen ports (-L, -D, local_forward, dynamic_forward) -> 0; the
                                       port each got (from its "listening on"
                                       line) then replaces the example's
                                       number in later commands (ssh -p 2222)
    fixed -R ports (8080, 9000)     -> one free port each, everywhere in the
                                       document (the server binds it, so it
                                       must be known before anything listens)
    ssh HOST                        -> ssh with the test sshd's key, running
                                       `echo`, so a login through the tunnel
                                       is checked without a terminal. Where
                                       no sshd can run (not root), 127.0.0.1:22
                                       is a server sending an SSH banner and
                                       the ssh line reads that banner through
                                       the tunnel instead.
A comment holding a "quoted text" is output the command must produce (on
stdout, or in its log for long-running ones), digits standing for any number.

What is checked
    servers start ("server ready"); clients establish a session and set up
    every forward (nothing "could not be set up"); TCP and Unix -L entrances
    to an echo carry bytes both ways, and so do -R listeners and -D SOCKS
    entrances; ssh logs in through -L; access lines exit 0 (allow or a
    printed matrix) unless their comment says "deny".
"""

import os
import re
import shlex
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, echo_handler, echo_roundtrip, free_port, hostport, parse_forward, run
from fwdutil import socks5_connect, unix_echo_roundtrip
from test_peers import read_banner, ssh_argv, sshd  # noqa: F401  (sshd is a fixture)

# Package installation and service management: test_package.py checks what they install.
SKIPPED_PROGRAMS = ("make", "scripts/demo.sh", "bench/run", "man", "apt", "systemctl")
RUN_PROGRAMS = ("postern", "ssh")
# Ports the examples give to -R listeners and permit_listen entries.
FIXED_REMOTE_PORTS = ("8080", "9000")
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARN|ERROR) \S")


# --------------------------------------------------------------------------
# extraction


def readme_blocks():
    """[(kind, text, heading)] for README.md: kind is "ini", "shell" or "log"."""
    out, heading, lines = [], "", (REPO / "README.md").read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        m = re.match(r"^```(\w*)\s*$", line)
        if m:
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            text = "\n".join(lines[i + 1:j])
            kind = "ini" if m.group(1) == "ini" else "log" if heading == "What you see" else "shell"
            out.append((kind, text, heading))
            i = j
        i += 1
    return out


def man_blocks():
    """The ``` blocks of the man page source's FILES, EXAMPLES and LOG FORMAT sections."""
    out, section, inblock, buf = [], "", False, []
    for line in (REPO / "man" / "postern.1.scd").read_text().splitlines():
        if line.startswith("# ") and not inblock:
            section = line[2:].strip()
        elif line.strip() == "```":
            if inblock:
                kind = {"FILES": "ini", "EXAMPLES": "shell", "LOG FORMAT": "log"}.get(section)
                if kind:
                    out.append((kind, "\n".join(buf), section))
            inblock, buf = not inblock, []
        elif inblock:
            buf.append(line)
    return out


def shell_commands(text):
    """(argv, expected-or-None) per command line; continuations joined."""
    joined, cur = [], ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        joined.append(cur + line)
        cur = ""
    out = []
    for line in joined:
        code, _, comment = line.partition(" #")
        if code.lstrip().startswith("#"):
            continue
        argv = shlex.split(code)
        if not argv:
            continue
        m = re.search(r'"([^"]+)"', comment)
        out.append((argv, m.group(1) if m else None, comment))
    return out


def expected_regex(text):
    """The quoted output, every run of digits standing for any number."""
    return re.sub(r"\\?\d+", r"\\d+", re.escape(text)) if text else None


# --------------------------------------------------------------------------
# the runner


class Examples:
    def __init__(self, pg, procs, tmp, tcp_servers, sshd):
        self.pg, self.procs, self.tmp = pg, procs, Path(tmp)
        self.sshd = sshd
        self.echo80 = tcp_servers(echo_handler)
        self.echo5432 = tcp_servers(echo_handler)
        self.server = None  # (host, port) of the server started last
        self.client = None  # the client started last, until the next one starts
        self.local_ports = {}  # example's client listen port -> port it got
        self.remote_ports = {p: str(free_port()) for p in FIXED_REMOTE_PORTS}
        self.ran = []
        # Unix socket paths are short (108 bytes): not under pytest's long tmp path.
        self.short = Path(tempfile.mkdtemp(prefix="pex", dir="/tmp"))
        (self.short / "tmp").mkdir()
        (self.short / "run").mkdir()
        # A Unix socket target the examples name (/run/redis.sock) is an echo.
        self.unix_echoes = [tcp_servers(echo_handler, path=self.short / "run" / "redis.sock")]

    def close(self):
        shutil.rmtree(self.short, ignore_errors=True)

    # substitutions --------------------------------------------------------
    def substitute(self, text, server_listen=False):
        """Rewrite one example (a command line or a config file) for loopback, once."""
        text = re.sub(r"(?<![\w.-])/(tmp|run)/", lambda m: f"{self.short}/{m.group(1)}/", text)
        # Every server the examples start gets its own state directory (the
        # default would be /var/lib/postern, shared and locked).
        text = re.sub(r"^state_dir\s*=.*$", lambda m: f"state_dir = {self.state_dir()}", text, flags=re.M)
        text = re.sub(r"127\.0\.0\.1:22(?!\d)", f"127.0.0.1:{self.sshd.port}", text)
        text = re.sub(r"127\.0\.0\.1:80(?!\d)", f"127.0.0.1:{self.echo80.port}", text)
        text = re.sub(r"127\.0\.0\.1:5432(?!\d)", f"127.0.0.1:{self.echo5432.port}", text)
        if server_listen:
            text = re.sub(r"0\.0\.0\.0:\d+", "127.0.0.1:0", text)
            text = re.sub(r"\[::\]:\d+", "[::1]:0", text)
        if self.server is not None:
            text = re.sub(r"\b(gateway\.example|gw):7000\b", hostport(*self.server), text)
        for old, new in self.remote_ports.items():
            text = re.sub(rf"(?<![\d.]){old}(?!\d)", new, text)
        return text

    def later_ports(self, text):
        for old, new in self.local_ports.items():
            text = re.sub(rf"(?<![\d.]){old}(?!\d)", new, text)
        return text

    @staticmethod
    def local_to_zero(spec, dynamic=False):
        """-L/-D listen port -> 0; returns (new spec, example's port or None, target)."""
        if dynamic:
            m = re.match(r"^((?:\[[^\]]+\]|[^:/\[]+):)?(\d+)$", spec)
            return (f"{m.group(1) or ''}0", m.group(2), None) if m else (spec, None, None)
        m = re.match(r"^((?:\[[^\]]+\]|[^:/\[]+):)?(\d+):(.+)$", spec)
        if not m:
            return spec, None, spec.split(":", 1)[1]  # a Unix entrance: path:target
        return f"{m.group(1) or ''}0:{m.group(3)}", m.group(2), m.group(3)

    # running --------------------------------------------------------------
    def write_configs(self, blocks):
        for kind, text, _ in blocks:
            if kind != "ini":
                continue
            name = "client.conf" if re.search(r"^\[profile ", text, re.M) else "server.conf"
            path = self.tmp / name
            path.write_text(text + "\n")
            os.chmod(path, 0o600)
            for key in re.findall(r"^key_file\s*=\s*(\S+)", text, re.M):
                if not (self.tmp / key).exists():
                    r = run([self.pg.bin, "keygen", "-o", self.tmp / key], cwd=self.tmp)
                    assert r.returncode == 0, f"keygen {key}: {r.stderr}"

    def state_dir(self):
        self.nstate = getattr(self, "nstate", 0) + 1
        return self.tmp / f"state-{self.nstate}"

    def start_server(self, argv, what):
        if "--state-dir" not in argv and argv[:3] != ["postern", "server", "-c"]:
            argv = argv + ["--state-dir", str(self.state_dir())]
        elif argv[:3] == ["postern", "server", "-c"] and not re.search(
                r"^state_dir\s*=", (self.tmp / argv[3]).read_text(), re.M):
            argv = argv + ["--state-dir", str(self.state_dir())]
        p = self.procs.start([self.pg.bin] + argv[1:], "example-server", cwd=self.tmp)
        p.watch = True
        p.wait_for_log(r"server ready: ", timeout=15)
        m = p.wait_for_log(r"listening on (\S+):(\d+)$")
        self.server = (m.group(1).strip("[]"), int(m.group(2)))
        self.ran.append(what)
        return p

    def client_forwards(self, argv):
        """Rewrite a client's listen ports to 0; returns (argv, [(kind, port, target)])."""
        out, fw, i = [], [], 0
        while i < len(argv):
            a = argv[i]
            if a in ("-L", "-D", "-R") and i + 1 < len(argv):
                spec = argv[i + 1]
                if a == "-R":
                    fw.append(("R", None, spec, None))
                else:
                    spec, port, target = self.local_to_zero(spec, dynamic=a == "-D")
                    fw.append((a[1], port, spec, target))
                out += [a, spec]
                i += 2
                continue
            out.append(a)
            i += 1
        return out, fw

    def profile_forwards(self):
        """The same for client.conf, rewritten in place."""
        path = self.tmp / "client.conf"
        fw, lines = [], []
        for line in path.read_text().splitlines():
            m = re.match(r"^(local_forward|dynamic_forward|remote_forward)(\s*=\s*)(\S+)(.*)$", line)
            if m:
                kind = {"local_forward": "L", "dynamic_forward": "D", "remote_forward": "R"}[m.group(1)]
                spec, port, target = m.group(3), None, None
                if kind != "R":
                    spec, port, target = self.local_to_zero(spec, dynamic=kind == "D")
                fw.append((kind, port, spec, target))
                line = f"{m.group(1)}{m.group(2)}{spec}{m.group(4)}"
            lines.append(line)
        path.write_text("\n".join(lines) + "\n")
        return fw

    def start_client(self, argv, forwards, what, expected=None):
        # One client at a time: examples are alternatives (two may name the same -R port).
        if self.client is not None:
            self.client.stop()
        p = self.client = self.procs.start([self.pg.bin] + argv[1:], "example-client", cwd=self.tmp)
        p.watch = True
        p.wait_for_log(r"session established with ", timeout=15)
        seen = {}
        for kind, port, spec, target in forwards:
            if kind == "R":
                _, _, dh, dp = parse_forward(spec)
                dest = hostport(dh, dp)
                m = p.wait_for_log(r"(?:Allocated port (\d+) for remote forward to |remote forward: server "
                                   r"listening on (?:port |\S+:)(\d+) for )" + re.escape(dest) + "$")
                if dest in self.echoes():
                    rport = int(m.group(1) or m.group(2))
                    assert echo_roundtrip((self.server[0], rport)), f"{what}: -R {spec} carries no bytes"
                continue
            rx = r"SOCKS \(4, 4a, 5\)" if kind == "D" else re.escape(target)
            seen[rx] = n = seen.get(rx, 0) + 1
            where = p.wait_for_log(r"listening on (\S+) for " + rx + "$", count=n).group(1)
            if port is not None:
                host, got = where.rsplit(":", 1)
                self.local_ports[port] = got
                addr = (host.strip("[]"), int(got))
            else:
                addr = where
            if kind == "D":
                self.check_socks(addr, what)
            elif target in self.echoes():
                if isinstance(addr, tuple):
                    assert echo_roundtrip(addr), f"{what}: -L {spec} carries no bytes"
                else:
                    assert unix_echo_roundtrip(addr), f"{what}: -L {spec} carries no bytes"
        assert not p.search(r"could not be set up|remote forward \S+ -> \S+ failed"), \
            f"{what}: a forward failed:\n{p.tail()}"
        if expected:
            p.wait_for_log(expected_regex(expected))
        self.ran.append(what)
        return p

    def echoes(self):
        return {f"127.0.0.1:{self.echo80.port}", f"127.0.0.1:{self.echo5432.port}"} | \
            {str(u.path) for u in self.unix_echoes}

    def check_socks(self, addr, what):
        """A SOCKS5 CONNECT through -D reaches one of the loopback destinations
        the server permits (which ones depends on the example's policy)."""
        tried = []
        for port, banner in ((self.echo80.port, None), (self.echo5432.port, None), (self.sshd.port, b"SSH-2.0-")):
            rep, outcome, s = socks5_connect(addr, "127.0.0.1", port)
            try:
                if outcome != "ok":
                    tried.append((port, rep, outcome))
                    continue
                if banner is None:
                    s.sendall(b"socks example\n")
                want = banner or b"socks example\n"
                got = b""
                while len(got) < len(want):
                    chunk = s.recv(64)
                    if not chunk:
                        break
                    got += chunk
                assert got[:len(want)] == want, f"{what}: through -D got {got!r}, expected {want!r}"
                return
            finally:
                s.close()
        raise AssertionError(f"{what}: no SOCKS CONNECT through -D succeeded: {tried}")

    def run_shell(self, argv, expected, comment, what):
        prog = argv[0]
        if prog == "ssh":
            port = int(argv[argv.index("-p") + 1])
            if self.sshd.client_key is None:
                banner = read_banner(port)
                assert banner.startswith(b"SSH-2.0-"), f"{what}: through the tunnel got {banner!r}"
            else:
                r = run(ssh_argv(port, self.sshd.client_key, "echo", "through-postern"), timeout=60)
                assert r.returncode == 0 and "through-postern" in r.stdout, f"{what}: {r.stderr}"
        elif argv[1] == "keygen":
            r = run([self.pg.bin] + argv[1:], cwd=self.tmp)
            assert r.returncode == 0, f"{what}: {r.stderr}"
        elif argv[1] == "server":
            self.start_server(argv, what)
            return
        elif argv[1] in ("client", "connect"):
            argv, forwards = self.client_forwards(argv)
            self.start_client(argv, forwards, what, expected)
            return
        elif argv[1] == "access":
            r = run([self.pg.bin] + argv[1:], cwd=self.tmp)
            want = 1 if "deny" in comment else 0
            assert r.returncode == want, f"{what}: exit {r.returncode}: {r.stdout}{r.stderr}"
            if expected:
                assert re.search(expected_regex(expected), r.stdout), f"{what}: {r.stdout!r} lacks {expected!r}"
        else:
            raise AssertionError(f"{what}: no runner for `postern {argv[1]}`: teach test_examples.py")
        self.ran.append(what)

    def run_document(self, blocks):
        self.write_configs(blocks)
        for kind, text, heading in blocks:
            if kind != "shell":
                continue
            for argv, expected, comment in shell_commands(text):
                what = f"[{heading}] {' '.join(argv)}"
                if argv[0].startswith(SKIPPED_PROGRAMS):
                    continue
                assert argv[0] in RUN_PROGRAMS, f"{what}: unknown program; run it or add it to SKIPPED_PROGRAMS"
                server = argv[:2] == ["postern", "server"]
                argv = shlex.split(self.later_ports(self.substitute(shlex.join(argv), server_listen=server)))
                self.run_shell(argv, expected, comment, what)
        if (self.tmp / "server.conf").exists():
            conf = self.tmp / "server.conf"
            conf.write_text(self.substitute(conf.read_text(), server_listen=True))
            self.start_server(["postern", "server", "-c", "server.conf"], "server.conf")
        if (self.tmp / "client.conf").exists():
            conf = self.tmp / "client.conf"
            conf.write_text(self.substitute(conf.read_text()))
            forwards = self.profile_forwards()
            self.start_client(["postern", "client", "-c", "client.conf"], forwards, "client.conf")


def banner_handler(conn, srv):
    """Stands in for sshd where none can run: the server speaks first."""
    conn.sendall(b"SSH-2.0-postern-test\r\n")
    conn.shutdown(socket.SHUT_WR)


@pytest.fixture
def ssh_target(request, tcp_servers):
    """The test sshd, or where it cannot run a banner server (client_key None),
    so the examples still run everywhere instead of skipping."""
    try:
        return request.getfixturevalue("sshd")
    except pytest.skip.Exception:
        srv = tcp_servers(banner_handler)
        srv.client_key = None
        return srv


@pytest.fixture
def examples(pg, procs, tmp, tcp_servers, ssh_target):
    ex = Examples(pg, procs, tmp, tcp_servers, ssh_target)
    yield ex
    ex.close()


# --------------------------------------------------------------------------
# tests


def test_readme_examples_run(examples):
    blocks = readme_blocks()
    assert sum(k == "ini" for k, _, _ in blocks) >= 2 and sum(k == "shell" for k, _, _ in blocks) >= 4
    examples.run_document(blocks)
    # Every kind of example really ran (a parser that found nothing would pass).
    assert "server.conf" in examples.ran and "client.conf" in examples.ran
    assert sum("postern client" in w for w in examples.ran) >= 5, examples.ran
    assert any(w.startswith("[Use] ssh") for w in examples.ran), examples.ran


def test_man_examples_run(examples):
    blocks = man_blocks()
    assert sum(k == "ini" for k, _, _ in blocks) == 2 and sum(k == "shell" for k, _, _ in blocks) >= 1
    examples.run_document(blocks)
    assert "server.conf" in examples.ran and "client.conf" in examples.ran
    assert any(w.startswith("[EXAMPLES] ssh") for w in examples.ran), examples.ran


@pytest.mark.parametrize("doc", ["README.md", "man/postern.1.scd"])
def test_log_examples_have_the_real_format(pg, procs, tmp, doc):
    """README's 'What you see' and the man page's LOG FORMAT show lines as
    postern writes them (no "server:" prefix, the real time stamp)."""
    blocks = readme_blocks() if doc == "README.md" else man_blocks()
    shown = [t for k, t, _ in blocks if k == "log"]
    assert shown, f"{doc} has no log example"
    lines = [line for t in shown for line in t.splitlines() if line.strip()]
    assert lines
    key = pg.keygen()
    srv = pg.start_server(key=key)
    real = srv.log().splitlines()[0]
    assert LOG_LINE.match(real), f"the log format changed: {real!r}; update LOG_LINE and the docs"
    for line in lines:
        assert LOG_LINE.match(line), f"README log line not in the real format: {line!r}"
