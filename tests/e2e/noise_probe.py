#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""An independent implementation of postern's handshake initiator.

Noise_NNpsk0_25519_ChaChaPoly_SHA256 (or _AESGCM_SHA256), prologue
"postern/1", written from the Noise specification (revision 34) with
python3-cryptography, sharing no code with the C implementation. The
end-to-end tests use it to craft first messages (right key, wrong key,
stale or future timestamps) and to check the server's second message.

    NNpsk0:
      -> psk, e      (MixKeyAndHash(psk); e: MixHash(e.pub) + MixKey(e.pub))
      <- e, ee

Message 1 payload (16 bytes): u64 BE unix time in ms, u8 version = 1, 7 zeros.
Message 2 payload (16 bytes): u8 version = 1, 15 zeros.

Command line (handy when debugging by hand):
    python3 noise_probe.py --selftest
    python3 noise_probe.py --key FILE [--cipher aes-256-gcm] [--ts-offset SEC] HOST PORT
"""

import base64
import hashlib
import hmac
import os
import socket
import struct
import sys
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

PROLOGUE = b"postern/1"
HASHLEN = 32
DHLEN = 32
TAGLEN = 16
MSG_LEN = 64
KEY_FILE_PREFIX = "postern-psk-v1 "

CIPHERS = {
    "chacha20-poly1305": "ChaChaPoly",
    "chachapoly": "ChaChaPoly",
    "aes-256-gcm": "AESGCM",
    "aesgcm": "AESGCM",
}


class NoiseError(Exception):
    """Authentication or format failure in the handshake."""


def load_psk(path):
    """Read a postern key file: 'postern-psk-v1 ' + base64(32 bytes) + newline."""
    with open(path, "r", encoding="ascii") as f:
        text = f.read().strip()
    if not text.startswith(KEY_FILE_PREFIX):
        raise ValueError(f"{path}: not a postern key file")
    psk = base64.b64decode(text[len(KEY_FILE_PREFIX):], validate=True)
    if len(psk) != 32:
        raise ValueError(f"{path}: key is {len(psk)} bytes, not 32")
    return psk


def write_key_file(path, psk):
    """Write a key file in postern's format with mode 0600 (for crafted keys)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(KEY_FILE_PREFIX + base64.b64encode(psk).decode() + "\n")


def _x25519_pub(priv):
    return priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _hkdf(ck, ikm, n):
    """Noise HKDF (section 4.3): HMAC-SHA256 based, n = 2 or 3 outputs."""
    temp_key = hmac.new(ck, ikm, hashlib.sha256).digest()
    out1 = hmac.new(temp_key, b"\x01", hashlib.sha256).digest()
    out2 = hmac.new(temp_key, out1 + b"\x02", hashlib.sha256).digest()
    if n == 2:
        return out1, out2
    out3 = hmac.new(temp_key, out2 + b"\x03", hashlib.sha256).digest()
    return out1, out2, out3


class CipherState:
    """Noise CipherState: key k (or None) and 64-bit nonce n."""

    def __init__(self, cipher_name, k=None):
        self.cipher_name = cipher_name
        self.k = None
        self.n = 0
        if k is not None:
            self.initialize_key(k)

    def initialize_key(self, k):
        self.k = k
        self.n = 0

    def has_key(self):
        return self.k is not None

    def _nonce(self, n):
        if self.cipher_name == "ChaChaPoly":
            return b"\x00" * 4 + struct.pack("<Q", n)  # 32 zero bits + LE counter
        return b"\x00" * 4 + struct.pack(">Q", n)  # AESGCM: 32 zero bits + BE counter

    def _aead(self):
        if self.cipher_name == "ChaChaPoly":
            return ChaCha20Poly1305(self.k)
        return AESGCM(self.k)

    def encrypt_with_ad(self, ad, plaintext):
        if self.k is None:
            return plaintext
        ct = self._aead().encrypt(self._nonce(self.n), plaintext, ad)
        self.n += 1
        return ct

    def decrypt_with_ad(self, ad, ciphertext):
        if self.k is None:
            return ciphertext
        try:
            pt = self._aead().decrypt(self._nonce(self.n), ciphertext, ad)
        except Exception as exc:  # cryptography.exceptions.InvalidTag
            raise NoiseError("AEAD authentication failed") from exc
        self.n += 1
        return pt


class SymmetricState:
    def __init__(self, protocol_name, cipher_name):
        name = protocol_name.encode("ascii")
        if len(name) <= HASHLEN:
            self.h = name + b"\x00" * (HASHLEN - len(name))
        else:
            self.h = hashlib.sha256(name).digest()
        self.ck = self.h
        self.cs = CipherState(cipher_name)

    def mix_key(self, ikm):
        self.ck, temp_k = _hkdf(self.ck, ikm, 2)
        self.cs.initialize_key(temp_k)  # HASHLEN == 32: no truncation needed

    def mix_hash(self, data):
        self.h = hashlib.sha256(self.h + data).digest()

    def mix_key_and_hash(self, ikm):
        self.ck, temp_h, temp_k = _hkdf(self.ck, ikm, 3)
        self.mix_hash(temp_h)
        self.cs.initialize_key(temp_k)

    def encrypt_and_hash(self, plaintext):
        ct = self.cs.encrypt_with_ad(self.h, plaintext)
        self.mix_hash(ct)
        return ct

    def decrypt_and_hash(self, ciphertext):
        pt = self.cs.decrypt_with_ad(self.h, ciphertext)
        self.mix_hash(ciphertext)
        return pt

    def split(self):
        k1, k2 = _hkdf(self.ck, b"", 2)
        return CipherState(self.cs.cipher_name, k1), CipherState(self.cs.cipher_name, k2)


def protocol_name_for(cipher):
    cname = CIPHERS[cipher]
    return f"Noise_NNpsk0_25519_{cname}_SHA256", cname


class NNpsk0:
    """Both roles of NNpsk0 (the responder only for the self-test)."""

    def __init__(self, psk, initiator=True, cipher="chacha20-poly1305", prologue=PROLOGUE,
                 e_priv=None):
        if len(psk) != 32:
            raise ValueError("psk must be 32 bytes")
        self.protocol_name, cname = protocol_name_for(cipher)
        self.initiator = initiator
        self.ss = SymmetricState(self.protocol_name, cname)
        self.ss.mix_hash(prologue)
        self.psk = psk
        if e_priv is None:
            self.e = X25519PrivateKey.generate()
        else:
            self.e = X25519PrivateKey.from_private_bytes(e_priv)
        self.e_pub = _x25519_pub(self.e)
        self.re = None
        self.step = 0

    def _dh(self, pub):
        out = self.e.exchange(X25519PublicKey.from_public_bytes(pub))
        if out == b"\x00" * 32:
            raise NoiseError("all-zero DH result")
        return out

    # -> psk, e
    def write_message_1(self, payload):
        assert self.initiator and self.step == 0
        self.ss.mix_key_and_hash(self.psk)
        self.ss.mix_hash(self.e_pub)
        self.ss.mix_key(self.e_pub)
        msg = self.e_pub + self.ss.encrypt_and_hash(payload)
        self.step = 1
        return msg

    def read_message_1(self, msg):
        assert not self.initiator and self.step == 0
        if len(msg) < DHLEN + TAGLEN:
            raise NoiseError("message 1 too short")
        self.ss.mix_key_and_hash(self.psk)
        self.re = msg[:DHLEN]
        self.ss.mix_hash(self.re)
        self.ss.mix_key(self.re)
        payload = self.ss.decrypt_and_hash(msg[DHLEN:])
        self.step = 1
        return payload

    # <- e, ee
    def write_message_2(self, payload):
        assert not self.initiator and self.step == 1
        self.ss.mix_hash(self.e_pub)
        self.ss.mix_key(self.e_pub)
        self.ss.mix_key(self._dh(self.re))
        msg = self.e_pub + self.ss.encrypt_and_hash(payload)
        self.step = 2
        return msg

    def read_message_2(self, msg):
        assert self.initiator and self.step == 1
        if len(msg) < DHLEN + TAGLEN:
            raise NoiseError("message 2 too short")
        self.re = msg[:DHLEN]
        self.ss.mix_hash(self.re)
        self.ss.mix_key(self.re)
        self.ss.mix_key(self._dh(self.re))
        payload = self.ss.decrypt_and_hash(msg[DHLEN:])
        self.step = 2
        return payload

    def split(self):
        """(send, recv) CipherStates for this side."""
        c1, c2 = self.ss.split()
        return (c1, c2) if self.initiator else (c2, c1)

    @property
    def handshake_hash(self):
        return self.ss.h


PUB_FILE_PREFIX = "postern-x25519-pub-v1 "
PRIV_FILE_PREFIX = "postern-x25519-v1 "
IK_MSG_LEN = 128
MAC1_LEN = 16
SUITE_BYTE = {"ChaChaPoly": 0, "AESGCM": 1}


def load_x25519(path):
    """The 32 bytes of a postern x25519 key file, private or public."""
    with open(path, "r", encoding="ascii") as f:
        text = f.read().strip()
    for prefix in (PRIV_FILE_PREFIX, PUB_FILE_PREFIX):
        if text.startswith(prefix):
            raw = base64.b64decode(text[len(prefix):], validate=True)
            if len(raw) == 32:
                return raw
    raise ValueError(f"{path}: not a postern x25519 key file")


def mac1(server_pub, cname, e_pub):
    """HMAC-SHA256(SHA-256("postern mac1 v1" || suite || server_pub), e)[:16]."""
    key = hashlib.sha256(b"postern mac1 v1" + bytes([SUITE_BYTE[cname]]) + server_pub).digest()
    return hmac.new(key, e_pub, hashlib.sha256).digest()[:MAC1_LEN]


class IK:
    """The initiator of Noise_IK_25519_*_SHA256, written from the spec (7.5):

      <- s
      ...
      -> e, es, s, ss
      <- e, ee, se
    """

    def __init__(self, s_priv, rs, cipher="chacha20-poly1305", prologue=PROLOGUE, e_priv=None):
        cname = CIPHERS[cipher]
        self.cname = cname
        self.protocol_name = f"Noise_IK_25519_{cname}_SHA256"
        self.ss = SymmetricState(self.protocol_name, cname)
        self.ss.mix_hash(prologue)
        self.rs = rs
        self.ss.mix_hash(rs)  # the responder's pre-message
        self.s = X25519PrivateKey.from_private_bytes(s_priv)
        self.s_pub = _x25519_pub(self.s)
        self.e = X25519PrivateKey.generate() if e_priv is None else X25519PrivateKey.from_private_bytes(e_priv)
        self.e_pub = _x25519_pub(self.e)

    @staticmethod
    def _dh(priv, pub):
        out = priv.exchange(X25519PublicKey.from_public_bytes(pub))
        if out == b"\x00" * 32:
            raise NoiseError("all-zero DH result")
        return out

    def write_message_1(self, payload):
        self.ss.mix_hash(self.e_pub)
        self.ss.mix_key(self._dh(self.e, self.rs))
        enc_s = self.ss.encrypt_and_hash(self.s_pub)
        self.ss.mix_key(self._dh(self.s, self.rs))
        return self.e_pub + enc_s + self.ss.encrypt_and_hash(payload)

    def read_message_2(self, msg):
        re_ = msg[:DHLEN]
        self.ss.mix_hash(re_)
        self.ss.mix_key(self._dh(self.e, re_))
        self.ss.mix_key(self._dh(self.s, re_))
        return self.ss.decrypt_and_hash(msg[DHLEN:])

    def split(self):
        return self.ss.split()


class IKInitiator:
    """A postern client's IK handshake: the 128-byte wire message 1 (mac1 after e)."""

    def __init__(self, s_priv, server_pub, cipher="chacha20-poly1305", ts_offset_s=0.0,
                 mac_pub=None):
        self.hs = IK(s_priv, server_pub, cipher=cipher)
        noise = self.hs.write_message_1(payload_1(int((time.time() + ts_offset_s) * 1000)))
        assert len(noise) == IK_MSG_LEN - MAC1_LEN, len(noise)
        m = mac1(mac_pub if mac_pub is not None else server_pub, self.hs.cname, noise[:DHLEN])
        self.msg1 = noise[:DHLEN] + m + noise[DHLEN:]

    def check_message_2(self, msg2):
        if len(msg2) != MSG_LEN:
            raise NoiseError(f"message 2 is {len(msg2)} bytes, expected {MSG_LEN}")
        payload = self.hs.read_message_2(msg2)
        if payload != PAYLOAD_2:
            raise NoiseError(f"message 2 payload {payload.hex()} != {PAYLOAD_2.hex()}")
        return payload


def payload_1(ts_ms=None, version=1):
    if ts_ms is None:
        ts_ms = int(time.time() * 1000)
    return struct.pack(">QB", ts_ms, version) + b"\x00" * 7


PAYLOAD_2 = b"\x01" + b"\x00" * 15


class Initiator:
    """A postern client's handshake, up to and including message 2."""

    def __init__(self, psk, cipher="chacha20-poly1305", ts_offset_s=0.0, ts_ms=None, version=1,
                 e_priv=None):
        self.hs = NNpsk0(psk, initiator=True, cipher=cipher, e_priv=e_priv)
        if ts_ms is None:
            ts_ms = int((time.time() + ts_offset_s) * 1000)
        self.msg1 = self.hs.write_message_1(payload_1(ts_ms, version))
        assert len(self.msg1) == MSG_LEN, len(self.msg1)

    def check_message_2(self, msg2):
        """Decrypt and verify message 2; returns its payload. Raises NoiseError."""
        if len(msg2) != MSG_LEN:
            raise NoiseError(f"message 2 is {len(msg2)} bytes, expected {MSG_LEN}")
        payload = self.hs.read_message_2(msg2)
        if payload != PAYLOAD_2:
            raise NoiseError(f"message 2 payload {payload.hex()} != {PAYLOAD_2.hex()}")
        return payload


def first_message(psk, **kw):
    """Just the 64-byte first message."""
    return Initiator(psk, **kw).msg1


def recv_exactly(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def handshake(addr, psk, timeout=10.0, source=None, **kw):
    """Connect to ${addr}, send a fresh message 1, read and verify message 2.

    Returns (initiator, msg1, msg2, sock); the caller closes sock. Raises
    NoiseError if message 2 does not verify, OSError on connection errors.
    """
    init = Initiator(psk, **kw)
    fam = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        if source is not None:
            s.bind((source, 0))
        s.connect(addr)
        s.sendall(init.msg1)
        msg2 = recv_exactly(s, MSG_LEN)
        init.check_message_2(msg2)
    except BaseException:
        s.close()
        raise
    return init, init.msg1, msg2, s


# Noise_NNpsk0_25519_ChaChaPoly_SHA256 test vector (cacophony / noiseprotocol).
_VECTOR = {
    "prologue": "4a6f686e2047616c74",
    "psk": "54686973206973206d7920417573747269616e20706572737065637469766521",
    "init_e": "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a",
    "resp_e": "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b",
    "p1": "4c756477696720766f6e204d69736573",
    "m1": "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c7944"
          "79b962b8aff8485742ac32f905ba45369e2465fb59e138a93d67a0d1266b6a54",
    "p2": "4d757272617920526f746862617264",
    "m2": "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f144808843"
          "d6062704d5a9c422a8e834423f8c1feada7e8d0d910a1a2cd030fb584221e3",
    "t1_p": "462e20412e20486179656b",
    "t1_c": "e632c3763d7669067383433197a3baddf146e9e70ad4b4e9e59e0f",
    "t2_p": "4361726c204d656e676572",
    "t2_c": "64c6bee32ea91c8474bb4c21d7a700109ad45af77b29764ba5eb1e",
}


def selftest():
    """Check this implementation against a published test vector and itself."""
    v = {k: bytes.fromhex(x) for k, x in _VECTOR.items()}
    i = NNpsk0(v["psk"], True, prologue=v["prologue"], e_priv=v["init_e"])
    r = NNpsk0(v["psk"], False, prologue=v["prologue"], e_priv=v["resp_e"])
    m1 = i.write_message_1(v["p1"])
    assert m1 == v["m1"], ("message 1", m1.hex())
    assert r.read_message_1(m1) == v["p1"]
    m2 = r.write_message_2(v["p2"])
    assert m2 == v["m2"], ("message 2", m2.hex())
    assert i.read_message_2(m2) == v["p2"]
    isend, irecv = i.split()
    rsend, rrecv = r.split()
    t1 = isend.encrypt_with_ad(b"", v["t1_p"])
    assert t1 == v["t1_c"], ("transport 1", t1.hex())
    assert rrecv.decrypt_with_ad(b"", t1) == v["t1_p"]
    t2 = rsend.encrypt_with_ad(b"", v["t2_p"])
    assert t2 == v["t2_c"], ("transport 2", t2.hex())
    assert irecv.decrypt_with_ad(b"", t2) == v["t2_p"]
    # Both cipher suites with postern's prologue and payload sizes.
    for cipher in ("chacha20-poly1305", "aes-256-gcm"):
        psk = os.urandom(32)
        ini = Initiator(psk, cipher=cipher)
        resp = NNpsk0(psk, False, cipher=cipher)
        p = resp.read_message_1(ini.msg1)
        assert len(ini.msg1) == 64 and len(p) == 16 and p[8] == 1
        m2 = resp.write_message_2(PAYLOAD_2)
        assert len(m2) == 64
        ini.check_message_2(m2)
        assert ini.hs.handshake_hash == resp.handshake_hash
        # A wrong key must not verify.
        bad = NNpsk0(os.urandom(32), False, cipher=cipher)
        try:
            bad.read_message_1(ini.msg1)
        except NoiseError:
            pass
        else:
            raise AssertionError("wrong key accepted")
    return True


def _main(argv):
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--selftest", action="store_true")
    ap.add_argument("--key")
    ap.add_argument("--cipher", default="chacha20-poly1305", choices=sorted(CIPHERS))
    ap.add_argument("--ts-offset", type=float, default=0.0, help="seconds added to the timestamp")
    ap.add_argument("host", nargs="?")
    ap.add_argument("port", nargs="?", type=int)
    a = ap.parse_args(argv)
    if a.selftest:
        selftest()
        print("selftest ok")
        return 0
    if not (a.key and a.host and a.port):
        ap.error("--key, HOST and PORT are required")
    psk = load_psk(a.key)
    try:
        _, _, msg2, s = handshake((a.host, a.port), psk, cipher=a.cipher, ts_offset_s=a.ts_offset)
    except NoiseError as e:
        print(f"handshake failed: {e}")
        return 1
    except OSError as e:
        print(f"connection error: {e!r}")
        return 1
    s.close()
    print(f"handshake ok; message 2 = {msg2.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
