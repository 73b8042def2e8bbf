"""AES-256-GCM payload codec: every payload Cashloop writes to Temporal is encrypted.

Each encrypted payload carries ``encoding: binary/encrypted`` and the id of the key
that encrypted it (``encryption-key-id``); the key id is also bound as associated
data, so a payload cannot be passed off as encrypted under another key. Decoding
picks the key by id from the ring, so old histories stay readable after rotation.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    DataConverter,
    DefaultFailureConverterWithEncodedAttributes,
    PayloadCodec,
)

from payload_converter import shared_data_converter

from .keys import KeyRing

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12


class PayloadDecryptionError(ValueError):
    """A payload that this key ring cannot decrypt (unknown key id, tampered data)."""


class AesGcmCodec(PayloadCodec):
    """Encrypts with the ring's newest key; decrypts with whichever key a payload names.

    Args:
        ring: the keys, newest first.
    """

    def __init__(self, ring: KeyRing) -> None:
        self.ring = ring
        self._ciphers = {kid: AESGCM(ring.get(kid) or b"") for kid in ring.ids}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        """One payload, encrypted with the newest key."""
        kid = self.ring.current_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, payload.SerializeToString(), kid.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: kid.encode()},
                       data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        """One payload in clear; payloads that are not ours pass through unchanged."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        kid = payload.metadata.get(KEY_ID, b"").decode()
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise PayloadDecryptionError(
                f"payload encrypted with key {kid!r}, which is not in the ring {self.ring.ids}")
        try:
            clear = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:],
                                   kid.encode())
        except InvalidTag as exc:
            raise PayloadDecryptionError(f"payload under key {kid!r} failed authentication") \
                from exc
        return Payload.FromString(clear)


def data_converter(ring: KeyRing | None) -> DataConverter:
    """The pydantic converter (adapters shared across workflows: payload_converter.py),
    encrypting payloads and failure details when a ring is given.

    Failure messages and stack traces are moved into an encoded payload too, since an
    error text may quote customer data.
    """
    if ring is None:
        return shared_data_converter
    return dataclasses.replace(
        shared_data_converter, payload_codec=AesGcmCodec(ring),
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes)
