"""The customer map: which Cashloop customer account (and legal entity) a source customer is.

A TOML file (CASHLOOP_STRIPE_CUSTOMERS_FILE, default config/stripe_customers.toml):

    [customers.cus_R2mGlobexAG01]          # the source system's customer id
    customer_id = "cus_stripe_globex"       # the Cashloop customer id
    name = "Globex AG"
    legal_entity = "DE01"
    country = "DE"
    currency = "EUR"
    [customers.cus_R2mGlobexAG01.bill_to]
    name = "Globex AG"
    address = { line1 = "...", city = "Berlin", postal_code = "10117", country = "DE" }

A source event about a customer missing here is dead-lettered as `unmappable_customer`;
add the customer and `starter.py dlq replay --category unmappable_customer`. The file
is re-read when it changes, so a running gateway needs no restart.
"""

from __future__ import annotations

import threading
import time
import tomllib
from pathlib import Path

from pydantic import ValidationError

from canonical.customer import CustomerAccount

# How often the file is looked at for changes (a stat per request would cost throughput).
CHECK_EVERY_S = 1.0


class CustomerMapError(ValueError):
    """The map file itself is wrong (names the entry and the field)."""


def parse_customers(text: str, origin: str = "customer map") -> dict[str, CustomerAccount]:
    raw = tomllib.loads(text).get("customers", {})
    result = {}
    for source_id, spec in raw.items():
        try:
            result[source_id] = CustomerAccount.model_validate(spec)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise CustomerMapError(f"{origin}: customers.{source_id}.{where}: "
                                   f"{first['msg']}") from exc
    return result


class CustomerMap:
    """Source customer id -> CustomerAccount, from a file re-read when it changes."""

    def __init__(self, path: Path | None = None,
                 customers: dict[str, CustomerAccount] | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._checked = -CHECK_EVERY_S
        self._customers = dict(customers or {})

    def _reload(self) -> None:
        if self._path is None:
            return
        now = time.monotonic()
        if now - self._checked < CHECK_EVERY_S:
            return
        self._checked = now
        try:
            stat = self._path.stat()
        except FileNotFoundError:
            self._customers, self._stamp = {}, None
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._customers = parse_customers(self._path.read_text(), str(self._path))
            self._stamp = stamp

    def get(self, source_customer_id: str) -> CustomerAccount | None:
        with self._lock:
            self._reload()
            return self._customers.get(source_customer_id)
