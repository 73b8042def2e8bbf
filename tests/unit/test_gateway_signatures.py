"""Stripe-Signature verification: HMAC-SHA256 over "{t}.{body}", rotation, tolerance."""

from __future__ import annotations

import hashlib
import hmac
import time

import pytest

from gateway.signatures import SignatureError, compute, sign, verify

BODY = b'{"id":"evt_1","type":"invoice.paid","created":1770000000,"data":{"object":{}}}'
SECRET = "whsec_current"
OLD_SECRET = "whsec_previous"


def reason_of(body: bytes, header: str | None, secrets: list[str], **kw: float) -> str:
    with pytest.raises(SignatureError) as info:
        verify(body, header, secrets, **kw)  # type: ignore[arg-type]
    return info.value.reason


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    expected = hmac.new(SECRET.encode(), b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert compute(SECRET, 1700000000, BODY) == expected
    assert sign(BODY, SECRET, 1700000000) == f"t=1700000000,v1={expected}"


def test_valid_signature_is_accepted() -> None:
    now = time.time()
    assert verify(BODY, sign(BODY, SECRET, int(now)), [SECRET], now=now) == int(now)


def test_wrong_secret_is_refused() -> None:
    assert reason_of(BODY, sign(BODY, "whsec_wrong"), [SECRET]) == "signature_mismatch"


def test_tampered_body_is_refused() -> None:
    header = sign(BODY, SECRET)
    assert reason_of(BODY.replace(b"invoice.paid", b"invoice.void"), header,
                     [SECRET]) == "signature_mismatch"


def test_stale_timestamp_is_refused_even_with_a_valid_signature() -> None:
    old = int(time.time()) - 301
    assert reason_of(BODY, sign(BODY, SECRET, old), [SECRET]) == "stale_timestamp"


def test_timestamp_far_in_the_future_is_refused() -> None:
    ahead = int(time.time()) + 3600
    assert reason_of(BODY, sign(BODY, SECRET, ahead), [SECRET]) == "stale_timestamp"


def test_timestamp_within_tolerance_is_accepted() -> None:
    now = 1_800_000_000.0
    assert verify(BODY, sign(BODY, SECRET, int(now) - 299), [SECRET], now=now)


@pytest.mark.parametrize("header", [None, ""])
def test_missing_header_is_refused(header: str | None) -> None:
    assert reason_of(BODY, header, [SECRET]) == "missing_header"


@pytest.mark.parametrize(("header", "reason"), [
    ("v1=abc", "malformed_header"),
    ("t=notanumber,v1=abc", "malformed_header"),
    (f"t={int(time.time())}", "no_v1_signature"),
    (f"t={int(time.time())},v0=deadbeef", "no_v1_signature"),
])
def test_malformed_header_is_refused(header: str, reason: str) -> None:
    assert reason_of(BODY, header, [SECRET]) == reason


def test_no_configured_secret_refuses_everything() -> None:
    assert reason_of(BODY, sign(BODY, SECRET), []) == "not_configured"


def test_rotated_secrets_any_configured_secret_matches() -> None:
    # Newest first; a sender still signing with the previous secret is accepted.
    assert verify(BODY, sign(BODY, OLD_SECRET), [SECRET, OLD_SECRET])
    assert verify(BODY, sign(BODY, SECRET), [SECRET, OLD_SECRET])


def test_rotated_secrets_several_v1_signatures_any_may_match() -> None:
    # While Stripe rolls a secret it sends one v1 per active secret.
    header = sign(BODY, [OLD_SECRET, SECRET])
    assert header.count("v1=") == 2
    assert verify(BODY, header, [SECRET])
    assert reason_of(BODY, header, ["whsec_unrelated"]) == "signature_mismatch"
