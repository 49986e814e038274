#!/usr/bin/env python3
"""Independent check of the SeSPHR known-answer vectors.

Written from docs/protocol.md alone (no Rust source was read), with Python
3.11, the standard library and the `cryptography` package. It re-derives or
verifies every value in client/tests/vectors/kat.json and prints one line per
check, `ok <name>` or `FAIL <name>: why`; the exit status is non-zero if any
check fails. Lines starting with `note` are informational.

    python check_vectors.py [path/to/kat.json] [--spec path/to/protocol.md]

With --spec (default: the repository's docs/protocol.md, found from the
vector file's or this script's location), the values quoted in the spec's "Test vectors" section are
compared with the file and with what this program derives.

Section references (§) below are to docs/protocol.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import struct
import sys
import traceback

import cryptography
from cryptography.exceptions import InvalidSignature, InvalidTag, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as c_hmac
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

# --------------------------------------------------------------------------
# Check harness
# --------------------------------------------------------------------------

PASSED: list[str] = []
FAILED: list[str] = []


def ok(name: str) -> None:
    PASSED.append(name)
    print(f"ok {name}")


def fail(name: str, why: str) -> None:
    FAILED.append(name)
    print(f"FAIL {name}: {why}")


def note(text: str) -> None:
    print(f"note {text}")


def check(name: str, cond: bool, why: str = "condition is false") -> bool:
    if cond:
        ok(name)
    else:
        fail(name, why)
    return bool(cond)


def _show(v):
    if isinstance(v, (bytes, bytearray)):
        return v.hex()
    return repr(v)


def eq(name: str, got, want) -> bool:
    if got == want:
        ok(name)
        return True
    fail(name, f"got {_show(got)}, want {_show(want)}")
    return False


class Group:
    """Runs a block of checks; an exception inside is one FAIL, not a crash."""

    def __init__(self, name: str):
        self.name = name

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            return False
        fail(f"{self.name} (exception)", f"{et.__name__}: {ev}")
        if os.environ.get("SESPHR_CHECK_TRACE"):
            traceback.print_exception(et, ev, tb)
        return True  # swallow, keep checking the rest


# --------------------------------------------------------------------------
# Byte helpers (§ Notation and conventions)
# --------------------------------------------------------------------------


def u8(x: int) -> bytes:
    return struct.pack(">B", x)


def u32(x: int) -> bytes:
    return struct.pack(">I", x)


def u64(x: int) -> bytes:
    return struct.pack(">Q", x)


def rd_u32(b: bytes, off: int = 0) -> int:
    return struct.unpack_from(">I", b, off)[0]


def rd_u64(b: bytes, off: int = 0) -> int:
    return struct.unpack_from(">Q", b, off)[0]


def lp(x: bytes) -> bytes:
    """lp(x) = u32(len(x)) ‖ x"""
    return u32(len(x)) + x


def sha256(b: bytes) -> bytes:
    return hashlib.sha256(b).digest()


class Reader:
    """Sequential reader with the common decoder rules of § Object framing."""

    def __init__(self, data: bytes, kind: int):
        self.b = data
        self.i = 0
        if data[0:4] != b"SPHR":
            raise ValueError("malformed: brand")
        if data[4] != kind:
            raise ValueError(f"wrong_kind: {data[4]:#04x} != {kind:#04x}")
        if data[5] != 1:
            raise ValueError("unknown_version")
        self.i = 6

    def take(self, n: int) -> bytes:
        if self.i + n > len(self.b):
            raise ValueError("malformed: truncated")
        v = self.b[self.i : self.i + n]
        self.i += n
        return v

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        return rd_u32(self.take(4))

    def u64(self) -> int:
        return rd_u64(self.take(8))

    def lp(self, maximum: int) -> bytes:
        n = self.u32()
        if n > maximum:
            raise ValueError("malformed: field too long")
        return self.take(n)

    def end(self) -> None:
        if self.i != len(self.b):
            raise ValueError(f"malformed: {len(self.b) - self.i} trailing bytes")


# --------------------------------------------------------------------------
# P-256, affine, Python integers (not constant time: this is a checker)
# --------------------------------------------------------------------------

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
CURVE_A = P - 3
CURVE_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5
G = (GX, GY)
INF = None  # the identity


def on_curve(pt) -> bool:
    if pt is INF:
        return False
    x, y = pt
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x + CURVE_A * x + CURVE_B)) % P == 0


def pt_add(p1, p2):
    if p1 is INF:
        return p2
    if p2 is INF:
        return p1
    x1, y1 = p1
    x2, y2 = p2
    if x1 == x2:
        if (y1 + y2) % P == 0:
            return INF
        lam = (3 * x1 * x1 + CURVE_A) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return (x3, (lam * (x1 - x3) - y1) % P)


def pt_mul(k: int, pt):
    k %= N
    acc = INF
    add = pt
    while k:
        if k & 1:
            acc = pt_add(acc, add)
        add = pt_add(add, add)
        k >>= 1
    return acc


def compress(pt) -> bytes:
    if pt is INF:
        raise ValueError("identity has no encoding")
    x, y = pt
    return bytes([2 | (y & 1)]) + x.to_bytes(32, "big")


def uncompressed(pt) -> bytes:
    x, y = pt
    return b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")


def decode_point(b: bytes):
    """§ Notation: exactly 33 bytes, prefix 02/03, x < p, on the curve, not the identity."""
    if len(b) != 33:
        raise ValueError(f"invalid_point: length {len(b)}")
    if b[0] not in (2, 3):
        raise ValueError(f"invalid_point: prefix {b[0]:#04x}")
    x = int.from_bytes(b[1:], "big")
    if x >= P:
        raise ValueError("invalid_point: x >= p")
    rhs = (x * x * x + CURVE_A * x + CURVE_B) % P
    y = pow(rhs, (P + 1) // 4, P)  # p = 3 mod 4
    if y * y % P != rhs:
        raise ValueError("invalid_point: not on the curve")
    if (y & 1) != (b[0] & 1):
        y = P - y
    pt = (x, y)
    assert on_curve(pt)
    return pt


def decode_uncompressed(b: bytes):
    """SEC1 uncompressed point, as HPKE's DeserializePublicKey for P-256."""
    if len(b) != 65 or b[0] != 4:
        raise ValueError("bad uncompressed point")
    pt = (int.from_bytes(b[1:33], "big"), int.from_bytes(b[33:], "big"))
    if not on_curve(pt):
        raise ValueError("uncompressed point not on the curve")
    return pt


def decode_scalar(b: bytes, allow_zero: bool = False) -> int:
    if len(b) != 32:
        raise ValueError("invalid_scalar: length")
    v = int.from_bytes(b, "big")
    if v >= N or (v == 0 and not allow_zero):
        raise ValueError("invalid_scalar")
    return v


def scalar_bytes(k: int) -> bytes:
    return k.to_bytes(32, "big")


def decode_identity(b: bytes):
    """Public identity: 66 bytes, signing_pk (33) ‖ encryption_pk (33)."""
    if len(b) != 66:
        raise ValueError("invalid_point: identity length")
    return decode_point(b[:33]), decode_point(b[33:])


# --------------------------------------------------------------------------
# Primitive functions (§ Primitive functions)
# --------------------------------------------------------------------------


def H(label: bytes, *fields: bytes) -> bytes:
    return sha256(lp(label) + b"".join(lp(f) for f in fields))


def expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 §5.3.1 with SHA-256 (b_in_bytes = 32, s_in_bytes = 64)."""
    ell = -(-length // 32)
    if ell > 255 or length > 65535 or len(dst) > 255:
        raise ValueError("expand_message_xmd parameters out of range")
    dst_prime = dst + u8(len(dst))
    msg_prime = bytes(64) + msg + length.to_bytes(2, "big") + b"\x00" + dst_prime
    b0 = sha256(msg_prime)
    bi = sha256(b0 + b"\x01" + dst_prime)
    out = bi
    for i in range(2, ell + 1):
        bi = sha256(bytes(x ^ y for x, y in zip(b0, bi)) + u8(i) + dst_prime)
        out += bi
    return out[:length]


def H2S(label: bytes, *fields: bytes) -> int:
    """RFC 9380 hash_to_field(msg, 1) into Z/n: L = 48, DST = label, msg = lp(f1) ‖ … ‖ lp(fk)."""
    msg = b"".join(lp(f) for f in fields)
    v = int.from_bytes(expand_message_xmd(msg, label, 48), "big") % N
    if v == 0:
        raise ValueError("invalid_scalar (zero H2S)")
    return v


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    h = c_hmac.HMAC(salt, hashes.SHA256())
    h.update(ikm)
    return h.finalize()


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    return HKDFExpand(hashes.SHA256(), length, info).derive(prk)


def Expand(prk: bytes, label: bytes, *fields: bytes) -> bytes:
    return hkdf_expand(prk, lp(label) + b"".join(lp(f) for f in fields), 32)


def leaf(d: bytes) -> bytes:
    return sha256(b"\x00" + d)


def node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def piece_leaf(p: bytes) -> bytes:
    return leaf(sha256(p))


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 MTH over already-hashed leaves (§ Chunk Merkle tree)."""
    m = len(leaves)
    if m == 0:
        return sha256(b"")
    if m == 1:
        return leaves[0]
    k = 1
    while k * 2 < m:
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def verify_inclusion(index: int, size: int, leaf_hash: bytes, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def padme(L: int) -> int:
    if L < 2:
        return L
    e = L.bit_length() - 1
    s = e.bit_length()  # floor(log2 e) + 1
    mask = (1 << (e - s)) - 1
    return (L + mask) & ~mask


# Labels (§ Labels)
L_IDENTITY_SIGN = b"SeSPHR-v1/identity/sign"
L_IDENTITY_ENC = b"SeSPHR-v1/identity/enc"
L_SECTION_ID_KEY = b"SeSPHR-v1/section-id-key"
L_PARTY_ID = b"SeSPHR-v1/party-id"
L_FINGERPRINT = b"SeSPHR-v1/fingerprint"
L_RECORD = b"SeSPHR-v1/record"
L_SECTION_SECRET = b"SeSPHR-v1/section-secret"
L_DEK = b"SeSPHR-v1/dek"
L_KEY_COMMIT = b"SeSPHR-v1/key-commit"
L_BLOB_HEADER = b"SeSPHR-v1/blob-header"
L_STATEMENT = b"SeSPHR-v1/statement"
L_SIGNATURE = b"SeSPHR-v1/signature"
L_ENVELOPE_B1 = b"SeSPHR-v1/envelope/b1"
L_ENVELOPE_B2 = b"SeSPHR-v1/envelope/b2"
L_ENVELOPE_HASH = b"SeSPHR-v1/envelope-hash"
L_DLEQ_NONCE = b"SeSPHR-v1/dleq/nonce"
L_DLEQ_CHALLENGE = b"SeSPHR-v1/dleq/challenge"
L_SEALED_REQUEST = b"SeSPHR-v1/sealed-request"
L_SEALED_ANSWER = b"SeSPHR-v1/sealed-answer"
L_RECORD_NONCE = b"SeSPHR-v1/record-nonce"
L_ATTACHMENT_KEY = b"SeSPHR-v1/attachment-key"
L_ATTACHMENT_DEK = b"SeSPHR-v1/attachment/dek"
L_ATTACHMENT_KEY_COMMIT = b"SeSPHR-v1/attachment/key-commit"
L_ATTACHMENT_HEADER = b"SeSPHR-v1/attachment-header"


def statement_hash(payload: bytes) -> bytes:
    return H(L_STATEMENT, payload)


def sig_message(payload: bytes) -> bytes:
    """Sign(sk, payload) is ECDSA-P256-SHA256 over m = lp(SIGNATURE) ‖ lp(payload)."""
    return lp(L_SIGNATURE) + lp(payload)


def verify_sig(pk: bytes, payload: bytes, sig: bytes) -> str | None:
    """Returns None if valid, else the reason (§ Notation: Signature)."""
    if len(sig) != 64:
        return "signature not 64 bytes"
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not (1 <= r < N and 1 <= s < N):
        return "r or s out of range"
    if s > N // 2:
        return "high S"
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pk)
    try:
        key.verify(encode_dss_signature(r, s), sig_message(payload), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return "ECDSA verification failed"
    return None


def sign_deterministic(sk: int, payload: bytes) -> bytes:
    """RFC 6979 signature, normalised to low S (needs cryptography >= 43)."""
    key = ec.derive_private_key(sk, ec.SECP256R1())
    der = key.sign(sig_message(payload), ec.ECDSA(hashes.SHA256(), deterministic_signing=True))
    r, s = decode_dss_signature(der)
    if s > N // 2:
        s = N - s
    return scalar_bytes(r) + scalar_bytes(s)


# --------------------------------------------------------------------------
# HPKE, RFC 9180: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-GCM
# --------------------------------------------------------------------------

KEM_ID, KDF_ID = 0x0010, 0x0001
AEAD_AES128GCM, AEAD_AES256GCM = 0x0001, 0x0002
MODE_BASE, MODE_AUTH = 0x00, 0x02
KEM_SUITE = b"KEM" + KEM_ID.to_bytes(2, "big")


def labeled_extract(suite: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hkdf_extract(salt, b"HPKE-v1" + suite + label + ikm)


def labeled_expand(suite: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    return hkdf_expand(prk, length.to_bytes(2, "big") + b"HPKE-v1" + suite + label + info, length)


def derive_key_pair(ikm: bytes) -> int:
    """RFC 9180 §7.1.3 DeriveKeyPair for P-256 (bitmask 0xff)."""
    dkp_prk = labeled_extract(KEM_SUITE, b"", b"dkp_prk", ikm)
    for counter in range(256):
        sk = int.from_bytes(labeled_expand(KEM_SUITE, dkp_prk, b"candidate", u8(counter), 32), "big")
        if 0 < sk < N:
            return sk
    raise ValueError("DeriveKeyPairError")


def dh(sk: int, pk_point) -> bytes:
    """ECDH with cryptography's primitive: the 32-byte x-coordinate."""
    priv = ec.derive_private_key(sk, ec.SECP256R1())
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), uncompressed(pk_point))
    return priv.exchange(ec.ECDH(), pub)


def extract_and_expand(dh_bytes: bytes, kem_context: bytes) -> bytes:
    eae_prk = labeled_extract(KEM_SUITE, b"", b"eae_prk", dh_bytes)
    return labeled_expand(KEM_SUITE, eae_prk, b"shared_secret", kem_context, 32)


def encap(sk_e: int, pk_r, sk_s: int | None = None) -> tuple[bytes, bytes]:
    """Encap / AuthEncap with a given ephemeral key (for test vectors and round trips)."""
    enc = uncompressed(pt_mul(sk_e, G))
    kem_context = enc + uncompressed(pk_r)
    d = dh(sk_e, pk_r)
    if sk_s is not None:
        d += dh(sk_s, pk_r)
        kem_context += uncompressed(pt_mul(sk_s, G))
    return extract_and_expand(d, kem_context), enc


def decap(enc: bytes, sk_r: int, pk_s=None) -> bytes:
    """Decap / AuthDecap."""
    pk_e = decode_uncompressed(enc)
    kem_context = enc + uncompressed(pt_mul(sk_r, G))
    d = dh(sk_r, pk_e)
    if pk_s is not None:
        d += dh(sk_r, pk_s)
        kem_context += uncompressed(pk_s)
    return extract_and_expand(d, kem_context)


class HpkeContext:
    def __init__(self, mode: int, shared_secret: bytes, info: bytes, aead_id: int):
        self.suite = b"HPKE" + KEM_ID.to_bytes(2, "big") + KDF_ID.to_bytes(2, "big") + aead_id.to_bytes(2, "big")
        nk = {AEAD_AES128GCM: 16, AEAD_AES256GCM: 32}[aead_id]
        psk, psk_id = b"", b""
        psk_id_hash = labeled_extract(self.suite, b"", b"psk_id_hash", psk_id)
        info_hash = labeled_extract(self.suite, b"", b"info_hash", info)
        self.key_schedule_context = u8(mode) + psk_id_hash + info_hash
        self.secret = labeled_extract(self.suite, shared_secret, b"secret", psk)
        self.key = labeled_expand(self.suite, self.secret, b"key", self.key_schedule_context, nk)
        self.base_nonce = labeled_expand(self.suite, self.secret, b"base_nonce", self.key_schedule_context, 12)
        self.exporter_secret = labeled_expand(self.suite, self.secret, b"exp", self.key_schedule_context, 32)

    def nonce(self, seq: int) -> bytes:
        return bytes(a ^ b for a, b in zip(self.base_nonce, seq.to_bytes(12, "big")))

    def seal(self, aad: bytes, pt: bytes, seq: int = 0) -> bytes:
        return AESGCM(self.key).encrypt(self.nonce(seq), pt, aad)

    def open(self, aad: bytes, ct: bytes, seq: int = 0) -> bytes:
        return AESGCM(self.key).decrypt(self.nonce(seq), ct, aad)

    def export(self, context: bytes, length: int) -> bytes:
        return labeled_expand(self.suite, self.exporter_secret, b"sec", context, length)


# RFC 9180 Appendix A.3 (DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM):
# A.3.1 base mode and A.3.3 auth mode, first encryption and the three exports.
# The RFC's text has no P-256/SHA-256 vector with AES-256-GCM (0x0002); the
# KEM, KDF, key schedule and exporter are the same, only Nk differs (see README).
RFC9180_A3 = [
    {
        "name": "A.3.1 base",
        "mode": 0,
        "info": "4f6465206f6e2061204772656369616e2055726e",
        "ikmE": "4270e54ffd08d79d5928020af4686d8f6b7d35dbe470265f1f5aa22816ce860e",
        "pkEm": "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4",
        "skEm": "4995788ef4b9d6132b249ce59a77281493eb39af373d236a1fe415cb0c2d7beb",
        "ikmR": "668b37171f1072f3cf12ea8a236a45df23fc13b82af3609ad1e354f6ef817550",
        "pkRm": "04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f706a826a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0",
        "skRm": "f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2",
        "shared_secret": "c0d26aeab536609a572b07695d933b589dcf363ff9d93c93adea537aeabb8cb8",
        "key_schedule_context": "00b88d4e6d91759e65e87c470e8b9141113e9ad5f0c8ceefc1e088c82e6980500798e486f9c9c09c9b5c753ac72d6005de254c607d1b534ed11d493ae1c1d9ac85",
        "secret": "2eb7b6bf138f6b5aff857414a058a3f1750054a9ba1f72c2cf0684a6f20b10e1",
        "key": "868c066ef58aae6dc589b6cfdd18f97e",
        "base_nonce": "4e0bc5018beba4bf004cca59",
        "exporter_secret": "14ad94af484a7ad3ef40e9f3be99ecc6fa9036df9d4920548424df127ee0d99f",
        "pt": "4265617574792069732074727574682c20747275746820626561757479",
        "aad": "436f756e742d30",
        "ct": "5ad590bb8baa577f8619db35a36311226a896e7342a6d836d8b7bcd2f20b6c7f9076ac232e3ab2523f39513434",
        "exports": [
            ("", "5e9bc3d236e1911d95e65b576a8a86d478fb827e8bdfe77b741b289890490d4d"),
            ("00", "6cff87658931bda83dc857e6353efe4987a201b849658d9b047aab4cf216e796"),
            ("54657374436f6e74657874", "d8f1ea7942adbba7412c6d431c62d01371ea476b823eb697e1f6e6cae1dab85a"),
        ],
    },
    {
        "name": "A.3.3 auth",
        "mode": 2,
        "info": "4f6465206f6e2061204772656369616e2055726e",
        "ikmE": "798d82a8d9ea19dbc7f2c6dfa54e8a6706f7cdc119db0813dacf8440ab37c857",
        "pkEm": "042224f3ea800f7ec55c03f29fc9865f6ee27004f818fcbdc6dc68932c1e52e15b79e264a98f2c535ef06745f3d308624414153b22c7332bc1e691cb4af4d53454",
        "skEm": "6b8de0873aed0c1b2d09b8c7ed54cbf24fdf1dfc7a47fa501f918810642d7b91",
        "ikmR": "7bc93bde8890d1fb55220e7f3b0c107ae7e6eda35ca4040bb6651284bf0747ee",
        "pkRm": "04423e363e1cd54ce7b7573110ac121399acbc9ed815fae03b72ffbd4c18b01836835c5a09513f28fc971b7266cfde2e96afe84bb0f266920e82c4f53b36e1a78d",
        "skRm": "d929ab4be2e59f6954d6bedd93e638f02d4046cef21115b00cdda2acb2a4440e",
        "ikmS": "874baa0dcf93595a24a45a7f042e0d22d368747daaa7e19f80a802af19204ba8",
        "pkSm": "04a817a0902bf28e036d66add5d544cc3a0457eab150f104285df1e293b5c10eef8651213e43d9cd9086c80b309df22cf37609f58c1127f7607e85f210b2804f73",
        "skSm": "1120ac99fb1fccc1e8230502d245719d1b217fe20505c7648795139d177f0de9",
        "shared_secret": "d4aea336439aadf68f9348880aa358086f1480e7c167b6ef15453ba69b94b44f",
        "key_schedule_context": "02b88d4e6d91759e65e87c470e8b9141113e9ad5f0c8ceefc1e088c82e6980500798e486f9c9c09c9b5c753ac72d6005de254c607d1b534ed11d493ae1c1d9ac85",
        "secret": "fd0a93c7c6f6b1b0dd6a822d7b16f6c61c83d98ad88426df4613c3581a2319f1",
        "key": "19aa8472b3fdc530392b0e54ca17c0f5",
        "base_nonce": "b390052d26b67a5b8a8fcaa4",
        "exporter_secret": "f152759972660eb0e1db880835abd5de1c39c8e9cd269f6f082ed80e28acb164",
        "pt": "4265617574792069732074727574682c20747275746820626561757479",
        "aad": "436f756e742d30",
        "ct": "82ffc8c44760db691a07c5627e5fc2c08e7a86979ee79b494a17cc3405446ac2bdb8f265db4a099ed3289ffe19",
        "exports": [
            ("", "837e49c3ff629250c8d80d3c3fb957725ed481e59e2feb57afd9fe9a8c7c4497"),
            ("00", "594213f9018d614b82007a7021c3135bda7b380da4acd9ab27165c508640dbda"),
            ("54657374436f6e74657874", "14fe634f95ca0d86e15247cca7de7ba9b73c9b9deb6437e1c832daf7291b79d5"),
        ],
    },
]

# RFC 9380 Appendix K.1, expand_message_xmd(SHA-256), len_in_bytes = 0x20.
RFC9380_XMD_DST = b"QUUX-V01-CS02-with-expander-SHA256-128"
RFC9380_XMD = [
    (b"", "68a985b87eb6b46952128911f2a4412bbc302a9d759667f87f7a21d803f07235"),
    (b"abc", "d8ccab23b5985ccea865c6c97b6e5b8350e794e603b4b97902f53a8a0d605615"),
    (b"abcdef0123456789", "eff31487c770a893cfb36f912fbfcbff40d5661771ca4b2cb4eafe524333f5c1"),
]


# --------------------------------------------------------------------------
# Self-tests of the primitives
# --------------------------------------------------------------------------


def self_tests() -> None:
    with Group("selftest p256"):
        check("selftest p256: G on curve", on_curve(G))
        check("selftest p256: n·G = identity", pt_mul(N - 1, G) is not INF and pt_add(pt_mul(N - 1, G), G) is INF)
        k = 0x1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF1234567890ABCDEF
        ours = uncompressed(pt_mul(k, G))
        theirs = ec.derive_private_key(k, ec.SECP256R1()).public_key().public_bytes(
            Encoding.X962, PublicFormat.UncompressedPoint)
        eq("selftest p256: k·G agrees with cryptography", ours, theirs)
        c = compress(pt_mul(k, G))
        eq("selftest p256: decompression round trip", compress(decode_point(c)), c)
        bad = [b"\x04" + c[1:], c[:32], b"\x02" + P.to_bytes(32, "big")]
        rejected = 0
        for b in bad:
            try:
                decode_point(b)
            except ValueError:
                rejected += 1
        # x = 1: 1 - 3 + b is a quadratic non-residue mod p, so no point has x = 1
        try:
            decode_point(b"\x02" + (1).to_bytes(32, "big"))
        except ValueError:
            rejected += 1
        eq("selftest p256: invalid encodings rejected", rejected, 4)

    with Group("selftest xmd"):
        for msg, want in RFC9380_XMD:
            eq(f"selftest RFC 9380 K.1 expand_message_xmd({msg.decode()!r})",
               expand_message_xmd(msg, RFC9380_XMD_DST, 32).hex(), want)

    for v in RFC9180_A3:
        with Group(f"selftest RFC 9180 {v['name']}"):
            name = f"selftest RFC 9180 {v['name']}"
            sk_e = derive_key_pair(bytes.fromhex(v["ikmE"]))
            sk_r = derive_key_pair(bytes.fromhex(v["ikmR"]))
            eq(f"{name}: DeriveKeyPair(ikmE)", scalar_bytes(sk_e).hex(), v["skEm"])
            eq(f"{name}: DeriveKeyPair(ikmR)", scalar_bytes(sk_r).hex(), v["skRm"])
            eq(f"{name}: pkEm", uncompressed(pt_mul(sk_e, G)).hex(), v["pkEm"])
            eq(f"{name}: pkRm", uncompressed(pt_mul(sk_r, G)).hex(), v["pkRm"])
            sk_s = pk_s = None
            if v["mode"] == MODE_AUTH:
                sk_s = derive_key_pair(bytes.fromhex(v["ikmS"]))
                eq(f"{name}: DeriveKeyPair(ikmS)", scalar_bytes(sk_s).hex(), v["skSm"])
                pk_s = pt_mul(sk_s, G)
                eq(f"{name}: pkSm", uncompressed(pk_s).hex(), v["pkSm"])
            ss, enc = encap(sk_e, pt_mul(sk_r, G), sk_s)
            eq(f"{name}: enc", enc.hex(), v["pkEm"])
            eq(f"{name}: shared_secret (sender)", ss.hex(), v["shared_secret"])
            eq(f"{name}: shared_secret (receiver)", decap(enc, sk_r, pk_s).hex(), v["shared_secret"])
            ctx = HpkeContext(v["mode"], ss, bytes.fromhex(v["info"]), AEAD_AES128GCM)
            eq(f"{name}: key_schedule_context", ctx.key_schedule_context.hex(), v["key_schedule_context"])
            eq(f"{name}: secret", ctx.secret.hex(), v["secret"])
            eq(f"{name}: key", ctx.key.hex(), v["key"])
            eq(f"{name}: base_nonce", ctx.base_nonce.hex(), v["base_nonce"])
            eq(f"{name}: exporter_secret", ctx.exporter_secret.hex(), v["exporter_secret"])
            ct = ctx.seal(bytes.fromhex(v["aad"]), bytes.fromhex(v["pt"]), 0)
            eq(f"{name}: seal seq 0", ct.hex(), v["ct"])
            eq(f"{name}: open seq 0", ctx.open(bytes.fromhex(v["aad"]), ct, 0).hex(), v["pt"])
            for c, want in v["exports"]:
                eq(f"{name}: export({c or 'empty'})", ctx.export(bytes.fromhex(c), 32).hex(), want)

    with Group("selftest hpke aes-256-gcm round trip"):
        # Suite 0x0010/0x0001/0x0002 as used by SeSPHR: round trip in both modes.
        sk_r, sk_s, sk_e = 0xA5A5 * 7 + 11, 0x5A5A * 13 + 17, 0x3C3C * 19 + 23
        for mode, s in ((MODE_BASE, None), (MODE_AUTH, sk_s)):
            ss, enc = encap(sk_e, pt_mul(sk_r, G), s)
            ss2 = decap(enc, sk_r, None if s is None else pt_mul(s, G))
            c1 = HpkeContext(mode, ss, b"info", AEAD_AES256GCM)
            c2 = HpkeContext(mode, ss2, b"info", AEAD_AES256GCM)
            ct = c1.seal(b"", b"share" * 6)
            check(f"selftest hpke 0x0002 mode {mode}: round trip",
                  c2.open(b"", ct) == b"share" * 6 and len(c1.key) == 32
                  and c1.export(b"x", 32) == c2.export(b"x", 32))

    with Group("selftest padme"):
        # § Padded stream examples.
        for L, want in ((8, 8), (9, 10), (25, 26), (65544, 67584), (17648, 18432)):
            eq(f"selftest padme({L})", padme(L), want)
        cs, pl = 1 << 16, padme(8 + 65536)
        nchunks = -(-pl // cs)
        eq("selftest § Padded stream example: 64 KiB body blob length", 184 + pl + 16 * nchunks, 67800)


# --------------------------------------------------------------------------
# The vector file
# --------------------------------------------------------------------------


class Vectors:
    """kat.json, tracking which keys were consumed."""

    def __init__(self, data: dict):
        self.d = data
        self.used: set[str] = set()

    def hex(self, k: str) -> bytes:
        self.used.add(k)
        return bytes.fromhex(self.d[k])

    def text(self, k: str) -> str:
        self.used.add(k)
        return self.d[k]

    def num(self, k: str) -> int:
        self.used.add(k)
        return self.d[k]


class Party:
    def __init__(self, seed: bytes):
        self.seed = seed
        self.sk_sign = H2S(L_IDENTITY_SIGN, seed)
        self.sk_enc = H2S(L_IDENTITY_ENC, seed)
        self.pk_sign = compress(pt_mul(self.sk_sign, G))
        self.pk_enc = compress(pt_mul(self.sk_enc, G))
        self.public = self.pk_sign + self.pk_enc
        self.party_id = H(L_PARTY_ID, self.pk_sign, self.pk_enc)
        fp = base64.b32encode(H(L_FINGERPRINT, self.pk_sign, self.pk_enc)[:20]).decode().rstrip("=")
        self.fingerprint = "-".join(fp[i : i + 4] for i in range(0, len(fp), 4))


def check_signed(name: str, signer: Party, obj: bytes, sig_off: int) -> None:
    payload, sig = obj[:sig_off], obj[sig_off:]
    eq(f"{name}: signature is the last 64 bytes", len(sig), 64)
    why = verify_sig(signer.pk_sign, payload, sig)
    check(f"{name}: signature verifies", why is None, why or "")
    try:
        again = sign_deterministic(signer.sk_sign, payload)
    except (UnsupportedAlgorithm, TypeError) as e:  # cryptography < 43 or OpenSSL < 3.2
        fail(f"{name}: signature is deterministic RFC 6979, low S", f"cannot sign deterministically here: {e}")
        return
    eq(f"{name}: signature is deterministic RFC 6979, low S", again, sig)


# Scenario constants (§ Test vectors)
T_MANIFEST = 1767225600000
T_EXPIRES = 1798761600000
T_REQUEST = 1767225601000
T_SRS_NOW = 1767225601500
T_REVOKE = 1767225700000
T_RECEIPT = 1767225700500
T_TOKENS = 1767225602000
T_DIRECTORY = 1767225000000
ROLE_PHYSICIAN = 2


def main(argv: list[str]) -> int:
    args = [a for a in argv[1:]]
    spec_path = None
    if "--spec" in args:
        i = args.index("--spec")
        spec_path = args[i + 1]
        del args[i : i + 2]
    here = os.path.dirname(os.path.abspath(__file__))
    kat_path = args[0] if args else os.path.join(here, "..", "..", "client", "tests", "vectors", "kat.json")
    if spec_path is None:
        for guess in (
            os.path.join(os.path.dirname(os.path.abspath(kat_path)), "..", "..", "..", "docs", "protocol.md"),
            os.path.join(here, "..", "..", "docs", "protocol.md"),
        ):
            if os.path.exists(guess):
                spec_path = os.path.normpath(guess)
                break
    with open(kat_path) as f:
        V = Vectors(json.load(f))

    note(f"python {sys.version.split()[0]}, cryptography {cryptography.__version__}; vectors {kat_path}; "
         f"spec {spec_path or '(none)'}")
    self_tests()

    V.text("description")
    ctx: dict = {}
    with Group("identities"):
        check_identities(V, ctx)
    with Group("record"):
        check_record(V, ctx)
    with Group("key schedule"):
        check_key_schedule(V, ctx)
    with Group("blob"):
        check_blob(V, ctx)
    with Group("chunk index"):
        check_chunk_index(V, ctx)
    with Group("manifest"):
        check_manifest(V, ctx)
    with Group("grant"):
        check_grant(V, ctx)
    with Group("envelopes"):
        check_envelopes(V, ctx)
    with Group("request"):
        check_request(V, ctx)
    with Group("dleq"):
        check_dleq_vector(V, ctx)
    with Group("sealed transport"):
        check_sealed(V, ctx)
    with Group("answer"):
        check_answer(V, ctx)
    with Group("grantee dek"):
        check_grantee_dek(V, ctx)
    with Group("revocation"):
        check_revocation(V, ctx)
    with Group("directory"):
        check_directory(V, ctx)
    with Group("tokens"):
        check_tokens(V, ctx)
    with Group("inbox"):
        check_inbox(V, ctx)
    with Group("wrapped seed"):
        check_wrapped_seed(V, ctx)
    with Group("attachment"):
        check_attachment(V, ctx)
    with Group("test rng"):
        check_test_rng(V, ctx)
    if spec_path:
        with Group("spec quoted values"):
            check_spec_quotes(V, ctx, spec_path)
    else:
        note("docs/protocol.md not found: skipping the comparison with the values it quotes")

    unused = sorted(set(V.d) - V.used)
    check("every key of kat.json was checked", not unused, f"unchecked keys: {unused}")

    print(f"{len(PASSED)} checks passed, {len(FAILED)} failed")
    return 1 if FAILED else 0


# --------------------------------------------------------------------------
# The checks, in the order of the scenario
# --------------------------------------------------------------------------


def check_identities(V: Vectors, c: dict) -> None:
    owner = Party(V.hex("owner_seed"))
    grantee = Party(V.hex("grantee_seed"))
    srs = Party(V.hex("srs_seed"))
    c.update(owner=owner, grantee=grantee, srs=srs)
    eq("owner signing key from owner_seed", owner.pk_sign, V.hex("owner_signing_key"))
    eq("owner encryption key from owner_seed", owner.pk_enc, V.hex("owner_encryption_key"))
    eq("owner party id", owner.party_id, V.hex("owner_party_id"))
    fp = V.text("owner_fingerprint")
    eq("owner fingerprint (base32, 160 bits, 8 groups of 4)", owner.fingerprint, fp)
    check("owner fingerprint format", len(fp) == 39 and re.fullmatch(r"([A-Z2-7]{4}-){7}[A-Z2-7]{4}", fp) is not None)
    eq("grantee public identity from grantee_seed", grantee.public, V.hex("grantee_public"))
    eq("srs public identity from srs_seed", srs.public, V.hex("srs_public"))
    for who, p in (("owner", owner), ("grantee", grantee), ("srs", srs)):
        decode_identity(p.public)
        check(f"{who} secret keys are distinct non-zero scalars", p.sk_sign != p.sk_enc and 0 < p.sk_sign < N and 0 < p.sk_enc < N)
    # cryptography's own decompression agrees with ours
    for name, b in (("owner_signing_key", owner.pk_sign), ("srs enc key", srs.pk_enc)):
        theirs = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b).public_numbers()
        eq(f"point decompression agrees with cryptography ({name})", (theirs.x, theirs.y), decode_point(b))


def check_record(V: Vectors, c: dict) -> None:
    owner: Party = c["owner"]
    nonce = V.hex("record_nonce")
    eq("record_nonce is 16 bytes", len(nonce), 16)
    record_id = H(L_RECORD, owner.party_id, nonce)
    eq("record_id = H(RECORD, owner_party_id, record_nonce)", record_id, V.hex("record_id"))
    name = V.text("section_name")
    prk_sid = hkdf_extract(L_SECTION_ID_KEY, owner.seed)
    section_id = Expand(prk_sid, L_SECTION_ID_KEY, record_id, name.encode("utf-8"))
    eq(f"section_id of {name!r}", section_id, V.hex("section_id"))
    # § Records: "For 32 bytes, HKDF-Expand is HMAC-SHA256(prk_sid, info ‖ 0x01)"
    h = c_hmac.HMAC(prk_sid, hashes.SHA256())
    h.update(lp(L_SECTION_ID_KEY) + lp(record_id) + lp(name.encode()) + b"\x01")
    eq("section_id = HMAC-SHA256(prk_sid, info ‖ 0x01)", h.finalize(), section_id)
    epoch_id = V.hex("epoch_id")
    eq("epoch_id is 32 bytes", len(epoch_id), 32)
    a = H2S(L_SECTION_SECRET, owner.seed, record_id, section_id, epoch_id)
    A = pt_mul(a, G)
    eq("section key A = a·G, a = H2S(SECTION_SECRET, seed, record_id, section_id, epoch_id)", compress(A), V.hex("section_key_A"))
    # § Records: the seed-derived nonce of the owner's record 0.
    prk_rn = hkdf_extract(L_RECORD_NONCE, owner.seed)
    derived = Expand(prk_rn, L_RECORD_NONCE, u32(0))[:16]
    eq("record_0_nonce = Expand(Extract(RECORD_NONCE, seed), RECORD_NONCE, u32(0))[:16]", derived, V.hex("record_0_nonce"))
    eq("record_0_id = H(RECORD, owner_party_id, record_0_nonce)", H(L_RECORD, owner.party_id, derived), V.hex("record_0_id"))
    c.update(record_id=record_id, section_id=section_id, epoch_id=epoch_id, a=a, A=A, record_nonce=nonce)


def derive_dek(Z, E, A, record_id: bytes, section_id: bytes, epoch_id: bytes, version: int):
    """§ Capsule and key schedule."""
    if Z is INF:
        raise ValueError("invalid_point: Z is the identity")
    prk = hkdf_extract(compress(E) + compress(A), Z[0].to_bytes(32, "big"))
    dek = Expand(prk, L_DEK, record_id, section_id, epoch_id, u64(version))
    kc = Expand(prk, L_KEY_COMMIT)
    return dek, kc


def check_key_schedule(V: Vectors, c: dict) -> None:
    E = decode_point(V.hex("capsule_E"))
    c["E"] = E
    Z = pt_mul(c["a"], E)  # owner: Z = a·E
    dek, kc = derive_dek(Z, E, c["A"], c["record_id"], c["section_id"], c["epoch_id"], 1)
    eq("owner DEK from Z = a·E (version 1)", dek, V.hex("dek"))
    eq("owner key commitment kc", kc, V.hex("key_commitment"))
    c.update(dek=dek, kc=kc)


def check_blob(V: Vectors, c: dict) -> None:
    blob = V.hex("blob")
    body = V.text("body").encode("utf-8")
    chunk_log2 = V.num("chunk_log2")
    header = blob[:184]
    c["blob"], c["blob_header"] = blob, header
    r = Reader(header, 0x01)
    eq("blob header: brand, kind 0x01, version 1", header[:6], b"SPHR\x01\x01")
    h_log2 = r.u8()
    eq("blob header: chunk_log2 (offset 6)", h_log2, chunk_log2)
    check("blob header: chunk_log2 is allowed", h_log2 in (14, 16, 18, 20))
    eq("blob header: record_id (offset 7)", r.take(32), c["record_id"])
    eq("blob header: section_id (offset 39)", r.take(32), c["section_id"])
    eq("blob header: epoch_id (offset 71)", r.take(32), c["epoch_id"])
    eq("blob header: version (offset 103)", r.u64(), 1)
    eq("blob header: capsule E (offset 111)", r.take(33), compress(c["E"]))
    eq("blob header: key commitment (offset 144)", r.take(32), c["kc"])
    padded_len = r.u64()
    r.end()
    eq("blob header: padded_len = padme(8 + body_len) (offset 176)", padded_len, padme(8 + len(body)))
    eq("blob header: padded_len is the scenario's 18432", padded_len, 18432)
    check("blob header: padded_len is a Padmé value >= 8", padded_len >= 8 and padme(padded_len) == padded_len)
    cs = 1 << h_log2
    nchunks = -(-padded_len // cs)
    eq("blob: 2 chunks", nchunks, 2)
    eq("blob length = 184 + padded_len + 16·N", len(blob), 184 + padded_len + 16 * nchunks)
    eq("blob length is the scenario's 18648", len(blob), 18648)
    header_hash = H(L_BLOB_HEADER, header)
    c["header_hash"] = header_hash

    aes = AESGCM(c["dek"])
    stream = b""
    sealed_chunks = []
    off = 184
    for i in range(nchunks):
        pt_len = min(cs, padded_len - i * cs)
        eq(f"blob chunk {i}: offset 184 + i·(cs + 16)", off, 184 + i * (cs + 16))
        sealed = blob[off : off + pt_len + 16]
        off += pt_len + 16
        sealed_chunks.append(sealed)
        last = 1 if i == nchunks - 1 else 0
        nonce = b"\x00\x00\x00" + u64(i) + u8(last)
        try:
            pt = aes.decrypt(nonce, sealed, header_hash)
        except InvalidTag:
            fail(f"blob chunk {i}: AES-256-GCM open (nonce 000000‖u64(i)‖last, AAD header_hash)", "tag mismatch")
            return
        ok(f"blob chunk {i}: AES-256-GCM open (nonce 000000‖u64(i)‖last, AAD header_hash)")
        eq(f"blob chunk {i}: plaintext length min(cs, padded_len − i·cs)", len(pt), pt_len)
        # the body range formula of § Padded stream
        lo = min(max(i * cs - 8, 0), len(body))
        hi = min(max((i + 1) * cs - 8, 0), len(body))
        start = 8 if i == 0 else 0
        eq(f"blob chunk {i}: carries body bytes [{lo}, {hi})", pt[start : start + (hi - lo)], body[lo:hi])
        stream += pt
    eq("blob: all bytes consumed", off, len(blob))
    body_len = rd_u64(stream, 0)
    eq("stream: u64 body_len prefix", body_len, len(body))
    eq("stream: body", stream[8 : 8 + body_len], body)
    check("stream: zero padding after the body", stream[8 + body_len :] == bytes(padded_len - 8 - body_len))
    # Wrong key commitment or wrong nonce flag must not open (sanity of our reading).
    try:
        aes.decrypt(b"\x00\x00\x00" + u64(nchunks - 1) + b"\x00", sealed_chunks[-1], header_hash)
        fail("blob: last chunk does not open with last = 0", "it opened")
    except InvalidTag:
        ok("blob: last chunk does not open with last = 0")
    c["sealed_chunks"] = sealed_chunks


def check_attachment(V: Vectors, c: dict) -> None:
    """§ Attachment blobs and § Section documents (format 2)."""
    key = V.hex("attachment_key")
    c["attachment_key"] = key
    eq("attachment key: 32 bytes", len(key), 32)
    prk = hkdf_extract(L_ATTACHMENT_KEY, key)
    dek = Expand(prk, L_ATTACHMENT_DEK, c["record_id"], c["section_id"])
    kc = Expand(prk, L_ATTACHMENT_KEY_COMMIT, c["record_id"], c["section_id"])
    eq("attachment DEK = Expand(Extract(attachment-key, key), attachment/dek, record_id, section_id)", dek, V.hex("attachment_dek"))
    eq("attachment kc = Expand(…, attachment/key-commit, record_id, section_id)", kc, V.hex("attachment_key_commitment"))
    blob = V.hex("attachment_blob")
    body = V.text("attachment_body").encode("utf-8")
    chunk_log2 = V.num("attachment_chunk_log2")
    HL = 111
    header = blob[:HL]
    r = Reader(header, 0x12)
    eq("attachment header: brand, kind 0x12, version 1", header[:6], b"SPHR\x12\x01")
    eq("attachment header: chunk_log2 (offset 6)", r.u8(), chunk_log2)
    eq("attachment header: record_id (offset 7)", r.take(32), c["record_id"])
    eq("attachment header: section_id (offset 39)", r.take(32), c["section_id"])
    eq("attachment header: key commitment (offset 71)", r.take(32), kc)
    padded_len = r.u64()
    r.end()
    eq("attachment header: padded_len = padme(8 + size) (offset 103)", padded_len, padme(8 + len(body)))
    cs = 1 << chunk_log2
    n = -(-padded_len // cs)
    eq("attachment blob length = 111 + padded_len + 16·N", len(blob), HL + padded_len + 16 * n)
    aad = H(L_ATTACHMENT_HEADER, header)
    aes = AESGCM(dek)
    stream, sealed_chunks, off = b"", [], HL
    for i in range(n):
        pt_len = min(cs, padded_len - i * cs)
        sealed = blob[off : off + pt_len + 16]
        off += pt_len + 16
        sealed_chunks.append(sealed)
        nonce = b"\x00\x00\x00" + u64(i) + u8(1 if i == n - 1 else 0)
        try:
            stream += aes.decrypt(nonce, sealed, aad)
        except InvalidTag:
            fail(f"attachment chunk {i}: AES-256-GCM open (AAD H(attachment-header, header))", "tag mismatch")
            return
        ok(f"attachment chunk {i}: AES-256-GCM open (AAD H(attachment-header, header))")
    eq("attachment: all bytes consumed", off, len(blob))
    eq("attachment stream: u64 size prefix", rd_u64(stream, 0), len(body))
    eq("attachment stream: plaintext", stream[8 : 8 + len(body)], body)
    check("attachment stream: zero padding", stream[8 + len(body) :] == bytes(padded_len - 8 - len(body)))
    try:
        AESGCM(c["dek"]).decrypt(b"\x00" * 11 + u8(0), sealed_chunks[0], aad)
        fail("attachment: the section body's DEK does not open it", "it opened")
    except InvalidTag:
        ok("attachment: the section body's DEK does not open it")
    idx = V.hex("attachment_chunk_index")
    ri = Reader(idx, 0x0B)
    m = ri.u32()
    leaves = [ri.take(32) for _ in range(m)]
    ri.end()
    eq("attachment chunk index: leaves = leaf(SHA-256(header)), leaf(SHA-256(chunk_i))…",
       leaves, [piece_leaf(header)] + [piece_leaf(s) for s in sealed_chunks])
    root = mth(leaves)
    eq("attachment root = MTH(leaves) (its blob's address)", root, V.hex("attachment_root"))
    eq("attachment index id = SHA-256(chunk index)", sha256(idx), V.hex("attachment_index_id"))
    doc = V.hex("attachment_document")
    jl = rd_u32(doc, 0)
    j = json.loads(doc[4 : 4 + jl].decode("utf-8"))
    eq("document: format 2", j.get("format"), 2)
    eq("document: name", j.get("name"), V.text("section_name"))
    (a,) = j["attachments"]
    eq("document: attachment root", a["root"], root.hex())
    eq("document: attachment index", a["index"], sha256(idx).hex())
    eq("document: attachment length = blob length", a["length"], len(blob))
    eq("document: attachment size = plaintext length", a["size"], len(body))
    check("document: name, type of the attachment are strings", isinstance(a["name"], str) and isinstance(a["type"], str))
    eq("document: u32 length ‖ JSON ‖ one 32-byte key per attachment", len(doc), 4 + jl + 32 * len(j["attachments"]))
    eq("document: the key after the JSON is the attachment's", doc[4 + jl :], key)


def check_chunk_index(V: Vectors, c: dict) -> None:
    idx = V.hex("chunk_index")
    r = Reader(idx, 0x0B)
    m = r.u32()
    leaves = [r.take(32) for _ in range(m)]
    r.end()
    eq("chunk index: leaf count m = N + 1", m, len(c["sealed_chunks"]) + 1)
    eq("chunk index: length 10 + 32·m", len(idx), 10 + 32 * m)
    want = [piece_leaf(c["blob_header"])] + [piece_leaf(s) for s in c["sealed_chunks"]]
    eq("chunk index: leaf 0 = leaf(SHA-256(header bytes))", leaves[0], want[0])
    for i, s in enumerate(c["sealed_chunks"]):
        eq(f"chunk index: leaf {i + 1} = leaf(SHA-256(sealed chunk {i}))", leaves[i + 1], want[i + 1])
    root = mth(leaves)
    eq("chunk_root = MTH(leaves)", root, V.hex("chunk_root"))
    eq("chunk_root = node(node(l0, l1), l2)", root, node(node(want[0], want[1]), want[2]))
    index_id = sha256(idx)
    eq("index_id = SHA-256(chunk_index)", index_id, V.hex("index_id"))
    c.update(chunk_root=root, index_id=index_id, leaves=leaves)


def check_manifest(V: Vectors, c: dict) -> None:
    owner: Party = c["owner"]
    man = V.hex("manifest")
    r = Reader(man, 0x02)
    eq("manifest: owner identity (offset 6)", r.take(66), owner.public)
    eq("manifest: record_id (offset 72)", r.take(32), c["record_id"])
    eq("manifest: record_nonce (offset 104)", r.take(16), c["record_nonce"])
    eq("manifest: version (offset 120)", r.u64(), 1)
    eq("manifest: previous is zero for version 1 (offset 128)", r.take(32), bytes(32))
    eq("manifest: created_at (offset 160)", r.u64(), T_MANIFEST)
    s = r.u32()
    eq("manifest: section count (offset 168)", s, 1)
    eq("manifest: length 236 + 210·s", len(man), 236 + 210 * s)
    e = r.take(210)
    sig_off = r.i
    r.take(64)
    r.end()
    eq("manifest entry: section_id", e[0:32], c["section_id"])
    eq("manifest entry: epoch_id", e[32:64], c["epoch_id"])
    eq("manifest entry: section key A", e[64:97], compress(c["A"]))
    eq("manifest entry: capsule E", e[97:130], compress(c["E"]))
    eq("manifest entry: written_at_version", rd_u64(e, 130), 1)
    eq("manifest entry: chunk_root (the blob's relay address)", e[138:170], c["chunk_root"])
    eq("manifest entry: blob_len = whole blob length", rd_u64(e, 170), len(c["blob"]))
    eq("manifest entry: index_id", e[178:210], c["index_id"])
    eq("manifest: signature offset 172 + 210·s", sig_off, 172 + 210 * s)
    check_signed("manifest", owner, man, sig_off)
    mh = statement_hash(man[:sig_off])
    eq("manifest_hash = StatementHash(payload)", mh, V.hex("manifest_hash"))
    c.update(manifest=man, manifest_hash=mh, entry=e)


def check_grant(V: Vectors, c: dict) -> None:
    owner: Party = c["owner"]
    g = V.hex("grant_statement")
    eq("grant statement: length 469", len(g), 469)
    r = Reader(g, 0x03)
    grant_id = r.take(16)
    eq("grant statement: sequence (offset 22)", r.u64(), 1)
    eq("grant statement: owner identity (offset 30)", r.take(66), owner.public)
    eq("grant statement: record_id (offset 96)", r.take(32), c["record_id"])
    eq("grant statement: section_id (offset 128)", r.take(32), c["section_id"])
    eq("grant statement: epoch_id (offset 160)", r.take(32), c["epoch_id"])
    eq("grant statement: section key A (offset 192)", r.take(33), compress(c["A"]))
    B2b = r.take(33)
    B2 = decode_point(B2b)
    check("grant statement: B2 (offset 225) is a valid point ≠ A", B2 != c["A"])
    eq("grant statement: grantee identity (offset 258)", r.take(66), c["grantee"].public)
    eq("grant statement: role physician (offset 324)", r.u8(), ROLE_PHYSICIAN)
    eq("grant statement: from_version (offset 325)", r.u64(), 0)
    eq("grant statement: expires_at (offset 333)", r.u64(), T_EXPIRES)
    b1_hash = r.take(32)
    b2_hash = r.take(32)
    eq("grant statement: signature offset 405", r.i, 405)
    r.take(64)
    r.end()
    check_signed("grant statement", owner, g, 405)
    c.update(grant=g, grant_id=grant_id, B2=B2, b1_envelope_hash=b1_hash, b2_envelope_hash=b2_hash)


def open_envelope(env: bytes, sk_r: int, pk_s, info: bytes) -> tuple[bytes, bytes]:
    r = Reader(env, 0x04)
    enc = r.take(65)
    ct = r.lp(65536)
    r.end()
    ss = decap(enc, sk_r, pk_s)
    ctx = HpkeContext(MODE_AUTH, ss, info, AEAD_AES256GCM)
    return ctx.open(b"", ct, 0), ct


def check_envelopes(V: Vectors, c: dict) -> None:
    owner, grantee, srs = c["owner"], c["grantee"], c["srs"]
    tail = lp(c["grant_id"]) + lp(c["record_id"]) + lp(c["section_id"]) + lp(c["epoch_id"])
    info_b1 = lp(L_ENVELOPE_B1) + tail
    info_b2 = lp(L_ENVELOPE_B2) + tail
    owner_pk_enc = decode_point(owner.pk_enc)
    b1_env, b2_env = V.hex("b1_envelope"), V.hex("b2_envelope")
    for name, env, h in (("b1_envelope", b1_env, c["b1_envelope_hash"]), ("b2_envelope", b2_env, c["b2_envelope_hash"])):
        eq(f"{name}: length 75 + 48 = 123", len(env), 123)
        eq(f"{name}: hash committed in the grant = H(ENVELOPE_HASH, envelope)", H(L_ENVELOPE_HASH, env), h)
    b2_pt, ct2 = open_envelope(b2_env, srs.sk_enc, owner_pk_enc, info_b2)
    ok("b2_envelope: opens with the SRS key (HPKE auth mode, sender owner pk_enc, info_b2)")
    eq("b2_envelope: ciphertext is 48 bytes", len(ct2), 48)
    b2 = decode_scalar(b2_pt)
    check("b2·G = B2", pt_mul(b2, G) == c["B2"])
    b1_pt, ct1 = open_envelope(b1_env, grantee.sk_enc, owner_pk_enc, info_b1)
    ok("b1_envelope: opens with the grantee key (HPKE auth mode, sender owner pk_enc, info_b1)")
    eq("b1_envelope: ciphertext is 48 bytes", len(ct1), 48)
    b1 = decode_scalar(b1_pt)
    check("b1·G + B2 = A", pt_add(pt_mul(b1, G), c["B2"]) == c["A"])
    eq("b1 = a − b2 mod n", b1, (c["a"] - b2) % N)
    # The envelopes must not open in base mode or with the other info (our reading is the only one).
    for desc, sk, pk, info in (("base mode", srs.sk_enc, None, info_b2), ("info_b1", srs.sk_enc, owner_pk_enc, info_b1)):
        try:
            r = Reader(b2_env, 0x04)
            enc = r.take(65)
            ct = r.lp(65536)
            HpkeContext(MODE_AUTH if pk else MODE_BASE, decap(enc, sk, pk), info, AEAD_AES256GCM).open(b"", ct)
            fail(f"b2_envelope: does not open with {desc}", "it opened")
        except InvalidTag:
            ok(f"b2_envelope: does not open with {desc}")
    c.update(b1=b1, b2=b2)


def check_request(V: Vectors, c: dict) -> None:
    req = V.hex("reencrypt_request")
    eq("request: length 182", len(req), 182)
    r = Reader(req, 0x05)
    eq("request: grant_id (offset 6)", r.take(16), c["grant_id"])
    eq("request: record_id (offset 22)", r.take(32), c["record_id"])
    eq("request: section_id (offset 54)", r.take(32), c["section_id"])
    eq("request: version (offset 86)", r.u64(), 1)
    nonce = r.take(16)
    eq("request: timestamp (offset 110)", r.u64(), T_REQUEST)
    eq("request: signature offset 118", r.i, 118)
    r.take(64)
    r.end()
    check_signed("request", c["grantee"], req, 118)
    rh = statement_hash(req[:118])
    eq("request_hash = StatementHash(request payload)", rh, V.hex("request_hash"))
    c.update(request=req, request_nonce=nonce, request_hash=rh)


def dleq_verify(B2, E, P2, grant_id: bytes, nonce: bytes, proof: bytes) -> str | None:
    """§ DLEQ proof, verification."""
    if len(proof) != 64:
        return "proof not 64 bytes"
    try:
        cc = decode_scalar(proof[:32])
        s = decode_scalar(proof[32:])
    except ValueError as e:
        return str(e)
    T1 = pt_add(pt_mul(s, G), pt_mul(cc, B2))
    T2 = pt_add(pt_mul(s, E), pt_mul(cc, P2))
    if T1 is INF or T2 is INF:
        return "T1 or T2 is the identity"
    want = H2S(L_DLEQ_CHALLENGE, compress(G), compress(B2), compress(E), compress(P2),
               compress(T1), compress(T2), grant_id, nonce)
    return None if want == cc else "challenge mismatch"


def check_dleq(name: str, c: dict, P2, proof: bytes) -> None:
    why = dleq_verify(c["B2"], c["E"], P2, c["grant_id"], c["request_nonce"], proof)
    check(f"{name}: DLEQ proof verifies (B2, E, P2, grant_id, request nonce)", why is None, why or "")
    c.setdefault("proofs", []).append((name, P2, proof))


def check_dleq_vector(V: Vectors, c: dict) -> None:
    P2 = decode_point(V.hex("p2"))
    check("p2 = b2·E", pt_mul(c["b2"], c["E"]) == P2)
    proof = V.hex("dleq_proof")
    check_dleq("dleq_proof", c, P2, proof)
    c.update(P2=P2, dleq_proof=proof)


def check_sealed(V: Vectors, c: dict) -> None:
    srs: Party = c["srs"]
    sreq = V.hex("sealed_request")
    eq("sealed request: length 75 + 198 = 273", len(sreq), 273)
    r = Reader(sreq, 0x0C)
    enc = r.take(65)
    ct = r.lp(65536)
    r.end()
    ss = decap(enc, srs.sk_enc, None)
    hctx = HpkeContext(MODE_BASE, ss, L_SEALED_REQUEST, AEAD_AES256GCM)
    try:
        pt = hctx.open(b"", ct, 0)
    except InvalidTag:
        fail("sealed request: opens with the SRS key (HPKE base, raw info label, seq 0)", "tag mismatch")
        return
    ok("sealed request: opens with the SRS key (HPKE base, raw info label, seq 0)")
    eq("sealed request: plaintext is reencrypt_request", pt, c["request"])
    answer_key = hctx.export(L_SEALED_ANSWER, 32)
    sans = V.hex("sealed_answer")
    r = Reader(sans, 0x0D)
    act = r.lp(65536)
    r.end()
    eq("sealed answer: length 10 + 655 + 16", len(sans), 10 + 655 + 16)
    try:
        apt = AESGCM(answer_key).decrypt(bytes(12), act, b"")
    except InvalidTag:
        fail("sealed answer: opens under Export(SEALED_ANSWER, 32), zero nonce, empty AAD", "tag mismatch")
        return
    ok("sealed answer: opens under Export(SEALED_ANSWER, 32), zero nonce, empty AAD")
    eq("sealed answer: plaintext is reencrypt_answer", apt, V.hex("reencrypt_answer"))


def check_head(name: str, head: bytes, c: dict) -> None:
    eq(f"{name}: length 150", len(head), 150)
    r = Reader(head, 0x09)
    eq(f"{name}: record_id (offset 6)", r.take(32), c["record_id"])
    eq(f"{name}: version (offset 38)", r.u64(), 1)
    eq(f"{name}: manifest_hash (offset 46)", r.take(32), c["manifest_hash"])
    eq(f"{name}: timestamp (offset 78) = the SRS's now", r.u64(), T_SRS_NOW)
    eq(f"{name}: signature offset 86", r.i, 86)
    r.take(64)
    r.end()
    check_signed(name, c["srs"], head, 86)


def check_answer(V: Vectors, c: dict) -> None:
    ans = V.hex("reencrypt_answer")
    eq("answer: length 655 + 32·k with k = 0", len(ans), 655)
    r = Reader(ans, 0x06)
    eq("answer: grant_id (offset 6)", r.take(16), c["grant_id"])
    eq("answer: request nonce (offset 22)", r.take(16), c["request_nonce"])
    P2 = decode_point(r.take(33))
    eq("answer: P2 (offset 38) = vector p2", P2, c["P2"])
    proof = r.take(64)
    check_dleq("answer proof (offset 71)", c, P2, proof)
    note(f"answer proof {'equals' if proof == c['dleq_proof'] else 'differs from'} the vector's dleq_proof")
    # receipt
    index = r.u64()
    eq("answer receipt: index (offset 135)", index, 0)
    entry_len_off = r.i
    entry = r.lp(1024)
    eq("answer receipt: lp(entry) starts at offset 143", entry_len_off, 143)
    eq("answer receipt: entry is the 167-byte audit entry", entry, V.hex("audit_entry"))
    k_off = r.i
    k = r.u8()
    eq("answer receipt: path_len k at offset 143 + 4 + 167 = 314", k_off, 314)
    eq("answer receipt: path_len k = 0", k, 0)
    path = [r.take(32) for _ in range(k)]
    th_off = r.i
    tree_head = r.lp(1024)
    eq("answer receipt: lp(tree head) at offset 315 + 32·k", th_off, 315 + 32 * k)
    eq("answer receipt: tree head is audit_tree_head", tree_head, V.hex("audit_tree_head"))
    head_off = r.i
    head = r.lp(1024)
    eq("answer: lp(head) at offset 437 + 32·k", head_off, 437 + 32 * k)
    eq("answer: embedded head is the vector head", head, V.hex("head"))
    sig_off = r.i
    eq("answer: signature at offset 591 + 32·k", sig_off, 591 + 32 * k)
    r.take(64)
    r.end()
    check_signed("answer", c["srs"], ans, sig_off)

    # audit entry (§ Audit log)
    eq("audit entry: length 167", len(entry), 167)
    er = Reader(entry, 0x0E)
    eq("audit entry: timestamp (offset 6) = the SRS's now", er.u64(), T_SRS_NOW)
    eq("audit entry: grant_id (offset 14)", er.take(16), c["grant_id"])
    eq("audit entry: grantee party_id (offset 30)", er.take(32), c["grantee"].party_id)
    eq("audit entry: record_id (offset 62)", er.take(32), c["record_id"])
    eq("audit entry: section_id (offset 94)", er.take(32), c["section_id"])
    eq("audit entry: version (offset 126)", er.u64(), 1)
    eq("audit entry: request hash (offset 134)", er.take(32), c["request_hash"])
    eq("audit entry: decision allowed (offset 166)", er.u8(), 0)
    er.end()

    # audit tree head
    eq("audit tree head: length 118", len(tree_head), 118)
    tr = Reader(tree_head, 0x0F)
    size = tr.u64()
    eq("audit tree head: tree_size (offset 6) = 1", size, 1)
    root = tr.take(32)
    ts = tr.u64()
    eq("audit tree head: timestamp (offset 46) = the SRS's now", ts, T_SRS_NOW)
    eq("audit tree head: signature offset 54", tr.i, 54)
    tr.take(64)
    tr.end()
    check_signed("audit tree head", c["srs"], tree_head, 54)
    eq("audit tree head: root = leaf(entry) (a one-leaf tree)", root, leaf(entry))
    check("answer receipt: RFC 9162 inclusion of leaf(entry) at index 0 in the tree head",
          verify_inclusion(index, size, leaf(entry), path, root))

    check_head("head", V.hex("head"), c)


def check_grantee_dek(V: Vectors, c: dict) -> None:
    Z = pt_add(pt_mul(c["b1"], c["E"]), c["P2"])
    check("grantee Z = b1·E + P2 equals the owner's a·E", Z == pt_mul(c["a"], c["E"]))
    dek, kc = derive_dek(Z, c["E"], c["A"], c["record_id"], c["section_id"], c["epoch_id"],
                         rd_u64(c["entry"], 130))
    eq("grantee DEK from Z = b1·E + P2 (version = written_at_version)", dek, V.hex("dek"))
    eq("grantee kc equals the blob header's", kc, c["blob_header"][144:176])


def check_revocation(V: Vectors, c: dict) -> None:
    rev = V.hex("revocation")
    eq("revocation: length 158", len(rev), 158)
    r = Reader(rev, 0x07)
    eq("revocation: grant_id (offset 6)", r.take(16), c["grant_id"])
    eq("revocation: record_id (offset 22)", r.take(32), c["record_id"])
    eq("revocation: section_id (offset 54)", r.take(32), c["section_id"])
    eq("revocation: timestamp (offset 86)", r.u64(), T_REVOKE)
    r.take(64)
    r.end()
    check_signed("revocation", c["owner"], rev, 94)
    rev_hash = statement_hash(rev[:94])
    rc = V.hex("revocation_receipt")
    eq("revocation receipt: length 126", len(rc), 126)
    r = Reader(rc, 0x08)
    eq("revocation receipt: grant_id (offset 6)", r.take(16), c["grant_id"])
    eq("revocation receipt: revocation_hash = StatementHash(revocation[0..94]) (offset 22)", r.take(32), rev_hash)
    eq("revocation receipt: timestamp (offset 54)", r.u64(), T_RECEIPT)
    r.take(64)
    r.end()
    check_signed("revocation receipt", c["srs"], rc, 62)


def check_directory(V: Vectors, c: dict) -> None:
    for who in ("owner", "grantee"):
        p: Party = c[who]
        d = V.hex(f"{who}_directory_entry")
        eq(f"{who} directory entry: length 144", len(d), 144)
        r = Reader(d, 0x0A)
        eq(f"{who} directory entry: public identity (offset 6)", r.take(66), p.public)
        eq(f"{who} directory entry: created_at (offset 72)", r.u64(), T_DIRECTORY)
        r.take(64)
        r.end()
        check_signed(f"{who} directory entry", p, d, 80)


def check_token(name: str, tok: bytes, signer: Party, purpose: int, subject: bytes) -> bytes:
    r = Reader(tok, 0x10)
    eq(f"{name}: party identity (offset 6)", r.take(66), signer.public)
    eq(f"{name}: purpose (offset 72)", r.u8(), purpose)
    subj = r.lp(64)
    eq(f"{name}: subject (lp at offset 73)", subj, subject)
    l = len(subj)
    eq(f"{name}: length 165 + l", len(tok), 165 + l)
    eq(f"{name}: timestamp (offset 77 + l)", r.u64(), T_TOKENS)
    nonce = r.take(16)
    eq(f"{name}: signature at offset 101 + l", r.i, 101 + l)
    r.take(64)
    r.end()
    check_signed(name, signer, tok, 101 + l)
    return nonce


def check_tokens(V: Vectors, c: dict) -> None:
    nonces = []
    nonces.append(check_token("token_upload_blob", V.hex("token_upload_blob"), c["owner"], 1,
                              c["chunk_root"] + u64(len(c["blob"]))))
    nonces.append(check_token("token_read_inbox", V.hex("token_read_inbox"), c["grantee"], 2, b""))
    nonces.append(check_token("token_clear_inbox", V.hex("token_clear_inbox"), c["grantee"], 6,
                              statement_hash(c["grant"][:405])))
    check("tokens: nonces are distinct", len(set(nonces)) == 3)
    c["token_nonces"] = nonces


def check_inbox(V: Vectors, c: dict) -> None:
    eq("inbox_item_id = StatementHash(grant statement payload)", statement_hash(c["grant"][:405]), V.hex("inbox_item_id"))


def check_wrapped_seed(V: Vectors, c: dict) -> None:
    """§ Wrapped seed (kind 0x11): the owner's seed under the vector's passphrase."""
    w = V.hex("wrapped_seed")
    passphrase = V.text("wrapped_seed_passphrase")
    eq("wrapped seed is 94 bytes", len(w), 94)
    eq("wrapped seed header", w[:6], b"SPHR\x11\x01")
    memory_kib, iterations, lanes = rd_u32(w, 6), rd_u32(w, 10), rd_u32(w, 14)
    check("wrapped seed cost is within 19 MiB..1 GiB, 2..16 passes, 1..4 lanes",
          19 * 1024 <= memory_kib <= 1024 * 1024 and 2 <= iterations <= 16 and 1 <= lanes <= 4,
          f"{memory_kib} KiB, {iterations} passes, {lanes} lanes")
    salt, nonce, ct = w[18:34], w[34:46], w[46:]

    def key(pw: str) -> bytes:
        return Argon2id(salt=salt, length=32, iterations=iterations, lanes=lanes,
                        memory_cost=memory_kib).derive(pw.encode("utf-8"))

    try:
        seed = AESGCM(key(passphrase)).decrypt(nonce, ct, w[:46])
        eq("wrapped seed opens (Argon2id v0x13, AES-256-GCM, aad = every byte before ct) to owner_seed",
           seed, c["owner"].seed)
    except InvalidTag:
        fail("wrapped seed opens under its passphrase", "AES-GCM tag mismatch")
    try:
        AESGCM(key(passphrase + " ")).decrypt(nonce, ct, w[:46])
        fail("wrapped seed refuses another passphrase", "it opened")
    except InvalidTag:
        ok("wrapped seed refuses another passphrase")
    c.update(wrap_salt=salt, wrap_nonce=nonce)


def test_rng_stream(nblocks: int = 64) -> bytes:
    """§ Test vectors: block j = SHA-256(SHA-256("SeSPHR-v1 known-answer vectors") ‖ u64(j))."""
    s = sha256(b"SeSPHR-v1 known-answer vectors")
    return b"".join(sha256(s + u64(j)) for j in range(nblocks))


def check_test_rng(V: Vectors, c: dict) -> None:
    """§ Test vectors: "All randomness comes from TestRng".

    Each drawn value must come from the stream (its offset is printed, to
    compare with the spec's table of draws). Where a derived value (r, b2,
    HPKE ephemeral keys, the proofs' fresh32) is reproduced from a window of
    the stream, that is reported as `ok`; one that is not is only a `note`.
    """
    rng = test_rng_stream()
    drawn = [
        ("owner_seed", c["owner"].seed),
        ("grantee_seed", c["grantee"].seed),
        ("srs_seed", c["srs"].seed),
        ("record_nonce", c["record_nonce"]),
        ("epoch_id", c["epoch_id"]),
        ("grant_id", c["grant_id"]),
        ("request nonce", c["request_nonce"]),
    ] + [(f"token nonce {i}", n) for i, n in enumerate(c.get("token_nonces", []))] + [
        ("wrapped seed salt", c["wrap_salt"]),
        ("wrapped seed nonce", c["wrap_nonce"]),
        ("attachment key", c["attachment_key"]),
    ]
    for name, v in drawn:
        off = rng.find(v)
        check(f"TestRng: {name} is drawn from the stream", off >= 0, f"not in the first {len(rng)} bytes")
        if off >= 0:
            note(f"TestRng: {name} = stream bytes [{off}, {off + len(v)})")

    windows = range(0, len(rng) - 32 + 1, 16)

    def reproduce(name: str, pred) -> None:
        for off in windows:
            if pred(rng[off : off + 32]):
                ok(f"TestRng reproduces {name} from stream bytes [{off}, {off + 32})")
                return
        note(f"TestRng: {name} not reproduced (draw order and sampling are not specified)")

    def as_scalar(b: bytes) -> int:
        v = int.from_bytes(b, "big")
        return v if 0 < v < N else 0

    E, B2 = c["E"], c["B2"]
    reproduce("r (E = r·G, r = the 32 bytes as a big-endian scalar)",
              lambda b: as_scalar(b) and pt_mul(as_scalar(b), G) == E)
    reproduce("b2 (B2 = b2·G, b2 = the 32 bytes as a big-endian scalar)",
              lambda b: as_scalar(b) and as_scalar(b) == c["b2"])
    for name, key in (("b1_envelope", "b1_envelope"), ("b2_envelope", "b2_envelope"), ("sealed_request", "sealed_request")):
        enc = V.hex(key)[6:71]
        reproduce(f"the HPKE ephemeral key of {name} (RFC 9180 DeriveKeyPair(ikm = 32 bytes))",
                  lambda b, enc=enc: uncompressed(pt_mul(derive_key_pair(b), G)) == enc)
    fixed_tail = (c["grant_id"], c["request_nonce"])
    for name, P2, proof in c.get("proofs", []):
        k = (int.from_bytes(proof[32:], "big") + int.from_bytes(proof[:32], "big") * c["b2"]) % N
        head = (scalar_bytes(c["b2"]), compress(B2), compress(E), compress(P2))
        reproduce(f"{name}: the hedged nonce k = H2S(DLEQ_NONCE, b2, B2, E, P2, grant_id, request_nonce, fresh32)",
                  lambda b, head=head, k=k: H2S(L_DLEQ_NONCE, *head, *fixed_tail, b) == k)


def check_spec_quotes(V: Vectors, c: dict, path: str) -> None:
    text = open(path, encoding="utf-8").read()
    m = re.search(r"Selected values:\s*```(.*?)```", text, re.S)
    if not m:
        fail("spec: 'Selected values' block found", path)
        return
    quoted = {}
    for line in m.group(1).strip().splitlines():
        parts = line.split()
        if parts[:2] == ["request", "nonce"]:
            quoted["request_nonce"] = parts[2]
        elif parts[:2] == ["header_hash", "(AAD)"]:
            quoted["header_hash"] = parts[2]
        elif len(parts) >= 2:
            quoted[parts[0]] = parts[1]
    derived = {
        "owner_seed": c["owner"].seed.hex(),
        "owner_signing_key": c["owner"].pk_sign.hex(),
        "owner_encryption_key": c["owner"].pk_enc.hex(),
        "owner_party_id": c["owner"].party_id.hex(),
        "owner_fingerprint": c["owner"].fingerprint,
        "record_nonce": c["record_nonce"].hex(),
        "record_id": c["record_id"].hex(),
        "section_id": c["section_id"].hex(),
        "epoch_id": c["epoch_id"].hex(),
        "section_key_A": compress(c["A"]).hex(),
        "capsule_E": compress(c["E"]).hex(),
        "dek": c["dek"].hex(),
        "key_commitment": c["kc"].hex(),
        "header_hash": c["header_hash"].hex(),
        "chunk_root": c["chunk_root"].hex(),
        "index_id": c["index_id"].hex(),
        "manifest_hash": c["manifest_hash"].hex(),
        "grant_id": c["grant_id"].hex(),
        "request_nonce": c["request_nonce"].hex(),
        "p2": compress(c["P2"]).hex(),
    }
    for key, val in quoted.items():
        if key in derived:
            eq(f"spec quotes {key}", val, derived[key])
        else:
            fail(f"spec quotes {key}", "no derived value to compare with")
    missing = sorted(set(derived) - set(quoted))
    check("spec: every selected value is quoted", not missing, f"not quoted: {missing}")
    # The quoted chunk index leaves
    m2 = re.search(r"The chunk index is `SPHR 0b 01 ‖ (\w+)`.*?```(.*?)```", text, re.S)
    if m2:
        eq("spec quotes the chunk index leaf count", m2.group(1), u32(len(c["leaves"])).hex())
        got = [ln.split()[0] for ln in m2.group(2).strip().splitlines()]
        eq("spec quotes the chunk index leaves", got, [x.hex() for x in c["leaves"]])
    else:
        fail("spec: chunk index leaves block found", path)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
