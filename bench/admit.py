#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/admit.py: what entrance admission costs per connection (issue 11).

    bench/admit.py [--n 3000] [--secs 20]      (POSTERN_BIN=path to measure that binary)

One postern server and three clients on 127.0.0.1, each with one -L to the
echo server bench/echo.c: `--admit any` (no check at all), the default
`same-user` (one NETLINK_SOCK_DIAG round trip on the loop) and `exe:` naming
the load generator (a /proc owner scan on the thread pool). bench/connrate.c
`rate` makes new connections through each (connect, 16-byte echo, close), the
ports taking turns so background load hits all alike, at concurrency 1 and 8.
The "cost per connection" column is the difference of the mean connection
time (1 / conn/s at concurrency 1) against `any` (noisy: a few µs drown in
the rest of a connection); bench/admit_cost.c times the check alone.
Writes bench/results/admit.md and prints it. Every process is started here,
in a temporary directory, and stopped by pid on exit.
"""

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_log(path, rx, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(rx, path.read_text(errors="replace")) if path.exists() else None
        if m:
            return m
        time.sleep(0.05)
    sys.exit(f"timed out waiting for /{rx}/ in {path}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000, help="connections per port and run")
    ap.add_argument("--secs", type=int, default=20, help="time cap per port and run")
    ap.add_argument("--runs", type=int, default=3, help="runs per concurrency; the median is kept")
    a = ap.parse_args()
    binary = Path(os.environ.get("POSTERN_BIN") or REPO / "build" / "postern")
    tmp = Path(tempfile.mkdtemp(prefix="postern-admit-"))
    procs = []
    try:
        cflags = ["-std=c17", "-D_GNU_SOURCE", "-O2", "-pthread"]
        for tool in ("echo", "connrate"):
            subprocess.run(["cc", *cflags, "-o", tmp / tool, HERE / f"{tool}.c"], check=True)
        # The check alone, in-process (bench/admit_cost.c links build/libpostern.a).
        subprocess.run(["make", "-C", REPO, "-s", "build/libpostern.a"], check=True)
        libs = subprocess.run(["pkg-config", "--libs", "libuv", "inih", "libcrypto"], check=True,
                              capture_output=True, text=True).stdout.split()
        subprocess.run(["cc", *cflags, "-I", REPO / "src", "-o", tmp / "admit_cost",
                        HERE / "admit_cost.c", REPO / "build" / "libpostern.a", *libs], check=True)
        check = json.loads(subprocess.run([tmp / "admit_cost", "20000"], check=True,
                                         capture_output=True, text=True).stdout)

        def start(argv, name):
            log = open(tmp / f"{name}.log", "w")
            procs.append(subprocess.Popen([str(x) for x in argv], stdout=log, stderr=log))
            return tmp / f"{name}.log"

        eport = free_port()
        wait_log(start([tmp / "echo", "127.0.0.1", eport], "echo"), r"ready")
        subprocess.run([binary, "keygen", "-o", tmp / "k"], check=True, capture_output=True)
        slog = start([binary, "server", "-k", tmp / "k", "-l", "127.0.0.1:0",
                      "--permit-open", "any", "--state-dir", tmp / "st"], "server")
        sport = wait_log(slog, r"listening addr=127\.0\.0\.1:(\d+)").group(1)
        policies = [("any", "any"), ("same-user", "same-user"),
                    ("exe", f"exe:{tmp / 'connrate'}")]
        ports = {}
        for name, pol in policies:
            clog = start([binary, "client", "-k", tmp / "k", "-L", f"127.0.0.1:0:127.0.0.1:{eport}",
                          "--admit", pol, f"127.0.0.1:{sport}"], f"client-{name}")
            ports[name] = wait_log(clog, r"listening addr=127\.0\.0\.1:(\d+) target=").group(1)
        rows = {}
        load = os.getloadavg()[0]
        for conc in (1, 8):
            runs = {name: [] for name in ports}
            for _ in range(a.runs):
                out = subprocess.run([tmp / "connrate", "rate", "127.0.0.1", str(a.n), str(conc),
                                      str(a.secs), *ports.values()],
                                     check=True, capture_output=True, text=True).stdout
                by_port = {str(r["port"]): r for r in map(json.loads, out.splitlines())}
                for name in ports:
                    runs[name].append(by_port[ports[name]])
            for name in ports:
                ordered = sorted(runs[name], key=lambda r: r["conn_per_s"])
                rows[(name, conc)] = ordered[len(ordered) // 2]
        refused = sum(f.read_text().count("rejected by policy")
                      for f in tmp.glob("client-*.log"))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(tmp, ignore_errors=True)

    any1 = rows[("any", 1)]["conn_per_s"]
    lines = ["# Entrance admission cost (bench/admit.py)", "",
             f"`bench/admit.py --n {a.n} --secs {a.secs} --runs {a.runs}` on {os.uname().nodename} "
             f"({os.cpu_count()} CPUs, load average {load:.1f} at the start: other jobs "
             "shared the machine), "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; median of the runs.",
             "Each connection: connect through the -L, 16-byte echo, close. "
             "Ports take turns.", "",
             "| policy | conn/s (conc 1) | conn/s (conc 8) | vs any (conc 8) | "
             "cost per connection (µs, conc 1) | ttfb p50 (µs, conc 1) |",
             "|---|---|---|---|---|---|"]
    for name, _ in policies:
        r1, r8 = rows[(name, 1)], rows[(name, 8)]
        cost = 1e6 / r1["conn_per_s"] - 1e6 / any1 if r1["conn_per_s"] else float("nan")
        ratio = r8["conn_per_s"] / rows[("any", 8)]["conn_per_s"]
        lines.append(f"| {name} | {r1['conn_per_s']:.0f} | {r8['conn_per_s']:.0f} | "
                     f"{ratio:.2f}x | {cost:+.1f} | {r1['ttfb_p50_us']:.0f} |")
    lines += ["", "The check alone (bench/admit_cost.c, in-process, one loopback connection): "
              f"same-user {check['same_user_us']:.1f} µs per connection "
              f"({check['same_user_checks']} checks, decided on the loop: one sock_diag round "
              f"trip); exe: {check['exe_us']:.0f} µs from the call to the verdict "
              f"({check['exe_checks']} checks: a thread-pool job reading /proc, the owner "
              "found through the recent-owner hint).",
              "", f"Refused connections during the run: {refused} (must be 0)."]
    text = "\n".join(lines) + "\n"
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "admit.md").write_text(text)
    print(text)
    return 0 if refused == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
