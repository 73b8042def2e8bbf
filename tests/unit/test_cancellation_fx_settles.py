"""The cancellation's credit memo that settles a foreign invoice relieves what is left of it.

CancellationFlow run on its own (time-skipping server, fake ports): a EUR invoice of a
USD entity, cancelled on its first day, so the credit of unused service is the whole
invoice. The receivable's movements (given in the flow's input, as the entity passes
them) left a cent less in USD than the credit converted on its own: the memo relieves
what they left, and the receivable ends at zero in both currencies.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from temporalio.testing import WorkflowEnvironment

from adapters.erp.port import CreditMemoPosting
from adapters.provisioning.port import Entitlements, EntitlementStatus
from canonical.accounts import AccountRole
from canonical.proration import service_lines
from devstack import streams
from tests.unit.fakes import FakeRates
from tests.unit.test_subscription_workflow import ENTITIES, fake_erp, fake_ports, running
from workflows.cancellation import CancellationFlow, CancellationInput, CancellationState

US01 = ENTITIES["US01"].chart
RATE = Decimal("1.10")


async def test_the_cancellation_credit_that_settles_a_foreign_invoice_relieves_what_is_left(
        ts_env: WorkflowEnvironment, task_queue: str) -> None:
    ports = fake_ports()
    ports.provisioning.status["sub_fxc"] = Entitlements(  # type: ignore[attr-defined]
        subscription_id="sub_fxc", status=EntitlementStatus.GRANTED, skus=["pro"])
    ports.rates = FakeRates({("EUR", "USD"): RATE})
    cust = streams.customer("cus_sub_fxc", "US").model_copy(update={"currency": "EUR"})
    start = dt.date(2026, 1, 1)
    life = streams.lifecycle("sub_fxc", cust, start,
                             [(streams.plan("pro-annual", "EUR", "1000.00"), 1)])
    invoice = life.invoice("in_fxc", start, dt.date(2027, 1, 1))  # 1,000.00, no tax
    # paid 0.05 twice and refunded 0.10: in USD 1,100.00 - 0.06 - 0.06 + 0.11 = 1,099.99
    moved = [Decimal("1000.00"), Decimal("-0.05"), Decimal("-0.05"), Decimal("0.10")]
    # no schedules in the fake ERP to end (the credit releases its whole net)
    lines = [ln.model_copy(update={"schedule_id": None}) for ln in service_lines(invoice)]
    async with running(ts_env.client, task_queue, ports) as config:
        result = await ts_env.client.execute_workflow(
            CancellationFlow.run, CancellationInput(
                subscription=life.subscription, customer=cust, effective_on=start,
                reason="non-payment", lines=lines, credit_unused=True,
                credit_memo_id="cm_fxc", correlation_id="c", config=config,
                invoice_rates={"in_fxc": RATE}, invoice_movements={"in_fxc": moved}),
            id="cancellation-sub_fxc", task_queue=task_queue)
    assert result.state == CancellationState.CANCELLED
    assert result.credited["in_fxc"].amount == Decimal("1000.00")
    entry = fake_erp(ports).document("cm:cm_fxc", CreditMemoPosting).entry
    ar = US01.code(AccountRole.ACCOUNTS_RECEIVABLE)
    relieved = [ln.functional_amount for ln in entry.lines if ln.account == ar]
    # 1,100.00 converted on its own
    assert [m.amount if m is not None else None for m in relieved] == [Decimal("1099.99")]
