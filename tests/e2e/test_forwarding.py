# SPDX-License-Identifier: MIT
"""Forwarding end to end: -D (SOCKS 4/4a/5 with curl and raw), -R with
gateway_ports, Unix sockets at either end, the per-key policy applied to
every entrance of one session (endpoint multiplexing), the access matrix,
bad input and conflicting binds, and client profiles with forwards.

Real processes only (postern, python3 -m http.server, curl), loopback only,
every process stopped by pid in teardown, every wait bounded.
"""

import os
import re
import shutil
import socket
import stat
import tempfile
import textwrap
from pathlib import Path

import pytest

from conftest import (
    IO_TIMEOUT,
    closing_factory,
    echo_handler,
    echo_roundtrip,
    free_port,
    have_ipv6,
    hostport,
    recv_exactly,
    recv_until_end,
    require_tool,
    run,
    wait_until,
)
from fwdutil import (
    UnixServer,
    can_connect,
    curl,
    listen_addrs_of,
    raw_exchange,
    refused_stream,
    socks4_connect,
    socks5_connect,
    socks_conn,
    start_client,
    start_http,
    start_server,
    tcp_connector,
    unix_connector,
    unix_echo_roundtrip,
    wait_exit,
    write_fixed_key,
)

DATA = Path(__file__).resolve().parent / "data"

DENIED_SRV = r'channel denied session=\d+ channel=\d+ target={target} key={key} reason="?{rule}' 
DENIED_CLI = r'open failed channel=\d+ target={target} error="administratively prohibited: {rule}' 


def srv_denied(target, rule, key="default"):
    return DENIED_SRV.format(target=re.escape(target), key=re.escape(key), rule=re.escape(rule))


def cli_denied(target, rule):
    return DENIED_CLI.format(target=re.escape(target), rule=re.escape(rule))


def assert_one_session(srv, cli):
    """The session was never torn down (a failed channel must not end it)."""
    assert srv.count(r"session authenticated ") == 1 and srv.count(r"session closed ") == 0, \
        f"the session ended or was re-established:\n{srv.tail()}"
    assert cli.count(r"session closed ") == 0, f"the client lost its session:\n{cli.tail()}"


# --------------------------------------------------------------------------
# fixtures


@pytest.fixture
def sockdir():
    """A short directory for Unix sockets (sun_path holds 108 bytes; pytest's
    tmp_path can be longer than that)."""
    d = Path(tempfile.mkdtemp(prefix="pf-", dir="/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def unix_servers():
    yield from closing_factory(UnixServer)


@pytest.fixture
def curl_tool():
    return require_tool("curl")


# --------------------------------------------------------------------------
# 1. curl through -D: SOCKS5 (remote and local name resolution), 4a, 4


SOCKS_CURL_CASES = [
    # id, curl proxy option, host in the URL, what the server permits, server family, extra curl opts
    ("socks5h-ipv4", "--socks5-hostname", "127.0.0.1", "127.0.0.1", "4", ()),
    ("socks4a-ipv4", "--socks4a", "127.0.0.1", "127.0.0.1", "4", ()),
    ("socks5h-ipv6", "--socks5-hostname", "::1", "[::1]", "6", ()),
    ("socks5-ipv6", "--socks5", "::1", "[::1]", "6", ()),
    ("socks5h-name", "--socks5-hostname", "localhost", "localhost", "4", ()),
    ("socks4a-name", "--socks4a", "localhost", "localhost", "4", ()),
    # curl resolves the name itself and sends an IPv4 address; only the
    # address is permitted, so the request must arrive as the address.
    ("socks5-curl-resolves", "--socks5", "localhost", "127.0.0.1", "4", ("-4",)),
    ("socks4-curl-resolves", "--socks4", "localhost", "127.0.0.1", "4", ()),
    ("socks4-ipv4", "--socks4", "127.0.0.1", "127.0.0.1", "4", ()),
    # permitted by network
    ("socks5h-ipv4-cidr", "--socks5-hostname", "127.0.0.1", "127.0.0.0/8", "4", ()),
    ("socks5h-ipv6-cidr", "--socks5-hostname", "::1", "[::1/128]", "6", ()),
    ("socks4a-any-host", "--socks4a", "localhost", "*", "4", ()),
]


@pytest.mark.parametrize("case", SOCKS_CURL_CASES, ids=[c[0] for c in SOCKS_CURL_CASES])
def test_curl_through_socks(pg, procs, tmp, curl_tool, case):
    _, proxy_opt, url_host, permit_host, fam, extra = case
    if fam == "6" and not have_ipv6():
        pytest.skip("no IPv6 loopback")
    http_host = "::1" if fam == "6" else "127.0.0.1"
    hport, blob = start_http(procs, tmp, http_host)
    key = pg.keygen()
    srv = start_server(pg, key, permit_open=[f"{permit_host}:{hport}"])
    cli = start_client(pg, srv, key, D=["127.0.0.1:0"])
    dport = cli.dports[0]
    url = f"http://{hostport(url_host, hport)}/blob.bin"
    r, body = curl(tmp, url, proxy_opt, f"127.0.0.1:{dport}", *extra)
    assert r.returncode == 0, f"curl {proxy_opt} {url} failed ({r.returncode}): {r.stderr}"
    assert len(body) == len(blob) and body == blob, f"got {len(body)} bytes, not the served file"
    assert srv.count(r"denied") == 0, srv.tail()
    assert cli.alive() and srv.alive()


def test_socks_entrance_on_ipv6_and_several_requests_in_one_session(pg, procs, tmp, curl_tool):
    """-D [::1]:PORT; three fetches over one session (one channel each)."""
    if not have_ipv6():
        pytest.skip("no IPv6 loopback")
    hport, blob = start_http(procs, tmp, "127.0.0.1")
    key = pg.keygen()
    srv = start_server(pg, key, permit_open=[f"127.0.0.1:{hport}"])
    dport = start_client(pg, srv, key, D=["[::1]:0"]).dports[0]
    for opt in ("--socks5-hostname", "--socks5", "--socks4a"):
        r, body = curl(tmp, f"http://127.0.0.1:{hport}/blob.bin", opt, f"[::1]:{dport}")
        assert r.returncode == 0, f"curl {opt} via [::1]:{dport}: {r.stderr}"
        assert body == blob
    assert srv.count(r"session authenticated ") == 1


# --------------------------------------------------------------------------
# 2. SOCKS error replies: denied (5: REP 2, 4: 0x5B), refused (5: REP 5)


@pytest.fixture
def socks_policy(pg, tcp_servers):
    """A key allowed A (live echo) and a closed port C; B is live but not permitted."""
    a = tcp_servers(echo_handler)
    b = tcp_servers(echo_handler)
    closed = free_port()
    key = pg.keygen()
    srv = start_server(pg, key, permit_open=[hostport(*a.addr), f"127.0.0.1:{closed}"])
    cli = start_client(pg, srv, key, D=["127.0.0.1:0"])
    return dict(a=a, b=b, closed=closed, srv=srv, cli=cli, daddr=("127.0.0.1", cli.dports[0]))


def test_socks5_permitted_destination_connects(socks_policy):
    p = socks_policy
    rep, outcome, s = socks5_connect(p["daddr"], "127.0.0.1", p["a"].port)
    try:
        assert outcome == "ok" and rep[:2] == b"\x05\x00", f"reply {rep.hex()} ({outcome})"
        s.sendall(b"ping through socks5")
        s.shutdown(socket.SHUT_WR)
        got, end = recv_until_end(s)
    finally:
        s.close()
    assert (got, end) == (b"ping through socks5", "eof")


def test_socks5_denied_gets_rep_2(socks_policy):
    p = socks_policy
    target = hostport(*p["b"].addr)
    rep, outcome, s = socks5_connect(p["daddr"], "127.0.0.1", p["b"].port)
    s.close()
    assert len(rep) >= 10, f"short SOCKS5 reply {rep.hex()} ({outcome})"
    assert rep[0] == 5 and rep[1] == 0x02, f"REP {rep[1]:#04x}, expected 0x02 (not allowed by ruleset); reply {rep.hex()}"
    assert len(rep) == 10 and outcome in ("eof", "reset"), f"after the error reply: {rep[10:]!r} then {outcome}"
    p["srv"].wait_for_log(srv_denied(target, "not in permit_open"))
    p["cli"].wait_for_log(cli_denied(target, "not in permit_open"))
    assert p["b"].accepted == 0


def test_socks4_denied_gets_5b(socks_policy):
    p = socks_policy
    target = hostport(*p["b"].addr)
    rep, outcome, s = socks4_connect(p["daddr"], "127.0.0.1", p["b"].port)
    s.close()
    assert len(rep) == 8 and rep[0] == 0 and rep[1] == 0x5B, f"SOCKS4 reply {rep.hex()} ({outcome}), expected 00 5b"
    assert outcome in ("eof", "reset")
    p["srv"].wait_for_log(srv_denied(target, "not in permit_open"))
    assert p["b"].accepted == 0


def test_socks5_refused_port_gets_rep_5(socks_policy):
    p = socks_policy
    rep, outcome, s = socks5_connect(p["daddr"], "127.0.0.1", p["closed"])
    s.close()
    assert len(rep) >= 2 and rep[0] == 5 and rep[1] == 0x05, \
        f"REP {rep[1:2].hex()}, expected 05 (connection refused); reply {rep.hex()} ({outcome})"
    assert outcome in ("eof", "reset")
    p["cli"].wait_for_log(r"open failed .*error=\"connect failed: Connection refused")
    assert p["srv"].count("denied") == 0


def test_socks4_refused_port_gets_5b(socks_policy):
    p = socks_policy
    rep, outcome, s = socks4_connect(p["daddr"], "127.0.0.1", p["closed"])
    s.close()
    assert rep[:2] == b"\x00\x5b", f"SOCKS4 reply {rep.hex()} ({outcome}), expected 00 5b"


# --------------------------------------------------------------------------
# 3. -R: fixed port, port 0, gateway_ports


def test_remote_forward_fixed_and_allocated(pg, procs, tmp, curl_tool):
    """An HTTP server on the client's side, fetched from the server's side."""
    hport, blob = start_http(procs, tmp, "127.0.0.1")
    fixed = free_port()
    key = pg.keygen()
    srv = start_server(pg, key, permit_listen=[str(fixed), "*"])
    cli = start_client(pg, srv, key, R=[f"{fixed}:127.0.0.1:{hport}", f"0:127.0.0.1:{hport}"])
    cli.wait_for_log(r"remote forward listening listen=\"port %d\" port=%d target=127\.0\.0\.1:%d" % (fixed, fixed, hport))
    assert len(cli.allocated) == 1, f"expected one 'Allocated port N' line:\n{cli.tail()}"
    alloc = cli.allocated[0]
    assert alloc not in (0, fixed)
    for port in (fixed, alloc):
        srv.wait_for_log(r"remote forward listening session=\d+ listen=127\.0\.0\.1:%d key=default " % port)
        r, body = curl(tmp, f"http://127.0.0.1:{port}/blob.bin")
        assert r.returncode == 0, f"curl through -R port {port}: {r.stderr}"
        assert body == blob
        assert listen_addrs_of(port, srv.pid) == {"127.0.0.1"}


def _loopback_only(addrs):
    return addrs == {"127.0.0.1"}


def _all_addresses(addrs):
    return bool(addrs) and addrs <= {"0.0.0.0", "*", "[::]"} and bool(addrs & {"0.0.0.0", "*"})


@pytest.mark.parametrize("gw", ["no", "yes", "clientspecified"])
def test_gateway_ports(pg, procs, tmp, curl_tool, gw):
    hport, blob = start_http(procs, tmp, "127.0.0.1")
    p_plain, p_bound = free_port(), free_port("127.0.0.3")
    key = pg.keygen()
    srv = start_server(pg, key, permit_listen=["any"], gateway_ports=gw)
    start_client(pg, srv, key, R=[f"{p_plain}:127.0.0.1:{hport}", f"127.0.0.3:{p_bound}:127.0.0.1:{hport}"])
    for port in (p_plain, p_bound):
        srv.wait_for_log(r"remote forward listening session=\d+ listen=\S+:%d key=default " % port)
    plain, bound = listen_addrs_of(p_plain, srv.pid), listen_addrs_of(p_bound, srv.pid)

    def fetch(host, port):
        r, body = curl(tmp, f"http://{host}:{port}/blob.bin")
        assert r.returncode == 0 and body == blob, f"fetch via {host}:{port}: {r.stderr}"

    if gw == "no":
        # Loopback only, whatever the client asked for.
        assert _loopback_only(plain), plain
        assert _loopback_only(bound), f"gateway_ports=no must ignore the client's 127.0.0.3: {bound}"
        fetch("127.0.0.1", p_plain)
        assert not can_connect("127.0.0.2", p_plain), "gateway_ports=no listener reachable via 127.0.0.2"
        srv.wait_for_log(r"policy=\".*gateway_ports = no -> binds 127\.0\.0\.1")
    elif gw == "yes":
        assert _all_addresses(plain), plain
        assert _all_addresses(bound), f"gateway_ports=yes must bind all addresses: {bound}"
        fetch("127.0.0.2", p_plain)
        fetch("127.0.0.1", p_bound)
    else:
        assert bound == {"127.0.0.3"}, f"clientspecified with 127.0.0.3 bound {bound}"
        assert _all_addresses(plain), f"clientspecified without an address must bind all: {plain}"
        fetch("127.0.0.3", p_bound)
        assert not can_connect("127.0.0.1", p_bound), "127.0.0.3 listener also answers on 127.0.0.1"
        fetch("127.0.0.2", p_plain)


def test_gateway_ports_from_config_key_overrides_server(pg, tmp, procs, curl_tool):
    """[server] gateway_ports = yes; key 'inner' says no (loopback), key 'outer' inherits yes."""
    hport, blob = start_http(procs, tmp, "127.0.0.1")
    inner, outer = pg.keygen("inner.key"), pg.keygen("outer.key")
    sport, p_in, p_out = free_port(), free_port(), free_port()
    conf = tmp / "server.conf"
    conf.write_text(textwrap.dedent(f"""\
        [server]
        gateway_ports = yes

        [key inner]
        key_file = {inner}
        permit_listen = {p_in}
        gateway_ports = no

        [key outer]
        key_file = {outer}
        permit_listen = {p_out}
        """))
    srv = pg.start_server(config=conf, port=sport)
    start_client(pg, srv, inner, R=[f"{p_in}:127.0.0.1:{hport}"], name="client-inner")
    start_client(pg, srv, outer, R=[f"{p_out}:127.0.0.1:{hport}"], name="client-outer")
    srv.wait_for_log(r"remote forward listening session=\d+ listen=127\.0\.0\.1:%d key=inner " % p_in)
    srv.wait_for_log(r"remote forward listening session=\d+ listen=\S+:%d key=outer " % p_out)
    assert _loopback_only(listen_addrs_of(p_in, srv.pid))
    assert _all_addresses(listen_addrs_of(p_out, srv.pid))
    r, body = curl(tmp, f"http://127.0.0.2:{p_out}/blob.bin")
    assert r.returncode == 0 and body == blob, r.stderr
    assert not can_connect("127.0.0.2", p_in)


def test_remote_forward_target_down(pg, tmp):
    """-R whose client-side target refuses: the server-side connection is reset,
    the client says why, and the listener stays."""
    closed, rport = free_port(), free_port()
    key = pg.keygen()
    srv = start_server(pg, key, permit_listen=[str(rport)])
    cli = start_client(pg, srv, key, R=[f"{rport}:127.0.0.1:{closed}"])
    for _ in range(2):
        got, outcome = refused_stream(tcp_connector("127.0.0.1", rport))
        assert got == b"" and outcome in ("reset", "eof"), (got, outcome)
    cli.wait_for_log(r"open failed channel=\d+ target=127\.0\.0\.1:%d error=\"connect failed: Connection refused" % closed, count=2)
    assert listen_addrs_of(rport, srv.pid) == {"127.0.0.1"}
    assert cli.alive() and srv.alive()
    assert_one_session(srv, cli)


def test_remote_listener_closed_with_session(pg, procs, tmp):
    """The -R listener belongs to the session: stopping the client frees the port."""
    hport, _ = start_http(procs, tmp, "127.0.0.1")
    rport = free_port()
    key = pg.keygen()
    srv = start_server(pg, key, permit_listen=[str(rport)])
    cli = start_client(pg, srv, key, R=[f"{rport}:127.0.0.1:{hport}"])
    assert can_connect("127.0.0.1", rport)
    cli.stop()
    srv.wait_for_log(r"session closed ")
    wait_until(lambda: not listen_addrs_of(rport, srv.pid), what=f"the server to close port {rport}")


def test_clientspecified_bind_addresses(pg, procs, tmp, curl_tool):
    """clientspecified: localhost -> 127.0.0.1, [::1] -> ::1, a name other than
    localhost is refused (it would need the resolver), and permit_listen
    localhost:PORT covers loopback binds only, never 0.0.0.0."""
    hport, blob = start_http(procs, tmp, "127.0.0.1")
    p_lh, p_v6, p_name, p_lo5, p_any = (free_port() for _ in range(5))
    key = pg.keygen()
    srv = start_server(pg, key, gateway_ports="clientspecified",
                       permit_listen=[str(p_lh), str(p_v6), str(p_name), f"localhost:{p_lo5}",
                                      f"localhost:{p_any}"])
    t = f"127.0.0.1:{hport}"
    specs = [f"localhost:{p_lh}:{t}", f"127.0.0.5:{p_lo5}:{t}", f"example.com:{p_name}:{t}",
             f"0.0.0.0:{p_any}:{t}"]
    v6 = have_ipv6()
    if v6:
        specs.append(f"[::1]:{p_v6}:{t}")
    cli = start_client(pg, srv, key, R=specs, extra=["--no-exit-on-forward-failure"],
                       nremote=3 if v6 else 2)
    srv.wait_for_log(r"remote forward denied session=\d+ listen=example\.com:%d key=default reason="
                     r"\"gateway_ports = clientspecified takes \*, localhost or an IP address" % p_name)
    srv.wait_for_log(r"remote forward denied session=\d+ listen=0\.0\.0\.0:%d key=default reason=\"not in permit_listen" % p_any)
    cli.wait_for_log(r"remote forward failed listen=example\.com:%d target=\S+ error=\"administratively prohibited" % p_name)
    assert listen_addrs_of(p_lh, srv.pid) == {"127.0.0.1"}
    assert listen_addrs_of(p_lo5, srv.pid) == {"127.0.0.5"}
    assert not listen_addrs_of(p_name, srv.pid) and not listen_addrs_of(p_any, srv.pid)
    for host, port in (("127.0.0.1", p_lh), ("127.0.0.5", p_lo5)):
        r, body = curl(tmp, f"http://{host}:{port}/blob.bin")
        assert r.returncode == 0 and body == blob, f"{host}:{port}: {r.stderr}"
    if v6:
        assert listen_addrs_of(p_v6, srv.pid) == {"[::1]"}
        r, body = curl(tmp, f"http://[::1]:{p_v6}/blob.bin")
        assert r.returncode == 0 and body == blob, r.stderr


# --------------------------------------------------------------------------
# 4. Unix sockets at either end


def test_unix_entrance_local_forward(pg, sockdir, echo_server):
    """(a) -L /dir/entrance.sock:127.0.0.1:PORT: a client-side Unix entrance, mode 0600."""
    ent = sockdir / "entrance.sock"
    key = pg.keygen()
    srv = start_server(pg, key, permit_open=[hostport(*echo_server.addr)])
    cli = start_client(pg, srv, key, L=[f"{ent}:{hostport(*echo_server.addr)}"])
    cli.wait_for_log(r"listening addr=" + re.escape(str(ent)) + r" target=" + re.escape(hostport(*echo_server.addr)))
    st = os.lstat(ent)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600, f"entrance socket mode {stat.S_IMODE(st.st_mode):o}, expected 600"
    assert unix_echo_roundtrip(ent)
    assert unix_echo_roundtrip(ent, 3 * (1 << 20))


def test_unix_entrance_removed_when_client_stops(pg, sockdir, echo_server):
    ent = sockdir / "entrance.sock"
    key = pg.keygen()
    srv = start_server(pg, key, permit_open=[hostport(*echo_server.addr)])
    cli = start_client(pg, srv, key, L=[f"{ent}:{hostport(*echo_server.addr)}"])
    assert ent.exists()
    rc = cli.stop()
    assert rc == 0, f"client exited {rc} on SIGTERM"
    assert not ent.exists(), "the client left its Unix entrance socket behind"


def test_unix_target_local_forward(pg, sockdir, unix_servers):
    """(b) -L PORT:/dir/target.sock: the server connects to a Unix socket."""
    target = sockdir / "target.sock"
    us = unix_servers(target)
    key = pg.keygen()
    srv = start_server(pg, key, permit_open=[str(target)], allow_unix=True)
    lport = start_client(pg, srv, key, L=[f"0:{target}"]).lports[0]
    assert echo_roundtrip(("127.0.0.1", lport))
    assert us.accepted == 1


def test_unix_target_denied_without_allow_unix_forwarding(pg, sockdir, unix_servers):
    target = sockdir / "target.sock"
    us = unix_servers(target)
    key = pg.keygen()
    srv = start_server(pg, key, permit_open=[str(target)])  # allow_unix_forwarding: default no
    cli = start_client(pg, srv, key, L=[f"0:{target}"])
    lport = cli.lports[0]
    got, outcome = refused_stream(tcp_connector("127.0.0.1", lport))
    assert got == b"" and outcome in ("eof", "reset"), (got, outcome)
    srv.wait_for_log(srv_denied(str(target), "allow_unix_forwarding = no"))
    cli.wait_for_log(cli_denied(str(target), "allow_unix_forwarding = no"))
    assert us.accepted == 0
    assert_one_session(srv, cli)


def test_unix_remote_listener(pg, procs, tmp, sockdir, curl_tool):
    """(c) -R /dir/remote.sock:127.0.0.1:HTTPPORT: the server listens on a Unix socket."""
    hport, blob = start_http(procs, tmp, "127.0.0.1")
    rsock = sockdir / "remote.sock"
    key = pg.keygen()
    srv = start_server(pg, key, permit_listen=[f"{sockdir}/*.sock"], allow_unix=True)
    cli = start_client(pg, srv, key, R=[f"{rsock}:127.0.0.1:{hport}"])
    cli.wait_for_log(r"remote forward listening listen=" + re.escape(str(rsock)))
    srv.wait_for_log(r"remote forward listening session=\d+ listen=" + re.escape(str(rsock)) + r" key=default ")
    st = os.lstat(rsock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600, f"mode {st.st_mode:o}"
    r, body = curl(tmp, "http://postern.test/blob.bin", "--unix-socket", str(rsock))
    assert r.returncode == 0, f"curl --unix-socket {rsock}: {r.stderr}"
    assert body == blob
    cli.stop()
    srv.wait_for_log(r"session closed ")
    wait_until(lambda: not rsock.exists(), what="the server to remove its -R Unix socket")


def test_unix_remote_listener_denied(pg, procs, tmp, sockdir):
    """Outside permit_listen's glob, or without allow_unix_forwarding: refused, nothing created."""
    hport, _ = start_http(procs, tmp, "127.0.0.1")
    (sockdir / "sub").mkdir()
    outside = sockdir / "sub" / "x.sock"  # '*' does not cross '/'
    other = sockdir / "x.socket"
    key = pg.keygen()
    srv = start_server(pg, key, permit_listen=[f"{sockdir}/*.sock"], allow_unix=True)
    cli = start_client(pg, srv, key, R=[f"{outside}:127.0.0.1:{hport}", f"{other}:127.0.0.1:{hport}"],
                       extra=["--no-exit-on-forward-failure"], nremote=0)
    for p in (outside, other):
        srv.wait_for_log(r"remote forward denied session=\d+ listen=" + re.escape(str(p)) + r" key=default reason=\"not in permit_listen")
        cli.wait_for_log(r"remote forward failed listen=" + re.escape(str(p)) + r" target=\S+ error=\"administratively prohibited")
        assert not p.exists()
    assert cli.alive()


def test_unix_remote_listener_denied_without_allow_unix(pg, procs, tmp, sockdir):
    hport, _ = start_http(procs, tmp, "127.0.0.1")
    rsock = sockdir / "remote.sock"
    key = pg.keygen()
    srv = start_server(pg, key, permit_listen=[f"{sockdir}/*.sock"])
    cli = start_client(pg, srv, key, R=[f"{rsock}:127.0.0.1:{hport}"], wait=False)
    rc = wait_exit(cli)
    assert rc == 1, f"client exit {rc}, expected 1 (exit_on_forward_failure)"
    assert cli.search(r"remote forward failed listen=" + re.escape(str(rsock)) + r" target=\S+ error=\"administratively prohibited: allow_unix_forwarding = no"), cli.tail()
    srv.wait_for_log(r"remote forward denied session=\d+ listen=" + re.escape(str(rsock)) + r" key=default reason=\"allow_unix_forwarding = no")
    assert not rsock.exists()


def test_unix_remote_listener_on_someone_elses_socket(pg, procs, tmp, sockdir, unix_servers):
    """-R on a path where another program listens: refused, and the other
    program's socket is neither removed nor taken over (also after the
    session ends)."""
    hport, _ = start_http(procs, tmp, "127.0.0.1")
    taken = sockdir / "taken.sock"
    unix_servers(taken, greeting=b"other program\n")
    key = pg.keygen()
    srv = start_server(pg, key, permit_listen=[f"{sockdir}/*.sock"], allow_unix=True)
    cli = start_client(pg, srv, key, R=[f"{taken}:127.0.0.1:{hport}"], wait=False)
    assert wait_exit(cli) == 1, cli.tail()
    assert cli.search(r"remote forward failed listen=" + re.escape(str(taken)) + r" target=\S+ error="), cli.tail()
    srv.wait_for_log(r"session closed ")
    assert taken.exists(), "the server removed another program's socket"
    s = unix_connector(taken)()
    try:
        assert recv_exactly(s, 14) == b"other program\n"
    finally:
        s.close()


def test_unix_entrance_on_regular_file_keeps_it(pg, sockdir, echo_server):
    """-L /path/file:... where a regular file exists: fail, and leave the file alone."""
    path = sockdir / "notes.txt"
    path.write_bytes(b"precious\n")
    key = pg.keygen()
    srv = start_server(pg, key, permit_open=[hostport(*echo_server.addr)])
    cli = start_client(pg, srv, key, L=[f"{path}:{hostport(*echo_server.addr)}"], wait=False)
    assert wait_exit(cli) == 1, cli.tail()
    assert cli.search(r"cannot listen on " + re.escape(str(path))), cli.tail()
    assert path.read_bytes() == b"precious\n"


def test_remote_forward_to_client_side_unix_socket(pg, sockdir, unix_servers):
    """(c) -R PORT:/dir/clientside.sock: the client connects to its own Unix socket.

    The client's own targets are its business: no allow_unix_forwarding needed
    on the server, only the listening port."""
    cs = sockdir / "clientside.sock"
    us = unix_servers(cs)
    rport = free_port()
    key = pg.keygen()
    srv = start_server(pg, key, permit_listen=[str(rport)])
    cli = start_client(pg, srv, key, R=[f"{rport}:{cs}"])
    cli.wait_for_log(r"remote forward listening listen=\"port %d\" port=%d target=" % (rport, rport) + re.escape(str(cs)))
    assert echo_roundtrip(("127.0.0.1", rport))
    assert us.accepted == 1


def test_unix_to_unix_local_forward(pg, sockdir, unix_servers):
    """-L /dir/in.sock:/dir/out.sock: Unix at both ends."""
    ent, target = sockdir / "in.sock", sockdir / "out.sock"
    us = unix_servers(target)
    key = pg.keygen()
    srv = start_server(pg, key, permit_open=[str(target)], allow_unix=True)
    start_client(pg, srv, key, L=[f"{ent}:{target}"])
    assert unix_echo_roundtrip(ent)
    assert us.accepted == 1


# --------------------------------------------------------------------------
# 5. endpoint multiplexing: one key, one session, every entrance; only A


def test_key_limited_to_a_cannot_reach_b_by_any_entrance(pg, tcp_servers, sockdir, unix_servers):
    a = tcp_servers(echo_handler)
    b = tcp_servers(echo_handler)
    ua = unix_servers(sockdir / "a.sock")
    ub = unix_servers(sockdir / "b.sock")
    A, B = hostport(*a.addr), hostport(*b.addr)
    key = pg.keygen()
    srv = start_server(pg, key, permit_open=[A, str(ua.path)], allow_unix=True)
    traversal = f"{sockdir}/../{sockdir.name}/b.sock"
    cli = start_client(pg, srv, key, L=[f"0:{A}", f"0:{B}", f"0:{ub.path}", f"0:{traversal}"],
                       D=["127.0.0.1:0"])
    la, lb, lu, lu_trav = cli.lports
    dport = cli.dports[0]
    daddr = ("127.0.0.1", dport)

    # The permitted destination works, in the same session as every refusal below.
    assert echo_roundtrip(("127.0.0.1", la))

    # -L to B
    got, outcome = refused_stream(tcp_connector("127.0.0.1", lb))
    assert got == b"" and outcome in ("eof", "reset"), (got, outcome)
    srv.wait_for_log(srv_denied(B, "not in permit_open"))
    cli.wait_for_log(cli_denied(B, "not in permit_open"))

    # -D, SOCKS5 with B's address; SOCKS5 and 4a with names that resolve to 127.0.0.1
    # (for A's port too: a name is not the address it resolves to); SOCKS4 with B's address.
    refusals = []
    for host, port in (("127.0.0.1", b.port), ("localhost", b.port), ("localhost", a.port),
                       ("127.1", a.port), ("2130706433", a.port), ("::ffff:127.0.0.1", b.port)):
        rep, outcome, s = socks5_connect(daddr, host, port)
        s.close()
        refusals.append((f"socks5 {host}:{port}", rep[:2], b"\x05\x02"))
    for ip, host, port in (("127.0.0.1", None, b.port), (None, "localhost", b.port), (None, "localhost", a.port)):
        rep, outcome, s = socks4_connect(daddr, ip, port, host=host)
        s.close()
        refusals.append((f"socks4{'a' if host else ''} {host or ip}:{port}", rep[:2], b"\x00\x5b"))
    wrong = [(what, got.hex(), want.hex()) for what, got, want in refusals if got != want]
    assert not wrong, f"SOCKS requests not refused with the 'not allowed' reply: {wrong}"
    for target in (B, f"localhost:{b.port}", f"localhost:{a.port}", f"127.1:{a.port}",
                   f"2130706433:{a.port}"):
        srv.wait_for_log(srv_denied(target, "not in permit_open"))

    # -L to a Unix path that is not permitted, directly and by a '..' detour.
    for port, path in ((lu, str(ub.path)), (lu_trav, traversal)):
        got, outcome = refused_stream(tcp_connector("127.0.0.1", port))
        assert got == b"" and outcome in ("eof", "reset"), (path, got, outcome)
        srv.wait_for_log(r"channel denied session=\d+ channel=\d+ target=" + re.escape(path) + r" key=default reason=")
        cli.wait_for_log(r"open failed channel=\d+ target=" + re.escape(path) + r" error=\"administratively prohibited: ")

    # Nothing ever reached B, by any route; A was reached once; the session lived on.
    assert b.accepted == 0, f"B received {b.accepted} connection(s)"
    assert ub.accepted == 0, f"the Unix socket B received {ub.accepted} connection(s)"
    assert a.accepted == 1 and ua.accepted == 0
    assert srv.count(r"session authenticated ") == 1
    assert echo_roundtrip(("127.0.0.1", la))
    assert cli.alive() and srv.alive()


EARLY_CASES = ["denied-tcp", "denied-unix", "refused-tcp", "denied-socks-pipelined", "remote-refused"]


@pytest.mark.parametrize("case", EARLY_CASES)
def test_failed_channel_with_early_data_keeps_session(pg, tcp_servers, sockdir, unix_servers, case):
    """The application speaks first (bytes and a half-close are already queued
    when the client accepts), the channel then fails: only that channel may
    end. Early DATA/EOF that crossed the OPEN_FAIL must be dropped, not treated
    as frames for an unknown channel (docs/PROTOCOL.md 5.2, "Early data")."""
    a = tcp_servers(echo_handler)
    b = tcp_servers(echo_handler)
    ub = unix_servers(sockdir / "b.sock")
    closed = free_port()
    key = pg.keygen()
    la, lx = free_port(), free_port()
    srv = start_server(pg, key, permit_open=[hostport(*a.addr), f"127.0.0.1:{closed}", str(ub.path)],
                       permit_listen=[str(lx)])
    target = {"denied-tcp": hostport(*b.addr), "denied-unix": str(ub.path),
              "refused-tcp": f"127.0.0.1:{closed}", "denied-socks-pipelined": None,
              "remote-refused": f"127.0.0.1:{closed}"}[case]
    if case == "remote-refused":
        # The server opens the channel (-R); the client's connect is refused.
        cli = start_client(pg, srv, key, L=[f"{la}:{hostport(*a.addr)}"], R=[f"{lx}:{target}"])
        first = b"server side speaks first\n" * 100
    elif target is None:
        cli = start_client(pg, srv, key, L=[f"{la}:{hostport(*a.addr)}"], D=[f"127.0.0.1:{lx}"])
        first = (b"\x05\x01\x00" + b"\x05\x01\x00\x01\x7f\x00\x00\x01" + b.port.to_bytes(2, "big")
                 + b"early bytes" * 100)
    else:
        cli = start_client(pg, srv, key, L=[f"{la}:{hostport(*a.addr)}", f"{lx}:{target}"])
        first = b"client speaks first\n" * 100
    assert echo_roundtrip(("127.0.0.1", la))
    failed_rx = {"refused-tcp": r"open failed .*error=\"connect failed: Connection refused",
                 "remote-refused": r"open failed channel=\d+ target=127\.0\.0\.1:%d error=\"connect failed: Connection refused" % closed,
                 }.get(case, r"open failed .*error=\"administratively prohibited")
    for i in range(10):
        s = socket.socket()
        s.settimeout(IO_TIMEOUT)
        try:
            s.connect(("127.0.0.1", lx))
            s.sendall(first)
            s.shutdown(socket.SHUT_WR)
            recv_until_end(s)
        except OSError:  # reset (even from connect() on gVisor), broken pipe, ENOTCONN
            pass
        finally:
            s.close()
        wait_until(lambda: cli.count(failed_rx) > i or cli.count(r"session closed "),
                   what=f"channel {i + 1} to fail")
        assert srv.count(r"protocol error") == 0, f"failed channel {i + 1} ended the session:\n{srv.tail()}"
        assert_one_session(srv, cli)
    assert b.accepted == 0 and ub.accepted == 0
    assert echo_roundtrip(("127.0.0.1", la))
    assert srv.count(r"protocol error") == 0, srv.tail()
    assert_one_session(srv, cli)


def test_allow_forwarding_local_cannot_listen(pg, echo_server):
    """allow_forwarding = local: -R refused whatever permit_listen says; -L still works."""
    rport = free_port()
    key = pg.keygen()
    srv = start_server(pg, key, permit_open=[hostport(*echo_server.addr)], permit_listen=["any"],
                       allow_forwarding="local")
    cli = start_client(pg, srv, key, L=[f"0:{hostport(*echo_server.addr)}"],
                       R=[f"{rport}:{hostport(*echo_server.addr)}"], extra=["--no-exit-on-forward-failure"],
                       nremote=0)
    lport = cli.lports[0]
    srv.wait_for_log(r"remote forward denied session=\d+ listen=:%d key=default reason=\"allow_forwarding = local" % rport)
    cli.wait_for_log(r"remote forward failed listen=\"port %d\" target=\S+ error=\"administratively prohibited: allow_forwarding = local" % rport)
    assert not listen_addrs_of(rport, srv.pid)
    assert not can_connect("127.0.0.1", rport)
    assert echo_roundtrip(("127.0.0.1", lport))
    assert echo_server.accepted == 1


def test_allow_forwarding_remote_cannot_open(pg, echo_server, tcp_servers):
    """allow_forwarding = remote: -L and -D refused even for a permitted destination."""
    key = pg.keygen()
    T = hostport(*echo_server.addr)
    srv = start_server(pg, key, permit_open=[T], permit_listen=["*"], allow_forwarding="remote")
    cli = start_client(pg, srv, key, L=[f"0:{T}"], D=["127.0.0.1:0"], R=[f"0:{T}"])
    lport, dport = cli.lports[0], cli.dports[0]
    got, outcome = refused_stream(tcp_connector("127.0.0.1", lport))
    assert got == b""
    rep, _, s = socks5_connect(("127.0.0.1", dport), *echo_server.addr)
    s.close()
    assert rep[:2] == b"\x05\x02", rep.hex()
    srv.wait_for_log(srv_denied(T, "allow_forwarding = remote"), count=2)
    cli.wait_for_log(cli_denied(T, "allow_forwarding = remote"))
    assert echo_server.accepted == 0
    # The remote direction works.
    assert echo_roundtrip(("127.0.0.1", cli.allocated[0]))


def test_permit_listen_one_port_cannot_listen_on_another(pg, echo_server):
    ok_port, other = free_port(), free_port()
    key = pg.keygen()
    T = hostport(*echo_server.addr)
    srv = start_server(pg, key, permit_listen=[str(ok_port)])
    cli = start_client(pg, srv, key, R=[f"{ok_port}:{T}", f"{other}:{T}", f"0:{T}"],
                       extra=["--no-exit-on-forward-failure"], nremote=1)
    for port in (other, 0):
        srv.wait_for_log(r"remote forward denied session=\d+ listen=:%d key=default reason=\"not in permit_listen" % port)
        cli.wait_for_log(r"remote forward failed listen=\"port %d\" target=\S+ error=\"administratively prohibited: not in permit_listen" % port)
    assert not can_connect("127.0.0.1", other)
    assert not listen_addrs_of(other, srv.pid)
    assert echo_roundtrip(("127.0.0.1", ok_port))
    assert cli.alive()


# --------------------------------------------------------------------------
# 6. the access matrix


ACCESS_KEYS = {"alice": 1, "bob": 2, "carol": 3}


@pytest.fixture
def access_conf(tmp):
    """data/access_matrix.conf in ${tmp} with key files of fixed bytes."""
    conf = tmp / "server.conf"
    shutil.copyfile(DATA / "access_matrix.conf", conf)
    for name, seed in ACCESS_KEYS.items():
        write_fixed_key(tmp / f"{name}.key", seed)
    return conf


def test_access_matrix_matches_reference(postern_bin, tmp, access_conf):
    r = run([postern_bin, "access", "-c", "server.conf"], cwd=tmp)
    assert r.returncode == 0, f"postern access exited {r.returncode}: {r.stderr}"
    want = (DATA / "access_matrix.txt").read_text()
    assert r.stdout == want, f"access matrix differs from data/access_matrix.txt; got:\n{r.stdout}"


ACCESS_CHECKS = [
    ("alice", "127.0.0.1:22", 0, "allow: permit_open 127.0.0.1:22"),
    ("alice", "10.1.2.3:443", 0, "allow: permit_open 10.0.0.0/8:443"),
    ("alice", "10.255.255.255:443", 0, "allow: permit_open 10.0.0.0/8:443"),
    ("alice", "10.1.2.3:80", 1, "deny: not in permit_open"),
    ("alice", "11.0.0.1:443", 1, "deny: not in permit_open"),
    ("alice", "127.0.0.1:23", 1, "deny: not in permit_open"),
    # a name is not an address, and the answer says so
    ("alice", "localhost:22", 1, "deny: not in permit_open (names never match addresses: localhost is not "
     "permit_open 127.0.0.1:22; permit it as written, or connect to what is permitted)"),
    ("alice", "listen:8080", 1, "deny: allow_forwarding = local"),
    ("alice", "unix:/run/app/x.sock", 1, "deny: allow_unix_forwarding = no"),
    ("bob", "listen:8080", 0, "allow: permit_listen 8080; gateway_ports = clientspecified -> binds *"),
    ("bob", "listen:localhost:8080", 0,
     "allow: permit_listen 8080; gateway_ports = clientspecified -> binds 127.0.0.1"),
    ("bob", "listen:127.0.0.5:9000", 0,
     "allow: permit_listen *:9000; gateway_ports = clientspecified -> binds 127.0.0.5"),
    ("bob", "listen:8081", 1, "deny: not in permit_listen"),
    ("bob", "listen:0", 1, "deny: not in permit_listen"),  # allocation needs a '*' port
    ("bob", "127.0.0.1:22", 1, "deny: allow_forwarding = remote"),
    ("bob", "listen-unix:/tmp/x.sock", 1, "deny: allow_unix_forwarding = no"),
    ("carol", "example.com:1", 0, "allow: permit_open any"),
    ("carol", "[::1]:443", 0, "allow: permit_open any"),
    ("carol", "unix:/run/app/a.sock", 0, "allow: permit_open /run/app/*.sock"),
    ("carol", "unix:/run/app/sub/a.sock", 1, "deny: not in permit_open"),
    ("carol", "unix:/run/other.sock", 1, "deny: not in permit_open"),
    ("carol", "listen:8080", 1, "deny: not in permit_listen"),
    ("carol", "listen-unix:/run/app/a.sock", 1, "deny: not in permit_listen"),
]


@pytest.mark.parametrize("key,request_,rc,line", ACCESS_CHECKS,
                         ids=[f"{k}-{q}" for k, q, _, _ in ACCESS_CHECKS])
def test_access_check(postern_bin, tmp, access_conf, key, request_, rc, line):
    r = run([postern_bin, "access", "-c", access_conf, "--check", key, request_])
    assert (r.returncode, r.stdout.strip()) == (rc, line), f"stderr: {r.stderr}"


@pytest.mark.parametrize("key,request_,msg", [
    ("dave", "127.0.0.1:22", "no [key dave]"),
    ("alice", "garbage", "missing port"),
    ("carol", "unix:relative.sock", "not an absolute path"),
])
def test_access_check_usage_errors(postern_bin, tmp, access_conf, key, request_, msg):
    r = run([postern_bin, "access", "-c", access_conf, "--check", key, request_])
    assert r.returncode == 2 and msg in r.stderr, (r.returncode, r.stdout, r.stderr)


def test_access_matrix_flags_entries_gateway_ports_makes_useless(postern_bin, tmp):
    """[server] gateway_ports = yes binds every -R on all addresses: an entry
    naming a host can never match, and the matrix and --check say so."""
    write_fixed_key(tmp / "k.key", 7)
    conf = tmp / "gw.conf"
    conf.write_text("[server]\ngateway_ports = yes\n\n[key k]\nkey_file = k.key\n"
                    "permit_listen = localhost:8080\npermit_listen = 9000\npermit_listen = 127.0.0.1:*\n")
    r = run([postern_bin, "access", "-c", conf])
    assert r.returncode == 0, r.stderr
    assert re.search(r"^  gateway_ports +yes$", r.stdout, re.M), r.stdout
    assert re.search(r"^  gateway_ports +yes \(server default\) -> binds \* \(all addresses\)$", r.stdout, re.M), r.stdout
    assert re.search(r"^  remote \(-R\) +localhost:8080 \(never: gateway_ports = yes binds \*\)$", r.stdout, re.M), r.stdout
    assert re.search(r"^ +127\.0\.0\.1:\* \(never: gateway_ports = yes binds \*\)$", r.stdout, re.M), r.stdout
    assert re.search(r"^ +9000$", r.stdout, re.M), r.stdout
    for req, rc, line in (("listen:8080", 1, "deny: not in permit_listen"),
                          ("listen:localhost:8080", 1, "deny: not in permit_listen"),
                          ("listen:9000", 0, "allow: permit_listen 9000; gateway_ports = yes -> binds *"),
                          ("listen:127.0.0.1:9000", 0, "allow: permit_listen 9000; gateway_ports = yes -> binds *"),
                          ("listen:0", 1, "deny: not in permit_listen")):
        r = run([postern_bin, "access", "-c", conf, "--check", "k", req])
        assert (r.returncode, r.stdout.strip()) == (rc, line), (req, r.stdout, r.stderr)


def test_access_check_agrees_with_running_server(pg, tmp, tcp_servers):
    """--check answers what the server then does (same config file)."""
    a = tcp_servers(echo_handler)
    b = tcp_servers(echo_handler)
    key = pg.keygen("k.key")
    sport = free_port()
    conf = tmp / "s.conf"
    conf.write_text(f"[server]\n\n[key k]\nkey_file = k.key\n"
                    f"permit_open = {hostport(*a.addr)}\n")
    for dest, rc in ((a.addr, 0), (b.addr, 1)):
        r = run([pg.bin, "access", "-c", conf, "--check", "k", hostport(*dest)])
        assert r.returncode == rc, (dest, r.stdout, r.stderr)
    srv = pg.start_server(config=conf, port=sport)
    cli = start_client(pg, srv, key, L=[f"0:{hostport(*a.addr)}", f"0:{hostport(*b.addr)}"])
    la, lb = cli.lports
    assert echo_roundtrip(("127.0.0.1", la))
    assert refused_stream(tcp_connector("127.0.0.1", lb))[0] == b""
    srv.wait_for_log(srv_denied(hostport(*b.addr), "not in permit_open", key="k"))
    assert b.accepted == 0
    assert echo_roundtrip(("127.0.0.1", la))
    assert_one_session(srv, cli)


# --------------------------------------------------------------------------
# 7. bad input


@pytest.fixture
def socks_session(pg, procs, tmp, tcp_servers):
    """-D and -L (to an HTTP server) in one session; a counting server as target."""
    hport, blob = start_http(procs, tmp, "127.0.0.1")
    target = tcp_servers(echo_handler)
    key = pg.keygen()
    srv = start_server(pg, key, permit_open=["127.0.0.1:*"])
    cli = start_client(pg, srv, key, D=["127.0.0.1:0"], L=[f"0:127.0.0.1:{hport}"])
    dport, lport = cli.dports[0], cli.lports[0]
    return dict(srv=srv, cli=cli, daddr=("127.0.0.1", dport), lport=lport, blob=blob, target=target,
                tmp=tmp)


def _v5(rest):
    return b"\x05\x01\x00" + rest


MALFORMED_SOCKS = [
    # id, bytes sent, expected reply (b"" = none), needs the v5 method reply first
    ("bad-version-6", b"\x06\x01\x00\x50\x7f\x00\x00\x01\x00", b""),
    ("http-not-socks", b"GET / HTTP/1.0\r\n\r\n", b""),
    ("v5-no-acceptable-method", b"\x05\x01\x02", b"\x05\xff"),
    ("v5-zero-methods", b"\x05\x00", b"\x05\xff"),
    ("v5-bind", _v5(b"\x05\x02\x00\x01\x7f\x00\x00\x01" + b"PORT"), b"\x05\x00" + b"\x05\x07"),
    ("v5-udp-associate", _v5(b"\x05\x03\x00\x01\x7f\x00\x00\x01" + b"PORT"), b"\x05\x00" + b"\x05\x07"),
    ("v5-zero-length-domain", _v5(b"\x05\x01\x00\x03\x00" + b"PORT"), b"\x05\x00" + b"\x05\x01"),
    ("v5-bad-atyp", _v5(b"\x05\x01\x00\x02\x7f\x00\x00\x01" + b"PORT"), b"\x05\x00" + b"\x05\x08"),
    ("v5-bad-request-version", _v5(b"\x04\x01\x00\x01\x7f\x00\x00\x01" + b"PORT"), b"\x05\x00" + b"\x05\x01"),
    ("v5-nonzero-rsv", _v5(b"\x05\x01\x07\x01\x7f\x00\x00\x01" + b"PORT"), b"\x05\x00" + b"\x05\x01"),
    ("v5-name-with-nul", _v5(b"\x05\x01\x00\x03\x0alocal\x00host" + b"PORT"), b"\x05\x00" + b"\x05\x01"),
    ("v5-name-with-colon", _v5(b"\x05\x01\x00\x03\x0c127.0.0.1:22" + b"PORT"), b"\x05\x00" + b"\x05\x01"),
    ("v5-port-0", _v5(b"\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x00"), b"\x05\x00" + b"\x05\x01"),
    ("v4-bind", b"\x04\x02" + b"PORT" + b"\x7f\x00\x00\x01\x00", b"\x00\x5b"),
    ("v4a-host-300-bytes", b"\x04\x01" + b"PORT" + b"\x00\x00\x00\x01\x00" + b"a" * 300 + b"\x00", b"\x00\x5b"),
    ("v4-userid-300-bytes", b"\x04\x01" + b"PORT" + b"\x7f\x00\x00\x01" + b"u" * 300 + b"\x00", b"\x00\x5b"),
    ("v4a-empty-host", b"\x04\x01" + b"PORT" + b"\x00\x00\x00\x01\x00\x00", b"\x00\x5b"),
    ("v4-ip-0.0.0.0", b"\x04\x01" + b"PORT" + b"\x00\x00\x00\x00\x00", b"\x00\x5b"),
]


@pytest.mark.parametrize("name,data,reply", MALFORMED_SOCKS, ids=[c[0] for c in MALFORMED_SOCKS])
def test_malformed_socks_request_closed_session_survives(socks_session, curl_tool, name, data, reply):
    p = socks_session
    port = p["target"].port.to_bytes(2, "big")
    data = data.replace(b"PORT", port)
    got, outcome = raw_exchange(p["daddr"], data)
    assert outcome in ("eof", "reset"), f"{name}: connection not closed ({outcome}), got {got.hex()}"
    if not reply:
        assert got == b"", f"{name}: expected no reply, got {got.hex()}"
    else:
        n = len(reply)
        assert got[:n] == reply, f"{name}: reply {got.hex()}, expected it to start {reply.hex()}"
        # Full final replies: SOCKS5 10 bytes after the 2-byte method reply, SOCKS4 8 bytes.
        full = 2 if reply in (b"\x05\xff",) else (12 if reply[0] == 5 else 8)
        assert len(got) == full, f"{name}: reply {got.hex()} ({len(got)} bytes, expected {full})"
    p["cli"].wait_for_log(r"SOCKS request refused channel=\d+ entrance=\S+ reason=")
    assert p["target"].accepted == 0, "a malformed request still opened a connection"
    assert p["srv"].count(r"channel \d+:") == 0, "a malformed request reached the server"
    # The session keeps working: a curl through -L and a good SOCKS request.
    r, body = curl(p["tmp"], f"http://127.0.0.1:{p['lport']}/blob.bin")
    assert r.returncode == 0 and body == p["blob"], f"curl through -L after {name}: {r.stderr}"
    rep, outcome, s = socks5_connect(p["daddr"], "127.0.0.1", p["target"].port)
    s.close()
    assert rep[:2] == b"\x05\x00", rep.hex()
    assert p["cli"].alive() and p["srv"].alive()


def test_socks_request_split_byte_by_byte(socks_session):
    """A valid SOCKS5 request arriving one byte at a time, with data right after it."""
    p = socks_session
    s = socks_conn(p["daddr"])
    try:
        s.sendall(b"\x05")
        s.sendall(b"\x01")
        s.sendall(b"\x00")
        assert recv_exactly(s, 2) == b"\x05\x00"
        req = b"\x05\x01\x00\x01\x7f\x00\x00\x01" + p["target"].port.to_bytes(2, "big")
        for i in range(len(req)):
            s.sendall(req[i:i + 1])
        rep = recv_exactly(s, 10)
        assert rep[:2] == b"\x05\x00", rep.hex()
        s.sendall(b"after the request")
        s.shutdown(socket.SHUT_WR)
        got, outcome = recv_until_end(s)
    finally:
        s.close()
    assert (got, outcome) == (b"after the request", "eof")


def test_socks_request_pipelined_with_data(socks_session):
    """Greeting, request and application data in one write (optimistic clients)."""
    p = socks_session
    req = b"\x05\x01\x00" + b"\x05\x01\x00\x01\x7f\x00\x00\x01" + p["target"].port.to_bytes(2, "big") + b"early data"
    s = socks_conn(p["daddr"])
    try:
        s.sendall(req)
        assert recv_exactly(s, 12)[:4] == b"\x05\x00\x05\x00"
        s.shutdown(socket.SHUT_WR)
        got, outcome = recv_until_end(s)
    finally:
        s.close()
    assert (got, outcome) == (b"early data", "eof")


def test_socks_client_closes_mid_request(socks_session, curl_tool):
    p = socks_session
    for partial in (b"\x05", b"\x05\x01\x00\x05\x01\x00\x03\x09local", b"\x04\x01\x00\x50\x7f"):
        s = socks_conn(p["daddr"])
        s.sendall(partial)
        s.shutdown(socket.SHUT_WR)
        recv_until_end(s)
        s.close()
    p["cli"].wait_for_log(r"SOCKS request refused channel=\d+ entrance=\S+ reason=\"closed before the request", count=3)
    r, body = curl(p["tmp"], f"http://127.0.0.1:{p['lport']}/blob.bin")
    assert r.returncode == 0 and body == p["blob"]
    assert p["target"].accepted == 0


@pytest.mark.parametrize("spec", ["abc", "0:host", "70000:h:1", "/rel:", "1:2:3", "80:host:0x50", ""])
def test_invalid_remote_spec_is_usage_error(postern_bin, tmp, spec):
    key = tmp / "k.key"
    r = run([postern_bin, "keygen", "-o", key])
    assert r.returncode == 0
    r = run([postern_bin, "client", "-k", key, "-R", spec, "127.0.0.1:9"], timeout=10)
    assert r.returncode == 2, f"-R {spec!r}: exit {r.returncode}, stderr {r.stderr!r}"
    assert "-R" in r.stderr and r.stderr.count("\n") <= 3, r.stderr


@pytest.mark.parametrize("opt,spec", [("-D", "abc"), ("-D", "70000"), ("-L", "rel.sock:127.0.0.1:80"),
                                      ("-L", "8080:rel.sock"), ("-R", "rel.sock:127.0.0.1:80")])
def test_invalid_forward_specs_are_usage_errors(postern_bin, tmp, opt, spec):
    key = tmp / "k.key"
    assert run([postern_bin, "keygen", "-o", key]).returncode == 0
    r = run([postern_bin, "client", "-k", key, opt, spec, "127.0.0.1:9"], timeout=10)
    assert r.returncode == 2, f"{opt} {spec!r}: exit {r.returncode}, stderr {r.stderr!r}"
    assert r.stderr.strip(), "no message"


def test_local_forward_port_in_use_exits_1(pg, echo_server):
    key = pg.keygen()
    srv = start_server(pg, key, permit_open=["any"])
    busy = socket.socket()
    try:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        cli = start_client(pg, srv, key, L=[f"{port}:{hostport(*echo_server.addr)}"], wait=False)
        rc = wait_exit(cli)
    finally:
        busy.close()
    assert rc == 1, f"client exit {rc}, expected 1; log:\n{cli.tail()}"
    assert cli.search(r"cannot listen on 127\.0\.0\.1:%d: Address already in use" % port), cli.tail()


def test_unix_entrance_path_in_use_exits_1(pg, sockdir, echo_server, unix_servers):
    """A live socket at the entrance path is not taken over (a stale one would be)."""
    path = sockdir / "busy.sock"
    us = unix_servers(path)
    key = pg.keygen()
    srv = start_server(pg, key, permit_open=["any"])
    cli = start_client(pg, srv, key, L=[f"{path}:{hostport(*echo_server.addr)}"], wait=False)
    rc = wait_exit(cli)
    assert rc == 1, cli.tail()
    assert cli.search(r"cannot listen on " + re.escape(str(path))), cli.tail()
    # The other server's socket is untouched (the client only probed it for staleness).
    assert path.exists() and unix_echo_roundtrip(path, 1000)
    assert us.errors == []


def test_unix_entrance_replaces_stale_socket(pg, sockdir, echo_server):
    path = sockdir / "stale.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()  # the file stays, nobody listens
    key = pg.keygen()
    srv = start_server(pg, key, permit_open=[hostport(*echo_server.addr)])
    start_client(pg, srv, key, L=[f"{path}:{hostport(*echo_server.addr)}"])
    assert unix_echo_roundtrip(path)


def _busy_port():
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    return busy, busy.getsockname()[1]


def test_remote_port_in_use_exits_by_default(pg, procs, tmp):
    hport, _ = start_http(procs, tmp, "127.0.0.1")
    busy, port = _busy_port()
    try:
        key = pg.keygen()
        srv = start_server(pg, key, permit_listen=["any"])
        cli = start_client(pg, srv, key, R=[f"{port}:127.0.0.1:{hport}"], wait=False)
        rc = wait_exit(cli)
    finally:
        busy.close()
    assert rc not in (0, None), f"client exit {rc}"
    assert rc == 1, f"client exit {rc}, expected 1 (runtime error)"
    assert cli.search(r"remote forward failed listen=\"port %d\" target=127\.0\.0\.1:%d error=.*(?:in use|Address already in use)" % (port, hport)), cli.tail()
    assert cli.search(r"exiting: a requested forward could not be set up")
    srv.wait_for_log(r"remote forward failed session=\d+ key=default error=\"cannot listen on .*:%d: Address already in use" % port)


def test_remote_port_in_use_no_exit_keeps_other_forwards(pg, procs, tmp, echo_server, curl_tool):
    hport, blob = start_http(procs, tmp, "127.0.0.1")
    busy, port = _busy_port()
    try:
        key = pg.keygen()
        srv = start_server(pg, key, permit_open=[hostport(*echo_server.addr)], permit_listen=["any"])
        cli = start_client(pg, srv, key, L=[f"0:{hostport(*echo_server.addr)}"],
                           R=[f"{port}:127.0.0.1:{hport}", f"0:127.0.0.1:{hport}"],
                           extra=["--no-exit-on-forward-failure"], nremote=1)
        lport = cli.lports[0]
        cli.wait_for_log(r"remote forward failed listen=\"port %d\" target=\S+ error=" % port)
        assert cli.alive()
        assert echo_roundtrip(("127.0.0.1", lport))
        r, body = curl(tmp, f"http://127.0.0.1:{cli.allocated[0]}/blob.bin")
        assert r.returncode == 0 and body == blob, r.stderr
        # The busy port still belongs to its first owner.
        assert listen_addrs_of(port, os.getpid()) == {"127.0.0.1"}
    finally:
        busy.close()
    assert cli.alive() and srv.alive()


def test_remote_denied_exits_by_default(pg, procs, tmp):
    hport, _ = start_http(procs, tmp, "127.0.0.1")
    key = pg.keygen()
    srv = start_server(pg, key)  # no permit_listen
    port = free_port()
    cli = start_client(pg, srv, key, R=[f"{port}:127.0.0.1:{hport}"], wait=False)
    assert wait_exit(cli) == 1, cli.tail()
    assert cli.search(r"remote forward failed listen=\"port %d\" target=\S+ error=\"administratively prohibited: not in permit_listen" % port)


# --------------------------------------------------------------------------
# 8. forwards from a client profile


def test_client_profile_forwards(pg, procs, tmp, echo_server, curl_tool):
    hport, blob = start_http(procs, tmp, "127.0.0.1")
    key = pg.keygen("p.key")
    srv = start_server(pg, key, permit_open=[hostport(*echo_server.addr), f"127.0.0.1:{hport}"],
                       permit_listen=["*"])
    lport, dport = free_port(), free_port()
    conf = tmp / "client.conf"
    conf.write_text(textwrap.dedent(f"""\
        [profile unused]
        server = 127.0.0.1:9
        key_file = p.key

        [profile work]
        server = {hostport(*srv.addr)}
        key_file = p.key
        local_forward = {lport}:{hostport(*echo_server.addr)}
        remote_forward = 0:127.0.0.1:{hport}
        dynamic_forward = 127.0.0.1:{dport}
        """))
    cli = start_client(pg, None, config=conf, profile="work", nlisten=2, nremote=1)
    assert echo_roundtrip(("127.0.0.1", lport))
    r, body = curl(tmp, f"http://127.0.0.1:{hport}/blob.bin", "--socks5-hostname", f"127.0.0.1:{dport}")
    assert r.returncode == 0 and body == blob, f"-D from the profile: {r.stderr}"
    r, body = curl(tmp, f"http://127.0.0.1:{cli.allocated[0]}/blob.bin")
    assert r.returncode == 0 and body == blob, f"-R from the profile: {r.stderr}"


@pytest.mark.parametrize("exit_on_failure", ["yes", "no"])
def test_client_profile_exit_on_forward_failure(pg, tmp, echo_server, exit_on_failure):
    key = pg.keygen("p.key")
    srv = start_server(pg, key, permit_open=[hostport(*echo_server.addr)])  # no permit_listen
    lport, rport = free_port(), free_port()
    conf = tmp / "client.conf"
    conf.write_text(textwrap.dedent(f"""\
        [profile p]
        server = {hostport(*srv.addr)}
        key_file = p.key
        local_forward = {lport}:{hostport(*echo_server.addr)}
        remote_forward = {rport}:{hostport(*echo_server.addr)}
        exit_on_forward_failure = {exit_on_failure}
        """))
    cli = start_client(pg, None, config=conf, wait=False)
    cli.wait_for_log(r"remote forward failed listen=\"port %d\" target=\S+ error=\"administratively prohibited" % rport)
    if exit_on_failure == "yes":
        assert wait_exit(cli) == 1, cli.tail()
    else:
        cli.wait_for_log(r"listening addr=127\.0\.0\.1:%d target=" % lport)
        assert echo_roundtrip(("127.0.0.1", lport))
        assert cli.alive()


def test_flags_add_to_profile_forwards(pg, tmp, tcp_servers):
    """-L on the command line with -c: the profile's forwards and the flag's both work."""
    a = tcp_servers(echo_handler)
    b = tcp_servers(echo_handler)
    key = pg.keygen("p.key")
    srv = start_server(pg, key, permit_open=[hostport(*a.addr), hostport(*b.addr)])
    la, lb = free_port(), free_port()
    conf = tmp / "client.conf"
    conf.write_text(f"[profile p]\nserver = {hostport(*srv.addr)}\nkey_file = p.key\n"
                    f"local_forward = {la}:{hostport(*a.addr)}\n")
    start_client(pg, None, config=conf, L=[f"{lb}:{hostport(*b.addr)}"], nlisten=2)
    assert echo_roundtrip(("127.0.0.1", la))
    assert echo_roundtrip(("127.0.0.1", lb))
