"""The sandbox payment gateway over real HTTP: seeded outcomes, idempotent attempts."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest

from adapters.payments.port import CollectionRequest
from adapters.payments.sandbox import SandboxPaymentsAdapter, SandboxPaymentsAdmin
from adapters.sandbox.serve import running_sandboxes
from canonical.errors import RejectedError
from canonical.money import Money
from tests.sandbox_harness import ENTITIES, sqlite_stores, uid


@dataclass
class Gateway:
    adapter: SandboxPaymentsAdapter
    admin: SandboxPaymentsAdmin


@pytest.fixture
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    stores = sqlite_stores(tmp_path_factory.mktemp("payments"))
    async with running_sandboxes(["payments"], stores, ENTITIES) as urls, \
            httpx.AsyncClient(base_url=urls["payments"], timeout=30) as client:
        yield Gateway(SandboxPaymentsAdapter(client), SandboxPaymentsAdmin(client))


def attempt(invoice_id: str, n: int, amount: str = "107.25") -> CollectionRequest:
    return CollectionRequest(attempt_id=f"dun:{invoice_id}:{n}", invoice_id=invoice_id,
                             customer_id="cus-1", legal_entity="US01",
                             amount=Money(amount=Decimal(amount), currency="USD"),
                             attempted_on=dt.date(2026, 2, 4))


async def test_outcome_rule_declines_then_collects_with_a_fee(gateway: Gateway) -> None:
    invoice = uid("in")
    await gateway.admin.set_outcome(f"invoice:{invoice}", fail_first=2)
    results = [await gateway.adapter.collect(attempt(invoice, n), correlation_id="c")
               for n in (1, 2, 3)]
    assert [r.status for r in results] == ["failed", "failed", "succeeded"]
    payment = results[2].payment
    assert payment is not None
    assert (payment.payment_id, payment.received_on) == (f"py_dun_{invoice}_3",
                                                         dt.date(2026, 2, 4))
    assert payment.fee == Money.of("3.41", "USD")  # 2.9 % + 0.30


async def test_a_repeated_attempt_answers_the_same_result(gateway: Gateway) -> None:
    invoice = uid("in")
    first = await gateway.adapter.collect(attempt(invoice, 1), correlation_id="c")
    again = await gateway.adapter.collect(attempt(invoice, 1), correlation_id="c2")
    assert (again.status, again.payment, again.duplicate) == (first.status, first.payment,
                                                               True)
    assert len(await gateway.admin.collections(invoice)) == 1


async def test_an_attempt_id_reused_with_another_body_is_rejected(gateway: Gateway) -> None:
    invoice = uid("in")
    await gateway.adapter.collect(attempt(invoice, 1), correlation_id="c")
    with pytest.raises(RejectedError):
        await gateway.adapter.collect(attempt(invoice, 1, "1.00"), correlation_id="c")


async def test_customer_rule_fails_every_attempt(gateway: Gateway) -> None:
    await gateway.admin.set_outcome("customer:cus-1", then="fail", failure_code="expired")
    invoice = uid("in")
    result = await gateway.adapter.collect(attempt(invoice, 1), correlation_id="c")
    assert (result.status, result.failure_code) == ("failed", "expired")
    assert {r.key for r in await gateway.admin.outcomes()} >= {"customer:cus-1"}
