# SPDX-License-Identifier: MIT
"""Shared fixtures and helpers for postern's end-to-end tests.

Everything here runs real processes on loopback only. Each process is
tracked by pid and stopped in teardown (SIGTERM, wait, SIGKILL); every
socket operation has a timeout; readiness is polled (log line or port),
never slept for.

Environment:
    POSTERN_BIN          path to the binary (default: <repo>/build/postern)
    POSTERN_E2E_VERBOSE  if set, pass -v to every postern server/client
"""

import hashlib
import os
import re
import resource
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))

import noise_probe  # noqa: E402  (re-exported for tests)

REPO = Path(__file__).resolve().parents[2]
POSTERN_BIN = Path(os.environ.get("POSTERN_BIN") or (REPO / "build" / "postern")).resolve()
VERBOSE = bool(os.environ.get("POSTERN_E2E_VERBOSE"))

# Generous bounds: they only stop a hung test, they are never asserted on.
IO_TIMEOUT = 30.0
START_TIMEOUT = 15.0
LOG_TIMEOUT = 15.0

# Many sockets at once in the concurrency test: raise the soft fd limit.
try:
    _soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    _want = 4096 if _hard == resource.RLIM_INFINITY else min(4096, _hard)
    if _soft != resource.RLIM_INFINITY and _soft < _want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (_want, _hard))
except (ValueError, OSError):
    pass


# --------------------------------------------------------------------------
# small helpers


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def hostport(host, port):
    """'127.0.0.1:80' or '[::1]:80' (the form postern logs and parses)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (bind port 0, read it back, close).

    Racy: another process may take it before postern binds it. Servers and
    client -L/-D listeners therefore bind port 0 and report the port they got
    (start_server, start_client); use this only where a port must be known
    before anything binds it (a destination that must be closed, a fixed -R
    port that the server's permit_listen must also name, a third-party
    server that cannot report a port it picked).
    """
    with socket.socket(family_of(host), socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host, port, timeout=START_TIMEOUT, proc=None):
    """Poll until something accepts on host:port."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited ({proc.returncode}) before {hostport(host, port)} accepted")
        try:
            with socket.create_connection((host, port), timeout=1.0):
                return
        except OSError as e:
            last = e
            time.sleep(0.05)
    raise AssertionError(f"nothing accepts on {hostport(host, port)} after {timeout} s: {last!r}")


def connect(host, port, timeout=IO_TIMEOUT, source=None):
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if source is not None:
            s.bind((source, 0))
        s.connect((host, port))
    except BaseException:
        s.close()
        raise
    return s


def recv_exactly(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def recv_until_end(sock, limit=None):
    """Read until EOF, reset or timeout.

    Returns (data, outcome) with outcome one of "eof", "reset", "timeout",
    or "limit" when ${limit} bytes arrived first.
    """
    buf = bytearray()
    while True:
        if limit is not None and len(buf) >= limit:
            return bytes(buf), "limit"
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:
            return bytes(buf), "reset"
        except socket.timeout:
            return bytes(buf), "timeout"
        if not chunk:
            return bytes(buf), "eof"
        buf += chunk


def probe(addr, data=b"", source=None, timeout=IO_TIMEOUT):
    """Raw TCP probe: connect, send ${data}, read until the peer ends.

    Returns (received_bytes, outcome, local_port). A reset seen while
    connecting (a peer that resets right after accept can beat connect()'s
    return) or sending also counts as "reset", with nothing received.
    """
    host = addr[0]
    if source is None:
        source = "::1" if ":" in host else "127.0.0.1"
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.bind((source, 0))
        lport = s.getsockname()[1]
        try:
            s.connect(addr)
        except ConnectionResetError:
            return b"", "reset", lport
        if data:
            try:
                s.sendall(data)
            except (ConnectionResetError, BrokenPipeError):
                return b"", "reset", lport
        got, outcome = recv_until_end(s)
        return got, outcome, lport
    finally:
        s.close()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def wait_until(pred, timeout=LOG_TIMEOUT, what="condition", interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


MiB = 1 << 20


def send_in_chunks(sock, data, chunk=MiB):
    mv = memoryview(data)
    for off in range(0, len(mv), chunk):
        sock.sendall(mv[off:off + chunk])


class Sender(threading.Thread):
    """Send ${data} on ${sock} in a thread (so the caller can read at the same
    time and flow control cannot deadlock), optionally half-closing after."""

    def __init__(self, sock, data, shut_wr=True):
        super().__init__(daemon=True)
        self.sock, self.data, self.shut_wr = sock, data, shut_wr
        self.sent = 0
        self.error = None

    def run(self):
        try:
            mv = memoryview(self.data)
            while self.sent < len(mv):
                n = self.sock.send(mv[self.sent:self.sent + 65536])
                self.sent += n
            if self.shut_wr:
                self.sock.shutdown(socket.SHUT_WR)
        except OSError as e:
            self.error = e


def exchange(sock, data, shut_wr=True):
    """Send ${data} (in a thread, with an optional half-close) while reading
    until the end; returns (received, outcome, sender).

    A reset is reported once per socket, to whichever call sees it first: if
    the sending thread took the ECONNRESET, the reader then sees a plain EOF.
    The outcome is corrected for that: a sender ECONNRESET means a reset that
    came before any FIN (after a FIN, Linux reports a later RST as EPIPE).
    """
    tx = Sender(sock, data, shut_wr=shut_wr)
    tx.start()
    got, outcome = recv_until_end(sock)
    tx.join(timeout=IO_TIMEOUT)
    if outcome == "eof" and isinstance(tx.error, ConnectionResetError):
        outcome = "reset"
    return got, outcome, tx


def echo_roundtrip(addr, nbytes=256 * 1024):
    """Send random bytes through ${addr} to an echo server, reading concurrently;
    assert they come back intact and the echo's half-close arrives as EOF."""
    data = os.urandom(nbytes)
    s = connect(*addr)
    try:
        got, outcome, tx = exchange(s, data)
    finally:
        s.close()
    assert tx.error is None, f"sending through the tunnel failed after {tx.sent} bytes: {tx.error!r}"
    assert outcome == "eof", f"echo through the tunnel ended with {outcome} after {len(got)} bytes"
    assert len(got) == len(data), f"echo returned {len(got)} of {len(data)} bytes"
    assert got == data, "echo returned different bytes"
    return True


# --------------------------------------------------------------------------
# processes


class Proc:
    """A child process whose stderr (and stdout) go to a log file."""

    def __init__(self, argv, log_path, name=None, env=None, cwd=None, capture_stdout=False):
        self.argv = [str(a) for a in argv]
        self.name = name or Path(self.argv[0]).name
        self.log_path = Path(log_path)
        self.out_path = self.log_path.with_suffix(".out") if capture_stdout else None
        if env is None:
            env = dict(os.environ)
        # glibc's fatal messages (heap corruption, failed checks) go to
        # /dev/tty by default; we have none, so send them to the log.
        env.setdefault("LIBC_FATAL_STDERR_", "1")
        self._logf = open(self.log_path, "wb")
        self._outf = open(self.out_path, "wb") if capture_stdout else None
        self.stopped_by_us = False  # stop()/kill() called: a signal exit is expected
        self.needed_sigkill = False  # ignored SIGTERM for the whole grace period
        self.watch = False  # set for postern processes: checked for crashes at teardown
        self.p = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._outf if capture_stdout else self._logf,
            stderr=self._logf,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        self.pid = self.p.pid

    def __repr__(self):
        return f"<Proc {self.name} pid={self.pid} rc={self.p.returncode}>"

    @property
    def returncode(self):
        return self.p.poll()

    def alive(self):
        return self.p.poll() is None

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stdout(self):
        return self.out_path.read_text(errors="replace") if self.out_path else ""

    def tail(self, n=40):
        return "\n".join(self.log().splitlines()[-n:])

    def count(self, regex):
        return len(re.findall(regex, self.log(), re.M))

    def search(self, regex):
        return re.search(regex, self.log(), re.M)

    def wait_for_log(self, regex, timeout=LOG_TIMEOUT, count=1):
        """Poll the log until ${regex} has matched ${count} times; return the last match."""
        rx = re.compile(regex, re.M)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            matches = list(rx.finditer(text))
            if len(matches) >= count:
                return matches[count - 1]
            if not self.alive():
                # One last read: the final lines may have landed just now.
                text = self.log()
                matches = list(rx.finditer(text))
                if len(matches) >= count:
                    return matches[count - 1]
                raise AssertionError(
                    f"{self.name} (pid {self.pid}) exited with {self.p.returncode} before logging "
                    f"/{regex}/ x{count}; log tail:\n{self.tail()}"
                )
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{self.name} (pid {self.pid}) did not log /{regex}/ x{count} within {timeout} s; "
                    f"log tail:\n{self.tail()}"
                )
            time.sleep(0.05)

    def wait(self, timeout=IO_TIMEOUT):
        return self.p.wait(timeout=timeout)

    def stop(self, timeout=5.0):
        """SIGTERM, wait, then SIGKILL. Safe to call twice."""
        if self.p.poll() is None:
            self.stopped_by_us = True
            try:
                self.p.terminate()
                self.p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.needed_sigkill = True
                self.p.kill()
                try:
                    self.p.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    pass
        self._close_files()
        return self.p.returncode

    def kill(self, timeout=5.0):
        if self.p.poll() is None:
            self.stopped_by_us = True
            self.p.kill()
            self.p.wait(timeout=timeout)
        self._close_files()

    CRASH_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "double free", "free(): invalid", "malloc(): ", "corrupted size",
                     "stack smashing detected", "Assertion `")

    def health_problems(self):
        """Crash evidence for a watched process (call after it has ended)."""
        problems = []
        text = self.log()
        for m in self.CRASH_MARKERS:
            i = text.find(m)
            if i >= 0:
                problems.append(f"{self.name} (pid {self.pid}) log shows {m!r}:\n{text[max(0, i - 200):i + 1500]}")
                break
        rc = self.p.returncode
        if rc is not None and rc < 0 and not self.stopped_by_us:
            problems.append(f"{self.name} (pid {self.pid}) died of signal {-rc} on its own; log tail:\n{self.tail()}")
        if self.needed_sigkill:
            problems.append(f"{self.name} (pid {self.pid}) did not exit within 5 s of SIGTERM; log tail:\n{self.tail()}")
        return problems

    def _close_files(self):
        for f in (self._logf, self._outf):
            if f is not None and not f.closed:
                f.close()


class ProcRegistry:
    def __init__(self, tmp):
        self.tmp = Path(tmp)
        self.procs = []
        self._n = 0

    def start(self, argv, name, **kw):
        self._n += 1
        log = self.tmp / f"{self._n:02d}-{name}.log"
        p = Proc(argv, log, name=name, **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception as e:  # keep stopping the others
                print(f"teardown: stopping {p}: {e!r}", file=sys.stderr)

    def health_problems(self):
        out = []
        for p in self.procs:
            if p.watch:
                out += p.health_problems()
        return out

    def dump(self, out=sys.stdout):
        for p in self.procs:
            print(f"===== {p.name} pid={p.pid} rc={p.p.returncode} argv={' '.join(p.argv)}", file=out)
            print(p.tail(80), file=out)


def run(argv, timeout=20.0, **kw):
    """Run a short command to completion (bounded); returns CompletedProcess with text."""
    kw.setdefault("env", dict(os.environ, LIBC_FATAL_STDERR_="1"))
    return subprocess.run(
        [str(a) for a in argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        **kw,
    )


# --------------------------------------------------------------------------
# Python TCP servers (in threads) to stand behind the tunnel


class TCPServerThread:
    """A threaded stream server: handler(conn, server) runs per connection.

    TCP on ${host} and a free port, or, with ${path}, a Unix socket there
    (unlinked again by close()).
    """

    def __init__(self, handler, host="127.0.0.1", backlog=1024, conn_timeout=IO_TIMEOUT, path=None):
        self.handler = handler
        self.host = host
        self.path = None if path is None else str(path)
        self.conn_timeout = conn_timeout
        if self.path is not None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(self.path)
            self.port = 0
            self.addr = self.path
        else:
            self.sock = socket.socket(family_of(host), socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind((host, 0))
            self.port = self.sock.getsockname()[1]
            self.addr = (host, self.port)
        self.sock.listen(backlog)
        self.sock.settimeout(0.2)
        self.lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.accepted = 0
        self.errors = []
        self.results = []  # handlers append what they saw
        self._conns = []
        self._threads = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._accept_loop, name=f"srv:{self.port}", daemon=True)
        self._t.start()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, peer = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(self.conn_timeout)
            with self.lock:
                self.accepted += 1
                self.active += 1
                self.max_active = max(self.max_active, self.active)
                self._conns.append(conn)
            t = threading.Thread(target=self._run, args=(conn, peer), daemon=True)
            self._threads.append(t)
            t.start()

    def _run(self, conn, peer):
        try:
            self.handler(conn, self)
        except Exception as e:
            with self.lock:
                self.errors.append(repr(e))
        finally:
            try:
                conn.close()
            except OSError:
                pass
            with self.lock:
                self.active -= 1

    def close(self):
        self._stop.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                c.close()
            except OSError:
                pass
        self._t.join(timeout=5)
        for t in self._threads:
            t.join(timeout=2)
        if self.path is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass


def echo_handler(conn, srv):
    """Echo everything; on EOF half-close back and finish."""
    total = 0
    while True:
        data = conn.recv(1 << 16)
        if not data:
            break
        total += len(data)
        conn.sendall(data)
    conn.shutdown(socket.SHUT_WR)
    with srv.lock:
        srv.results.append(("echo", total))


def sink_sha_handler(conn, srv):
    """Read until EOF, then reply '<sha256 hex> <count>\\n' (proves a half-close from our side)."""
    h = hashlib.sha256()
    n = 0
    while True:
        data = conn.recv(1 << 20)
        if not data:
            break
        h.update(data)
        n += len(data)
    conn.sendall(f"{h.hexdigest()} {n}\n".encode())
    conn.shutdown(socket.SHUT_WR)
    with srv.lock:
        srv.results.append(("sink", h.hexdigest(), n))


def make_source_handler(nbytes, chunk=1 << 20):
    """Send ${nbytes} random bytes, half-close, then read the peer's reply until EOF.

    Records ("source", sha256-hex-sent, nbytes, reply-bytes) in srv.results.
    """

    def handler(conn, srv):
        h = hashlib.sha256()
        left = nbytes
        while left:
            block = os.urandom(min(chunk, left))
            h.update(block)
            conn.sendall(block)
            left -= len(block)
        conn.shutdown(socket.SHUT_WR)
        reply, _ = recv_until_end(conn)
        with srv.lock:
            srv.results.append(("source", h.hexdigest(), nbytes, reply))

    return handler


# --------------------------------------------------------------------------
# a TCP relay with per-direction hooks (for capture and tampering)


class Relay:
    """Listens on loopback and forwards each connection to ${target}.

    For connection number i (0-based) and direction "c2s"/"s2c", the relay
    passes the first 64 bytes (the handshake message) through unchanged,
    then reads records (4-byte BE length + body) and hands each one to
    record_hook(conn_index, direction, record_index, header, body), which
    returns a list of byte strings to forward (empty list = drop). With
    parse_records=False bytes are forwarded as they come.
    first_hook(conn_index, direction, msg64) sees each handshake message and
    may return replacement bytes (anything else leaves it unchanged).
    """

    HS_LEN = 64

    def __init__(self, target, record_hook=None, first_hook=None, parse_records=True,
                 host="127.0.0.1"):
        self.target = target
        self.record_hook = record_hook
        self.first_hook = first_hook
        self.parse_records = parse_records
        self.sock = socket.socket(family_of(host), socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.addr = (host, self.port)
        self.lock = threading.Lock()
        self.nconn = 0
        self.records = {}  # (conn, dir) -> count of records seen
        self.errors = []
        self._socks = []
        self._threads = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._accept_loop, daemon=True)
        self._t.start()

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                idx = self.nconn
                self.nconn += 1
            try:
                u = socket.create_connection(self.target, timeout=IO_TIMEOUT)
            except OSError as e:
                self.errors.append(f"connect {self.target}: {e!r}")
                c.close()
                continue
            c.settimeout(None)
            u.settimeout(None)
            with self.lock:
                self._socks += [c, u]
            for src, dst, d in ((c, u, "c2s"), (u, c, "s2c")):
                t = threading.Thread(target=self._pump, args=(idx, d, src, dst), daemon=True)
                self._threads.append(t)
                t.start()

    def _pump(self, idx, d, src, dst):
        """Copy src -> dst. On EOF half-close dst (so half-closes pass through);
        on an error (reset, or the hook dropping the line) end both ways."""
        clean = False
        try:
            first = recv_exactly(src, self.HS_LEN)
            if self.first_hook is not None and len(first) == self.HS_LEN:
                repl = self.first_hook(idx, d, first)
                if isinstance(repl, (bytes, bytearray)):
                    first = bytes(repl)
            if first:
                dst.sendall(first)
            if len(first) < self.HS_LEN:
                clean = True
                return
            if not self.parse_records:
                while True:
                    data = src.recv(1 << 16)
                    if not data:
                        clean = True
                        return
                    dst.sendall(data)
            n = 0
            while True:
                hdr = recv_exactly(src, 4)
                if len(hdr) < 4:
                    if hdr:
                        dst.sendall(hdr)
                    clean = True
                    return
                length = int.from_bytes(hdr, "big")
                body = recv_exactly(src, length)
                with self.lock:
                    self.records[(idx, d)] = n + 1
                if len(body) < length or self.record_hook is None:
                    out = [hdr + body]
                else:
                    out = self.record_hook(idx, d, n, hdr, body)
                for piece in out:
                    dst.sendall(piece)
                n += 1
                if len(body) < length:
                    clean = True
                    return
        except OSError as e:
            with self.lock:
                self.errors.append(f"{idx}/{d}: {e!r}")
        finally:
            if clean:
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
            else:
                # End both sides so neither waits on a dead relay (RST at close).
                for s in (dst, src):
                    try:
                        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

    def close(self):
        self._stop.set()
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            socks = list(self._socks)
        for s in socks:  # shutdown wakes a pump blocked in recv; close alone does not
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass
        self._t.join(timeout=5)
        for t in self._threads:
            t.join(timeout=2)


# --------------------------------------------------------------------------
# postern-specific helper


class Postern:
    """Keygen, servers and clients for one test, all tracked by ${procs}."""

    def __init__(self, binary, tmp, procs):
        self.bin = str(binary)
        self.tmp = Path(tmp)
        self.procs = procs
        self._nkeys = 0
        self.nstate = 0

    # keys ---------------------------------------------------------------
    def keygen(self, name=None):
        self._nkeys += 1
        path = self.tmp / (name or f"key{self._nkeys}.key")
        r = run([self.bin, "keygen", "-o", path])
        assert r.returncode == 0, f"keygen failed ({r.returncode}): {r.stderr}"
        assert path.exists(), "keygen exited 0 but wrote no file"
        return path

    def psk(self, key_path):
        return noise_probe.load_psk(key_path)

    # server -------------------------------------------------------------
    def start_server(self, key=None, host="127.0.0.1", port=None, permit=None, config=None,
                     reject_delay=None, ban_threshold=None, ban_window=None,
                     ban_time=None, max_unauth=None, replay_window=None, extra=(), wait=True,
                     name="server", state_dir=None):
        """Start `postern server`; returns the Proc with .host/.port/.addr set.

        With ${config}, pass -c (and listen comes from the file unless
        ${port} is given). Without either, the server listens on port 0 and
        the port it got is read from its "listening addr=HOST:PORT" line (so no
        other process can take it between a free_port() and the bind; with
        wait=False .port stays 0 until read_listen() is called).
        ${permit} is a list of --permit-open values (default: "any" with a -k
        key, none with a config file).
        ${state_dir}: the server's --state-dir; by default a fresh directory
        per start, so no test shares /var/lib/postern or another's cache.
        """
        if permit is None:
            permit = ["any"] if config is None else []
        argv = [self.bin, "server"]
        if config is not None:
            argv += ["-c", config]
        if port is None and config is None:
            port = 0
        if port is not None:
            argv += ["-l", hostport(host, port)]
        if key is not None:
            argv += ["-k", key]
        for p in permit or ():
            argv += ["--permit-open", p]
        if state_dir is None:
            self.nstate += 1
            state_dir = self.tmp / f"state-{name}-{self.nstate}"
        argv += ["--state-dir", str(state_dir)]
        for flag, val in (("--reject-delay", reject_delay),
                          ("--ban-threshold", ban_threshold), ("--ban-window", ban_window),
                          ("--ban-time", ban_time), ("--max-unauth", max_unauth),
                          ("--replay-window", replay_window)):
            if val is not None:
                argv += [flag, val]
        if VERBOSE:
            argv.append("-v")
        argv += list(extra)
        proc = self.procs.start(argv, name)
        proc.watch = True
        proc.host, proc.port = host, port
        proc.addr = (host, port)
        def read_listen():
            if port:
                proc.wait_for_log(r"listening addr=" + re.escape(hostport(host, port)) + r"$",
                                  timeout=START_TIMEOUT)
            else:
                m = proc.wait_for_log(r"listening addr=(\S+):(\d+)$", timeout=START_TIMEOUT)
                proc.host = m.group(1).strip("[]")
                proc.port = int(m.group(2))
                proc.addr = (proc.host, proc.port)
            return proc.addr

        proc.read_listen = read_listen
        if wait:
            read_listen()
        return proc

    # client -------------------------------------------------------------
    def start_client(self, server=None, key=None, forwards=(), config=None, profile=None,
                     cipher=None, extra=(), wait=True, name="client", expect_listen=None):
        """Start `postern client`; ${forwards} are -L specs (strings).

        ${server} is a (host, port) tuple or a Proc from start_server. With
        wait=True, waits for "session established" and one "listening addr=
        BIND:PORT target=HOST:PORT" line per forward (or per ${expect_listen}).
        A forward with listen port 0 gets a free port from the kernel; the
        client logs it, and .listen lists each forward's (bind, port) in order.
        """
        argv = [self.bin, "client"]
        if config is not None:
            argv += ["-c", config]
            if profile is not None:
                argv.append(profile)
        if key is not None:
            argv += ["-k", key]
        for f in forwards:
            argv += ["-L", f]
        if cipher is not None:
            argv += ["--cipher", cipher]
        if VERBOSE:
            argv.append("-v")
        argv += list(extra)
        if server is not None:
            if isinstance(server, Proc):
                server = server.addr
            argv.append(hostport(*server))
        proc = self.procs.start(argv, name)
        proc.watch = True
        proc.listen = []
        if wait:
            proc.wait_for_log(r"session established ", timeout=START_TIMEOUT)
            seen = {}
            for f in (expect_listen if expect_listen is not None else forwards):
                b, lp, dh, dp = parse_forward(f)
                if lp == 0:
                    # The n-th port-0 forward to this target is its n-th such line.
                    seen[(b, dh, dp)] = n = seen.get((b, dh, dp), 0) + 1
                    bind_rx = re.escape(f"[{b}]" if ":" in b else b) + r":(\d+)"
                else:
                    n, bind_rx = 1, re.escape(hostport(b, lp))
                m = proc.wait_for_log(
                    r"listening addr=" + bind_rx + r" target=" + re.escape(hostport(dh, dp)) + r"$",
                    timeout=START_TIMEOUT, count=n,
                )
                proc.listen.append((b, int(m.group(1)) if lp == 0 else lp))
        return proc

    def tunnel(self, dest, key=None, permit=("any",), bind="127.0.0.1", server_kw=None, client_kw=None):
        """Server + client with one -L to ${dest} (host, port). Returns (server, client, (bind, lport))."""
        key = key or self.keygen()
        srv = self.start_server(key=key, permit=permit, **(server_kw or {}))
        spec = forward_spec(bind, 0, dest[0], dest[1])
        cli = self.start_client(server=srv, key=key, forwards=[spec], **(client_kw or {}))
        return srv, cli, cli.listen[0]


def forward_spec(bind, lport, dhost, dport):
    def br(h):
        return f"[{h}]" if ":" in h else h

    return f"{br(bind)}:{lport}:{br(dhost)}:{dport}"


_FWD_RE = re.compile(r"^(?:(\[[^\]]+\]|[^:\[\]]+):)?(\d+):(\[[^\]]+\]|[^:\[\]]+):(\d+)$")


def parse_forward(spec):
    m = _FWD_RE.match(spec)
    if not m:
        raise ValueError(f"test bug: cannot parse -L {spec!r}")
    bind = (m.group(1) or "127.0.0.1").strip("[]")
    return bind, int(m.group(2)), m.group(3).strip("[]"), int(m.group(4))


# --------------------------------------------------------------------------
# fixtures


def pytest_configure(config):
    # Without the plugin pytest.ini's "timeout" is only a warning, and a hung
    # test would hang the suite instead of failing.
    if not config.pluginmanager.hasplugin("timeout"):
        raise pytest.UsageError("pytest-timeout is not installed (apt-get install python3-pytest-timeout, "
                                "or run scripts/setup-debian.sh): the per-test limit would not apply")


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


SYSTEM_STATE_DIR = Path("/var/lib/postern")


@pytest.fixture(scope="session", autouse=True)
def no_system_state_dir():
    """Every server a test starts has its own --state-dir: none may touch the
    system's (as root, the default would create /var/lib/postern)."""
    existed = SYSTEM_STATE_DIR.exists()
    yield
    if not existed and SYSTEM_STATE_DIR.exists():
        shutil.rmtree(SYSTEM_STATE_DIR, ignore_errors=True)
        pytest.fail("a test started a server without --state-dir: /var/lib/postern was created")


@pytest.fixture
def tmp(tmp_path):
    return tmp_path


@pytest.fixture(scope="session")
def postern_bin():
    if not (POSTERN_BIN.is_file() and os.access(POSTERN_BIN, os.X_OK)):
        pytest.fail(f"postern binary not found at {POSTERN_BIN} (run `make`, or set POSTERN_BIN)")
    return POSTERN_BIN


@pytest.fixture
def procs(tmp, request):
    reg = ProcRegistry(tmp)
    yield reg
    failed = any(getattr(request.node, "rep_" + w, None) is not None and getattr(request.node, "rep_" + w).failed
                 for w in ("setup", "call"))
    reg.stop_all()
    problems = reg.health_problems()
    if failed or problems:
        print(f"\n----- process logs (in {tmp}) -----")
        reg.dump()
    if problems:
        # A crash, a sanitizer report or a hang on SIGTERM fails the test even
        # when its own assertions passed.
        pytest.fail("postern process problems:\n" + "\n\n".join(problems), pytrace=False)


@pytest.fixture
def pg(postern_bin, tmp, procs):
    return Postern(postern_bin, tmp, procs)


@pytest.fixture
def keygen(pg):
    return pg.keygen


@pytest.fixture
def start_server(pg):
    return pg.start_server


@pytest.fixture
def start_client(pg):
    return pg.start_client


def closing_factory(cls):
    """For a fixture: yields a factory for ${cls}, and closes every object it made
    once the test is over (`yield from closing_factory(cls)`)."""
    made = []

    def make(*args, **kw):
        obj = cls(*args, **kw)
        made.append(obj)
        return obj

    yield make
    for obj in made:
        obj.close()


@pytest.fixture
def tcp_servers():
    """Factory for TCPServerThread; all closed at teardown."""
    yield from closing_factory(TCPServerThread)


@pytest.fixture
def echo_server(tcp_servers):
    return tcp_servers(echo_handler)


@pytest.fixture
def relays():
    yield from closing_factory(Relay)


def require_tool(name):
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (apt-get install it)")
    return path
