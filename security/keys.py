"""The key ring of the payload codec: named AES-256 keys, newest first, from config only.

Format (environment variable or file): ``kid:base64key`` entries separated by commas or
newlines, newest first; blank lines and ``#`` comments are ignored. The newest key
encrypts; every key decrypts, so adding a key in front rotates without losing old
histories.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import re
from collections.abc import Iterator
from pathlib import Path

KEY_BYTES = 32  # AES-256
_KID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class KeyRingError(ValueError):
    """A key ring that cannot be used (bad format, wrong key size, duplicate id)."""


class KeyRing:
    """Named keys, newest first.

    Args:
        keys: (key id, 32-byte key) pairs, newest first.
    """

    def __init__(self, keys: list[tuple[str, bytes]]) -> None:
        if not keys:
            raise KeyRingError("a key ring needs at least one key")
        seen: dict[str, bytes] = {}
        for kid, key in keys:
            if not _KID.match(kid):
                raise KeyRingError(f"key id {kid!r} must be 1-64 of [A-Za-z0-9._-]")
            if len(key) != KEY_BYTES:
                raise KeyRingError(f"key {kid!r} has {len(key)} bytes; AES-256 needs 32")
            if kid in seen:
                raise KeyRingError(f"key id {kid!r} appears twice")
            seen[kid] = key
        self._keys = seen
        self.current_id = keys[0][0]

    @property
    def ids(self) -> list[str]:
        """Key ids, newest first."""
        return list(self._keys)

    def current(self) -> tuple[str, bytes]:
        """The key that encrypts."""
        return self.current_id, self._keys[self.current_id]

    def get(self, kid: str) -> bytes | None:
        """The key with this id, if the ring holds it."""
        return self._keys.get(kid)

    def __repr__(self) -> str:  # never the key material
        return f"KeyRing(ids={self.ids})"

    @classmethod
    def parse(cls, text: str) -> KeyRing:
        """A ring from ``kid:base64key`` entries (commas or newlines, newest first)."""
        keys = []
        for entry in _entries(text):
            kid, sep, b64 = entry.partition(":")
            if not sep:
                raise KeyRingError("each key must be written kid:base64key")
            try:
                key = base64.b64decode(b64.strip(), validate=True)
            except binascii.Error as exc:
                raise KeyRingError(f"key {kid.strip()!r} is not valid base64") from exc
            keys.append((kid.strip(), key))
        return cls(keys)

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        """A ring from a secrets file in the same format."""
        try:
            return cls.parse(path.read_text())
        except OSError as exc:
            raise KeyRingError(f"cannot read codec key file {path}: {exc.strerror}") from exc


def _entries(text: str) -> Iterator[str]:
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        for part in line.split(","):
            if part.strip():
                yield part.strip()


def new_key_entry(kid: str | None = None) -> str:
    """A fresh ``kid:base64key`` entry from the OS's random source."""
    kid = kid or "k" + dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    return f"{kid}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


def dev_key_path(data_dir: Path) -> Path:
    """Where `make up`/`make demo` keep the development key of a data dir."""
    return (data_dir / "secrets" / "dev-codec-keys").resolve()


def ensure_dev_key_file(path: Path) -> bool:
    """Create a development key file (mode 0600) once; True if it was created now."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# DEVELOPMENT payload key of the local stack (make up / make demo).\n"
                  "# Never use it for real data; see docs/security.md for production keys.\n")
        out.write(new_key_entry("dev-" + dt.datetime.now(dt.UTC).strftime("%Y%m%d")) + "\n")
    return True
