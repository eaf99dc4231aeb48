#!/usr/bin/env python3
"""Measurement and report helper for bench/run (stdlib only).

Subcommands:
  measure  every figure for every setup in a plan file (bench/run starts the setups):
           conn/s and time to first byte, 64-byte ping-pong RTT, the tunnel's CPU per
           second at a paced 1000 and 5000 round trips/s, idle-connection memory (and
           the 10k test), iperf3 throughput and the tunnel's CPU seconds per GB.
           Rounds interleave the setups; the medians over the rounds are reported.
           Writes one JSON file per setup.
  fail     record that a setup could not be measured (or was skipped)
  report   results.md, results.json, chart.png (gnuplot) and the table on stdout

Tunnel processes are given per end as "NAME=PID,PID"; every live descendant of those
pids counts too (sshd session children, socat's forked children, ...).
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")

# name -> (label, kind); kind is baseline, encrypted or postern.  Order = table order.
# Every "postern" row gets its own ratio table and target column; only baseline and
# encrypted rows are peers, so a postern variant is never anyone's reference.
SETUPS = {
    "direct": ("direct (no tunnel)", "baseline"),
    "socat": ("socat relay (1 hop)", "baseline"),
    "socat2": ("socat x2 (2 hops)", "baseline"),
    "ssh-chacha": ("ssh -L chacha20-poly1305", "encrypted"),
    "ssh-aes": ("ssh -L aes128-gcm", "encrypted"),
    "spiped": ("spiped", "encrypted"),
    "stunnel": ("stunnel TLS 1.3", "encrypted"),
    "postern-chacha": ("postern chacha20-poly1305", "postern"),
    "postern-aes": ("postern aes-256-gcm", "postern"),
    "postern-aes-nopoll": ("postern aes-256-gcm, --busy-poll 0", "postern"),
}

# Round trips per second for the paced CPU figure (connrate pace).
PACE_RATES = (1000, 5000)


class PhaseError(Exception):
    pass


def on_term(signum, frame):
    # Raising here makes subprocess.run kill its child before we exit.
    raise SystemExit(128 + signum)


# ---------------------------------------------------------------- /proc helpers


def proc_table():
    """pid -> (ppid, utime+stime+cutime+cstime ticks) for every live process."""
    table = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                s = f.read().decode("ascii", "replace")
        except OSError:
            continue
        rest = s[s.rindex(")") + 2:].split()
        # rest[0] = state (field 3); ppid = field 4; utime..cstime = fields 14..17.
        # Zombies count: their time reaches the parent's cutime only once reaped.
        ticks = int(rest[11]) + int(rest[12]) + int(rest[13]) + int(rest[14])
        table[int(d)] = (int(rest[1]), ticks)
    return table


def tree(roots, table):
    """roots plus all their live descendants."""
    children = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = set(), [r for r in roots if r in table]
    while todo:
        p = todo.pop()
        if p in out:
            continue
        out.add(p)
        todo.extend(children.get(p, ()))
    return out


def cpu_seconds(ends):
    """CPU seconds (user+sys, including reaped children) of all tunnel processes.

    For every live process we add its own time plus the time of children it has
    reaped, so a forked child that exits between two samples is still counted
    once (in its parent's cutime/cstime)."""
    table = proc_table()
    pids = tree([p for ps in ends.values() for p in ps], table)
    return sum(table[p][1] for p in pids) / CLK_TCK


def memory_kib(pids_by_end):
    """{end: {"rss": KiB, "pss": KiB, "procs": n}} summed over each end's tree."""
    table = proc_table()
    out = {}
    for end, roots in pids_by_end.items():
        rss = pss = 0
        pids = tree(roots, table)
        for p in pids:
            try:
                with open(f"/proc/{p}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Rss:"):
                            rss += int(line.split()[1])
                        elif line.startswith("Pss:"):
                            pss += int(line.split()[1])
            except OSError:
                pass
        out[end] = {"rss": rss, "pss": pss, "procs": len(pids)}
    return out


def parse_ends(items):
    ends = {}
    for item in items or []:
        name, _, pids = item.partition("=")
        ends[name] = [int(p) for p in pids.split(",") if p]
    return ends


def check_alive(ends):
    dead = [p for ps in ends.values() for p in ps if not os.path.exists(f"/proc/{p}")]
    if dead:
        raise PhaseError(f"tunnel process(es) {dead} exited")


# ---------------------------------------------------------------- running tools


def log(msg):
    print(f"   {msg}", flush=True)



def tag(setup):
    return f"{setup['name']:<18}"


CONNRATE = None  # path of the load generator (bench/connrate.c), set by measure()


def check_e2e(s):
    out = run_multi([CONNRATE, "ping", "127.0.0.1", "10", "64", str(s["echo"]["port"])], 30)
    ping = out.get(s["echo"]["port"], {})
    if ping.get("ok") != 10:
        raise PhaseError(f"no echo through port {s['echo']['port']}: {ping.get('error', ping)}")


def run_multi(cmd, timeout):
    """Run a load-generator command over several ports; {port: result}."""
    try:
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, text=True)
    except subprocess.TimeoutExpired:
        raise PhaseError(f"{' '.join(cmd)}: timed out after {timeout} s")
    out = {}
    for ln in r.stdout.splitlines():
        if ln.startswith("{"):
            j = json.loads(ln)
            out[j["port"]] = j
    if not out:
        raise PhaseError(f"{' '.join(cmd)}: exit {r.returncode}, no result; "
                         f"stderr: {r.stderr.strip()[-300:]}")
    return out


def hold_test(a, s, n):
    """Opens n connections through the setup, holds them idle, measures memory."""
    ends = s["echo"]["ends"]
    time.sleep(0.3)
    before = memory_kib(ends)
    p = subprocess.Popen([CONNRATE, "hold", "127.0.0.1", str(s["echo"]["port"]), str(n)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        if not line:
            raise PhaseError("hold: load generator died")
        held = json.loads(line)
        time.sleep(a.settle)
        check_alive(ends)
        after = memory_kib(ends)
        p.stdin.write("check\n")
        p.stdin.flush()
        check = json.loads(p.stdout.readline() or "{}")
        p.stdin.close()
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    opened = max(held["opened"], 1)
    d_rss = sum(after[e]["rss"] - before[e]["rss"] for e in ends)
    d_pss = sum(after[e]["pss"] - before[e]["pss"] for e in ends)
    return {
        "wanted": n,
        "opened": held["opened"],
        "echo_ok": held["echo_ok"],
        "check_ok": check.get("echo_ok", 0),
        "open_secs": held["secs"],
        "last_error": held["last_error"] or check.get("last_error", ""),
        "before": before,
        "after": after,
        "rss_kib_per_conn": d_rss / opened,
        "pss_kib_per_conn": d_pss / opened,
        "per_end_rss_kib_per_conn": {e: (after[e]["rss"] - before[e]["rss"]) / opened
                                     for e in ends},
    }


def iperf_once(a, s, streams):
    cmd = ["iperf3", "-c", "127.0.0.1", "-p", str(s["iperf"]["port"]), "-t", str(a.secs), "-J"]
    if streams > 1:
        cmd += ["-P", str(streams)]
    ends = s["iperf"]["ends"]
    last = None
    for attempt in range(3):
        check_alive(ends)
        c0 = cpu_seconds(ends)
        try:
            r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, timeout=a.secs + 40)
            time.sleep(0.3)  # let the tunnel finish flushing and closing
            c1 = cpu_seconds(ends)
            j = json.loads(r.stdout) if r.stdout.strip() else {}
            if r.returncode == 0 and "error" not in j and "end" in j:
                x = j["end"]["sum_received"]
                return {"bps": x["bits_per_second"], "bytes": x["bytes"], "cpu_s": c1 - c0}
            last = j.get("error") or f"exit {r.returncode}: {r.stderr.strip()[-300:]}"
        except (subprocess.TimeoutExpired, json.JSONDecodeError) as e:
            last = str(e)
        log(f"{tag(s)} iperf3 -P {streams} attempt {attempt + 1} failed: {last}")
        time.sleep(1.5)
    raise PhaseError(f"iperf3 -P {streams}: {last}")


def pace_once(a, s, rate):
    """One connection, `rate` 64-B round trips/s for a.pace_secs; the tunnel's CPU
    (user+sys, both ends) per second of wall time around the run, in ms/s."""
    port, ends = s["echo"]["port"], s["echo"]["ends"]
    cmd = [CONNRATE, "pace", "127.0.0.1", str(port), str(rate), f"{a.pace_secs:g}"]
    c0 = cpu_seconds(ends) if ends else None
    t0 = time.monotonic()
    r = run_multi(cmd, a.pace_secs + 30).get(port, {})
    wall = time.monotonic() - t0
    if r.get("error") or not r.get("ok"):
        raise PhaseError(r.get("error") or "no result")
    if ends:
        # Let the tunnel finish the close (and socat's parent reap its child, whose time
        # then shows in the parent's cutime) before the second sample.
        time.sleep(0.3)
        check_alive(ends)
        r["cpu_s"] = round(cpu_seconds(ends) - c0, 3)
        r["cpu_ms_per_s"] = r["cpu_s"] * 1000 / wall
    r["wall_s"] = wall
    return r


def cpu_busy(seconds=1.0):
    """Fraction of all CPUs busy (any process) over a short window."""
    def sample():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = sample()
    time.sleep(seconds)
    t1, i1 = sample()
    return 1 - (i1 - i0) / max(t1 - t0, 1)


def read_plan(path):
    setups = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            name, e_port, e_ends, i_port, i_ends, big = line.rstrip("\n").split("|")
            setups.append({
                "name": name, "big": int(big),
                "echo": {"port": int(e_port), "ends": parse_ends(e_ends.split())},
                "iperf": ({"port": int(i_port), "ends": parse_ends(i_ends.split())}
                          if int(i_port) else None),
                "data": {"name": name, "echo": {}, "iperf": {}},
                "raw": {"p1": [], "p4": []},
            })
    return setups


def measure(a):
    """Every figure for every setup in the plan.  The load generator rotates over all
    setups in short turns (conn/s, RTT) and iperf3 rounds rotate the order, so that a
    change in background load during the run hits every setup alike."""
    global CONNRATE
    CONNRATE = a.connrate
    signal.signal(signal.SIGTERM, on_term)
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, on_term)  # Ctrl-C: quiet exit, children killed
    setups = read_plan(a.plan)
    env = {"busy_before": cpu_busy()}
    log(f"CPUs busy before measuring (other processes): {env['busy_before'] * 100:.0f}%")

    def live():
        return [s for s in setups if not s["data"].get("errors")]

    def fail(s, what, msg):
        s["data"].setdefault("errors", []).append(f"{what}: {msg}")
        print(f"   {s['name']}: FAILED {what}: {msg}", file=sys.stderr, flush=True)

    def guarded(s, what, fn):
        try:
            return fn()
        except PhaseError as e:
            fail(s, what, e)
            return None

    def order(r):
        xs = live()
        k = (r * 3) % max(len(xs), 1)
        return xs[k:] + xs[:k]  # rotate so that no setup is always first or last

    def alive(s, what):
        try:
            check_alive(s["echo"]["ends"])
            return True
        except PhaseError as e:
            fail(s, what, e)
            return False

    def multi(what, args, timeout):
        """One load-generator run over every live setup; {name: result} of the good ones."""
        xs = [s for s in live() if alive(s, what)]
        if not xs:
            return {}
        try:
            out = run_multi([CONNRATE] + args + [str(s["echo"]["port"]) for s in xs], timeout)
        except PhaseError as e:
            for s in xs:
                fail(s, what, e)
            return {}
        good = {}
        for s in xs:
            r = out.get(s["echo"]["port"])
            if r is None or r.get("error") or not r.get("ok"):
                fail(s, what, (r or {}).get("error") or (r or {}).get("last_error") or "no result")
            elif alive(s, what):
                good[s["name"]] = r
        return good

    for s in live():
        guarded(s, "end-to-end check", lambda s=s: check_e2e(s))

    for conc in (1, 32):
        log(f"-- new connections at concurrency {conc}: connect, 16 B echo, close "
            f"(setups take turns, {a.rate_secs:g} s each)")
        n = len(live())
        res = multi(f"conn/s c={conc}", ["rate", "127.0.0.1", str(a.conns), str(conc),
                                         str(a.rate_secs)], n * (a.rate_secs + 20) + 60)
        for s in live():
            r = res.get(s["name"])
            if r:
                s["data"]["echo"][f"rate_c{conc}"] = r
                failed = f", {r['fail']} failed ({r['last_error']})" if r["fail"] else ""
                log(f"{tag(s)} {r['conn_per_s']:7.0f} conn/s   TTFB p50 {r['ttfb_p50_us']:6.0f} us"
                    f"   p99 {r['ttfb_p99_us']:6.0f} us   ({r['ok']} connections{failed})")

    log(f"-- ping-pong: {a.pings} round trips of 64 B per setup (taking turns in blocks of 100, each after 5 unmeasured)")
    n = len(live())
    res = multi("ping-pong", ["ping", "127.0.0.1", str(a.pings), "64"],
                n * (a.pings / 1000 + 20) + 60)
    for s in live():
        r = res.get(s["name"])
        if r:
            s["data"]["echo"]["ping"] = r
            log(f"{tag(s)} RTT p50 {r['p50_us']:6.1f} us   p99 {r['p99_us']:7.1f} us")

    for rate in PACE_RATES:
        log(f"-- paced: {rate} round trips/s of 64 B for {a.pace_secs:g} s on one connection, "
            f"one setup at a time: the tunnel's CPU")
        for s in live():
            p = guarded(s, f"paced {rate}/s", lambda s=s: pace_once(a, s, rate))
            if p:
                s["data"]["echo"][f"pace_{rate}"] = p
                cpu = (f"{p['cpu_ms_per_s']:5.0f} CPU ms/s" if "cpu_ms_per_s" in p
                       else "    — CPU ms/s")
                slow = f" (only {p['rate']:.0f}/s)" if p["rate"] < 0.95 * rate else ""
                log(f"{tag(s)} {cpu}   RTT p50 {p['p50_us']:6.1f} us   p99 {p['p99_us']:7.1f} us"
                    f"   ({p['ok']} round trips, {p['late']} late){slow}")

    log("-- idle connections held open: memory of the tunnel processes")
    for s in live():
        if not s["echo"]["ends"]:
            continue
        i = guarded(s, "idle connections", lambda s=s: hold_test(a, s, a.idle))
        if i:
            s["data"]["echo"]["idle"] = i
            log(f"{tag(s)} {i['opened']} held, {i['check_ok']} echo ok: "
                f"{i['rss_kib_per_conn']:7.1f} KiB RSS, {i['pss_kib_per_conn']:6.1f} KiB PSS "
                f"per connection")
        if s["big"] and i:
            time.sleep(1.0)
            b = guarded(s, f"{s['big']} connections", lambda s=s: hold_test(a, s, s["big"]))
            if b:
                s["data"]["echo"]["big"] = b
                log(f"{tag(s)} {s['big']} at once: {b['opened']} opened, {b['echo_ok']} + "
                    f"{b['check_ok']} echo ok, {b['rss_kib_per_conn']:.1f} KiB RSS per connection"
                    f"{', ' + b['last_error'] if b['last_error'] else ''}")

    for r in range(a.runs if any(s["iperf"] for s in live()) else 0):
        log(f"-- round {r + 1}/{a.runs}: iperf3 -t {a.secs}, 1 stream then 4 streams")
        for streams in (1, 4):
            for s in [x for x in order(r) if x["iperf"]]:
                x = guarded(s, f"iperf3 -P {streams}", lambda s=s: iperf_once(a, s, streams))
                if x:
                    s["raw"][f"p{streams}"].append(x)
                    gb = x["bytes"] / 1e9
                    cpu = (f"  {x['cpu_s'] / gb:5.2f} CPU s/GB" if s["iperf"]["ends"] and gb
                           else "")
                    log(f"{tag(s)} -P {streams} {x['bps'] / 1e9:6.2f} Gbit/s{cpu}")
                time.sleep(0.3)
    env["busy_after"] = cpu_busy()
    log(f"CPUs busy after measuring (other processes): {env['busy_after'] * 100:.0f}%")

    # Per setup: throughput medians over the rounds.
    rc = 0
    for s in setups:
        d, raw = s["data"], s["raw"]
        for key in ("p1", "p4"):
            runs = raw[key]
            if runs:
                gb = sum(x["bytes"] for x in runs) / 1e9
                cpu = sum(x["cpu_s"] for x in runs)
                d["iperf"][key] = {
                    "gbps": statistics.median(x["bps"] for x in runs) / 1e9,
                    "cpu_s_per_gb": cpu / gb if s["iperf"]["ends"] and gb > 0 else None,
                    "runs": runs}
        if d.get("errors"):
            rc = 1
        with open(os.path.join(a.outdir, f"{s['name']}.json"), "w") as f:
            json.dump(d, f, indent=1)
    with open(os.path.join(a.outdir, "env.json"), "w") as f:
        json.dump(env, f)
    return rc


def fail_main(a):
    data = {"name": a.name, "errors": [a.reason]}
    if a.skipped:
        data["skipped"] = True
    with open(a.out, "w") as f:
        json.dump(data, f, indent=1)
    return 0


# ---------------------------------------------------------------- report


def get(d, *path):
    for k in path:
        if not isinstance(d, dict) or k not in d or d[k] is None:
            return None
        d = d[k]
    return d


# (key, header, path, higher_is_better, format)
FIGURES = [
    ("tput1", "1-stream Gbit/s", ("iperf", "p1", "gbps"), True, "{:.2f}"),
    ("tput4", "4-stream Gbit/s", ("iperf", "p4", "gbps"), True, "{:.2f}"),
    ("cpu", "CPU s/GB (1-stream)", ("iperf", "p1", "cpu_s_per_gb"), False, "{:.2f}"),
    ("cps1", "conn/s c=1", ("echo", "rate_c1", "conn_per_s"), True, "{:.0f}"),
    ("cps32", "conn/s c=32", ("echo", "rate_c32", "conn_per_s"), True, "{:.0f}"),
    ("ttfb1", "TTFB p50 c=1 µs", ("echo", "rate_c1", "ttfb_p50_us"), False, "{:.0f}"),
    ("ttfb32", "TTFB p50 c=32 µs", ("echo", "rate_c32", "ttfb_p50_us"), False, "{:.0f}"),
    ("rtt50", "RTT p50 µs", ("echo", "ping", "p50_us"), False, "{:.1f}"),
    ("rtt99", "RTT p99 µs", ("echo", "ping", "p99_us"), False, "{:.1f}"),
    ("cpu1k", "CPU ms/s @1k req/s", ("echo", "pace_1000", "cpu_ms_per_s"), False, "{:.0f}"),
    ("cpu5k", "CPU ms/s @5k req/s", ("echo", "pace_5000", "cpu_ms_per_s"), False, "{:.0f}"),
    ("rss", "idle KiB/conn RSS", ("echo", "idle", "rss_kib_per_conn"), False, "{:.1f}"),
    ("pss", "idle KiB/conn PSS", ("echo", "idle", "pss_kib_per_conn"), False, "{:.1f}"),
]


def fig(r, key):
    for k, _, path, _, _ in FIGURES:
        if k == key:
            return get(r, *path)
    raise KeyError(key)


def fmt(v, f="{:.2f}"):
    return "—" if v is None else f.format(v)


def big_text(r):
    b = get(r, "echo", "big")
    if b is None:
        return "—"
    ok = b["opened"] == b["wanted"] and b["echo_ok"] == b["wanted"] and b["check_ok"] == b["wanted"]
    return f"{'yes' if ok else 'NO'} ({min(b['echo_ok'], b['check_ok'])}/{b['wanted']})"


def ratio_text(q):
    return f"{q:.2f}x" if q >= 0.1 else f"{q:.2g}x"


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out


def best(results, kind, key, higher):
    vals = [(fig(r, key), r["name"]) for r in results
            if SETUPS[r["name"]][1] == kind and fig(r, key) is not None]
    if not vals:
        return None, None
    return max(vals) if higher else min(vals)


def report(a):
    results = []
    for name in a.setups.split(","):
        path = os.path.join(a.dir, f"{name}.json")
        if os.path.exists(path):
            with open(path) as f:
                results.append(json.load(f))
        else:
            results.append({"name": name, "errors": ["not measured"]})
    by = {r["name"]: r for r in results}
    lines = [f"# postern benchmark ({a.mode} run)", ""]
    with open(a.meta) as f:
        lines += [ln.rstrip("\n") for ln in f]
    env_path = os.path.join(a.dir, "env.json")
    if os.path.exists(env_path):
        with open(env_path) as f:
            env = json.load(f)
        busy = max(env.get("busy_before", 0), env.get("busy_after", 0))
        lines.append(f"- CPUs busy with other processes: {env.get('busy_before', 0) * 100:.0f}% "
                     f"before, {env.get('busy_after', 0) * 100:.0f}% after measuring"
                     + (" (not idle: expect noise; the ratios are the useful part)"
                        if busy > 0.1 else ""))
    lines.append("")

    # Main table.
    header = ["setup"] + [h for _, h, _, _, _ in FIGURES] + ["10k held"]
    rows = []
    for r in results:
        label = SETUPS[r["name"]][0]
        if r.get("skipped"):
            rows.append([label + " (skipped)"] + ["—"] * (len(header) - 1))
            continue
        if r.get("errors"):
            label += " (FAILED)"
        rows.append([label] + [fmt(get(r, *p), f) for _, _, p, _, f in FIGURES] + [big_text(r)])
    table = md_table(header, rows)
    lines += ["## Results", ""] + table + [""]
    lines += ["Higher is better for Gbit/s and conn/s; lower is better for CPU, TTFB, RTT and "
              "memory. \"—\": not applicable (no tunnel process) or not measured.", ""]

    errs = [(r["name"], e) for r in results for e in r.get("errors", [])]
    if errs:
        lines += ["## Failures and skips", ""] + [f"- {n}: {e}" for n, e in errs] + [""]

    # Ratios.
    posterns = [r for r in results if SETUPS[r["name"]][1] == "postern" and get(r, "echo")]
    peers = [r for r in results if SETUPS[r["name"]][1] != "postern" and not r.get("skipped")]
    rkeys = ["tput1", "tput4", "cpu", "cps1", "cps32", "ttfb1", "rtt50", "rtt99", "cpu1k",
             "cpu5k", "rss"]
    for p in posterns:
        lines += [f"## Ratios: {SETUPS[p['name']][0]} / peer", "",
                  "Each cell is postern's figure divided by the peer's (>1 is better for "
                  "Gbit/s and conn/s, <1 is better for CPU, TTFB, RTT and memory).", ""]
        hdr = ["peer"] + [h for k, h, _, _, _ in FIGURES if k in rkeys]
        rrows = []
        for peer in peers:
            row = [SETUPS[peer["name"]][0]]
            for k in rkeys:
                pv, qv = fig(p, k), fig(peer, k)
                row.append("—" if pv is None or not qv else ratio_text(pv / qv))
            rrows.append(row)
        lines += md_table(hdr, rrows) + [""]

    # Targets.
    targets_lines = []
    if posterns:
        targets_lines = targets(results, by, posterns)
        lines += ["## Targets", ""] + targets_lines + [""]

    if a.ceiling and os.path.exists(a.ceiling):
        with open(a.ceiling) as f:
            txt = f.read().strip()
        if txt:
            lines += ["## Crypto ceiling (one core, one buffer size)", "", "```", txt, "```", ""]

    lines += ["## Method", ""]
    with open(a.method) as f:
        lines += [ln.rstrip("\n") for ln in f]
    lines.append("")

    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write("\n".join(lines))
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)

    print("\n".join(table))
    if errs:
        print()
        for n, e in errs:
            print(f"{n}: {e}")
    if targets_lines:
        print()
        print("\n".join(targets_lines))

    chart(a, results)
    return 0


def targets(results, by, posterns):
    """Target checks from the brief; one row per target, one column per postern setup."""
    enc = "encrypted"
    out = []
    hdr = ["target"] + [SETUPS[p["name"]][0] for p in posterns]
    rows = []

    def ratio_row(title, key, ref_val, ref_name, limit, higher):
        f = next(x[4] for x in FIGURES if x[0] == key)
        row = [f"{title} (ref: {ref_name or 'n/a'} {fmt(ref_val, f)})"]
        for p in posterns:
            v = fig(p, key)
            if v is None or not ref_val:
                row.append("n/a")
                continue
            q = v / ref_val
            ok = q >= limit if higher else q <= limit
            row.append(f"{'PASS' if ok else 'FAIL'} {q:.2f}x")
        rows.append(row)

    v, n = best(results, enc, "tput1", True)
    ratio_row("1-stream Gbit/s >= 1.2x fastest encrypted peer", "tput1", v, n, 1.2, True)
    s2 = fig(by.get("socat2", {}), "tput1")
    ratio_row("1-stream Gbit/s >= 0.85x socat x2", "tput1", s2, "socat2" if s2 else None, 0.85, True)
    v, n = best(results, enc, "cpu", False)
    ratio_row("CPU s/GB <= 0.8x most efficient encrypted peer", "cpu", v, n, 0.8, False)
    for key, lim in (("cps1", 1.5), ("cps32", 1.3)):
        vals = [(fig(by[s], key), s) for s in ("ssh-chacha", "ssh-aes")
                if s in by and fig(by[s], key) is not None]
        v, n = max(vals) if vals else (None, None)
        ratio_row(f"conn/s c={key[3:]} >= {lim}x best ssh", key, v, n, lim, True)
    for key, title in (("rtt50", "RTT p50"), ("rtt99", "RTT p99")):
        v, n = best(results, enc, key, False)
        ratio_row(f"{title} <= 0.8x best encrypted peer", key, v, n, 0.8, False)
        s2 = fig(by.get("socat2", {}), key)
        ratio_row(f"{title} <= 1.1x socat x2", key, s2, "socat2" if s2 else None, 1.1, False)
    row = ["idle memory <= 8 KiB/conn RSS, both ends"]
    for p in posterns:
        v = fig(p, "rss")
        row.append("n/a" if v is None else f"{'PASS' if v <= 8 else 'FAIL'} {v:.1f} KiB")
    rows.append(row)
    row = ["10000 concurrent tunneled connections held"]
    for p in posterns:
        t = big_text(p)
        row.append("n/a" if t == "—" else ("PASS " if t.startswith("yes") else "FAIL ") + t)
    rows.append(row)
    rows = [r for r in rows if any(c != "n/a" for c in r[1:])]
    out += md_table(hdr, rows)
    return out


def chart(a, results):
    rows = [r for r in results if get(r, "iperf") or get(r, "echo")]
    if not rows or not a.gnuplot:
        print("chart: skipped (no gnuplot)" if not a.gnuplot else "chart: no data")
        return
    dat = os.path.join(a.dir, "chart.dat")
    with open(dat, "w") as f:
        f.write("# label tput1 tput4 cps1 cps32 cpu1k cpu5k\n")
        for r in rows:
            vals = [fig(r, k) for k in ("tput1", "tput4", "cps1", "cps32", "cpu1k", "cpu5k")]
            label = SETUPS[r["name"]][0].replace('"', "")
            f.write(f'"{label}" ' + " ".join("0" if v is None else f"{v:.3f}" for v in vals) + "\n")
    png = os.path.join(a.out, "chart.png")
    gp = f"""
set terminal pngcairo size 2400,700 font "sans,10"
set output "{png}"
set multiplot layout 1,3 title "postern benchmark ({a.mode}): loopback, same run"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top right
set grid ytics
set xtics rotate by 30 right scale 0 nomirror
set yrange [0:*]
set bmargin 9
set title "Throughput (iperf3, median)"
set ylabel "Gbit/s"
plot "{dat}" using 2:xtic(1) title "1 stream", "" using 3 title "4 streams"
set title "New connections per second (connect, 16 B echo, close)"
set ylabel "conn/s"
plot "{dat}" using 4:xtic(1) title "concurrency 1", "" using 5 title "concurrency 32"
set title "Tunnel CPU at a paced rate (64 B round trips, one connection)"
set ylabel "CPU ms per s (per-mille of a core)"
plot "{dat}" using 6:xtic(1) title "1000 req/s", "" using 7 title "5000 req/s"
unset multiplot
"""
    gpf = os.path.join(a.dir, "chart.gp")
    with open(gpf, "w") as f:
        f.write(gp)
    r = subprocess.run([a.gnuplot, gpf], stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        print(f"chart: gnuplot failed: {r.stderr.strip()[-300:]}")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("measure")
    p.add_argument("--plan", required=True,
                   help="lines NAME|ECHO_PORT|ENDS|IPERF_PORT|ENDS|BIG; ENDS = 'end=PID,PID ...';"
                        " IPERF_PORT 0 = no throughput figures")
    p.add_argument("--outdir", required=True)
    p.add_argument("--connrate", required=True)
    p.add_argument("--conns", type=int, default=10000)
    p.add_argument("--rate-secs", type=float, default=2)
    p.add_argument("--pings", type=int, default=20000)
    p.add_argument("--idle", type=int, default=1000)
    p.add_argument("--settle", type=float, default=1.0)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--secs", type=int, default=3)
    p.add_argument("--pace-secs", type=float, default=3,
                   help="seconds per paced run (CPU at 1000 and 5000 round trips/s)")
    p = sub.add_parser("fail")
    p.add_argument("--name", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--reason", required=True)
    p.add_argument("--skipped", action="store_true")
    p = sub.add_parser("report")
    p.add_argument("--dir", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--setups", required=True)
    p.add_argument("--mode", required=True)
    p.add_argument("--meta", required=True)
    p.add_argument("--method", required=True)
    p.add_argument("--ceiling")
    p.add_argument("--gnuplot")
    a = ap.parse_args()
    if a.cmd == "measure":
        return measure(a)
    if a.cmd == "fail":
        return fail_main(a)
    return report(a)


if __name__ == "__main__":
    sys.exit(main())
