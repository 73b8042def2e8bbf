"""Stripe webhook signatures: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]`.

The signature is HMAC-SHA256 with the endpoint secret over `"{t}.{raw body}"`. Several
`v1` values may come (Stripe signs with every active secret while one is rolled) and
several secrets may be configured (newest first): any match is enough. Every
comparison is constant-time; the timestamp must be within the tolerance either way,
so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Sequence

DEFAULT_TOLERANCE_S = 300
HEADER = "Stripe-Signature"


class SignatureError(Exception):
    """A webhook that is not provably from the source; `reason` is machine-readable."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def compute(secret: str, timestamp: int, body: bytes) -> str:
    """The hex v1 signature of `body` signed at `timestamp`."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign(body: bytes, secrets: str | Sequence[str], timestamp: int | None = None) -> str:
    """A Stripe-Signature header value for `body` (what Stripe sends; demo, tests, bench)."""
    t = int(time.time()) if timestamp is None else timestamp
    keys = [secrets] if isinstance(secrets, str) else list(secrets)
    return ",".join([f"t={t}", *(f"v1={compute(k, t, body)}" for k in keys)])


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                timestamp = None
        elif key == "v1":
            signatures.append(value)
    if timestamp is None:
        raise SignatureError("malformed_header", f"{HEADER} has no valid t= timestamp")
    if not signatures:
        raise SignatureError("no_v1_signature", f"{HEADER} has no v1= signature")
    return timestamp, signatures


def verify(body: bytes, header: str | None, secrets: Sequence[str], *,
           tolerance_s: int = DEFAULT_TOLERANCE_S, now: float | None = None) -> int:
    """Check a webhook's signature; returns its signed timestamp.

    Raises:
        SignatureError: reason `not_configured`, `missing_header`, `malformed_header`,
            `no_v1_signature`, `stale_timestamp` or `signature_mismatch`.
    """
    if not secrets:
        raise SignatureError("not_configured", "no webhook signing secret is configured")
    if not header:
        raise SignatureError("missing_header", f"the {HEADER} header is missing")
    timestamp, given = _parse(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise SignatureError("stale_timestamp",
                             f"signed {int(current - timestamp)}s from now; "
                             f"tolerance is {tolerance_s}s")
    matched = False
    for secret in secrets:
        expected = compute(secret, timestamp, body)
        for candidate in given:
            # no early exit: every pair is compared, so timing says nothing about which
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("signature_mismatch", "no v1 signature matches the body")
    return timestamp
