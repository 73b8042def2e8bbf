"""The AES-256-GCM payload codec and its key ring (rotation, tampering, configuration)."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from security.codec import ENCODING, KEY_ID, AesGcmCodec, PayloadDecryptionError, data_converter
from security.keys import KeyRing, KeyRingError, ensure_dev_key_file, new_key_entry

CLEAR = Payload(metadata={"encoding": b"json/plain"}, data=b'{"email":"ada@example.test"}')


def ring(*entries: str) -> KeyRing:
    return KeyRing.parse(",".join(entries))


async def test_encode_hides_the_data_and_names_the_key() -> None:
    old = new_key_entry("k0")
    [sealed] = await AesGcmCodec(ring(old)).encode([CLEAR])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"k0"
    assert b"ada@example.test" not in sealed.SerializeToString()
    assert await AesGcmCodec(ring(old)).decode([sealed]) == [CLEAR]


async def test_rotation_encrypts_with_the_newest_key_and_still_decrypts_old_payloads() -> None:
    k0, k1 = new_key_entry("k0"), new_key_entry("k1")
    [old] = await AesGcmCodec(ring(k0)).encode([CLEAR])
    rotated = AesGcmCodec(ring(k1, k0))
    [new] = await rotated.encode([CLEAR])
    assert new.metadata[KEY_ID] == b"k1"
    assert await rotated.decode([old, new]) == [CLEAR, CLEAR]


async def test_decode_refuses_a_payload_whose_key_was_dropped_from_the_ring() -> None:
    [old] = await AesGcmCodec(ring(new_key_entry("k0"))).encode([CLEAR])
    with pytest.raises(PayloadDecryptionError):
        await AesGcmCodec(ring(new_key_entry("k1"))).decode([old])


async def test_decode_refuses_tampered_data_and_a_swapped_key_id() -> None:
    k0, k1 = new_key_entry("k0"), new_key_entry("k1")
    codec = AesGcmCodec(ring(k1, k0))
    [sealed] = await codec.encode([CLEAR])
    last = bytes([sealed.data[-1] ^ 1])
    flipped = Payload(metadata=sealed.metadata, data=sealed.data[:-1] + last)
    relabelled = Payload(metadata={**sealed.metadata, KEY_ID: b"k0"}, data=sealed.data)
    for bad in (flipped, relabelled):
        with pytest.raises(PayloadDecryptionError):
            await codec.decode([bad])


async def test_payloads_that_were_never_encrypted_pass_through_decode() -> None:
    assert await AesGcmCodec(ring(new_key_entry("k0"))).decode([CLEAR]) == [CLEAR]


def test_key_ring_rejects_wrong_sizes_duplicates_and_bad_format() -> None:
    short = "k0:" + base64.b64encode(os.urandom(16)).decode()
    for text in (short, "k0", "k0:not-base64!", new_key_entry("k0") + "," + new_key_entry("k0"),
                 "", "bad id:" + base64.b64encode(os.urandom(32)).decode()):
        with pytest.raises(KeyRingError):
            KeyRing.parse(text)


def test_key_ring_reads_a_file_with_comments_newest_first_and_never_shows_keys(
        tmp_path: Path) -> None:
    k1, k0 = new_key_entry("k1"), new_key_entry("k0")
    path = tmp_path / "keys"
    path.write_text(f"# rotated 2026-03\n{k1}\n{k0}  # previous\n")
    keys = KeyRing.from_file(path)
    assert keys.ids == ["k1", "k0"]
    assert keys.current_id == "k1"
    assert k1.split(":")[1] not in repr(keys)


def test_dev_key_file_is_created_once_and_private(tmp_path: Path) -> None:
    path = tmp_path / "secrets" / "dev-codec-keys"
    assert ensure_dev_key_file(path) is True
    first = path.read_text()
    assert ensure_dev_key_file(path) is False
    assert path.read_text() == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "DEVELOPMENT" in first
    assert KeyRing.from_file(path).current_id.startswith("dev-")


def test_data_converter_is_plain_without_keys_and_encrypting_with_them() -> None:
    assert data_converter(None).payload_codec is None
    converter = data_converter(ring(new_key_entry("k0")))
    assert isinstance(converter.payload_codec, AesGcmCodec)
