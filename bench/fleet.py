#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fleet benchmark (issue 15): new authenticated sessions per second against one
server alone and against the same server in a fleet (Redis on loopback, every
first message claimed there with SET NX PX before message 2 leaves); target: the
fleet keeps at least 0.8x of the rate alone.

    python3 bench/fleet.py [--quick] [--secs 3] [--conc 2,8] [--out bench/results]

Each concurrency in --conc is measured in the same run: the load generator
(bench/hsrate.c, built here if missing) runs against each server in turn,
alternating, RUNS times; the figure is the median. Redis is a private
redis-server (no persistence) on a free loopback port, stopped by pid.

The target is judged on the highest concurrency (8 by default): there the
two cores are busy (client, server and Redis share them), so the figure is
the capacity a gateway keeps with the fleet on, which is what the target is
about. The lowest (2) is latency-bound: each client waits for its session
one after another and every claim adds a loopback round trip to Redis to the
handshake, so that ratio says what one client's connect time pays, not how
many sessions the gateway serves; it is reported, not judged.
"""
import argparse
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hsbench  # noqa: E402  (Server, hsrate, the build paths)

REPO = hsbench.REPO


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_hsrate():
    if hsbench.HSRATE.exists():
        return
    pkgs = ["libuv", "inih", "libcrypto", "libnftables", "hiredis"]  # the Makefile's PKGS
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", *pkgs], capture_output=True,
                           text=True, check=True).stdout.split()
    subprocess.run(["cc", "-O2", "-Isrc", "-o", str(hsbench.HSRATE), "bench/hsrate.c",
                    "build/libpostern.a", *flags, "-lpthread"], cwd=REPO, check=True)


class Psk(hsbench.Server):
    """A one-PSK-key server (hsbench.Server with [fleet] appended, or not)."""

    def __init__(self, tmp, name, key, fleet=""):
        self.dir = tmp / name
        self.dir.mkdir()
        conf = self.dir / "server.conf"
        conf.write_text(
            "[server]\nlisten = 127.0.0.1:0\nstate_dir = none\nban_exempt = 127.0.0.1\n"
            "replay_quota = 16777216\nreplay_cache = 16777216\nmax_unauth = 1024\n"
            "max_unauth_per_source = 1024\nmax_sessions = 20000\nmax_refusals = 16384\n"
            f"log_rate = 1\n{fleet}[key k]\nkey_file = {key}\npermit_open = any\n")
        self.log = open(self.dir / "log", "w+")
        t0 = time.monotonic()
        self.p = subprocess.Popen([str(hsbench.BIN), "server", "-c", str(conf)],
                                  stdout=self.log, stderr=subprocess.STDOUT)
        while True:
            text = (self.dir / "log").read_text()
            m = re.search(r"listening addr=127\.0\.0\.1:(\d+)", text)
            if m and "server ready" in text and (not fleet or "fleet up" in text):
                self.port = int(m.group(1))
                break
            if self.p.poll() is not None or time.monotonic() - t0 > 30:
                raise SystemExit(f"server {name} did not start:\n{text}")
            time.sleep(0.02)


def measure(srv, key, conc, secs, redis_pid):
    c0, r0 = hsbench.cpu_s(srv.p.pid), hsbench.cpu_s(redis_pid)
    r = hsbench.hsrate("psk", key, "127.0.0.1", srv.port, conc, secs)
    r["server_cpu"] = (hsbench.cpu_s(srv.p.pid) - c0) / r["secs"]
    r["redis_cpu"] = (hsbench.cpu_s(redis_pid) - r0) / r["secs"]
    return r


def report(res):
    judged = res["by_conc"][str(res["judged_conc"])]
    lines = ["# Fleet: new sessions per second\n",
             "| connections | alone (sessions/s) | fleet, Redis on loopback (sessions/s) | ratio "
             "| server CPU alone / fleet | Redis CPU |",
             "|---|---|---|---|---|---|"]
    for conc, r in res["by_conc"].items():
        mark = " (judged)" if int(conc) == res["judged_conc"] else " (latency-bound)"
        lines.append(f"| {conc}{mark} | {r['alone_per_s']:.0f} | {r['fleet_per_s']:.0f} | "
                     f"{r['ratio']:.2f} | {r['alone_server_cpu']:.2f} / "
                     f"{r['fleet_server_cpu']:.2f} | {r['fleet_redis_cpu']:.2f} |")
    lines += ["",
              f"Target: ratio >= {res['target']} at {res['judged_conc']} connections at a time "
              f"(capacity: the cores are busy); now {judged['ratio']:.2f}. The lowest "
              "concurrency is latency-bound (each claim's Redis round trip adds to every "
              "handshake) and is reported, not judged.",
              f"{res['runs']} run(s) of {res['secs']} s per server and concurrency, "
              "alternating, median. CPU in cores (1.00 = one core busy), from /proc; the "
              "server's includes its busy polling (busy_poll) while it waits.", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--secs", type=float)
    ap.add_argument("--conc", default="2,8",
                    help="comma-separated concurrencies; the highest is judged")
    ap.add_argument("--out", default=str(REPO / "bench" / "results"))
    ap.add_argument("--postern")
    ap.add_argument("--keep-tmp", action="store_true")
    a = ap.parse_args()
    if a.postern:
        hsbench.BIN = Path(a.postern)
    concs = sorted({int(c) for c in a.conc.split(",") if c.strip()})
    secs = a.secs or (1.0 if a.quick else 3.0)
    runs = 2 if a.quick else 5
    redis_bin = shutil.which("redis-server")
    if redis_bin is None:
        raise SystemExit("fleet: redis-server missing (scripts/setup-debian.sh)")
    build_hsrate()
    tmp = Path(tempfile.mkdtemp(prefix="postern-fleet-bench-"))
    procs = []
    try:
        key = tmp / "k.key"
        subprocess.run([str(hsbench.BIN), "keygen", "-o", str(key)], check=True,
                       capture_output=True)
        fkey = tmp / "fleet.key"
        subprocess.run([str(hsbench.BIN), "keygen", "-o", str(fkey)], check=True,
                       capture_output=True)
        port = free_port()
        (tmp / "redis").mkdir()
        redis = subprocess.Popen([redis_bin, "--port", str(port), "--bind", "127.0.0.1",
                                  "--save", "", "--appendonly", "no", "--dir", str(tmp / "redis")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(redis)
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.02)
        alone = Psk(tmp, "alone", key)
        procs.append(alone.p)
        fleet = Psk(tmp, "fleet", key,
                    f"[fleet]\nredis = redis://127.0.0.1:{port}/0\nname = bench\n"
                    f"key_file = {fkey}\n")
        procs.append(fleet.p)
        raw = {c: {"alone": [], "fleet": []} for c in concs}
        for _ in range(runs):
            for c in concs:
                for name, srv in (("alone", alone), ("fleet", fleet)):
                    raw[c][name].append(measure(srv, key, c, secs, redis.pid))
        by_conc = {}
        for c in concs:
            med = {k: statistics.median(r["rate"] for r in v) for k, v in raw[c].items()}
            cpu = {k: statistics.median(r["server_cpu"] for r in v) for k, v in raw[c].items()}
            by_conc[str(c)] = {
                "alone_per_s": med["alone"], "fleet_per_s": med["fleet"],
                "ratio": med["fleet"] / med["alone"] if med["alone"] else 0.0,
                "alone_server_cpu": cpu["alone"], "fleet_server_cpu": cpu["fleet"],
                "fleet_redis_cpu": statistics.median(r["redis_cpu"] for r in raw[c]["fleet"]),
                "errors": sum(r["errors"] for v in raw[c].values() for r in v),
                "all": {k: [r["rate"] for r in v] for k, v in raw[c].items()}}
        judged = by_conc[str(concs[-1])]
        res = {"mode": "quick" if a.quick else "full", "secs": secs, "runs": runs,
               "judged_conc": concs[-1], "alone_per_s": judged["alone_per_s"],
               "fleet_per_s": judged["fleet_per_s"], "ratio": judged["ratio"], "target": 0.8,
               "by_conc": by_conc}
        out = Path(a.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "fleet.json").write_text(json.dumps(res, indent=1) + "\n")
        (out / "fleet.md").write_text(report(res))
        for c, r in by_conc.items():
            print(f"fleet, {c} connections: alone {r['alone_per_s']:.0f}/s, fleet "
                  f"{r['fleet_per_s']:.0f}/s, ratio {r['ratio']:.2f}"
                  + (" (judged, target >= 0.8)" if int(c) == concs[-1] else ""))
        return 0
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if not a.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
