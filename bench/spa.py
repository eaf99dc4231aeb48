#!/usr/bin/env python3
"""bench/spa.py: Single Packet Authorization, postern against Debian's fwknopd.

  bench/spa.py [--quick] [--postern BIN] [--out DIR] [--keep-tmp]

Everything runs in a network namespace this script creates (loopback only) and
deletes, so no firewall, address or port of the host is touched; every process
it starts is stopped by pid. Needs root (for the namespace) and fwknop-client +
fwknop-server (scripts/setup-debian.sh installs them).

Figures (one run, same machine, same packets where the formats allow):
  valid knocks verified per CPU second, in three patterns, each with fresh
  packets (a server must not see a replay it would refuse cheaply), in three
  rounds (one in --quick) with both servers up and measured in turn, so a
  drift of the machine's speed falls on both alike
      sustained: each server kept busy for tens of ms a round, so what is
      paid once per wakeup or per fdatasync spreads over as many knocks as a
      busy second brings: postern fed a round's share of 100,000 knocks
      (5,000 in --quick; made by bench/knockgen.c with the encoder of postern
      knock) as fast as udpblast sends them; fwknopd a round's share of
      6,000 real-client packets (500 in --quick), 100 every 2 ms, a little
      faster than it takes them. The >= 10x target is judged here.
      saturated: a round's 1,000 knocks (200 in --quick) at once, so each
      server verifies back to back (fwknopd takes what its socket holds,
      the rest overflows and is not counted): for postern only a few ms of
      work, so the once-a-second fdatasync weighs on each knock.
      paced: --pace BATCH:PAUSE_US (default 50:10000, the same for both
      servers): light load, where a wakeup and cold caches per batch weigh
      more than the knocks; reported, with the floor below.
      fwknopd 2.6 (-f -U -t: its UDP server, test mode, so it never runs a
      firewall command; real grants would cost it an iptables fork each, so
      this favours fwknopd), fed packets made by the real fwknop client;
      postern (--receive: [spa] receive, ring by default) fed its own knocks
      (postern knock --save) and, paced, the same fwknop packets, counted by
      the server's own postern_knocks_total{result="accepted"} (postern
      metrics, read before and after: its grant lines are rate-limited by
      log_rate, as every peer-driven line). CPU = the server's on-CPU time,
      /proc/PID/task/*/schedstat (ns), all its threads: postern's window
      runs past the next fdatasync of knock.log (once a second), so each
      round pays for making its own knocks durable (fwknopd's digest cache
      gets no fdatasync; the kernel's flusher writes it, uncounted).
  the paced floor
      bench/udpblast ring (a TPACKET_V3 ring shaped like postern's, reading
      nothing but block headers) fed the paced knocks: what being woken for
      them costs at that pace, before any work; no ring receiver gets under it.
  junk datagrams dropped per second
      random datagrams flooded by bench/udpblast (sendmmsg) at the SPA port:
      what the server took off its socket per second (sent minus the socket's
      drop counter in /proc/net/udp; with postern's receive = ring, whose
      socket drops everything, the datagrams it judged: postern_knocks_total
      {result="refused"}), against bench/udpblast drain (a bare recvmmsg
      loop) as the ceiling; fwknopd too, for reference.
  spa/fwknop.c alone
      bench/fwknop_decode.c: the decoder in process, no socket, per packet:
      the ceiling of a receiver built on it (valid, wrong HMAC, binary junk).
  grant latency under a junk flood
      a real knock sent from its own loopback address; the time until a TCP
      connect from that address to the tunnel port succeeds (listener backend:
      SYNs from sources without a grant are dropped), idle and during a flood.
Targets (issue 12): valid >= 10x fwknopd (sustained); junk >= 0.8x drain; the
flood delays the grant by <= 100 ms.

The postern half needs the SPA receiver (postern knock, [spa]); with a postern
that has none, it is reported as unavailable and only the fwknopd and drain
figures are produced. Exit status: 0 if every available half was measured,
1 if a measurement failed, 2 on bad usage or a missing prerequisite.
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SPA_PORT, FWKNOPD_PORT, DRAIN_PORT, TUNNEL_PORT = 62201, 62202, 62203, 7000
PATTERNS = ("paced", "saturated")  # fed the same way to both; "sustained" differs (see pace())
KNOCK_CACHE = 262144  # [spa] knock_cache and [server] replay_quota of the bench's server
# fwknopd's sustained feed: a little over the ~45,000 a second it takes here, so it is
# never idle, for a round's share of FWKNOPD_SUSTAINED real-client packets (the client
# makes several hundred a second: each one is a process).
FWKNOPD_SUSTAINED_PACE = (100, 2000)
FWKNOPD_SUSTAINED = 6000
SUSTAINED = 100000  # knocks for the sustained pattern, all rounds together (5,000 in --quick)
KNOCK_SYNC_S = 1.0  # knock.log is fdatasync'd this often (REPLAY_FILE_SYNC_MS, src/state/replay_file.h)
ROUNDS = 3  # full mode: each server and pattern gets n_valid / ROUNDS knocks per round

# Send a knock from SRC, then try TCP connects from SRC to the tunnel port
# every few ms until one succeeds: prints the milliseconds it took.
PROBE = r"""
import select, socket, sys, time
pkt = open(sys.argv[1], "rb").read()
src, spa, tun = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((src, 0))
t0 = time.monotonic()
u.sendto(pkt, ("127.0.0.1", spa))
while time.monotonic() - t0 < 5:
    s = socket.socket()
    s.bind((src, 0))
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", tun))
    except BlockingIOError:
        pass
    _, w, _ = select.select([], [s], [], 0.005)
    if w and s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
        print("%.1f" % ((time.monotonic() - t0) * 1000))
        sys.exit(0)
    s.close()
print("timeout")
"""


class Bench:
    def __init__(self, args):
        self.args = args
        self.quick = args.quick
        self.tmp = Path(tempfile.mkdtemp(prefix="postern-spa."))
        self.ns = f"pspa-{os.getpid()}"
        self.procs = []
        self.ns_made = False
        self.home = self.tmp / "home"
        self.home.mkdir()
        self.env = {**os.environ, "HOME": str(self.home)}
        self.res = {"mode": "quick" if self.quick else "full", "notes": []}
        self.n_valid = 200 if self.quick else 3000
        self.n_sustained = 5000 if self.quick else SUSTAINED
        self.n_fw_sustained = 500 if self.quick else FWKNOPD_SUSTAINED
        self.secs = 1.0 if self.quick else 4.0

    # ------------------------------------------------------------ plumbing
    def log(self, msg):
        print(msg, flush=True)

    def nsx(self, *argv):
        return ["ip", "netns", "exec", self.ns, *[str(a) for a in argv]]

    def run(self, argv, check=True, timeout=60, **kw):
        r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout,
                           env=kw.pop("env", self.env), **kw)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, argv))}: rc {r.returncode}: {r.stderr.strip()[-300:]}")
        return r

    def start(self, argv, name):
        logf = open(self.tmp / f"{name}.log", "wb")
        p = subprocess.Popen([str(a) for a in argv], stdin=subprocess.DEVNULL, stdout=logf,
                             stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        p.logpath = self.tmp / f"{name}.log"
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            os.kill(p.pid, signal.SIGTERM)
            try:
                p.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        if p in self.procs:
            self.procs.remove(p)

    def wait_log(self, p, regex, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = p.logpath.read_text(errors="replace")
            if re.search(regex, text, re.M):
                return text
            if p.poll() is not None:
                raise RuntimeError(f"{p.args[3:5]} exited ({p.returncode}): {text[-400:]}")
            time.sleep(0.05)
        raise RuntimeError(f"no /{regex}/ after {timeout} s in {p.logpath}")

    @staticmethod
    def cpu_ns(pid):
        """CPU time of pid's threads in ns (/proc/PID/task/*/schedstat: ns, not 10-ms ticks)."""
        total = 0
        try:
            tasks = os.listdir(f"/proc/{pid}/task")
        except OSError:
            return 0
        for t in tasks:
            try:
                total += int(Path(f"/proc/{pid}/task/{t}/schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        return total

    def udp_drops(self, port):
        """The drop counters of the UDP sockets bound to ${port} in the namespace, summed
        (a receiver may spread the port over SO_REUSEPORT sockets)."""
        out = self.run(self.nsx("cat", "/proc/net/udp")).stdout
        total = 0
        for line in out.splitlines()[1:]:
            f = line.split()
            if int(f[1].split(":")[1], 16) == port:
                total += int(f[-1])
        return total

    def setup(self):
        if os.geteuid() != 0:
            raise SystemExit("bench/spa.py: needs root (it runs everything in a network namespace)")
        for tool in ("ip", "fwknop", "fwknopd", "cc"):
            if shutil.which(tool) is None:
                raise SystemExit(f"bench/spa.py: {tool} is missing (scripts/setup-debian.sh)")
        self.run(["ip", "netns", "add", self.ns])
        self.ns_made = True
        self.run(self.nsx("ip", "link", "set", "lo", "up"))
        self.blast = self.tmp / "udpblast"
        self.run(["cc", "-std=c17", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra", "-Werror", "-o",
                  self.blast, HERE / "udpblast.c"])
        out = self.run(["fwknop", "--no-rc-file", "--no-save-args", "-k"]).stdout
        keys = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
        self.key, self.hmac = keys["KEY_BASE64"].strip(), keys["HMAC_KEY_BASE64"].strip()

    def cleanup(self):
        for p in list(self.procs):
            try:
                self.stop(p)
            except Exception as e:  # keep stopping the others
                print(f"bench/spa.py: stopping {p.pid}: {e!r}", file=sys.stderr)
        if self.ns_made:
            subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        if self.args.keep_tmp:
            print(f"bench/spa.py: kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------ inputs
    def fwknop_packets(self, n, name, allow="127.0.0.1", port=TUNNEL_PORT):
        """${n} packets from the real fwknop client, one per line (one shell loop:
        a Python subprocess per packet cost more than the client)."""
        path = self.tmp / f"{name}.lines"
        loop = 'n=$1; shift; i=0; while [ $i -lt $n ]; do "$@" || exit 1; i=$((i+1)); done'
        self.run(["sh", "-c", loop, "sh", n, "fwknop", "--no-rc-file", "--no-save-args", "-T",
                  "-D", "127.0.0.1", "--key-base64-rijndael", self.key, "--key-base64-hmac",
                  self.hmac, "--use-hmac", "--hmac-digest-type", "sha256", "-A", f"tcp/{port}",
                  "-a", allow, "-B", path, "-b"], timeout=600)
        lines = sum(1 for _ in open(path))
        if lines != n:
            raise RuntimeError(f"fwknop made {lines} packets, not {n}")
        return path

    def send_lines(self, path, port, pace):
        batch, pause_us = pace
        out = self.run(self.nsx(self.blast, "lines", "127.0.0.1", port, path, batch, pause_us)).stdout
        return int(out.split()[-1])

    def flood(self, port, secs):
        """Junk at ${port} for ${secs}: (sent, taken off the socket per second)."""
        d0 = self.udp_drops(port)
        out = self.run(self.nsx(self.blast, "junk", "127.0.0.1", port, secs, 64, 1200),
                       timeout=secs + 30).stdout
        time.sleep(0.2)
        sent = int(out.split()[-1])
        dropped = self.udp_drops(port) - d0
        return sent, (sent - dropped) / secs

    # ------------------------------------------------------------ fwknopd
    def fwknopd_start(self):
        d = self.tmp / "fwknopd"
        d.mkdir()
        # Its own files only; FIREWALL_EXE is a no-op and -t skips firewall
        # changes anyway; the namespace has no rules to touch.
        (d / "fwknopd.conf").write_text(
            "PCAP_INTF lo;\nENABLE_UDP_SERVER Y;\nUDPSERV_PORT %d;\nFIREWALL_EXE /bin/true;\n"
            "FWKNOP_RUN_DIR %s;\nFLUSH_IPT_AT_INIT N;\nFLUSH_IPT_AT_EXIT N;\n"
            "ENABLE_IPT_FORWARDING N;\nENABLE_DIGEST_PERSISTENCE Y;\nMAX_SPA_PACKET_AGE 120;\n"
            % (FWKNOPD_PORT, d))
        (d / "access.conf").write_text(
            f"SOURCE ANY\nOPEN_PORTS tcp/{TUNNEL_PORT}\nKEY_BASE64 {self.key}\n"
            f"HMAC_KEY_BASE64 {self.hmac}\nHMAC_DIGEST_TYPE sha256\nFW_ACCESS_TIMEOUT 30\n")
        for f in ("fwknopd.conf", "access.conf"):
            os.chmod(d / f, 0o600)
        p = self.start(self.nsx("fwknopd", "-f", "-t", "-U", "-c", d / "fwknopd.conf",
                                "-a", d / "access.conf", "-p", d / "fwknopd.pid",
                                "-d", d / "digest.cache", "-r", d), "fwknopd")
        self.wait_log(p, r"UDP server to listen on port %d" % FWKNOPD_PORT)
        return p

    def fwknopd_measure(self, p, pat, pkts):
        granted = re.compile(r"test mode enabled, skipping firewall manipulation")

        def settled():
            last, stable = -1, 0
            while stable < 10:
                n = len(granted.findall(p.logpath.read_text(errors="replace")))
                stable = stable + 1 if n == last else 0
                last = n
                time.sleep(0.05)
            return last

        before = settled()
        t0 = self.cpu_ns(p.pid)
        sent = self.send_lines(pkts, FWKNOPD_PORT, self.pace(pat))
        got = settled() - before
        cpu = (self.cpu_ns(p.pid) - t0) / 1e9
        self.log(f"   fwknopd, {pat}: {got}/{sent} accepted, {cpu * 1000:.1f} ms CPU: "
                 f"{got / cpu if cpu > 0 else 0:.0f} knocks per CPU second")
        if got == 0:
            raise RuntimeError(f"fwknopd accepted none of the real client's packets ({pat})")
        return {"sent": sent, "accepted": got, "cpu_s": cpu}

    def bench_valid(self):
        """Valid knocks, fwknopd and postern in turn: round by round, pattern by
        pattern, so a drift of the machine's speed falls on both alike."""
        why = self.postern_available()
        rounds = 1 if self.quick else ROUNDS
        per = self.n_valid // rounds
        self.log(f"== valid knocks: {rounds} round(s) of {per} per pattern and server, in turn")
        fw = {(r, pat): self.fwknop_packets(per, f"fwknopd-{pat}-{r}")
              for r in range(rounds) for pat in PATTERNS}
        for r in range(rounds):
            fw[(r, "sustained")] = self.fwknop_packets(self.n_fw_sustained // rounds,
                                                       f"fwknopd-sustained-{r}")
        pst, gen = None, None
        if why:
            self.res["postern"] = {"unavailable": why}
            self.log(f"   postern: unavailable: {why}")
        else:
            pst = self.postern_start()
            own = {(r, pat): self.postern_knocks(pst["key"], per, f"knocks-{pat}-{r}")
                   for r in range(rounds) for pat in PATTERNS}
            self.floor_knocks = [f for r in range(rounds) for f in own[(r, "paced")]]
            gen = self.knockgen()
        pf = self.fwknopd_start()
        tot = {}

        def add(name, pat, m):
            t = tot.setdefault((name, pat), {"sent": 0, "accepted": 0, "cpu_s": 0.0, "rounds": []})
            for k in ("sent", "accepted", "cpu_s"):
                t[k] += m[k]
            t["rounds"].append(m["accepted"] / m["cpu_s"] if m["cpu_s"] > 0 else None)

        for r in range(rounds):
            for pat in PATTERNS:
                add("fwknopd", pat, self.fwknopd_measure(pf, pat, fw[(r, pat)]))
                if pst:
                    add("postern", pat, self.postern_measure(
                        pst, f"postern, {pat}",
                        lambda: self.send_files(own[(r, pat)], self.pace(pat))))
            add("fwknopd", "sustained", self.fwknopd_measure(pf, "sustained", fw[(r, "sustained")]))
            if pst and gen:
                # Made just before use: the knocks must be inside replay_window when sent.
                pack = self.knock_pack(gen, pst["key"], self.n_sustained // rounds, r)
                add("postern", "sustained", self.postern_measure(
                    pst, "postern, sustained", lambda: self.send_pack(pack)))
        for (name, pat), t in tot.items():
            t["per_cpu_s"] = t["accepted"] / t["cpu_s"] if t["cpu_s"] > 0 else None
            self.res[f"{name}_valid_{pat}"] = t
        sent, rate = self.flood(FWKNOPD_PORT, self.secs)
        self.res["fwknopd_junk"] = {"sent": sent, "per_s": rate}
        self.log(f"   fwknopd junk: {sent} sent, {rate:.0f}/s taken off the socket")
        self.stop(pf)
        if pst:
            self.postern_rest(pst)

    # ------------------------------------------------------------ drain ceiling
    def bench_drain(self):
        self.log("== bare recvmmsg drain (the ceiling)")
        p = self.start(self.nsx(self.blast, "drain", "127.0.0.1", DRAIN_PORT, self.secs + 2), "drain")
        self.wait_log(p, r"^ready")
        sent, rate = self.flood(DRAIN_PORT, self.secs)
        p.wait(timeout=self.secs + 10)
        self.res["drain_junk"] = {"sent": sent, "per_s": rate}
        self.log(f"   junk: {sent} sent, {rate:.0f}/s taken off the socket")
        self.procs.remove(p)

    # ------------------------------------------------------------ decoder alone
    def bench_decoder(self):
        """spa/fwknop.c in-process (no socket): what a receiver on it can reach at best."""
        self.log("== spa/fwknop.c in process (bench/fwknop_decode.c)")
        exe = self.tmp / "fwknop_decode"
        self.run(["cc", "-std=c17", "-D_GNU_SOURCE", "-O2", f"-I{REPO / 'src'}", "-o", exe,
                  HERE / "fwknop_decode.c", REPO / "src/spa/fwknop.c",
                  REPO / "src/util/base64.c", REPO / "src/crypto/crypto.c", "-lcrypto", "-lpthread"])
        pkt = self.fwknop_packets(1, "decoder")
        out = self.run([exe, pkt, self.key, self.hmac], timeout=120).stdout
        us = {k: float(v) for k, v in (line.split() for line in out.splitlines())}
        self.res["decoder_us"] = us
        self.log(f"   valid {us['valid']} us, wrong HMAC {us['bad_hmac']} us, "
                 f"binary junk {us['junk']} us per packet")

    # ------------------------------------------------------------ postern
    def postern_available(self):
        pb = self.args.postern
        if not pb or not os.access(pb, os.X_OK):
            return f"no postern binary at {pb}"
        for sub in ("knock", "fw-list"):
            r = self.run([pb, sub, "--help"], check=False)
            if r.returncode != 0:
                return f"this postern has no '{sub}' command (the SPA receiver is not merged)"
        return None

    def postern_knocks(self, key, n, name):
        d = self.tmp / name
        d.mkdir()
        for i in range(n):
            # Sent to a port nobody listens on yet: only the saved copy is used.
            self.run(self.nsx(self.args.postern, "knock", "-k", key, "-A", f"tcp/{TUNNEL_PORT}",
                              "--save", d / f"k{i:05d}", f"127.0.0.1:{SPA_PORT + 100}"))
        return sorted(d.iterdir())

    def knockgen(self):
        """bench/knockgen.c, linked with the postern build's libpostern.a; None
        (with a note) when that library is not beside the binary."""
        lib = Path(self.args.postern).resolve().parent / "libpostern.a"
        if not lib.exists():
            self.res["notes"].append(f"sustained pattern skipped: no {lib} (make)")
            return None
        exe = self.tmp / "knockgen"
        libs = self.run(["pkg-config", "--libs", "libuv", "inih", "libcrypto", "libnftables",
                         "hiredis"]).stdout.split()
        self.run(["cc", "-std=c17", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra", "-Werror",
                  f"-I{REPO / 'src'}", "-o", exe, HERE / "knockgen.c", lib, *libs])
        return exe

    def knock_pack(self, gen, key, n, r):
        path = self.tmp / f"sustained-{r}.pack"
        self.run([gen, key, TUNNEL_PORT, n, path], timeout=300)
        return path

    def send_pack(self, path):
        out = self.run(self.nsx(self.blast, "pack", "127.0.0.1", SPA_PORT, 0, 0, path),
                       timeout=300).stdout
        return int(out.split()[-1])

    def send_files(self, files, pace, port=SPA_PORT):
        batch, pause_us = pace
        out = self.run(self.nsx(self.blast, "files", "127.0.0.1", port, batch, pause_us,
                                *files)).stdout
        return int(out.split()[-1])

    def pace(self, pattern):
        """paced: --pace for both servers; saturated: every knock at once, so each
        server verifies back to back (fwknopd what its socket holds, the rest
        overflows and is not counted); sustained: fwknopd's packets a little
        faster than it takes them (postern's go as fast as udpblast sends)."""
        if pattern == "sustained":
            return FWKNOPD_SUSTAINED_PACE
        return self.args.pace if pattern == "paced" else (self.n_valid, 0)

    def postern_start(self):
        pb = self.args.postern
        key = self.tmp / "postern.key"
        self.run([pb, "keygen", "-o", key])
        conf = self.tmp / "server.conf"
        conf.write_text(
            f"[server]\nlisten = 127.0.0.1:{TUNNEL_PORT}\ncontrol = {self.tmp / 'ctl.sock'}\n"
            # One identity sends every knock of the run within replay_window:
            # the knock cache and its quota must hold them all.
            f"replay_quota = {KNOCK_CACHE}\n"
            f"[spa]\nlisten = 127.0.0.1:{SPA_PORT}\nbackend = listener\ngrant_timeout = 30\n"
            f"knock_cache = {KNOCK_CACHE}\n"
            f"receive = {self.args.receive}\n"
            f"[key k]\nkey_file = {key}\npermit_open = any\n"
            f"fwknop_key_base64 = {self.key}\nfwknop_hmac_key_base64 = {self.hmac}\n")
        os.chmod(conf, 0o600)
        p = self.start(self.nsx(pb, "server", "-c", conf, "--state-dir", self.tmp / "state"),
                       "postern-server")
        self.wait_log(p, r"listening addr=127\.0\.0\.1:%d" % TUNNEL_PORT)
        time.sleep(0.3)
        return {"p": p, "key": key, "conf": conf, "ctl": self.tmp / "ctl.sock"}

    def postern_counter(self, pst, result):
        out = self.run([self.args.postern, "metrics", "--control", pst["ctl"]]).stdout
        m = re.search(r'^postern_knocks_total\{result="%s"\} (\d+)$' % result, out, re.M)
        if m is None:
            raise RuntimeError(f"postern metrics has no {result}-knock counter")
        return int(m.group(1))

    def postern_measure(self, pst, label, send):
        p = pst["p"]
        before = self.postern_counter(pst, "accepted")
        t0 = self.cpu_ns(p.pid)
        sent = send()
        # Past the next knock.log fdatasync: every window pays for the durability
        # of its own knocks, never for none or for another round's.
        time.sleep(KNOCK_SYNC_S + 0.3)
        cpu = (self.cpu_ns(p.pid) - t0) / 1e9
        got = self.postern_counter(pst, "accepted") - before
        self.log(f"   {label}: {got}/{sent} accepted, {cpu * 1000:.1f} ms CPU: "
                 f"{got / cpu if cpu > 0 else float('inf'):.0f} knocks per CPU second")
        if got == 0:
            raise RuntimeError(f"postern accepted none of the {label}")
        return {"sent": sent, "accepted": got, "cpu_s": cpu,
                "per_cpu_s": got / cpu if cpu > 0 else None}

    def postern_rest(self, pst):
        """fwknop-format packets, fw-list, junk and grant latency, on the same server."""
        pb, p = self.args.postern, pst["p"]
        probes = self.postern_knocks(pst["key"], 2, "probes")
        fw = self.fwknop_packets(self.n_valid, "postern-fwknop")
        self.res["postern_fwknop_valid"] = self.postern_measure(
            pst, "postern, fwknop packets, paced",
            lambda: self.send_lines(fw, SPA_PORT, self.args.pace))
        fwl = self.run([pb, "fw-list", "-c", pst["conf"]], check=False)
        self.res["postern_fw_list"] = fwl.stdout.strip()[-500:]

        if self.args.receive == "ring":
            # The UDP socket only holds the port (its filter drops everything):
            # what the server took is what it judged, its own refusal counter.
            r0 = self.postern_counter(pst, "refused")
            out = self.run(self.nsx(self.blast, "junk", "127.0.0.1", SPA_PORT, self.secs, 64, 1200),
                           timeout=self.secs + 30).stdout
            time.sleep(0.5)
            sent = int(out.split()[-1])
            rate = (self.postern_counter(pst, "refused") - r0) / self.secs
        else:
            sent, rate = self.flood(SPA_PORT, self.secs)
        self.res["postern_junk"] = {"sent": sent, "per_s": rate}
        self.log(f"   postern junk: {sent} sent, {rate:.0f}/s taken off the socket")

        # Grant latency: idle, then with a flood running.
        def probe(pkt, src):
            out = self.run(self.nsx("python3", "-c", PROBE, pkt, src, SPA_PORT, TUNNEL_PORT)).stdout.strip()
            return None if out == "timeout" else float(out)

        idle = probe(probes[0], "127.0.0.11")
        fl = self.start(self.nsx(self.blast, "junk", "127.0.0.1", SPA_PORT, 3, 64, 1200), "flood")
        time.sleep(1.0)
        busy = probe(probes[1], "127.0.0.12")
        fl.wait(timeout=30)
        self.procs.remove(fl)
        self.res["postern_grant_ms"] = {"idle": idle, "flood": busy}
        self.log(f"   grant latency: idle {idle} ms, under a junk flood {busy} ms")
        self.stop(p)

    # ------------------------------------------------------------ paced floor
    def bench_floor(self):
        """A receiver that does nothing (udpblast ring, shaped like postern's ring)
        fed the paced knocks: what being woken for them costs at that pace."""
        files = getattr(self, "floor_knocks", None)
        if not files:
            self.log("== bare ring receiver: skipped (no knocks: the postern half did not run)")
            return
        self.log("== bare ring receiver (the floor at the paced pattern)")
        batch, pause_us = self.args.pace
        secs = len(files) / batch * pause_us / 1e6 + 3
        p = self.start(self.nsx(self.blast, "ring", "127.0.0.1", DRAIN_PORT, secs), "ring")
        self.wait_log(p, r"^ready")
        t0 = self.cpu_ns(p.pid)
        sent = self.send_files(files, self.args.pace, port=DRAIN_PORT)
        time.sleep(0.5)
        cpu = (self.cpu_ns(p.pid) - t0) / 1e9
        p.wait(timeout=secs + 10)
        self.procs.remove(p)
        m = re.search(r"^received (\d+)$", p.logpath.read_text(), re.M)
        got = int(m.group(1)) if m else 0
        if got == 0 or cpu <= 0:
            raise RuntimeError(f"the bare ring receiver saw {got} of {sent} packets")
        self.res["floor_paced"] = {"sent": sent, "received": got, "cpu_s": cpu,
                                   "per_cpu_s": got / cpu}
        self.log(f"   {got}/{sent} received, {cpu * 1000:.1f} ms CPU: {got / cpu:.0f} per CPU second")

    # ------------------------------------------------------------ report
    def report(self):
        r = self.res

        def per(key):
            return (r.get(key) or {}).get("per_cpu_s")

        fp, fs = per("fwknopd_valid_paced"), per("fwknopd_valid_saturated")
        pp, ps, pf = per("postern_valid_paced"), per("postern_valid_saturated"), per("postern_fwknop_valid")
        pu, fu = per("postern_valid_sustained"), per("fwknopd_valid_sustained")
        dj = (r.get("drain_junk") or {}).get("per_s")
        batch, pause_us = self.args.pace
        lines = [f"# SPA benchmark ({r['mode']})", "",
                 f"- date: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; "
                 f"{os.cpu_count()} CPUs; fwknopd: "
                 f"{self.run(['fwknopd', '--version'], check=False).stdout.strip()}",
                 f"- {self.n_valid} fresh valid knocks per server and pattern, in "
                 f"{1 if self.quick else ROUNDS} round(s), the servers in turn: paced, {batch} at a "
                 f"time with {pause_us} us between; saturated, a round's knocks all at once; "
                 f"sustained, postern {self.n_sustained} knocks in all as fast as they can be sent, "
                 f"fwknopd {self.n_fw_sustained} at {FWKNOPD_SUSTAINED_PACE[0]} every "
                 f"{FWKNOPD_SUSTAINED_PACE[1]} us; "
                 f"postern's knock_cache and replay_quota {KNOCK_CACHE}; "
                 f"postern receive = {self.args.receive}; junk floods of {self.secs:g} s "
                 "(64..1200-byte random datagrams), all on loopback in a throwaway namespace; "
                 "method: the header of bench/spa.py", "",
                 "| figure | value | reference | ratio | target |", "| --- | --- | --- | --- | --- |"]

        def row(name, val, ref, target, unit=""):
            ratio = f"{val / ref:.1f}x" if val and ref else "—"
            v = f"{val:,.0f}{unit}" if isinstance(val, (int, float)) else (val or "—")
            ref_s = f"{ref:,.0f}{unit}" if isinstance(ref, (int, float)) else "—"
            lines.append(f"| {name} | {v} | {ref_s} | {ratio} | {target} |")

        row("fwknopd: valid knocks / CPU s, sustained", fu, None, "reference")
        row("postern: own knocks / CPU s, sustained (vs fwknopd)", pu, fu, ">= 10x")
        row("fwknopd: valid knocks / CPU s, saturated", fs, None, "reference")
        row("postern: own knocks / CPU s, saturated (vs fwknopd)", ps, fs, "reported")
        row("fwknopd: valid knocks / CPU s, paced", fp, None, "reference")
        row("postern: own knocks / CPU s, paced (vs fwknopd)", pp, fp, "reported")
        row("bare ring receiver, paced: packets / CPU s (vs fwknopd)", per("floor_paced"), fp,
            "(does nothing: the floor of any ring receiver at this pace)")
        row("postern: fwknop packets / CPU s, paced (vs fwknopd)", pf, fp,
            "reported (ceiling: spa/fwknop.c alone, below)")
        row("drain: junk / s (ceiling)", dj, None, "reference")
        row("postern: junk dropped / s (vs drain)", r.get("postern_junk", {}).get("per_s"), dj, ">= 0.8x")
        row("fwknopd: junk dropped / s (vs drain)", r.get("fwknopd_junk", {}).get("per_s"), dj, "—")
        du = r.get("decoder_us")
        if du:
            row("spa/fwknop.c alone: valid fwknop packets / CPU s (vs fwknopd, paced)", 1e6 / du["valid"],
                fp, "(no socket: a ceiling)")
            row("spa/fwknop.c alone: wrong-HMAC packets / CPU s", 1e6 / du["bad_hmac"], None, "—")
            row("spa/fwknop.c alone: binary junk / CPU s", 1e6 / du["junk"], None, "—")
        g = r.get("postern_grant_ms", {})
        lines.append(f"| postern: grant latency idle / under flood | {g.get('idle', '—')} / "
                     f"{g.get('flood', '—')} ms | | | flood adds <= 100 ms |")
        per_round = []
        for pat in (*PATTERNS, "sustained"):
            a = (r.get(f"fwknopd_valid_{pat}") or {}).get("rounds") or []
            b = (r.get(f"postern_valid_{pat}") or {}).get("rounds") or []
            ratios = [f"{y / x:.1f}x" for x, y in zip(a, b) if x and y]
            if ratios:
                per_round.append(f"{pat} {', '.join(ratios)}")
        if per_round:
            lines += ["", "postern / fwknopd, round by round: " + "; ".join(per_round) + "."]
        if "postern" in r:
            lines += ["", f"postern: {r['postern']['unavailable']}."]
        lines += [f"- note: {n}" for n in r["notes"]]
        checks = []
        if pu and fu:
            checks.append(("valid >= 10x fwknopd (sustained)", pu >= 10 * fu))
        pj = r.get("postern_junk", {}).get("per_s")
        if pj and dj:
            checks.append(("junk >= 0.8x drain", pj >= 0.8 * dj))
        if g.get("idle") is not None and g.get("flood") is not None:
            checks.append(("flood delay <= 100 ms", g["flood"] - g["idle"] <= 100))
        elif g:
            checks.append(("grant seen idle and under flood", False))
        r["targets"] = {k: v for k, v in checks}
        lines += ["", "Targets: " + (", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in checks)
                                    or "none measurable in this run")]
        out = Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "spa.md").write_text("\n".join(lines) + "\n")
        (out / "spa.json").write_text(json.dumps(r, indent=2) + "\n")
        print("\n".join(lines))
        print(f"\nwrote {out / 'spa.md'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few seconds: 200 knocks, 1-s floods")
    ap.add_argument("--postern", default=os.environ.get("POSTERN_BIN", str(REPO / "build" / "postern")))
    ap.add_argument("--out", default=None, help="results directory (default bench/results[/quick])")
    ap.add_argument("--keep-tmp", action="store_true")
    ap.add_argument("--receive", default="ring", choices=("socket", "ring"),
                    help="postern's [spa] receive (default ring)")
    ap.add_argument("--pace", default="50:10000",
                    help="the paced pattern: valid knocks sent BATCH at a time with PAUSE_US "
                         "between (default 50:10000)")
    args = ap.parse_args()
    try:
        args.pace = tuple(int(x) for x in args.pace.split(":"))
        if len(args.pace) != 2 or args.pace[0] < 1 or args.pace[1] < 0:
            raise ValueError
    except ValueError:
        ap.error("--pace: BATCH:PAUSE_US, e.g. 50:10000")
    if args.out is None:
        args.out = str(HERE / "results" / ("quick" if args.quick else ""))
    b = Bench(args)
    signal.signal(signal.SIGTERM, lambda s, f: sys.exit(143))
    rc = 0
    try:
        b.setup()
        for step in (b.bench_valid, b.bench_drain, b.bench_decoder, b.bench_floor):
            try:
                step()
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                print(f"bench/spa.py: {step.__name__}: {e}", file=sys.stderr)
                b.res["notes"].append(f"{step.__name__} failed: {e}")
                rc = 1
        b.report()
    finally:
        b.cleanup()
    return rc


if __name__ == "__main__":
    sys.exit(main())
