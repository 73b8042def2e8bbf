"""The gateway's synchronous tax answers from AvaTax: quotes and nexus, nothing recorded.

Both are a `SalesOrder` (`POST /api/v2/transactions/create`), which AvaTax calculates and
does not keep. A quote is the order's lines; a nexus check is one nominal line of 100.00
sold to the customer's address by the entity that serves its country: the rate is
AvaTax's for that address (its jurisdictions summed), and no tax means no nexus there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx

from adapters.http import call
from canonical.accounts import LegalEntity, serving_entity
from canonical.billing import TaxResult
from canonical.customer import Address
from canonical.errors import InvalidDataError
from canonical.money import Money

from .avalara import SYSTEM, addresses_model, avatax_json, tax_result
from .port import TaxNexus

NOMINAL = Decimal("100.00")


class AvalaraQuoter:
    """`TaxQuoter` over AvaTax.

    Args:
        client: from `avalara.avatax_client`.
        entities: the legal entities (which serves a country, its currency).
        companies: legal entity -> AvaTax company code (default: the entity's own code).
        ship_from: legal entity -> the address it sells from.
    """

    def __init__(self, client: httpx.AsyncClient, entities: Mapping[str, LegalEntity], *,
                 companies: dict[str, str] | None = None,
                 ship_from: dict[str, Address] | None = None) -> None:
        self._client = client
        self._entities = entities
        self._companies = companies or {}
        self._ship_from = ship_from or {}

    async def quote(self, currency: str, ship_to: Address, lines: list[tuple[str, Money]], *,
                    correlation_id: str, legal_entity: str | None = None) -> TaxResult:
        entity = legal_entity or self._entity(ship_to.country)
        body = await self._sales_order(entity, currency, ship_to, lines, correlation_id)
        return tax_result([line_id for line_id, _ in lines], currency, body)

    async def nexus(self, country: str, region: str | None = None, *, correlation_id: str,
                    address: Address | None = None) -> TaxNexus:
        if address is None:
            raise InvalidDataError("AvaTax rates by address: a nexus check needs the "
                                   "customer's address", system=SYSTEM)
        entity = self._entity(country)
        currency = self._entities[entity].chart.functional_currency
        body = await self._sales_order(entity, currency, address,
                                       [("1", Money(amount=NOMINAL, currency=currency))],
                                       correlation_id)
        (line,) = tax_result(["1"], currency, body).lines
        return TaxNexus(has_nexus=line.amount.amount > 0, rate=line.rate,
                        jurisdiction=line.jurisdiction)

    def _entity(self, country: str) -> str:
        serving = serving_entity(self._entities, country)
        if serving is None:
            raise InvalidDataError(f"no legal entity serves country {country}", system=SYSTEM)
        return serving.code

    async def _sales_order(self, entity: str, currency: str, ship_to: Address,
                           lines: list[tuple[str, Money]], cid: str) -> dict[str, Any]:
        model = {"type": "SalesOrder", "commit": False,
                 "companyCode": self._companies.get(entity, entity),
                 "date": dt.datetime.now(dt.UTC).date().isoformat(),
                 "customerCode": "cashloop-quote", "currencyCode": currency,
                 "addresses": addresses_model(ship_to, self._ship_from.get(entity)),
                 "lines": [{"number": line_id, "quantity": 1, "amount": str(amount.amount)}
                           for line_id, amount in lines]}
        response = await call(self._client, "POST", "/api/v2/transactions/create",
                              system=SYSTEM, correlation_id=cid, params={"$include": "Details"},
                              json=model)
        return avatax_json(response)
