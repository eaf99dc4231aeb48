#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Handshake benchmark (issue 10): new authenticated sessions per second against
a server with 1 and with 10,000 identities, for PSK and for public-key (IK)
identities; junk first messages rejected per second of server CPU; memory per
idle authenticated session (10,000 held); and new `ssh` sessions per second
against a private sshd with public-key authentication on the same machine.

    make && cc -O2 -Isrc -o build/hsrate bench/hsrate.c build/libpostern.a \\
        -luv -lcrypto -lpthread -linih
    python3 bench/hsbench.py [--secs 5] [--conc 2] [--out bench/results/handshake.md]

The load generator (bench/hsrate.c) and the server share the machine; server
CPU is read from /proc. Servers run with state_dir = none (no replay log
writes), ban_exempt = 127.0.0.1 and the replay quota raised, so the figures
are the handshake's cost, not a limit's.
"""

import argparse
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = REPO / "build" / "postern"
HSRATE = REPO / "build" / "hsrate"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / TICK


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def b64(b):
    return base64.b64encode(b).decode()


def write_secret(path, text):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


class Server:
    def __init__(self, tmp, name, idents, host_key):
        self.dir = tmp / name
        self.dir.mkdir()
        ids = self.dir / "ids"
        ids.mkdir()
        for i, line in enumerate(idents):
            (ids / f"k{i}").write_text(line + "\npermit_open = any\n")
        conf = self.dir / "server.conf"
        conf.write_text(
            "[server]\nlisten = 127.0.0.1:0\nstate_dir = none\nban_exempt = 127.0.0.1\n"
            f"host_key = {host_key}\nidentity_dir = {ids}\nreplay_quota = 16777216\n"
            "replay_cache = 16777216\nmax_unauth = 1024\nmax_unauth_per_source = 1024\n"
            "max_sessions = 20000\ndh_rate = 100000\ndh_burst = 100000\nmax_refusals = 16384\n"
            "log_rate = 1\n")
        self.log = open(self.dir / "log", "w+")
        t0 = time.monotonic()
        self.p = subprocess.Popen([str(BIN), "server", "-c", str(conf)], stdout=self.log,
                                  stderr=subprocess.STDOUT)
        while True:
            text = (self.dir / "log").read_text()
            m = re.search(r"listening addr=127\.0\.0\.1:(\d+)", text)
            if m and "server ready" in text:
                self.port = int(m.group(1))
                break
            if self.p.poll() is not None or time.monotonic() - t0 > 60:
                raise SystemExit(f"server {name} did not start:\n{text}")
            time.sleep(0.02)
        self.start_s = time.monotonic() - t0

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()


def hsrate(*args, timeout=120):
    r = subprocess.run([str(HSRATE)] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise SystemExit(f"hsrate {args}: {r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def session_rate(srv, kind, key, host_pub, conc, secs):
    c0 = cpu_s(srv.p.pid)
    if kind == "psk":
        res = hsrate("psk", key, "127.0.0.1", srv.port, conc, secs)
    else:
        res = hsrate("ik", key, host_pub, "127.0.0.1", srv.port, conc, secs)
    res["server_cpu_s"] = cpu_s(srv.p.pid) - c0
    res["per_cpu_s"] = res["sessions"] / res["server_cpu_s"] if res["server_cpu_s"] else None
    return res


def junk_rate(srv, n, host_pub=None):
    c0 = cpu_s(srv.p.pid)
    args = ["junk", "127.0.0.1", srv.port, n] + ([host_pub] if host_pub else [])
    res = hsrate(*args)
    time.sleep(3.5)  # the last refusals reset at their deadline (reject_delay 1-3 s)
    cpu = cpu_s(srv.p.pid) - c0
    res["server_cpu_s"] = cpu
    res["per_cpu_s"] = n / cpu if cpu else None
    return res


def hold(srv, key, host_pub, n):
    base = rss_kib(srv.p.pid)
    p = subprocess.Popen([str(HSRATE), "hold", str(key), str(host_pub or "-"), "127.0.0.1",
                          str(srv.port), str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    line = p.stdout.readline()
    held = json.loads(line)["held"]
    time.sleep(0.5)
    grown = rss_kib(srv.p.pid) - base
    p.stdin.close()
    p.wait(60)
    return {"held": held, "rss_grown_kib": grown, "kib_per_session": grown / held if held else None}


def sshd_rate(tmp, conc, secs):
    sshd = "/usr/sbin/sshd"
    if not (os.path.exists(sshd) and shutil.which("ssh") and shutil.which("ssh-keygen")):
        return {"error": "no sshd/ssh"}
    d = tmp / "ssh"
    d.mkdir()
    for k in ("host_key", "id"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(d / k)], check=True)
    shutil.copy(d / "id.pub", d / "authorized_keys")
    os.makedirs("/run/sshd", exist_ok=True)
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    (d / "sshd_config").write_text(f"""Port {port}
ListenAddress 127.0.0.1
HostKey {d}/host_key
PidFile none
AuthorizedKeysFile {d}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitTTY no
UseDNS no
PrintMotd no
MaxStartups 100:30:200
LogLevel ERROR
""")
    p = subprocess.Popen([sshd, "-D", "-e", "-f", str(d / "sshd_config")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    argv = ["ssh", "-F", "/dev/null", "-i", str(d / "id"), "-p", str(port), "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "GSSAPIAuthentication=no", f"{os.environ.get('USER', 'root')}@127.0.0.1", "true"]
    count, errors = [0], [0]
    stop = time.monotonic() + secs

    def loop():
        while time.monotonic() < stop:
            r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
            if r.returncode == 0:
                count[0] += 1
            else:
                errors[0] += 1

    t0 = time.monotonic()
    ts = [threading.Thread(target=loop) for _ in range(conc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    el = time.monotonic() - t0
    p.terminate()
    p.wait(10)
    return {"sessions": count[0], "errors": errors[0], "secs": el, "rate": count[0] / el}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=int, default=5)
    ap.add_argument("--conc", type=int, default=2)
    ap.add_argument("--hold", type=int, default=10000)
    ap.add_argument("--out", default=str(REPO / "bench" / "results" / "handshake.md"))
    ap.add_argument("--report-from", help="re-render the report from this JSON (no run)")
    a = ap.parse_args()
    if a.report_from:
        write_report(a, json.loads(Path(a.report_from).read_text()))
        return
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
    tmp = Path(tempfile.mkdtemp(prefix="hsbench-"))
    results = {}
    try:
        subprocess.run([str(BIN), "keygen", "-t", "x25519", "-o", str(tmp / "host.key")],
                       check=True, capture_output=True)
        host_pub = tmp / "host.key.pub"
        n_big = 10000
        # PSK identities: files written directly (postern-psk-v1 + base64).
        psk_files = []
        pskdir = tmp / "psks"
        pskdir.mkdir()
        for i in range(n_big):
            f = pskdir / f"p{i}"
            write_secret(f, "postern-psk-v1 " + b64(os.urandom(32)) + "\n")
            psk_files.append(f)
        # Public-key identities: the last one is the client's.
        privs, pubs = [], []
        for i in range(n_big):
            k = X25519PrivateKey.generate()
            pubs.append(k.public_key().public_bytes(serialization.Encoding.Raw,
                                                    serialization.PublicFormat.Raw))
            if i in (0, n_big - 1):
                privs.append((i, k.private_bytes(serialization.Encoding.Raw,
                                                 serialization.PrivateFormat.Raw,
                                                 serialization.NoEncryption())))
        client_pk = {}
        for i, raw in privs:
            f = tmp / f"client{i}.key"
            write_secret(f, "postern-x25519-v1 " + b64(raw) + "\n")
            client_pk[i] = f
        setups = [
            ("psk", 1, [f"key_file = {psk_files[0]}"], psk_files[0]),
            ("psk", n_big, [f"key_file = {f}" for f in psk_files], psk_files[-1]),
            ("ik", 1, [f"public_key = {b64(pubs[0])}"], client_pk[0]),
            ("ik", n_big, [f"public_key = {b64(p)}" for p in pubs], client_pk[n_big - 1]),
        ]
        for kind, n, idents, key in setups:
            name = f"{kind}-{n}"
            srv = Server(tmp, name, idents, tmp / "host.key")
            try:
                r = session_rate(srv, kind, key, host_pub, a.conc, a.secs)
                r["start_s"] = srv.start_s
                if kind == "ik" and n == n_big:
                    results["junk64"] = junk_rate(srv, 3000)
                    results["junk_mac1"] = junk_rate(srv, 1000, host_pub)
                    results["hold"] = hold(srv, key, host_pub, a.hold)
                results[name] = r
                print(name, json.dumps(r), flush=True)
            finally:
                srv.stop()
        results["sshd"] = sshd_rate(tmp, a.conc, a.secs)
        print("sshd", json.dumps(results["sshd"]), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    write_report(a, results)


def write_report(a, r):
    def f(v, fmt="{:.0f}"):
        return "n/a" if v is None else fmt.format(v)

    rows = []
    for kind, label in (("psk", "PSK"), ("ik", "public key (IK)")):
        one, big = r.get(f"{kind}-1", {}), r.get(f"{kind}-10000", {})
        ratio = big.get("rate", 0) / one["rate"] if one.get("rate") else None
        cratio = (big.get("per_cpu_s") or 0) / one["per_cpu_s"] if one.get("per_cpu_s") else None
        rows.append(f"| {label} | {f(one.get('rate'))} | {f(big.get('rate'))} | "
                    f"{f(ratio and 100 * ratio, '{:.0f} %')} | {f(one.get('per_cpu_s'))} | "
                    f"{f(big.get('per_cpu_s'))} | {f(cratio and 100 * cratio, '{:.0f} %')} | "
                    f"{f(big.get('start_s'), '{:.2f} s')} |")
    ssh = r.get("sshd", {})
    ik1 = r.get("ik-10000", {}).get("rate")
    lines = [
        "# Handshake benchmark (issue 10)",
        "",
        f"`python3 bench/hsbench.py --secs {a.secs} --conc {a.conc}` on this machine "
        f"({os.cpu_count()} CPUs, shared with the load generator); {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}.",
        "",
        "New authenticated sessions per second (connect, message 1, message 2 checked, close):",
        "",
        "| identities | 1 identity | 10,000 identities | 10,000 vs 1 | per server CPU s (1) | per server CPU s (10,000) | 10,000 vs 1 per CPU s | server start, 10,000 |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *rows,
        f"| ssh (sshd, ed25519 public key, `ssh host true`) | {f(ssh.get('rate'), '{:.1f}')} | | | | | | |",
        "",
        "The machine is shared (other builds and tests run beside the benchmark), so the",
        "sessions/s columns move with its load; sessions per second of server CPU do not.",
        "",
        f"postern IK with 10,000 identities vs sshd: {f(ik1 and ssh.get('rate') and ik1 / ssh['rate'], '{:.0f}x')}.",
        "",
        "Junk first messages (10,000 public-key identities and the host key):",
        "",
        "| junk | sent | server CPU s | rejected per server CPU second |",
        "| --- | --- | --- | --- |",
        f"| 64 random bytes (no mac1: PSK trials only) | {r.get('junk64', {}).get('sent')} | {f(r.get('junk64', {}).get('server_cpu_s'), '{:.2f}')} | {f(r.get('junk64', {}).get('per_cpu_s'))} |",
        f"| 128-byte IK from an unlisted key (valid mac1: 2 DH each) | {r.get('junk_mac1', {}).get('sent')} | {f(r.get('junk_mac1', {}).get('server_cpu_s'), '{:.2f}')} | {f(r.get('junk_mac1', {}).get('per_cpu_s'))} |",
        "",
        f"Idle authenticated sessions held at once: {r.get('hold', {}).get('held')}, server RSS grew "
        f"{f(r.get('hold', {}).get('rss_grown_kib'))} KiB = {f(r.get('hold', {}).get('kib_per_session'), '{:.1f}')} KiB per session.",
        "",
        "Raw figures:",
        "",
        "```",
        json.dumps(r, indent=1),
        "```",
        "",
    ]
    Path(a.out).write_text("\n".join(lines))
    Path(a.out).with_suffix(".json").write_text(json.dumps(r, indent=1) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
