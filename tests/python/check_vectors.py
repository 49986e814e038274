#!/usr/bin/env python3
"""Independent check of the SeSPHR known-answer vectors.

An implementation of docs/protocol.md that shares no code with the Rust,
with Python 3.11, the standard library and the `cryptography` package. It
re-derives or verifies every value in client/tests/vectors/kat.json and
prints one line per check, `ok <name>` or `FAIL <name>: why`; the exit status
is non-zero if any check fails. Lines starting with `note` are informational.

    python check_vectors.py [path/to/kat.json] [--spec path/to/protocol.md]

With --spec (default: the repository's docs/protocol.md, found from the
vector file's or this script's location), the values quoted in the spec's "Test vectors" section are
compared with the file and with what this program derives, and the spec's
byte tables, labels, token purposes and kinds table with this program's
reading of them.

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
    """Sequential reader with the common decoder rules of § Object framing.

    `versions`: the format versions the kind has (§ Object framing: 1, or 1
    and 2 for the manifest and the audit entry); the one found is `version`.
    """

    def __init__(self, data: bytes, kind: int, versions: tuple[int, ...] = (1,)):
        self.b = data
        self.i = 0
        if data[0:4] != b"SPHR":
            raise ValueError("malformed: brand")
        if data[4] != kind:
            raise ValueError(f"wrong_kind: {data[4]:#04x} != {kind:#04x}")
        if data[5] not in versions:
            raise ValueError("unknown_version")
        self.version = data[5]
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
L_AUDIT_LISTING = b"SeSPHR-v1/audit-listing"
L_MAIL = b"SeSPHR-v1/mail"
L_INVITATION_ID = b"SeSPHR-v1/invitation/id"
L_INVITATION_MAC = b"SeSPHR-v1/invitation/mac"
L_INVITATION_HPKE = b"SeSPHR-v1/invitation/hpke"
L_INVITATION_ACCEPT = b"SeSPHR-v1/invitation/accept"
L_OWNER_STATE = b"SeSPHR-v1/owner-state"
L_SAFETY_NUMBER = b"SeSPHR-v1/safety-number"
L_SHL_OWNER_KEY = b"SeSPHR-v1/shl-owner-key"

# § Labels: the constant names of the table, for comparing it with the above.
LABELS = {
    "IDENTITY_SIGN": L_IDENTITY_SIGN, "IDENTITY_ENC": L_IDENTITY_ENC,
    "SECTION_ID_KEY": L_SECTION_ID_KEY, "PARTY_ID": L_PARTY_ID,
    "FINGERPRINT": L_FINGERPRINT, "RECORD": L_RECORD,
    "SECTION_SECRET": L_SECTION_SECRET, "DEK": L_DEK, "KEY_COMMIT": L_KEY_COMMIT,
    "BLOB_HEADER": L_BLOB_HEADER, "STATEMENT": L_STATEMENT, "SIGNATURE": L_SIGNATURE,
    "ENVELOPE_B1": L_ENVELOPE_B1, "ENVELOPE_B2": L_ENVELOPE_B2,
    "ENVELOPE_HASH": L_ENVELOPE_HASH, "DLEQ_NONCE": L_DLEQ_NONCE,
    "DLEQ_CHALLENGE": L_DLEQ_CHALLENGE, "SEALED_REQUEST": L_SEALED_REQUEST,
    "SEALED_ANSWER": L_SEALED_ANSWER, "RECORD_NONCE": L_RECORD_NONCE,
    "ATTACHMENT_KEY": L_ATTACHMENT_KEY, "ATTACHMENT_DEK": L_ATTACHMENT_DEK,
    "ATTACHMENT_KEY_COMMIT": L_ATTACHMENT_KEY_COMMIT,
    "ATTACHMENT_HEADER": L_ATTACHMENT_HEADER, "AUDIT_LISTING": L_AUDIT_LISTING,
    "MAIL": L_MAIL,
    "INVITATION_ID": L_INVITATION_ID, "INVITATION_MAC": L_INVITATION_MAC,
    "INVITATION_HPKE": L_INVITATION_HPKE, "INVITATION_ACCEPT": L_INVITATION_ACCEPT,
    "OWNER_STATE": L_OWNER_STATE, "SAFETY_NUMBER": L_SAFETY_NUMBER,
    "SHL_OWNER_KEY": L_SHL_OWNER_KEY,
}


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
T_AUDIT_2 = 1767225601900      # the second entry about the record, and its head
T_MANIFEST_2 = 1767225602500   # created_at of the format-2 manifest
ROLE_PHYSICIAN = 2
# § Request tokens: the purpose bytes
PURPOSES = {"UploadBlob": 1, "ReadInbox": 2, "ListGrants": 3, "ReadAudit": 4, "DeleteBlob": 5,
            "ClearInbox": 6, "SendMail": 7, "ReadMail": 8, "ClearMail": 9,
            "PutLink": 10, "ListLinks": 11, "RevokeLink": 12,
            "PutState": 13, "GetState": 14,
            "ListEmergency": 16, "EmergencyStatus": 17}


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
    with Group("audit log"):
        check_audit_log(V, ctx)
    with Group("receipt bundle"):
        check_receipt_bundle(V, ctx)
    with Group("mail"):
        check_mail(V, ctx)
    with Group("audit export"):
        check_audit_export(V, ctx)
    with Group("manifest 2"):
        check_manifest_2(V, ctx)
    with Group("grantee dek"):
        check_grantee_dek(V, ctx)
    with Group("revocation"):
        check_revocation(V, ctx)
    with Group("directory"):
        check_directory(V, ctx)
    with Group("tokens"):
        check_tokens(V, ctx)
    with Group("mail tokens"):
        check_mail_tokens(V, ctx)
    with Group("inbox"):
        check_inbox(V, ctx)
    with Group("wrapped seed"):
        check_wrapped_seed(V, ctx)
    with Group("attachment"):
        check_attachment(V, ctx)
    with Group("invitations and contacts"):
        check_invitations(V, ctx)
    with Group("emergency access"):
        check_emergency(V, ctx)
    with Group("access requests"):
        check_access_requests(V, ctx)
    with Group("shl owner key"):
        check_shl_owner_key(V, ctx)
    with Group("sharded placement"):
        check_sharded(V, ctx)
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


# § Sharded placement: GF(2^8) with x^8 + x^4 + x^3 + x^2 + 1, written here from the spec.
GF_EXP = [0] * 512
GF_LOG = [0] * 256
_x = 1
for _i in range(255):
    GF_EXP[_i] = _x
    GF_LOG[_x] = _i
    _x <<= 1
    if _x & 0x100:
        _x ^= 0x11D
for _i in range(255, 512):
    GF_EXP[_i] = GF_EXP[_i - 255]


def gf_mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else GF_EXP[GF_LOG[a] + GF_LOG[b]]


def gf_pow(a: int, n: int) -> int:
    if n == 0:
        return 1
    return 0 if a == 0 else GF_EXP[(GF_LOG[a] * n) % 255]


def gf_inv_matrix(m: list[list[int]]) -> list[list[int]]:
    """Gauss-Jordan over GF(2^8)."""
    k = len(m)
    a = [row[:] + [1 if i == j else 0 for j in range(k)] for i, row in enumerate(m)]
    for col in range(k):
        piv = next(r for r in range(col, k) if a[r][col])
        a[col], a[piv] = a[piv], a[col]
        inv = GF_EXP[255 - GF_LOG[a[col][col]]]
        a[col] = [gf_mul(inv, v) for v in a[col]]
        for r in range(k):
            if r != col and a[r][col]:
                f = a[r][col]
                a[r] = [v ^ gf_mul(f, w) for v, w in zip(a[r], a[col])]
    return [row[k:] for row in a]


def gf_mat_mul(a: list[list[int]], b: list[list[int]]) -> list[list[int]]:
    out = []
    for row in a:
        o = []
        for j in range(len(b[0])):
            v = 0
            for t, x in enumerate(row):
                v ^= gf_mul(x, b[t][j])
            o.append(v)
        out.append(o)
    return out


def rs_matrix(k: int, n: int) -> list[list[int]]:
    """M = V · V_top^-1, V[r][c] = r^c."""
    vand = [[gf_pow(r, c) for c in range(k)] for r in range(n)]
    return gf_mat_mul(vand, gf_inv_matrix(vand[:k]))


def gf_combine(coefs: list[int], pieces: list[bytes]) -> bytes:
    """Σ coef·piece, bytewise."""
    acc = 0
    for f, p in zip(coefs, pieces):
        table = bytes(gf_mul(f, x) for x in range(256))
        acc ^= int.from_bytes(p.translate(table), "big")
    return acc.to_bytes(len(pieces[0]), "big")


def check_sharded(V: Vectors, c: dict) -> None:
    """§ Sharded placement: the payload, the code, shards, roots, the sealed placement, manifest format 3."""
    for key in ("shard_params", "shard_roots", "shard_index_ids", "shard_sha256", "shard_lengths"):
        V.used.add(key)
    k, n, size = V.d["shard_params"]
    blob = c["blob"]
    index = V.hex("chunk_index")
    payload = index + blob[184:]
    eq("payload_len = 10 + 32·(N + 1) + blob_len − 184", len(payload), 10 + 32 * (len(c["sealed_chunks"]) + 1) + len(blob) - 184)
    eq("shard piece_len = min(2^18, ceil(payload_len / k))", size, min(1 << 18, -(-len(payload) // k)))
    stripes = max(1, -(-len(payload) // (k * size)))
    filled = payload + bytes(stripes * k * size - len(payload))
    M = rs_matrix(k, n)
    eq("code matrix: systematic (first k rows are the identity)", M[:k], [[1 if i == j else 0 for j in range(k)] for i in range(k)])
    shards = []
    for i in range(n):
        header = b"SPHR\x23\x01" + bytes([k, n, i]) + u32(size) + u64(stripes)
        pieces = []
        for j in range(stripes):
            data = [filled[(j * k + d) * size:(j * k + d + 1) * size] for d in range(k)]
            pieces.append(gf_combine(M[i], data))
        shard = header + b"".join(pieces)
        shards.append((header, pieces, shard))
        eq(f"shard {i}: length 21 + M·piece_len", len(shard), V.d["shard_lengths"][i])
        eq(f"shard {i}: SHA-256 of the coded shard", sha256(shard).hex(), V.d["shard_sha256"][i])
        leaves = [piece_leaf(header)] + [piece_leaf(p) for p in pieces]
        eq(f"shard {i}: root = MTH(leaf(header), leaf(piece_j)…)", mth(leaves).hex(), V.d["shard_roots"][i])
        idx = b"SPHR\x0b\x01" + u32(len(leaves)) + b"".join(leaves)
        eq(f"shard {i}: index address = SHA-256(its chunk index)", sha256(idx).hex(), V.d["shard_index_ids"][i])
    # Any k shards give the data back: decode from the last k (a parity shard among them).
    rows = list(range(n - k, n))
    inv = gf_inv_matrix([M[r] for r in rows])
    back = b""
    for j in range(stripes):
        have = [shards[r][1][j] for r in rows]
        back += b"".join(gf_combine(inv[d], have) for d in range(k))
    eq("decode from shards " + ", ".join(map(str, rows)) + " gives the payload back", back[:len(payload)], payload)
    # § Capsule and key schedule: PK
    Z = pt_mul(c["a"], c["E"])
    prk = hkdf_extract(compress(c["E"]) + compress(c["A"]), Z[0].to_bytes(32, "big"))
    pk = Expand(prk, b"SeSPHR-v1/placement", c["record_id"], c["section_id"], c["epoch_id"], u64(1))
    eq("PK = Expand(PRK, placement, record_id, section_id, epoch_id, u64(v))", pk, V.hex("placement_key"))
    # The pool's record: (relay tag, u16 shard mask) per relay, tags ascending.
    V.used.add("placement_pool")
    pool = V.d["placement_pool"]
    slots = sorted((sha256(b"SeSPHR-v1/relay\x00" + url.rstrip("/").encode()), mask) for url, mask in pool)
    all_shards = (1 << n) - 1
    for _, mask in slots:
        eq("placement record: each relay 1 to k-1 of the n shards", 0 < mask <= all_shards and bin(mask).count("1") < k, True)
    union = 0
    for _, mask in slots:
        union |= mask
    eq("placement record: every shard some relay's", union, all_shards)
    placement = b"SPHR\x24\x02" + bytes([k, n]) + u32(size) + blob[:184] + b"".join(
        bytes.fromhex(r) + bytes.fromhex(x) for r, x in zip(V.d["shard_roots"], V.d["shard_index_ids"]))
    placement += bytes([len(slots)]) + b"".join(tag + mask.to_bytes(2, "big") for tag, mask in slots)
    eq("placement: SPHR 24 02, k, n, u32 piece_len, blob header, (root, index address) per shard, "
       "m, (SHA-256(SeSPHR-v1/relay 00 url), u16 shards) per relay", placement, V.hex("placement"))
    eq("placement: 197 + 64·n + 34·m bytes", len(placement), 197 + 64 * n + 34 * len(slots))
    aad = c["chunk_root"] + u64(len(blob)) + c["index_id"]
    sealed = AESGCM(pk).encrypt(bytes(12), placement, aad)
    eq("sealed placement = AES-256-GCM(PK, 0^12, chunk_root ‖ u64(blob_len) ‖ index_id)", sealed, V.hex("placement_sealed"))
    m3 = V.hex("manifest_sharded")
    owner: Party = c["owner"]
    r = Reader(m3, 0x02, versions=(1, 2, 3))
    eq("manifest_sharded: header SPHR 02 03 (format 3)", m3[:6], b"SPHR\x02\x03")
    eq("manifest_sharded: owner identity", r.take(66), owner.public)
    eq("manifest_sharded: record_id", r.take(32), c["record_id"])
    eq("manifest_sharded: record_nonce", r.take(16), c["record_nonce"])
    eq("manifest_sharded: version 3", r.u64(), 3)
    m2 = V.hex("manifest_2")
    eq("manifest_sharded: previous = manifest_2's statement hash", r.take(32), statement_hash(m2[:-64]))
    eq("manifest_sharded: created_at", r.u64(), T_MANIFEST_2 + 500)
    eq("manifest_sharded: one section", r.u32(), 1)
    eq("manifest_sharded: the entry is the version-1 manifest's", r.take(210), c["entry"])
    eq("manifest_sharded: placement count p = 1", r.u32(), 1)
    eq("manifest_sharded: placement's section id", r.take(32), c["section_id"])
    eq("manifest_sharded: lp(sealed placement)", r.lp(3413), sealed)
    eq("manifest_sharded: lp(audit head) = audit_tree_head_2", r.lp(1024), c["tree_head_2"])
    sig_off = r.i
    r.take(64)
    r.end()
    check_signed("manifest_sharded", owner, m3, sig_off)


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
    eq("sealed answer: length 10 + 695 + 16", len(sans), 10 + 695 + 16)
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
    eq("answer: length 695 + 32·k with k = 0", len(ans), 695)
    r = Reader(ans, 0x06)
    eq("answer: grant_id (offset 6)", r.take(16), c["grant_id"])
    eq("answer: request nonce (offset 22)", r.take(16), c["request_nonce"])
    P2 = decode_point(r.take(33))
    eq("answer: P2 (offset 38) = vector p2", P2, c["P2"])
    proof = r.take(64)
    check_dleq("answer proof (offset 71)", c, P2, proof)
    note(f"answer proof {'equals' if proof == c['dleq_proof'] else 'differs from'} the vector's dleq_proof")
    # receipt
    receipt_off = r.i
    index = r.u64()
    eq("answer receipt: index (offset 135)", index, 0)
    entry_len_off = r.i
    entry = r.lp(1024)
    eq("answer receipt: lp(entry) starts at offset 143", entry_len_off, 143)
    eq("answer receipt: entry is the 207-byte audit entry (format 2)", entry, V.hex("audit_entry"))
    k_off = r.i
    k = r.u8()
    eq("answer receipt: path_len k at offset 143 + 4 + 207 = 354", k_off, 354)
    eq("answer receipt: path_len k = 0", k, 0)
    path = [r.take(32) for _ in range(k)]
    th_off = r.i
    tree_head = r.lp(1024)
    eq("answer receipt: lp(tree head) at offset 355 + 32·k", th_off, 355 + 32 * k)
    eq("answer receipt: tree head is audit_tree_head", tree_head, V.hex("audit_tree_head"))
    c["answer_receipt"] = ans[receipt_off : r.i]
    head_off = r.i
    head = r.lp(1024)
    eq("answer: lp(head) at offset 477 + 32·k", head_off, 477 + 32 * k)
    eq("answer: embedded head is the vector head", head, V.hex("head"))
    sig_off = r.i
    eq("answer: signature at offset 631 + 32·k", sig_off, 631 + 32 * k)
    r.take(64)
    r.end()
    check_signed("answer", c["srs"], ans, sig_off)

    # audit entry (§ Audit log), format 2: the record's first entry
    eq("audit entry: length 207 (format 2)", len(entry), 207)
    e = decode_audit_entry(entry)
    eq("audit entry: header SPHR 0e 02", entry[:6], b"SPHR\x0e\x02")
    check_entry_fields("audit entry", e, c, T_SRS_NOW)
    eq("audit entry: record_seq (offset 167) = 0, the record's first entry", e["link"], (0, bytes(32)))
    c["entry_1"] = entry

    # audit tree head
    size, root, ts = check_tree_head("audit tree head", tree_head, c)
    eq("audit tree head: tree_size (offset 6) = 1", size, 1)
    eq("audit tree head: timestamp (offset 46) = the SRS's now", ts, T_SRS_NOW)
    eq("audit tree head: root = leaf(entry) (a one-leaf tree)", root, leaf(entry))
    check("answer receipt: RFC 9162 inclusion of leaf(entry) at index 0 in the tree head",
          verify_inclusion(index, size, leaf(entry), path, root))
    c["tree_head_1"] = tree_head

    check_head("head", V.hex("head"), c)


def check_entry_fields(name: str, e: dict, c: dict, timestamp: int) -> None:
    """The fields an entry of the scenario's request carries (§ Audit log)."""
    eq(f"{name}: timestamp (offset 6)", e["timestamp"], timestamp)
    eq(f"{name}: grant_id (offset 14)", e["grant_id"], c["grant_id"])
    eq(f"{name}: grantee party_id (offset 30)", e["grantee"], c["grantee"].party_id)
    eq(f"{name}: record_id (offset 62)", e["record_id"], c["record_id"])
    eq(f"{name}: section_id (offset 94)", e["section_id"], c["section_id"])
    eq(f"{name}: version (offset 126)", e["version"], 1)
    eq(f"{name}: request hash (offset 134)", e["request"], c["request_hash"])
    eq(f"{name}: decision allowed (offset 166)", e["decision"], 0)


def check_tree_head(name: str, th: bytes, c: dict) -> tuple[int, bytes, int]:
    """§ Audit log: kind 0x0f, 118 bytes, SRS-signed over [0, 54)."""
    eq(f"{name}: length 118", len(th), 118)
    tr = Reader(th, 0x0F)
    size = tr.u64()
    root = tr.take(32)
    ts = tr.u64()
    eq(f"{name}: signature offset 54", tr.i, 54)
    tr.take(64)
    tr.end()
    check_signed(name, c["srs"], th, 54)
    return size, root, ts


# --------------------------------------------------------------------------
# The audit log (§ Audit log, § The owner's checks, § Receipt bundle,
# § Audit export), written from the spec's rules
# --------------------------------------------------------------------------

DECISIONS = range(10)  # § Audit log: decision bytes 0..9 (8, 9: emergency access)


class AuditError(Exception):
    """A refusal with the spec's error code (and `listed`/`known` or `found`/`known`)."""

    def __init__(self, code: str, **detail):
        super().__init__(f"{code} {detail}" if detail else code)
        self.code = code
        self.detail = detail


def decode_audit_entry(b: bytes) -> dict:
    """Audit entry, kind 0x0e: format 2 (207 bytes, with its link), format 1
    (167, none) or format 3 (208: a purpose of use, then the link)."""
    r = Reader(b, 0x0E, versions=(1, 2, 3))
    e = {
        "format": r.version,
        "timestamp": r.u64(),
        "grant_id": r.take(16),
        "grantee": r.take(32),
        "record_id": r.take(32),
        "section_id": r.take(32),
        "version": r.u64(),
        "request": r.take(32),
        "decision": r.u8(),
        "link": None,
        "purpose": 0,
    }
    if e["decision"] not in DECISIONS:
        raise AuditError("malformed", why="unknown decision")
    if r.version == 3:
        # § Audit log, format 3: 1 = BTG; 0 (ordinary) is never format 3
        e["purpose"] = r.u8()
        if e["purpose"] != 1:
            raise AuditError("malformed", why="unknown purpose of use")
    if r.version >= 2:
        seq, prev = r.u64(), r.take(32)
        # § Audit log: record_prev is zero exactly for record_seq = 0
        if (seq == 0) != (prev == bytes(32)):
            raise AuditError("malformed", why="record_prev zero exactly when record_seq is 0")
        e["link"] = (seq, prev)
    r.end()
    return e


def log_chains(entries: list[bytes]) -> None:
    """§ Audit log, record chains: the rules a log (or an export) must keep.

    Entry j about a record has record_seq = j and record_prev = leaf of entry
    j − 1 about it; an unlinked entry may not follow any linked one.
    """
    nxt: dict[bytes, tuple[int, bytes]] = {}
    linked = False
    for i, b in enumerate(entries):
        e = decode_audit_entry(b)
        want = nxt.get(e["record_id"], (0, bytes(32)))
        if e["link"] is None:
            if linked:
                raise AuditError("chain_broken", entry=i, why="an unlinked entry follows linked ones")
        elif e["link"] != want:
            raise AuditError("chain_broken", entry=i, why="not the link its record's chain expects")
        else:
            linked = True
        nxt[e["record_id"]] = (want[0] + 1, leaf(b))


def verify_tree_head(th: bytes, srs_pk: bytes) -> tuple[int, bytes]:
    r = Reader(th, 0x0F)
    size, root, _ = r.u64(), r.take(32), r.u64()
    payload = th[: r.i]
    r.take(64)
    r.end()
    if verify_sig(srs_pk, payload, th[54:]) is not None:
        raise AuditError("bad_signature")
    return size, root


def read_receipt(r: Reader, srs_pk: bytes) -> dict:
    """§ Audit log, inclusion receipt: u64 index ‖ lp(entry) ‖ u8 k ‖ k×32 ‖ lp(tree head)."""
    start = r.i
    index = r.u64()
    entry = r.lp(1024)
    e = decode_audit_entry(entry)
    k = r.u8()
    if k > 64:
        raise AuditError("malformed", why="audit path too long")
    path = [r.take(32) for _ in range(k)]
    head = r.lp(1024)
    size, root = verify_tree_head(head, srs_pk)
    if not verify_inclusion(index, size, leaf(entry), path, root):
        raise AuditError("bad_proof")
    return {"index": index, "entry": entry, "decoded": e, "path": path, "head": head,
            "tree_size": size, "bytes": r.b[start : r.i]}


def decode_bundle(b: bytes, srs_pk: bytes) -> tuple[bytes, list[dict]]:
    """§ Receipt bundle (kind 0x15), with every rejection in the spec's order."""
    r = Reader(b, 0x15)
    record = r.take(32)
    n = r.u8()
    if n == 0 or n > 32:
        raise AuditError("malformed", why="1 to 32 receipts")
    receipts = []
    for _ in range(n):
        rc = read_receipt(r, srs_pk)
        if rc["decoded"]["record_id"] != record:
            raise AuditError("binding_mismatch")
        receipts.append(rc)
    r.end()
    return record, receipts


def listing_digest(pairs: list[tuple[int, bytes]]) -> bytes:
    """§ The owner's checks, audit mark: H(AUDIT_LISTING, u64(i) ‖ leaf(e), …)."""
    return H(L_AUDIT_LISTING, *(u64(i) + lf for i, lf in pairs))


def owner_listing_check(record: bytes, served: bytes, srs_pk: bytes, rows, receipts=(), mark=None):
    """§ The owner's checks, steps 6–9 (steps 1–5 with nothing kept: the head verifies).

    rows: [(index, entry bytes, path)], receipts: as read_receipt returns,
    mark: (record, tree_size, count, digest) or None. Returns the new mark.
    """
    size, root = verify_tree_head(served, srs_pk)
    pairs: list[tuple[int, bytes]] = []
    last_linked = False
    for k, (index, entry, path) in enumerate(rows):
        if pairs and index <= pairs[-1][0]:
            raise AuditError("malformed", why="indices not increasing")
        e = decode_audit_entry(entry)
        if e["record_id"] != record:
            raise AuditError("binding_mismatch")
        lf = leaf(entry)
        if not verify_inclusion(index, size, lf, path, root):
            raise AuditError("bad_proof")
        if e["link"] is not None:
            seq, prev = e["link"]
            if seq > k:
                raise AuditError("audit_incomplete", listed=k, known=seq)
            if seq < k or prev != (pairs[-1][1] if pairs else bytes(32)):
                raise AuditError("chain_broken")
            last_linked = True
        elif last_linked:
            raise AuditError("chain_broken")
        pairs.append((index, lf))
    for rc in receipts:
        if rc["decoded"]["record_id"] != record:
            raise AuditError("binding_mismatch")
    for rc in receipts:
        if rc["tree_size"] > size:
            raise AuditError("stale", found=size, known=rc["tree_size"])
        if (rc["index"], leaf(rc["entry"])) not in pairs:
            n = len(pairs)
            link = rc["decoded"]["link"]
            raise AuditError("audit_incomplete", listed=n, known=max(n + 1, (link[0] + 1) if link else 0))
    if mark is not None:
        m_record, m_size, m_count, m_digest = mark
        if m_record != record:
            raise AuditError("binding_mismatch")
        if m_size > size:
            raise AuditError("stale", found=size, known=m_size)
        below = [p for p in pairs if p[0] < m_size]
        if len(below) != m_count or listing_digest(below) != m_digest:
            raise AuditError("audit_incomplete", listed=len(below), known=m_count)
    return (record, size, len(pairs), listing_digest(pairs))


def sign_tree_head(srs: "Party", size: int, root: bytes, ts: int) -> bytes:
    """A tree head signed with the vectors' SRS key (to build a lying SRS's views)."""
    payload = b"SPHR\x0f\x01" + u64(size) + root + u64(ts)
    return payload + sign_deterministic(srs.sk_sign, payload)


def expect_refusal(name: str, code: str, fn, **detail) -> None:
    """A negative check: fn() must raise the spec's error `code` (with `detail`)."""
    try:
        fn()
    except AuditError as e:
        got = (e.code, {k: e.detail.get(k) for k in detail})
        eq(name, got, (code, detail))
        return
    except ValueError as e:  # the Reader's framing errors
        eq(name, str(e).split(":")[0], code)
        return
    fail(name, "accepted")


def check_audit_log(V: Vectors, c: dict) -> None:
    """§ Audit log: the record's chain of two entries, the size-2 head, the path, the mark."""
    e1 = c["entry_1"]
    unl = V.hex("audit_entry_unlinked")
    eq("audit entry (format 1): length 167", len(unl), 167)
    eq("audit entry (format 1): header SPHR 0e 01", unl[:6], b"SPHR\x0e\x01")
    u = decode_audit_entry(unl)
    check_entry_fields("audit entry (format 1)", u, c, T_SRS_NOW)
    eq("audit entry (format 1): no link", u["link"], None)
    eq("audit entry (format 1): bytes 6..167 are audit_entry's (format 2 adds only the link)", unl[6:], e1[6:167])
    check("audit entry (format 1): its leaf is not the format-2 entry's", leaf(unl) != leaf(e1))

    e2b = V.hex("audit_entry_2")
    eq("audit_entry_2: length 207 (format 2)", len(e2b), 207)
    eq("audit_entry_2: header SPHR 0e 02", e2b[:6], b"SPHR\x0e\x02")
    e2 = decode_audit_entry(e2b)
    check_entry_fields("audit_entry_2", e2, c, T_AUDIT_2)
    eq("audit_entry_2: record_seq (offset 167) = 1", e2["link"][0], 1)
    eq("audit_entry_2: record_prev (offset 175) = leaf(audit_entry)", e2["link"][1], leaf(e1))
    # the chain rules of a log (§ Audit log, record chains)
    try:
        log_chains([e1, e2b])
        ok("record chains: [audit_entry, audit_entry_2] is a valid log")
    except AuditError as e:
        fail("record chains: [audit_entry, audit_entry_2] is a valid log", str(e))
    expect_refusal("record chains: audit_entry_2 alone (seq 1 as a first entry) is chain_broken",
                   "chain_broken", lambda: log_chains([e2b]), entry=0)
    expect_refusal("record chains: an unlinked entry after a linked one is chain_broken",
                   "chain_broken", lambda: log_chains([e1, unl]), entry=1)
    expect_refusal("record chains: a format-1 first entry does not carry audit_entry_2's link",
                   "chain_broken", lambda: log_chains([unl, e2b]), entry=1)
    bad = bytearray(e2b)
    bad[175:207] = bytes(32)
    expect_refusal("audit entry: record_seq 1 with a zero record_prev is malformed",
                   "malformed", lambda: decode_audit_entry(bytes(bad)))

    th2 = V.hex("audit_tree_head_2")
    size2, root2, ts2 = check_tree_head("audit_tree_head_2", th2, c)
    eq("audit_tree_head_2: tree_size 2", size2, 2)
    eq("audit_tree_head_2: timestamp = audit_entry_2's", ts2, T_AUDIT_2)
    eq("audit_tree_head_2: root = node(leaf(audit_entry), leaf(audit_entry_2))", root2, node(leaf(e1), leaf(e2b)))
    eq("audit_tree_head_2: root = MTH of both leaves", root2, mth([leaf(e1), leaf(e2b)]))
    pb = V.hex("audit_path_1_in_2")
    eq("audit_path_1_in_2: one 32-byte hash", len(pb), 32)
    path0 = [pb[i : i + 32] for i in range(0, len(pb), 32)]
    eq("audit_path_1_in_2 = [leaf(audit_entry_2)]", path0, [leaf(e2b)])
    check("audit_path_1_in_2: RFC 9162 inclusion of leaf(audit_entry) at index 0 under audit_tree_head_2",
          verify_inclusion(0, 2, leaf(e1), path0, root2))
    path1 = [leaf(e1)]
    check("RFC 9162 inclusion of leaf(audit_entry_2) at index 1 under audit_tree_head_2 (path [leaf(audit_entry)])",
          verify_inclusion(1, 2, leaf(e2b), path1, root2))
    c.update(entry_2=e2b, tree_head_2=th2, root_2=root2, path_0_in_2=path0, path_1_in_2=path1)

    # § The owner's checks: the listing of both entries, the second receipt forwarded
    rec = c["record_id"]
    rows = [(0, e1, path0), (1, e2b, path1)]
    mb = V.hex("audit_mark")
    eq("audit mark: length 86", len(mb), 86)
    r = Reader(mb, 0x13)
    mark = (r.take(32), r.u64(), r.u64(), r.take(32))
    r.end()
    eq("audit mark: record_id (offset 6)", mark[0], rec)
    eq("audit mark: tree_size (offset 38) = 2", mark[1], 2)
    eq("audit mark: count (offset 46) = 2", mark[2], 2)
    check("audit mark: count ≤ tree_size", mark[2] <= mark[1])
    eq("audit mark: digest = H(AUDIT_LISTING, u64(0) ‖ leaf(audit_entry), u64(1) ‖ leaf(audit_entry_2))",
       mark[3], H(L_AUDIT_LISTING, u64(0) + leaf(e1), u64(1) + leaf(e2b)))
    c["mark"] = mark
    c["listing_rows"] = rows


def check_receipt_bundle(V: Vectors, c: dict) -> None:
    """§ Receipt bundle (kind 0x15) and the owner's checks with forwarded receipts."""
    srs_pk = c["srs"].pk_sign
    bb = V.hex("receipt_bundle")
    c["bundle"] = bb
    eq("receipt bundle: header SPHR 15 01", bb[:6], b"SPHR\x15\x01")
    eq("receipt bundle: record_id (offset 6)", bb[6:38], c["record_id"])
    eq("receipt bundle: count n (offset 38) = 2", bb[38], 2)
    try:
        record, receipts = decode_bundle(bb, srs_pk)
    except (AuditError, ValueError) as e:
        fail("receipt bundle: decodes; every head verifies under the SRS key and every path under its head", str(e))
        return
    ok("receipt bundle: decodes; every head verifies under the SRS key and every path under its head")
    eq("receipt bundle: every receipt is about record_id", {r["decoded"]["record_id"] for r in receipts}, {record})
    r0, r1 = receipts
    eq("receipt bundle: receipt 0 is exactly the answer's receipt fields", r0["bytes"], c["answer_receipt"])
    eq("receipt bundle: receipt 0 (offset 39): index 0, audit_entry, k = 0, audit_tree_head",
       (r0["index"], r0["entry"], r0["path"], r0["head"]), (0, c["entry_1"], [], c["tree_head_1"]))
    eq("receipt bundle: receipt 0 is 17 + 207 + 32·0 + 118 = 342 bytes", len(r0["bytes"]), 342)
    eq("receipt bundle: receipt 1: index 1, audit_entry_2, path [leaf(audit_entry)], audit_tree_head_2",
       (r1["index"], r1["entry"], r1["path"], r1["head"]), (1, c["entry_2"], c["path_1_in_2"], c["tree_head_2"]))
    eq("receipt bundle: receipt 1 is 17 + 207 + 32·1 + 118 = 374 bytes", len(r1["bytes"]), 374)
    eq("receipt bundle: length 39 + Σ(17 + entry + 32·k + head) = 755", len(bb), 39 + 342 + 374)
    for i, rc in enumerate(receipts):
        check_signed(f"receipt bundle: receipt {i}'s head", c["srs"], rc["head"], 54)
    c["receipts"] = receipts
    # rejections the spec lists, on altered copies
    other = bytearray(bb)
    other[6] ^= 1
    expect_refusal("receipt bundle: another record_id is binding_mismatch",
                   "binding_mismatch", lambda: decode_bundle(bytes(other), srs_pk))
    zero = bb[:38] + b"\x00" + bb[39:]
    expect_refusal("receipt bundle: n = 0 is malformed", "malformed", lambda: decode_bundle(zero, srs_pk))
    expect_refusal("receipt bundle: a receipt under another key is bad_signature",
                   "bad_signature", lambda: decode_bundle(bb, c["owner"].pk_sign))
    moved = bytearray(bb)
    moved[39 + 7] = 1  # receipt 0's index 0 → 1
    expect_refusal("receipt bundle: a receipt whose path does not lead to its head is bad_proof",
                   "bad_proof", lambda: decode_bundle(bytes(moved), srs_pk))

    # § The owner's checks, steps 6–9, on the vectors
    rec, th2, rows = c["record_id"], c["tree_head_2"], c["listing_rows"]
    try:
        mark = owner_listing_check(rec, th2, srs_pk, rows, [r1])
        eq("owner's check: the listing of both entries with receipt 1 forwarded gives audit_mark", mark, c["mark"])
    except AuditError as e:
        fail("owner's check: the listing of both entries with receipt 1 forwarded gives audit_mark", str(e))
    try:
        again = owner_listing_check(rec, th2, srs_pk, rows, receipts, mark=c["mark"])
        eq("owner's check: the same listing, both receipts, against audit_mark, keeps the mark", again, c["mark"])
    except AuditError as e:
        fail("owner's check: the same listing, both receipts, against audit_mark, keeps the mark", str(e))
    expect_refusal("owner's check: a listing of audit_entry_2 alone is audit_incomplete {listed 0, known 1}",
                   "audit_incomplete", lambda: owner_listing_check(rec, th2, srs_pk, rows[1:]), listed=0, known=1)
    expect_refusal("owner's check: a listing hiding the tail, receipt 1 forwarded, is audit_incomplete {listed 1, known 2}",
                   "audit_incomplete", lambda: owner_listing_check(rec, th2, srs_pk, rows[:1], [r1]), listed=1, known=2)
    # A lying SRS's tree (its key is the vectors' srs_seed): the format-1
    # entry after the linked one, under a head it signed over both.
    unl = V.hex("audit_entry_unlinked")
    forged = sign_tree_head(c["srs"], 2, mth([leaf(c["entry_1"]), leaf(unl)]), T_AUDIT_2)
    expect_refusal("owner's check: an unlinked entry after a linked one (under a head the SRS signed) is chain_broken",
                   "chain_broken", lambda: owner_listing_check(
                       rec, forged, srs_pk, [(0, c["entry_1"], [leaf(unl)]), (1, unl, [leaf(c["entry_1"])])]))
    twice = sign_tree_head(c["srs"], 2, mth([leaf(c["entry_1"]), leaf(c["entry_1"])]), T_AUDIT_2)
    expect_refusal("owner's check: two entries claiming the record's first place (under a head the SRS signed) is chain_broken",
                   "chain_broken", lambda: owner_listing_check(
                       rec, twice, srs_pk, [(0, c["entry_1"], [leaf(c["entry_1"])]), (1, c["entry_1"], [leaf(c["entry_1"])])]))
    expect_refusal("owner's check: receipt 1 against the size-1 listing is stale {found 1, known 2}",
                   "stale", lambda: owner_listing_check(rec, c["tree_head_1"], srs_pk, [(0, c["entry_1"], [])], [r1]),
                   found=1, known=2)
    expect_refusal("owner's check: the size-1 listing against audit_mark is stale",
                   "stale", lambda: owner_listing_check(rec, c["tree_head_1"], srs_pk, [(0, c["entry_1"], [])], mark=c["mark"]))


def check_mail(V: Vectors, c: dict) -> None:
    """§ Mail: an envelope (kind 0x04) in HPKE base mode to the owner, info "SeSPHR-v1/mail"."""
    owner = c["owner"]
    mail = V.hex("mail_receipts")
    bundle = c["bundle"]
    eq("mail: length 75 + len(message) + 16", len(mail), 75 + len(bundle) + 16)
    r = Reader(mail, 0x04)
    eq("mail: header SPHR 04 01", mail[:6], b"SPHR\x04\x01")
    enc = r.take(65)
    ct = r.lp(65536)
    r.end()
    eq("mail: ciphertext = message + 16", len(ct), len(bundle) + 16)
    ss = decap(enc, owner.sk_enc, None)
    try:
        pt = HpkeContext(MODE_BASE, ss, L_MAIL, AEAD_AES256GCM).open(b"", ct, 0)
        ok("mail: opens with the owner's key (HPKE base, raw info SeSPHR-v1/mail, empty aad, seq 0)")
        eq("mail: plaintext is exactly receipt_bundle", pt, bundle)
    except InvalidTag:
        fail("mail: opens with the owner's key (HPKE base, raw info SeSPHR-v1/mail, empty aad, seq 0)", "tag mismatch")
    for desc, mode, info in (("auth mode (sender owner)", MODE_AUTH, L_MAIL), ("lp(info)", MODE_BASE, lp(L_MAIL)),
                             ("the sealed-request info", MODE_BASE, L_SEALED_REQUEST)):
        try:
            s = decap(enc, owner.sk_enc, decode_point(owner.pk_enc)) if mode == MODE_AUTH else ss
            HpkeContext(mode, s, info, AEAD_AES256GCM).open(b"", ct, 0)
            fail(f"mail: does not open with {desc}", "it opened")
        except InvalidTag:
            ok(f"mail: does not open with {desc}")
    mail_id = sha256(mail)
    eq("mail_id = SHA-256(mail)", mail_id, V.hex("mail_id"))
    c["mail_id"] = mail_id


def check_audit_export(V: Vectors, c: dict) -> None:
    """§ Audit export (kind 0x14) and AuditExport::verify's checks."""
    x = V.hex("audit_export")
    r = Reader(x, 0x14)
    ident = r.take(66)
    eq("audit export: srs public identity (offset 6)", ident, c["srs"].public)
    decode_identity(ident)
    n = r.u64()
    eq("audit export: entry count n (offset 72) = 2", n, 2)
    check("audit export: the count fits the remaining bytes (4 each at least)", n <= (len(x) - r.i) // 4)
    entries = [r.lp(1024) for _ in range(n)]
    h = r.u32()
    check("audit export: head count h ≤ 65536", h <= 65536)
    heads = [r.lp(1024) for _ in range(h)]
    r.end()
    eq("audit export: length 84 + Σ(4 + entry) + Σ(4 + head) = 628", len(x),
       84 + sum(4 + len(e) for e in entries) + sum(4 + len(hh) for hh in heads))
    eq("audit export: entries are audit_entry, audit_entry_2", entries, [c["entry_1"], c["entry_2"]])
    eq("audit export: heads are [audit_tree_head_2]", heads, [c["tree_head_2"]])
    try:
        for e in entries:
            decode_audit_entry(e)
        log_chains(entries)
        ok("audit export: every entry decodes and follows its record's chain")
    except (AuditError, ValueError) as e:
        fail("audit export: every entry decodes and follows its record's chain", str(e))
    leaves = [leaf(e) for e in entries]
    sizes = []
    for j, hh in enumerate(heads):
        try:
            size, root = verify_tree_head(hh, ident[:33])
        except AuditError as e:
            fail(f"audit export: head {j} verifies under the embedded identity", str(e))
            continue
        ok(f"audit export: head {j} verifies under the embedded identity")
        check(f"audit export: head {j} tree_size ≤ n", size <= n)
        eq(f"audit export: head {j} root = MTH of the first tree_size entries", root, mth(leaves[:size]))
        sizes.append(size)
    eq("audit export: the largest head covers every entry (tree_size = n)", max(sizes, default=-1), n)


def check_manifest_2(V: Vectors, c: dict) -> None:
    """§ Manifest, format 2: format 1's fields, lp(audit tree head), the signature."""
    owner: Party = c["owner"]
    m2 = V.hex("manifest_2")
    r = Reader(m2, 0x02, versions=(1, 2))
    eq("manifest_2: header SPHR 02 02 (format 2)", m2[:6], b"SPHR\x02\x02")
    eq("manifest_2: owner identity (offset 6)", r.take(66), owner.public)
    eq("manifest_2: record_id (offset 72)", r.take(32), c["record_id"])
    eq("manifest_2: record_nonce (offset 104)", r.take(16), c["record_nonce"])
    eq("manifest_2: version 2 (offset 120)", r.u64(), 2)
    eq("manifest_2: previous = manifest_hash (offset 128)", r.take(32), c["manifest_hash"])
    eq("manifest_2: created_at (offset 160)", r.u64(), T_MANIFEST_2)
    s = r.u32()
    eq("manifest_2: section count (offset 168) = 1", s, 1)
    check("manifest_2: more than 210·s + 4 + 64 bytes after the count", len(m2) - r.i > 210 * s + 4 + 64)
    eq("manifest_2: the entry is the version-1 manifest's", r.take(210 * s), c["entry"])
    eq("manifest_2: lp(audit head) at offset 172 + 210·s", r.i, 172 + 210 * s)
    head = r.lp(1024)
    check("manifest_2: audit head is 1 to 1024 bytes", 1 <= len(head) <= 1024)
    eq("manifest_2: the recorded head is audit_tree_head_2", head, c["tree_head_2"])
    sig_off = r.i
    eq("manifest_2: signature at offset 176 + 210·s + h", sig_off, 176 + 210 * s + len(head))
    r.take(64)
    r.end()
    eq("manifest_2: length 240 + 210·s + h = 568", len(m2), 240 + 210 * s + len(head))
    check_signed("manifest_2", owner, m2, sig_off)
    # § Manifest, chain: the direct successor of `manifest`
    check("manifest_2: successor of manifest (same owner and record, version + 1, previous = its hash)",
          m2[6:72] == c["manifest"][6:72] and m2[72:104] == c["manifest"][72:104]
          and rd_u64(m2, 120) == rd_u64(c["manifest"], 120) + 1 and m2[128:160] == c["manifest_hash"])
    # § Restoring: the owner verifies the recorded head under the pinned SRS key
    try:
        size, _ = verify_tree_head(head, c["srs"].pk_sign)
        eq("manifest_2: the recorded head verifies under the SRS key (size 2)", size, 2)
    except AuditError as e:
        fail("manifest_2: the recorded head verifies under the SRS key (size 2)", str(e))


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
    nonces.append(check_token("token_upload_blob", V.hex("token_upload_blob"), c["owner"], PURPOSES["UploadBlob"],
                              c["chunk_root"] + u64(len(c["blob"]))))
    nonces.append(check_token("token_read_inbox", V.hex("token_read_inbox"), c["grantee"], PURPOSES["ReadInbox"], b""))
    nonces.append(check_token("token_clear_inbox", V.hex("token_clear_inbox"), c["grantee"], PURPOSES["ClearInbox"],
                              statement_hash(c["grant"][:405])))
    check("tokens: nonces are distinct", len(set(nonces)) == 3)
    c["token_nonces"] = nonces


def check_mail_tokens(V: Vectors, c: dict) -> None:
    """§ Request tokens, purposes 7–9 (§ Mail)."""
    nonces = []
    nonces.append(check_token("token_send_mail", V.hex("token_send_mail"), c["grantee"], PURPOSES["SendMail"],
                              c["owner"].party_id + c["mail_id"]))
    eq("token_send_mail: 229 bytes (a 64-byte subject)", len(V.hex("token_send_mail")), 229)
    nonces.append(check_token("token_read_mail", V.hex("token_read_mail"), c["owner"], PURPOSES["ReadMail"], b""))
    nonces.append(check_token("token_clear_mail", V.hex("token_clear_mail"), c["owner"], PURPOSES["ClearMail"],
                              c["mail_id"]))
    check("mail tokens: nonces are distinct from each other and the other tokens",
          len(set(nonces + c["token_nonces"])) == 6)
    c["token_nonces"] = c["token_nonces"] + nonces


def check_invitations(V: Vectors, c: dict) -> None:
    """§ Invitations and contacts: the invitation (0x16), its acceptance (0x17
    sealing 0x18) in mail, the name card (0x1a), the safety number, the owner
    state (0x19) and tokens 13-14."""
    owner, grantee = c["owner"], c["grantee"]
    inv = V.hex("invitation")
    s_ = V.hex("invitation_secret")
    r = Reader(inv, 0x16)
    eq("invitation: owner's public identity", r.take(66), owner.public)
    eq("invitation: the secret s", r.take(32), s_)
    eq("invitation: expires_at", r.u64(), 1767830400000)
    eq("invitation: role", r.lp(32), b"physician")
    n = r.u8()
    eq("invitation: sections", [r.lp(64) for _ in range(n)], [b"allergies", b"medications"])
    eq("invitation: owner name", r.lp(80), b"Alice Example")
    sig_at = r.i
    r.take(64)
    r.end()
    eq("invitation: 185 + role + Σ(4 + section) + name bytes", len(inv), 185 + 9 + (4 + 9) + (4 + 11) + 13)
    check_signed("invitation", owner, inv, sig_at)
    inv_id = H(L_INVITATION_ID, s_)
    eq("invitation id = H(INVITATION_ID, s)", inv_id, V.hex("invitation_id"))
    sk_inv = H2S(L_INVITATION_HPKE, s_)
    eq("invitation HPKE key = H2S(INVITATION_HPKE, s)·G", compress(pt_mul(sk_inv, G)), V.hex("invitation_hpke_public"))
    mac_key = Expand(hkdf_extract(L_INVITATION_MAC, s_), L_INVITATION_MAC)

    # The acceptance, in mail sealed to the owner.
    mail = V.hex("mail_acceptance")
    mr = Reader(mail, 0x04)
    enc, ct = mr.take(65), mr.lp(65536)
    mr.end()
    acc = HpkeContext(MODE_BASE, decap(enc, owner.sk_enc, None), L_MAIL, AEAD_AES256GCM).open(b"", ct, 0)
    eq("mail_acceptance opens (as mail) to exactly acceptance", acc, V.hex("acceptance"))
    ar = Reader(acc, 0x17)
    eq("acceptance: invitation id", ar.take(32), inv_id)
    env = ar.lp(65536 + 128)
    ar.end()
    er = Reader(env, 0x04)
    enc2, ct2 = er.take(65), er.lp(65536)
    er.end()
    info = lp(L_INVITATION_ACCEPT) + lp(inv_id)
    try:
        body = HpkeContext(MODE_BASE, decap(enc2, sk_inv, None), info, AEAD_AES256GCM).open(b"", ct2, 0)
        ok("acceptance: opens with the invitation's key (HPKE base, info lp(INVITATION_ACCEPT) ‖ lp(id))")
    except InvalidTag:
        fail("acceptance: opens with the invitation's key", "tag mismatch")
        return
    try:
        HpkeContext(MODE_BASE, decap(enc2, sk_inv, None), L_INVITATION_ACCEPT, AEAD_AES256GCM).open(b"", ct2, 0)
        fail("acceptance: does not open with the bare label as info", "it opened")
    except InvalidTag:
        ok("acceptance: does not open with the bare label as info")
    br = Reader(body, 0x18)
    eq("acceptance body: invitee's public identity", br.take(66), grantee.public)
    eq("acceptance body: owner party id", br.take(32), owner.party_id)
    eq("acceptance body: invitation id", br.take(32), inv_id)
    eq("acceptance body: accepted_at", br.u64(), 1767225900000)
    name = br.lp(80)
    eq("acceptance body: the invitee's name", name, b"Dr. Bob")
    macced = body[: br.i]
    tag = br.take(32)
    h = c_hmac.HMAC(mac_key, hashes.SHA256())
    h.update(macced)
    eq("acceptance body: tag = HMAC-SHA256(Expand(Extract(INVITATION_MAC, s), INVITATION_MAC), body so far)", tag, h.finalize())
    sig_at = br.i
    br.take(64)
    br.end()
    eq("acceptance body: 244 + name bytes", len(body), 244 + len(name))
    eq("acceptance: 377 + name bytes", len(acc), 377 + len(name))
    check_signed("acceptance body (signed by the invitee over everything before, tag included)", grantee, body, sig_at)

    card = V.hex("name_card")
    nr = Reader(card, 0x1A)
    eq("name card: owner's public identity", nr.take(66), owner.public)
    eq("name card: grantee party id", nr.take(32), grantee.party_id)
    eq("name card: issued_at", nr.u64(), 1767226000000)
    cname = nr.lp(80)
    eq("name card: name", cname, b"Alice Example")
    sig_at = nr.i
    nr.take(64)
    nr.end()
    eq("name card: 180 + name bytes", len(card), 180 + len(cname))
    check_signed("name card", owner, card, sig_at)

    def half(p: Party) -> str:
        d = H(L_SAFETY_NUMBER, p.public)
        return "".join(f"{int.from_bytes(d[i:i + 5], 'big') % 100000:05d}" for i in range(0, 30, 5))
    a, b = sorted([half(owner), half(grantee)])
    digits = a + b
    eq("safety number: both halves (H(SAFETY_NUMBER, public) → six 5-digit groups), the smaller first",
       V.text("safety_number"), " ".join(digits[i:i + 5] for i in range(0, 60, 5)))

    st = V.hex("owner_state")
    sr = Reader(st, 0x19)
    eq("owner state: owner party id", sr.take(32), owner.party_id)
    slot = sr.lp(32)
    eq("owner state: slot", slot, b"contacts")
    eq("owner state: version", sr.u64(), 3)
    nonce = sr.take(12)
    aad = st[: sr.i]
    sct = sr.lp(256 * 1024 + 16)
    sr.end()
    key = Expand(hkdf_extract(L_OWNER_STATE, owner.seed), L_OWNER_STATE, slot)
    try:
        pt = AESGCM(key).decrypt(nonce, sct, aad)
        eq("owner state: AES-256-GCM under Expand(Extract(OWNER_STATE, seed), OWNER_STATE, slot), aad = bytes before the ciphertext",
           pt.decode(), V.text("owner_state_plaintext"))
    except InvalidTag:
        fail("owner state: opens under the seed's state key", "tag mismatch")
    eq("owner state: 82 + slot + plaintext bytes", len(st), 82 + len(slot) + len(V.text("owner_state_plaintext")))
    wrong = bytearray(aad)
    wrong[-13] ^= 1  # the version's last byte
    try:
        AESGCM(key).decrypt(nonce, sct, bytes(wrong))
        fail("owner state: another version in the header does not open", "it opened")
    except InvalidTag:
        ok("owner state: another version in the header does not open")
    nonces = [
        check_token("token_put_state", V.hex("token_put_state"), owner, PURPOSES["PutState"], sha256(st)),
        check_token("token_get_state", V.hex("token_get_state"), owner, PURPOSES["GetState"], b"contacts"),
    ]
    check("state tokens: nonces are distinct from every other token's",
          len(set(nonces + c["token_nonces"])) == len(nonces) + len(c["token_nonces"]))


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


def check_shl_owner_key(V: Vectors, c: dict) -> None:
    """§ SMART Health Links, link key kept for its owner (kind 0x22)."""
    w = V.hex("shl_owner_key")
    note = b'{"record":"00","sections":["allergies"]}'
    eq("owner key header", w[:6], b"SPHR\x22\x01")
    nonce = w[6:18]
    eq("owner key nonce is the vector's", nonce, b"\x03" * 12)
    n = rd_u32(w, 18)
    eq("owner key length field covers the rest", n, len(w) - 22)
    eq("owner key ct is 32 + note + 16 bytes", n, 32 + len(note) + 16)
    label = L_SHL_OWNER_KEY
    k = Expand(hkdf_extract(label, c["owner"].seed), label, b"\x01" * 32)
    try:
        plain = AESGCM(k).decrypt(nonce, w[22:], w[:18])
        eq("owner key opens to link key || note", plain, b"\x02" * 32 + note)
    except InvalidTag:
        fail("owner key opens (K from the seed and link id, aad = the 18 bytes before len)", "AES-GCM tag mismatch")
    k2 = Expand(hkdf_extract(label, c["owner"].seed), label, b"\x04" * 32)
    try:
        AESGCM(k2).decrypt(nonce, w[22:], w[:18])
        fail("owner key refuses another link id", "it opened")
    except InvalidTag:
        ok("owner key refuses another link id")


def test_rng_stream(nblocks: int = 64) -> bytes:
    """§ Test vectors: block j = SHA-256(SHA-256("SeSPHR-v1 known-answer vectors") ‖ u64(j))."""
    s = sha256(b"SeSPHR-v1 known-answer vectors")
    return b"".join(sha256(s + u64(j)) for j in range(nblocks))


T_ACTIVATION = 1767225603000
T_DECISION = 1767225604000
T_EMERGENCY_REQUEST = 1767225605000
T_EMERGENCY_ENTRY = 1767225605500
ROLE_EMERGENCY = 8
EMERGENCY_WAIT = 86_400_000


def check_emergency(V: Vectors, c: dict) -> None:
    """§ Emergency access: the format-2 grant, the activation and the
    decision, the emergency request and its format-3 (BTG) audit entry, and
    the two tokens; with the rejections the spec lists, on altered copies."""
    owner, grantee = c["owner"], c["grantee"]
    g = V.hex("emergency_grant_statement")
    eq("emergency grant: length 477 (format 2)", len(g), 477)
    r = Reader(g, 0x03, versions=(1, 2))
    eq("emergency grant: format 2", r.version, 2)
    gid = r.take(16)
    eq("emergency grant: sequence (offset 22)", r.u64(), 2)
    eq("emergency grant: owner (offset 30)", r.take(66), owner.public)
    eq("emergency grant: record_id (offset 96)", r.take(32), c["record_id"])
    eq("emergency grant: section_id (offset 128)", r.take(32), c["section_id"])
    eq("emergency grant: epoch_id (offset 160)", r.take(32), c["epoch_id"])
    eq("emergency grant: section key A (offset 192)", r.take(33), compress(c["A"]))
    B2 = decode_point(r.take(33))
    check("emergency grant: B2 is another point than A and the first grant's B2", B2 not in (c["A"], c["B2"]))
    eq("emergency grant: grantee (offset 258)", r.take(66), grantee.public)
    eq("emergency grant: role emergency (offset 324)", r.u8(), ROLE_EMERGENCY)
    eq("emergency grant: from_version 0", r.u64(), 0)
    eq("emergency grant: expires_at 0 (none)", r.u64(), 0)
    r.take(64)
    eq("emergency grant: emergency_wait (offset 405) is 24 hours", r.u64(), EMERGENCY_WAIT)
    eq("emergency grant: signature at 413", r.i, 413)
    r.take(64)
    r.end()
    check_signed("emergency grant", owner, g, 413)
    eq("emergency grant: bytes [0, 405) keep format 1's layout (only the version byte and the wait differ)",
       (g[:5], len(g[6:405])), (c["grant"][:5], len(c["grant"][6:405])))
    ghash = statement_hash(g[:413])

    a = V.hex("emergency_activation")
    eq("emergency activation: length 206 (format 2)", len(a), 206)
    r = Reader(a, 0x1C, versions=(2,))
    eq("emergency activation: format 2", r.version, 2)
    eq("emergency activation: grant_id (offset 6)", r.take(16), gid)
    eq("emergency activation: record_id (offset 22)", r.take(32), c["record_id"])
    eq("emergency activation: grant_hash (offset 54) = StatementHash(grant payload)", r.take(32), ghash)
    eq("emergency activation: follows (offset 86) is zero (no decision yet)", r.take(32), bytes(32))
    eq("emergency activation: timestamp (offset 118)", r.u64(), T_ACTIVATION)
    r.take(16)
    eq("emergency activation: signature at 142", r.i, 142)
    r.take(64)
    r.end()
    check_signed("emergency activation (by the grantee)", grantee, a, 142)
    check("emergency activation: not signed by the owner", verify_sig(owner.pk_sign, a[:142], a[142:]) is not None)
    old = bytearray(a)
    old[5] = 1
    try:
        Reader(bytes(old), 0x1C, versions=(2,))
        fail("emergency activation: format 1 is unknown_version", "accepted")
    except ValueError as err:
        eq("emergency activation: format 1 is unknown_version", str(err), "unknown_version")
    ah = statement_hash(a[:142])
    eq("emergency_activation_hash = StatementHash([0, 142))", ah, V.hex("emergency_activation_hash"))

    d = V.hex("emergency_decision")
    eq("emergency decision: length 175", len(d), 175)
    r = Reader(d, 0x1D)
    eq("emergency decision: grant_id (offset 6)", r.take(16), gid)
    eq("emergency decision: record_id (offset 22)", r.take(32), c["record_id"])
    eq("emergency decision: activation (offset 54) = the activation's hash", r.take(32), ah)
    eq("emergency decision: verdict approve (offset 86)", r.u8(), 1)
    eq("emergency decision: timestamp (offset 87)", r.u64(), T_DECISION)
    r.take(16)
    eq("emergency decision: signature at 111", r.i, 111)
    r.take(64)
    r.end()
    check_signed("emergency decision (by the owner)", owner, d, 111)
    check("emergency decision: not signed by the grantee", verify_sig(grantee.pk_sign, d[:111], d[111:]) is not None)
    dh = statement_hash(d[:111])
    eq("emergency_decision_hash = StatementHash([0, 111))", dh, V.hex("emergency_decision_hash"))
    check_emergency_srs(V, c, gid, ah, dh)

    req = V.hex("emergency_request")
    eq("emergency request: length 182", len(req), 182)
    eq("emergency request: grant_id", req[6:22], gid)
    eq("emergency request: timestamp", rd_u64(req, 110), T_EMERGENCY_REQUEST)
    check_signed("emergency request", grantee, req, 118)

    e = V.hex("audit_entry_btg")
    eq("audit entry (format 3): length 208", len(e), 208)
    eq("audit entry (format 3): header SPHR 0e 03", e[:6], b"SPHR\x0e\x03")
    ent = decode_audit_entry(e)
    eq("audit entry (format 3): timestamp", ent["timestamp"], T_EMERGENCY_ENTRY)
    eq("audit entry (format 3): grant_id is the emergency grant's", ent["grant_id"], gid)
    eq("audit entry (format 3): grantee", ent["grantee"], grantee.party_id)
    eq("audit entry (format 3): request = StatementHash(emergency request)", ent["request"], statement_hash(req[:118]))
    eq("audit entry (format 3): decision allowed", ent["decision"], 0)
    eq("audit entry (format 3): purpose (offset 167) BTG", ent["purpose"], 1)
    e2 = V.hex("audit_entry_2")
    eq("audit entry (format 3): the record's third entry, linked to audit_entry_2", ent["link"], (2, leaf(e2)))
    try:
        log_chains([c["entry_1"], e2, e])
        ok("record chains: [audit_entry, audit_entry_2, audit_entry_btg] is a valid log")
    except AuditError as err:
        fail("record chains: [audit_entry, audit_entry_2, audit_entry_btg] is a valid log", str(err))
    bad = bytearray(e)
    bad[167] = 0
    expect_refusal("audit entry (format 3): purpose 0 is malformed", "malformed", lambda: decode_audit_entry(bytes(bad)))
    bad[167] = 2
    expect_refusal("audit entry (format 3): purpose 2 is malformed", "malformed", lambda: decode_audit_entry(bytes(bad)))

    check_token("token_list_emergency", V.hex("token_list_emergency"), owner, PURPOSES["ListEmergency"], c["record_id"])
    check_token("token_emergency_status", V.hex("token_emergency_status"), grantee, PURPOSES["EmergencyStatus"],
                c["record_id"] + gid)


T_EMERGENCY_RECEIPT = 1767225604100
T_VIEW = 1767225604500
T_ARRIVED = 1767225603200
MAX_REPLAY_WINDOW = 300_000
VIEW_STATES = {1: "dormant", 2: "waiting", 3: "open", 4: "denied"}


def decode_view_entry(b: bytes, now: int) -> dict:
    """§ Emergency view: one 114-byte entry, with its consistency rules."""
    if len(b) != 114:
        raise ValueError("malformed: entry length")
    e = {
        "grant_id": b[0:16], "state": b[16], "approved": b[17], "wait": rd_u64(b, 18),
        "activation": b[26:58], "activation_time": rd_u64(b, 58), "activated_at": rd_u64(b, 66),
        "opens_at": rd_u64(b, 74), "last_decision": b[82:114],
    }
    if e["state"] not in VIEW_STATES or e["approved"] not in (0, 1):
        raise ValueError("malformed: state or approved")
    none = e["activation"] == bytes(32)
    if none and (e["activation_time"], e["activated_at"], e["opens_at"]) != (0, 0, 0):
        raise ValueError("malformed: times without an activation")
    st, dec = VIEW_STATES[e["state"]], e["last_decision"] != bytes(32)
    if e["approved"] and st != "open":
        raise ValueError("malformed: approved outside open")
    if none:
        if st != "dormant" or dec:
            raise ValueError("malformed: state needs an activation")
        return e
    if e["opens_at"] != e["activated_at"] + e["wait"]:
        raise ValueError("malformed: opening is not arrival + wait")
    if e["opens_at"] < e["activation_time"] + e["wait"] - MAX_REPLAY_WINDOW:
        raise ValueError("malformed: opening earlier than the signed activation allows")
    ok = {
        "dormant": False,
        "waiting": now < e["opens_at"],
        "open": (e["approved"] and dec) or (not e["approved"] and now >= e["opens_at"]),
        "denied": dec,
    }[st]
    if not ok:
        raise ValueError(f"malformed: inconsistent {st}")
    return e


def check_emergency_srs(V: Vectors, c: dict, gid: bytes, ah: bytes, dh: bytes) -> None:
    """§ Emergency view (0x20) and receipt (0x21): SRS-signed, bound to
    the request and the decision; the entry rules, the lower bound."""
    srs, owner = c["srs"], c["owner"]
    rc = V.hex("emergency_receipt")
    eq("emergency receipt: length 160", len(rc), 160)
    r = Reader(rc, 0x21)
    eq("emergency receipt: record_id (offset 6)", r.take(32), c["record_id"])
    eq("emergency receipt: grant_id (offset 38)", r.take(16), gid)
    eq("emergency receipt: decision (offset 54) = the decision's hash", r.take(32), dh)
    eq("emergency receipt: verdict approve (offset 86)", r.u8(), 1)
    eq("emergency receipt: state open (offset 87), what approve leads to", r.u8(), 3)
    eq("emergency receipt: at (offset 88)", r.u64(), T_EMERGENCY_RECEIPT)
    eq("emergency receipt: signature at 96", r.i, 96)
    r.take(64)
    r.end()
    check_signed("emergency receipt (by the SRS)", srs, rc, 96)
    check("emergency receipt: not signed by the owner", verify_sig(owner.pk_sign, rc[:96], rc[96:]) is not None)

    v = V.hex("emergency_view")
    r = Reader(v, 0x20)
    eq("emergency view: record_id (offset 6)", r.take(32), c["record_id"])
    eq("emergency view: requester (offset 38) = the owner's party id", r.take(32), owner.party_id)
    tok = V.hex("token_list_emergency")
    # § Request tokens: header, signer (66), purpose, lp(subject), timestamp, nonce, signature.
    nonce = tok[6 + 66 + 1 + 4 + 32 + 8: 6 + 66 + 1 + 4 + 32 + 8 + 16]
    eq("emergency view: nonce (offset 70) = the listing token's nonce", r.take(16), nonce)
    now = r.u64()
    eq("emergency view: now (offset 86)", now, T_VIEW)
    n = r.u32()
    eq("emergency view: one entry", n, 1)
    eq("emergency view: length 162 + 114·n", len(v), 162 + 114 * n)
    raw = r.take(114)
    eq("emergency view: signature at 98 + 114·n", r.i, 98 + 114 * n)
    r.take(64)
    r.end()
    check_signed("emergency view (by the SRS)", srs, v, 98 + 114 * n)
    e = decode_view_entry(raw, now)
    eq("emergency view entry: the grant", e["grant_id"], gid)
    eq("emergency view entry: open, approved", (VIEW_STATES[e["state"]], e["approved"]), ("open", 1))
    eq("emergency view entry: wait = the grant's", e["wait"], EMERGENCY_WAIT)
    eq("emergency view entry: activation = its hash", e["activation"], ah)
    eq("emergency view entry: activation_time = the grantee-signed timestamp", e["activation_time"], T_ACTIVATION)
    eq("emergency view entry: activated_at", e["activated_at"], T_ARRIVED)
    eq("emergency view entry: opens_at = activated_at + wait", e["opens_at"], T_ARRIVED + EMERGENCY_WAIT)
    eq("emergency view entry: last_decision = the approval's hash", e["last_decision"], dh)
    # The rules, on altered copies of the entry (the signature aside).
    def altered(off: int, value: bytes) -> bytes:
        b = bytearray(raw)
        b[off:off + len(value)] = value
        return bytes(b)
    early = T_ACTIVATION - 2 * MAX_REPLAY_WINDOW
    for name, bad in [
        ("an opening earlier than activation_time + wait − 5 min", altered(66, u64(early) + u64(early + EMERGENCY_WAIT))),
        ("opens_at not activated_at + wait", altered(74, u64(T_ARRIVED + 1))),
        ("approved outside open (waiting)", altered(16, b"\x02")),
        ("denied without a decision", altered(16, b"\x04\x00") [:82] + bytes(32)),
        ("dormant with an activation", altered(16, b"\x01\x00")),
        ("an unknown state", altered(16, b"\x05")),
    ]:
        try:
            decode_view_entry(bad, now)
            fail(f"emergency view entry: {name} is malformed", "accepted")
        except ValueError as err:
            check(f"emergency view entry: {name} is malformed", str(err).startswith("malformed"), str(err))


T_ACCESS_REQUEST = 1767225606000
T_ACCESS_REFUSAL = 1767225607000


def check_access_requests(V: Vectors, c: dict) -> None:
    """§ Access requests: the request (kind 0x1e) by the grantee to the owner,
    its mail, and the owner's refusal (kind 0x1f) naming it."""
    owner, grantee = c["owner"], c["grantee"]
    req = V.hex("access_request")
    r = Reader(req, 0x1E)
    eq("access request: owner party id (offset 6)", r.take(32), owner.party_id)
    eq("access request: record_id (offset 38)", r.take(32), c["record_id"])
    eq("access request: requester (offset 70)", r.take(66), grantee.public)
    eq("access request: role custom (offset 136)", r.u8(), 0)
    n = r.u8()
    eq("access request: section count (offset 137)", n, 2)
    names = [r.lp(64).decode() for _ in range(n)]
    eq("access request: sections", names, ["allergies", "medications"])
    eq("access request: reason", r.lp(1000).decode(), "new patient visit on 5 January")
    created, expires = r.u64(), r.u64()
    eq("access request: created_at", created, T_ACCESS_REQUEST)
    eq("access request: expires_at = created_at + 7 days", expires - created, 7 * 86_400_000)
    r.take(16)
    sig_at = r.i
    eq("access request: length = payload + 64", len(req), sig_at + 64)
    r.take(64)
    r.end()
    check_signed("access request (by the requester)", grantee, req, sig_at)
    rid = statement_hash(req[:sig_at])
    eq("access_request_id = StatementHash(payload)", rid, V.hex("access_request_id"))

    mail = V.hex("mail_access_request")
    mr = Reader(mail, 0x04)
    enc = mr.take(65)
    ct = mr.lp(65536)
    mr.end()
    try:
        pt = HpkeContext(MODE_BASE, decap(enc, owner.sk_enc, None), L_MAIL, AEAD_AES256GCM).open(b"", ct, 0)
        eq("mail_access_request: opens with the owner's key to exactly the request", pt, req)
    except InvalidTag:
        fail("mail_access_request: opens with the owner's key to exactly the request", "tag mismatch")

    no = V.hex("access_refusal")
    eq("access refusal: length 208", len(no), 208)
    r = Reader(no, 0x1F)
    eq("access refusal: owner (offset 6)", r.take(66), owner.public)
    eq("access refusal: requester party id (offset 72)", r.take(32), grantee.party_id)
    eq("access refusal: request (offset 104) = the request's id", r.take(32), rid)
    eq("access refusal: timestamp (offset 136)", r.u64(), T_ACCESS_REFUSAL)
    eq("access refusal: signature at 144", r.i, 144)
    r.take(64)
    r.end()
    check_signed("access refusal (by the owner)", owner, no, 144)


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

    # 4-byte steps: draws are contiguous, and the wrapped seed's 12-byte nonce
    # puts every later draw off the 16-byte grid.
    windows = range(0, len(rng) - 32 + 1, 4)

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
    for name, key in (("b1_envelope", "b1_envelope"), ("b2_envelope", "b2_envelope"), ("sealed_request", "sealed_request"),
                      ("mail_receipts", "mail_receipts")):
        enc = V.hex(key)[6:71]
        reproduce(f"the HPKE ephemeral key of {name} (RFC 9180 DeriveKeyPair(ikm = 32 bytes))",
                  lambda b, enc=enc: uncompressed(pt_mul(derive_key_pair(b), G)) == enc)
    fixed_tail = (c["grant_id"], c["request_nonce"])
    for name, P2, proof in c.get("proofs", []):
        k = (int.from_bytes(proof[32:], "big") + int.from_bytes(proof[:32], "big") * c["b2"]) % N
        head = (scalar_bytes(c["b2"]), compress(B2), compress(E), compress(P2))
        reproduce(f"{name}: the hedged nonce k = H2S(DLEQ_NONCE, b2, B2, E, P2, grant_id, request_nonce, fresh32)",
                  lambda b, head=head, k=k: H2S(L_DLEQ_NONCE, *head, *fixed_tail, b) == k)


# --------------------------------------------------------------------------
# The spec's own tables: offsets, labels, purposes and kinds
# --------------------------------------------------------------------------


def spec_table(text: str, marker: str) -> list[list[str]] | None:
    """The rows (cells, header row first, separator dropped) of the first
    markdown table after `marker` in the spec."""
    at = text.find(marker)
    if at < 0:
        return None
    lines = text[at:].splitlines()
    rows, started = [], False
    for ln in lines if marker.startswith("|") else lines[1:]:
        if ln.startswith("|"):
            started = True
            cells = [x.strip() for x in ln.strip().strip("|").split("|")]
            if not all(re.fullmatch(r":?-+:?", x) for x in cells):
                rows.append(cells)
        elif started:
            break
    return rows or None


def spec_eval(cell: str, env: dict) -> int:
    """Evaluates an offset or size cell ("4 + 207", "355+32k", "172+210·s",
    "Σ(17 + e + 32·k + h)" for one item, "8 (u64)") with the variables of env."""
    def ev(s: str) -> int:
        s = s.replace("`", "").replace("Σ", "").replace("·", "*").replace("−", "-")
        s = re.sub(r"(\d)\s*([a-z(])", r"\1*\2", s)
        if not re.fullmatch(r"[0-9a-z_+*\-()\s]+", s):
            raise ValueError(f"not an expression: {cell!r}")
        return int(eval(s, {"__builtins__": {}}, dict(env)))  # noqa: S307 (our own spec's cells)
    try:
        return ev(cell)
    except (NameError, SyntaxError, ValueError, TypeError):
        m = re.match(r"^(.*?)\s+\(", cell)
        if m:
            return ev(m.group(1))
        raise


# The checker's own reading of each layout: (spec marker, header, start,
# [(field name as the spec's field column names it, size(env))], envs).
def _c(n):
    return lambda v: n


LAYOUTS = [
    ("### Blob header (kind `0x01`)", "SPHR 01 01", _c(0),
     [("header", _c(6)), ("chunk_log2", _c(1)), ("record_id", _c(32)), ("section_id", _c(32)),
      ("epoch_id", _c(32)), ("version", _c(8)), ("capsule", _c(33)), ("key commitment", _c(32)),
      ("padded_len", _c(8))], [{}]),
    ("**Header** (kind `0x12`)", "SPHR 12 01", _c(0),
     [("header", _c(6)), ("chunk_log2", _c(1)), ("record_id", _c(32)), ("section_id", _c(32)),
      ("key commitment", _c(32)), ("padded_len", _c(8))], [{}]),
    ("**Chunk index** (kind `0x0b`)", "SPHR 0b 01", _c(0),
     [("header", _c(6)), ("leaf count", _c(4)), ("leaves", lambda v: 32 * v["m"])], [{"m": 2}, {"m": 3}]),
    ("## Manifest (kind `0x02`)", "SPHR 02 01", _c(0),
     [("header", _c(6)), ("owner", _c(66)), ("record_id", _c(32)), ("record_nonce", _c(16)),
      ("version", _c(8)), ("previous", _c(32)), ("created_at", _c(8)), ("section count", _c(4)),
      ("entries", lambda v: 210 * v["s"]), ("signature", _c(64))], [{"s": 0}, {"s": 1}, {"s": 4}]),
    ("Each entry is 210 bytes:", None, _c(0),
     [("section_id", _c(32)), ("epoch_id", _c(32)), ("section key", _c(33)), ("capsule", _c(33)),
      ("written_at_version", _c(8)), ("chunk_root", _c(32)), ("blob_len", _c(8)), ("index_id", _c(32))], [{}]),
    ("**Format 2** (header `SPHR 02 02`)", None, lambda v: 172 + 210 * v["s"],
     [("audit_head", lambda v: 4 + v["h"]), ("signature", _c(64))], [{"s": 1, "h": 118}, {"s": 3, "h": 9}]),
    ("## Manifest heads and freshness (kind `0x09`)", "SPHR 09 01", _c(0),
     [("header", _c(6)), ("record_id", _c(32)), ("version", _c(8)), ("manifest_hash", _c(32)),
      ("timestamp", _c(8)), ("signature", _c(64))], [{}]),
    ("**Envelope** (kind `0x04`)", "SPHR 04 01", _c(0),
     [("header", _c(6)), ("enc", _c(65)), ("ciphertext", lambda v: 4 + v["c"])], [{"c": 48}]),
    ("### Grant statement (kind `0x03`)", "SPHR 03 01", _c(0),
     [("header", _c(6)), ("grant_id", _c(16)), ("sequence", _c(8)), ("owner", _c(66)), ("record_id", _c(32)),
      ("section_id", _c(32)), ("epoch_id", _c(32)), ("section key", _c(33)), ("b2", _c(33)),
      ("grantee", _c(66)), ("role", _c(1)), ("from_version", _c(8)), ("expires_at", _c(8)),
      ("b1_envelope_hash", _c(32)), ("b2_envelope_hash", _c(32)), ("signature", _c(64))], [{}]),
    ("**Format 2: an emergency grant**", None, _c(405),
     [("emergency_wait", _c(8)), ("signature", _c(64))], [{}]),
    ("**Emergency decision** (kind `0x1d`)", "SPHR 1d 01", _c(0),
     [("header", _c(6)), ("grant_id", _c(16)), ("record_id", _c(32)), ("activation", _c(32)),
      ("verdict", _c(1)), ("timestamp", _c(8)), ("nonce", _c(16)), ("signature", _c(64))], [{}]),
    ("**Access request** (kind `0x1e`)", "SPHR 1e 01", _c(0),
     [("header", _c(6)), ("owner", _c(32)), ("record_id", _c(32)), ("requester", _c(66)), ("role", _c(1)),
      ("section count", _c(1)), ("sections", lambda v: 4 * v["n"] + v["s"]), ("reason", lambda v: 4 + v["r"]),
      ("created_at", _c(8)), ("expires_at", _c(8)), ("nonce", _c(16)), ("signature", _c(64))],
     [{"n": 2, "s": 20, "r": 30}, {"n": 1, "s": 4, "r": 0}]),
    ("**Access refusal** (kind `0x1f`)", "SPHR 1f 01", _c(0),
     [("header", _c(6)), ("owner", _c(66)), ("requester", _c(32)), ("request", _c(32)), ("timestamp", _c(8)),
      ("signature", _c(64))], [{}]),
    ("**Format 3** (header `SPHR 0e 03`", None, _c(167),
     [("purpose", _c(1)), ("record_seq", _c(8)), ("record_prev", _c(32))], [{}]),
    ("### Request (kind `0x05`)", "SPHR 05 01", _c(0),
     [("header", _c(6)), ("grant_id", _c(16)), ("record_id", _c(32)), ("section_id", _c(32)),
      ("version", _c(8)), ("nonce", _c(16)), ("timestamp", _c(8)), ("signature", _c(64))], [{}]),
    ("### Answer (kind `0x06`)", "SPHR 06 01", _c(0),
     [("header", _c(6)), ("grant_id", _c(16)), ("nonce", _c(16)), ("p2", _c(33)), ("proof", _c(64)),
      ("receipt.index", _c(8)), ("receipt.entry", _c(4 + 207)), ("receipt.path_len", _c(1)),
      ("receipt.path", lambda v: 32 * v["k"]), ("receipt.tree_head", _c(4 + 118)), ("head", _c(4 + 150)),
      ("signature", _c(64))], [{"k": 0}, {"k": 1}, {"k": 7}]),
    ("**Revocation** (kind `0x07`)", "SPHR 07 01", _c(0),
     [("header", _c(6)), ("grant_id", _c(16)), ("record_id", _c(32)), ("section_id", _c(32)),
      ("timestamp", _c(8)), ("signature", _c(64))], [{}]),
    ("**Revocation receipt** (kind `0x08`)", "SPHR 08 01", _c(0),
     [("header", _c(6)), ("grant_id", _c(16)), ("revocation_hash", _c(32)), ("timestamp", _c(8)),
      ("signature", _c(64))], [{}]),
    ("**Directory entry** (kind `0x0a`)", "SPHR 0a 01", _c(0),
     [("header", _c(6)), ("public identity", _c(66)), ("created_at", _c(8)), ("signature", _c(64))], [{}]),
    ("**Audit entry** (kind `0x0e`)", "SPHR 0e 02", _c(0),
     [("header", _c(6)), ("timestamp", _c(8)), ("grant_id", _c(16)), ("grantee party_id", _c(32)),
      ("record_id", _c(32)), ("section_id", _c(32)), ("version", _c(8)), ("request", _c(32)),
      ("decision", _c(1)), ("record_seq", _c(8)), ("record_prev", _c(32))], [{}]),
    ("**Audit tree head** (kind `0x0f`)", "SPHR 0f 01", _c(0),
     [("header", _c(6)), ("tree_size", _c(8)), ("root", _c(32)), ("timestamp", _c(8)), ("signature", _c(64))], [{}]),
    ("**Audit mark** (kind `0x13`)", "SPHR 13 01", _c(0),
     [("header", _c(6)), ("record_id", _c(32)), ("tree_size", _c(8)), ("count", _c(8)), ("digest", _c(32))], [{}]),
    ("### Receipt bundle (kind `0x15`)", "SPHR 15 01", _c(0),
     [("header", _c(6)), ("record_id", _c(32)), ("count", _c(1)),
      ("receipts", lambda v: 8 + 4 + v["e"] + 1 + 32 * v["k"] + 4 + v["h"])],
     [{"e": 207, "k": 0, "h": 118}, {"e": 167, "k": 2, "h": 118}]),
    ("Each receipt has exactly the answer's receipt fields", None, _c(0),
     [("index", _c(8)), ("entry", lambda v: 4 + v["e"]), ("path_len", _c(1)), ("path", lambda v: 32 * v["k"]),
      ("tree_head", lambda v: 4 + v["h"])], [{"e": 207, "k": 0, "h": 118}, {"e": 167, "k": 3, "h": 118}]),
    ("### Audit export (kind `0x14`)", "SPHR 14 01", _c(0),
     [("header", _c(6)), ("srs public identity", _c(66)), ("entry count", _c(8)),
      ("entries", lambda v: 4 + v["entry"]), ("head count", _c(4)), ("heads", lambda v: 4 + v["head"])],
     [{"entry": 207, "head": 118}]),
    ("**Sealing** (`Envelope::seal_mail`", "SPHR 04 01", _c(0),
     [("header", _c(6)), ("enc", _c(65)), ("ciphertext", lambda v: 4 + v["c"])], [{"c": 771}]),
    ("**Emergency activation** (kind `0x1c`, format 2)", "SPHR 1c 02", _c(0),
     [("header", _c(6)), ("grant_id", _c(16)), ("record_id", _c(32)), ("grant_hash", _c(32)),
      ("follows", _c(32)), ("timestamp", _c(8)), ("nonce", _c(16)), ("signature", _c(64))], [{}]),
    ("### Emergency view (kind `0x20`)", "SPHR 20 01", _c(0),
     [("header", _c(6)), ("record_id", _c(32)), ("requester", _c(32)), ("nonce", _c(16)), ("now", _c(8)),
      ("n", _c(4)), ("entries", lambda v: 114 * v["n"]), ("signature", _c(64))], [{"n": 0}, {"n": 3}]),
    ("Each entry:", None, _c(0),
     [("grant_id", _c(16)), ("state", _c(1)), ("approved", _c(1)), ("wait", _c(8)), ("activation", _c(32)),
      ("activation_time", _c(8)), ("activated_at", _c(8)), ("opens_at", _c(8)), ("last_decision", _c(32))], [{}]),
    ("### Emergency receipt (kind `0x21`)", "SPHR 21 01", _c(0),
     [("header", _c(6)), ("record_id", _c(32)), ("grant_id", _c(16)), ("decision", _c(32)), ("verdict", _c(1)),
      ("state", _c(1)), ("at", _c(8)), ("signature", _c(64))], [{}]),
    ("## Request tokens (kind `0x10`)", "SPHR 10 01", _c(0),
     [("header", _c(6)), ("party", _c(66)), ("purpose", _c(1)), ("subject", lambda v: 4 + v["l"]),
      ("timestamp", _c(8)), ("nonce", _c(16)), ("signature", _c(64))], [{"l": 0}, {"l": 64}]),
]


def check_spec_layouts(text: str) -> None:
    """Every byte table of the spec that the checker decodes by agrees with
    the checker's reading: the same fields, in order, at the same offsets
    and sizes (for several values of the tables' variables)."""
    for marker, header, start, fields, envs in LAYOUTS:
        name = f"spec table after {marker!r}"
        rows = spec_table(text, marker)
        if rows is None:
            fail(name, "not found")
            continue
        cols = [h.lower() for h in rows[0]]
        if "offset" not in cols or "size" not in cols or "field" not in cols:
            fail(name, f"columns {rows[0]} are not offset | field | size")
            continue
        io, iname, isz = cols.index("offset"), cols.index("field"), cols.index("size")
        body = rows[1:]
        why = []
        if len(body) != len(fields):
            why.append(f"{len(body)} rows, the checker reads {len(fields)} fields")
        for env in envs:
            off = start(env)
            for row, (fname, size) in zip(body, fields):
                cell_name = row[iname].replace("`", "").lower()
                if fname.lower() not in cell_name:
                    why.append(f"field {row[iname]!r} is not {fname!r}")
                    continue
                try:
                    o, s = spec_eval(row[io], env), spec_eval(row[isz], env)
                except Exception as e:  # noqa: BLE001
                    why.append(f"{fname}: cannot evaluate {row[io]!r} / {row[isz]!r} ({e})")
                    continue
                if (o, s) != (off, size(env)):
                    why.append(f"{fname} with {env}: offset {o}, size {s}; the checker has {off}, {size(env)}")
                off += size(env)
        if header is not None and not any(header in " ".join(r) for r in body[:1]):
            why.append(f"first row does not name the header {header}")
        check(f"{name}: fields, offsets and sizes agree with the checker's", not why, "; ".join(sorted(set(why))[:4]))


def check_spec_labels(text: str) -> None:
    rows = spec_table(text, "These are all the label strings")
    found = {}
    for r in (rows or [])[1:]:
        m1, m2 = re.fullmatch(r"`([A-Z0-9_]+)`", r[0]), re.fullmatch(r"`([^`]+)`", r[1])
        if m1 and m2:
            found[m1.group(1)] = m2.group(1).encode()
    eq("spec labels table: every constant and string is the checker's (MAIL = SeSPHR-v1/mail included)",
       found, LABELS)


def check_spec_purposes(text: str) -> None:
    rows = spec_table(text, "| byte | purpose |") or spec_table(text, "A token is `165 + l` bytes")
    found = {}
    for r in (rows or [])[1:]:
        m = re.fullmatch(r"`(\w+)`", r[1])
        if r[0].isdigit() and m:
            found[m.group(1)] = int(r[0])
    eq("spec token purposes table: every purpose byte is the checker's (7-9 mail, 10-12 SMART Health Links, 16-17 emergency)",
       found, PURPOSES)


def check_spec_kinds(V: Vectors, text: str) -> None:
    """§ Object framing: every object in the vector file has a listed kind, a
    format version that kind has, and (where the table gives a number) that size."""
    rows = spec_table(text, "| kind | object | size in bytes | signed by |")
    kinds = {}
    for r in (rows or [])[1:]:
        m = re.fullmatch(r"`0x([0-9a-f]{2})`", r[0])
        if m:
            kinds[int(m.group(1), 16)] = (r[1], r[2])
    check("spec kinds table lists 0x01..0x1a, 0x1c..0x24",
          sorted(kinds) == list(range(1, 0x1B)) + list(range(0x1C, 0x25)), f"{sorted(kinds)}")
    two_formats = {0x02, 0x03}  # § Object framing: the kinds with a second format
    # the audit entry and the manifest have three; the activation only its second
    formats = {0x0E: (1, 2, 3), 0x02: (1, 2, 3), 0x1C: (2,), 0x24: (1, 2)}

    def variables(kind: int, b: bytes) -> dict:
        """The size formula's variables, read from the object's own fields."""
        try:
            if kind == 0x02:
                s = rd_u32(b, 168)
                return {"s": s, "h": rd_u32(b, 172 + 210 * s) if b[5] == 2 else 0}
            if kind in (0x04, 0x0C):
                return {"c": rd_u32(b, 71)}
            if kind == 0x0D:
                return {"c": rd_u32(b, 6)}
            if kind == 0x06:
                return {"k": b[143 + 4 + rd_u32(b, 143)]}
            if kind == 0x0B:
                return {"chunks": rd_u32(b, 6) - 1}
            if kind == 0x10:
                return {"l": rd_u32(b, 73)}
            if kind == 0x22:
                return {"n": rd_u32(b, 18) - 48}
            if kind == 0x20:
                return {"n": rd_u32(b, 94)}
            if kind == 0x24 and b[16] == 0x01:  # a section blob's placement
                n = b[7]
                return {"n": n, "m": b[196 + 64 * n] if b[5] == 2 else 0}
        except (struct.error, IndexError):
            pass
        return {}
    for key in sorted(V.d):
        val = V.d[key]
        if not isinstance(val, str) or not val.startswith("53504852"):
            continue
        b = bytes.fromhex(val)
        kind, version = b[4], b[5]
        obj, size_cell = kinds.get(kind, ("?", ""))
        name = f"kinds table: {key} is kind {kind:#04x} ({obj}), format {version}"
        if kind not in kinds or version not in formats.get(kind, (1, 2) if kind in two_formats else (1,)):
            fail(name, "not a listed kind, or a format version it does not have")
            continue
        want = None
        for part in size_cell.split(";"):
            fm = re.search(r"\(format (\d)", part)
            if fm and int(fm.group(1)) != version:
                continue
            expr = re.split(r"\s+\(", part.strip())[0]
            try:
                want = spec_eval(expr, variables(kind, b))
            except (NameError, SyntaxError, ValueError, TypeError):
                want = None
            break
        if want is None or key in ("blob", "attachment_blob"):  # a formula, or a header with its chunks
            ok(name)
        else:
            eq(f"{name}, {want} bytes", len(b), want)


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
    check_spec_layouts(text)
    check_spec_labels(text)
    check_spec_purposes(text)
    check_spec_kinds(V, text)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
