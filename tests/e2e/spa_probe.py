"""Knock tools for tests/e2e/test_spa.py, run inside a network namespace.

As a module: knock(psk, ...) builds a kind-0x01 knock in Python (an
implementation independent of postern's, from noise_probe's NNpsk0), so
tests can make knocks postern's own `knock` never sends (stale, bad).
As a script (python3 spa_probe.py CMD ...), the probes a test runs with
`ip netns exec`:
  connect HOST PORT SEC      print ok | timeout | refused | error:...
  hold PORT SECONDS          one TCP connection to 127.0.0.1:PORT, an echo
                             round trip every 0.25 s, "echo ok N" each time
  send HOST PORT FILE SEC    send FILE's bytes from a UDP socket, print
                             silent | reply (anything received in SEC)
  echo PORT                  an echo server on 127.0.0.1:PORT ("ready")
  junk HOST PORT             connect, send 64 random bytes (a failed first
                             message), wait for the server to end it
"""
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import noise_probe  # noqa: E402

PROLOGUE = b"postern-knock/1"


def payload(access=((6, 7000),), ts_ms=None, timeout=0, allow=None, forward=None, label=b"",
            version=1, nonce=None):
    if ts_ms is None:
        ts_ms = int(time.time() * 1000)
    p = bytes([version, 2 if forward else 1]) + struct.pack(">Q", ts_ms)
    p += nonce if nonce is not None else os.urandom(16)
    p += struct.pack(">HB", timeout, len(access))
    for proto, port in access:
        p += struct.pack(">BH", proto, port)
    p += addr_bytes(allow)
    if forward:
        p += addr_bytes(forward[0]) + struct.pack(">H", forward[1])
    return p + bytes([len(label)]) + label


def addr_bytes(a):
    if a is None:
        return b"\x00"
    if ":" in a:
        return b"\x06" + socket.inet_pton(socket.AF_INET6, a)
    return b"\x04" + socket.inet_pton(socket.AF_INET, a)


def knock(psk, body=None, **kw):
    """The datagram: 0x01, then NNpsk0 message 1 carrying ${body} (or payload(**kw))."""
    hs = noise_probe.NNpsk0(psk, initiator=True, prologue=PROLOGUE)
    return b"\x01" + hs.write_message_1(body if body is not None else payload(**kw))


def _connect(host, port, secs):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(secs)
    try:
        s.connect((host, port))
        return "ok"
    except socket.timeout:
        return "timeout"
    except ConnectionRefusedError:
        return "refused"
    except OSError as e:
        return f"error:{e.errno}"
    finally:
        s.close()


def _hold(port, seconds):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        data = os.urandom(64)
        s.sendall(data)
        got = b""
        while len(got) < len(data):
            chunk = s.recv(len(data) - len(got))
            if not chunk:
                print("echo closed", flush=True)
                return 1
            got += chunk
        if got != data:
            print("echo corrupt", flush=True)
            return 1
        n += 1
        print(f"echo ok {n}", flush=True)
        time.sleep(0.25)
    return 0


def _send(host, port, path, secs):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(secs)
    s.sendto(open(path, "rb").read(), (host, port))
    try:
        s.recvfrom(65536)
        return "reply"
    except socket.timeout:
        return "silent"
    except OSError as e:  # an ICMP error surfaces here: that is a reply too
        return f"reply:{e.errno}"


def _junk(host, port):
    s = socket.create_connection((host, port), timeout=10)
    s.sendall(os.urandom(64))
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass
    return "closed"


def _echo(port):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(64)
    print("ready", flush=True)

    def serve(c):
        with c:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                c.sendall(d)

    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def main(argv):
    cmd = argv[1]
    if cmd == "connect":
        print(_connect(argv[2], int(argv[3]), float(argv[4])), flush=True)
        return 0
    if cmd == "hold":
        return _hold(int(argv[2]), float(argv[3]))
    if cmd == "send":
        print(_send(argv[2], int(argv[3]), argv[4], float(argv[5])), flush=True)
        return 0
    if cmd == "junk":
        print(_junk(argv[2], int(argv[3])), flush=True)
        return 0
    if cmd == "echo":
        _echo(int(argv[2]))
        return 0
    print(f"unknown command {cmd}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
