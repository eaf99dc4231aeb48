#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Round trips on an established session while junk first messages arrive.

The figure the hardening brief asks for (issue 9, finding 6): a server with
--keys PSK identities (default 4096), one client session through it (-L to a
local echo server, authenticated with the LAST key, the one a linear search
reaches last), and 64-byte ping-pongs paced at --pace per second. Two phases
of --seconds each: no junk, then 64 random bytes per connection at --rate
connections/s from many loopback sources (127.0.x.y, so no per-source limit
or ban hides the load). Prints and (with --out) writes p50/p99/max per phase
and the ratio of the p99s (target <= 2).

  python3 bench/junk_rtt.py --postern build/postern --out bench/results/junk_rtt.md
"""
import argparse
import base64
import multiprocessing
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def write_key(path, psk):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("postern-psk-v1 " + base64.b64encode(psk).decode() + "\n")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def echo_server(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    while True:
        c, _ = srv.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while True:
            d = c.recv(65536)
            if not d:
                break
            c.sendall(d)
        c.close()


def junk(port, rate, stop):
    i = 0
    nxt = time.monotonic()
    while not stop.is_set():
        src = f"127.0.{1 + (i // 250) % 200}.{1 + i % 250}"
        i += 1
        try:
            s = socket.socket()
            s.settimeout(1)
            s.bind((src, 0))
            s.connect(("127.0.0.1", port))
            s.sendall(os.urandom(64))
            s.close()
        except OSError:
            pass
        nxt += 1.0 / rate
        time.sleep(max(0.0, nxt - time.monotonic()))


def wait_log(path, regex, timeout=60):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        m = re.search(regex, open(path).read())
        if m:
            return m
        time.sleep(0.05)
    raise SystemExit(f"{path}: no /{regex}/ within {timeout} s")


def pingpong(sock, seconds, pace):
    rtts = []
    msg = b"p" * 64
    end = time.monotonic() + seconds
    nxt = time.monotonic()
    while time.monotonic() < end:
        t0 = time.perf_counter()
        sock.sendall(msg)
        got = b""
        while len(got) < 64:
            got += sock.recv(64 - len(got))
        rtts.append((time.perf_counter() - t0) * 1e6)
        nxt += 1.0 / pace
        time.sleep(max(0.0, nxt - time.monotonic()))
    return rtts


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--postern", default="build/postern")
    ap.add_argument("--keys", type=int, default=4096)
    ap.add_argument("--rate", type=float, default=50)
    ap.add_argument("--pace", type=float, default=200)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--out")
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="postern-junk-")
    procs = []
    sv = cl = None
    try:
        conf = f"[server]\nlisten = 127.0.0.1:{free_port()}\nban_threshold = 1000000\n" \
               "max_unauth = 100000\nmax_unauth_per_source = 1000\nreject_delay = 1-3\n"
        for i in range(a.keys):
            write_key(f"{tmp}/k{i}.key", os.urandom(32))
            conf += f"[key k{i}]\nkey_file = k{i}.key\npermit_open = any\n"
        open(f"{tmp}/server.conf", "w").write(conf)
        sport = int(re.search(r"listen = 127.0.0.1:(\d+)", conf).group(1))
        eport, lport = free_port(), free_port()
        ep = multiprocessing.Process(target=echo_server, args=(eport,), daemon=True)
        ep.start()
        procs.append(ep)
        slog, clog = f"{tmp}/server.log", f"{tmp}/client.log"
        sv = subprocess.Popen([a.postern, "server", "-c", f"{tmp}/server.conf", "--state-dir",
                               f"{tmp}/state"], stderr=open(slog, "w"))
        wait_log(slog, r"server ready")
        cl = subprocess.Popen([a.postern, "client", "-k", f"{tmp}/k{a.keys - 1}.key", "-L",
                               f"127.0.0.1:{lport}:127.0.0.1:{eport}", f"127.0.0.1:{sport}"],
                              stderr=open(clog, "w"))
        wait_log(slog, rf"session authenticated .*key=k{a.keys - 1}\b")
        wait_log(clog, rf"listening addr=127\.0\.0\.1:{lport}")
        sock = socket.create_connection(("127.0.0.1", lport), timeout=60)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        pingpong(sock, 1, a.pace)  # warm up
        quiet = pingpong(sock, a.seconds, a.pace)
        stop = multiprocessing.Event()
        jp = multiprocessing.Process(target=junk, args=(sport, a.rate, stop), daemon=True)
        jp.start()
        procs.append(jp)
        time.sleep(1)
        loud = pingpong(sock, a.seconds, a.pace)
        stop.set()
        jp.join(5)
        sock.close()
        log = open(slog).read()
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in (cl, sv):
            if p is not None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(10)
    rows = []
    for name, v in (("no junk", quiet), (f"junk {a.rate:g}/s", loud)):
        rows.append((name, len(v), statistics.median(v), pct(v, 99), max(v)))
    ratio = rows[1][3] / rows[0][3]
    out = [f"# Round trips under junk first messages ({a.keys} keys)", "",
           f"- date: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; host: "
           f"{os.uname().sysname} {os.uname().release}, {os.cpu_count()} CPUs; "
           f"postern: {a.postern}",
           f"- 64-byte ping-pong through -L, paced at {a.pace:g}/s, {a.seconds:g} s per phase; "
           f"junk: 64 random bytes per connection from 127.0.x.y",
           f"- refusals logged during the run (rate-limited to 20/s): "
           f"{log.count('no key matched')} 'no key matched', "
           f"{log.count('verification queue full')} 'verification queue full'", "",
           "| phase | samples | RTT p50 µs | RTT p99 µs | RTT max µs |", "|---|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r[0]} | {r[1]} | {r[2]:.0f} | {r[3]:.0f} | {r[4]:.0f} |")
    out += ["", f"p99 with junk / p99 without: **{ratio:.2f}x** (target <= 2x)", ""]
    text = "\n".join(out)
    print(text)
    if a.out:
        with open(a.out, "a") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
