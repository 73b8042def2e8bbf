"""The flows' new activities in ActivityEnvironment: errors become typed ApplicationErrors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.crm import CrmActivities, RenewalTermsInput
from activities.payments import CollectPaymentInput, PaymentsActivities
from activities.proration import ProrateAmendmentInput, ProrationActivities
from canonical.catalog import BillingPeriod, Plan
from canonical.money import Money
from canonical.subscription import Amendment, Subscription, SubscriptionItem
from tests.unit.fakes import FakeCrm

PLAN = Plan(plan_code="pro", sku="PRO", name="Pro", billing_period=BillingPeriod.YEAR,
            price=Money(amount=Decimal("1200.00"), currency="USD"))
ITEMS = [SubscriptionItem(item_id="i1", plan=PLAN, quantity=1)]


async def test_collection_without_a_gateway_is_a_permanent_error() -> None:
    req = CollectPaymentInput(attempt_id="a", invoice_id="in", customer_id="c",
                              legal_entity="US01", amount=Money.of("1.00", "USD"),
                              attempted_on=dt.date(2026, 1, 1), correlation_id="x")
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(PaymentsActivities(None).collect_payment, req)
    assert (err.value.type, err.value.non_retryable) == ("payments.not_configured", True)


async def test_unknown_renewal_changes_from_crm_are_invalid_data() -> None:
    crm = FakeCrm()
    crm.set_account("cus", renewal_plan_changes={"colour": "blue"})
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(CrmActivities(crm).renewal_terms, RenewalTermsInput(
            customer_id="cus", items=ITEMS, correlation_id="x"))
    assert (err.value.type, err.value.non_retryable) == ("crm.invalid_data", True)


async def test_opt_out_is_read_from_the_crm_account() -> None:
    crm = FakeCrm()
    crm.set_account("cus", renewal_opt_out=True)
    terms = await ActivityEnvironment().run(CrmActivities(crm).renewal_terms,
                                            RenewalTermsInput(customer_id="cus", items=ITEMS,
                                                              correlation_id="x"))
    assert terms.opt_out and terms.items is None


async def test_proration_without_service_is_invalid_data() -> None:
    sub = Subscription(subscription_id="s", customer_id="c", legal_entity="US01",
                       currency="USD", items=ITEMS, term_start=dt.date(2026, 1, 1),
                       term_end=dt.date(2027, 1, 1))
    amendment = Amendment(amendment_id="a", subscription_id="s",
                          effective_at=dt.datetime(2026, 6, 1, tzinfo=dt.UTC), new_items=ITEMS,
                          credit_memo_id="cm", invoice_id="in2")
    with pytest.raises(ApplicationError) as err:
        await ActivityEnvironment().run(ProrationActivities().prorate_amendment,
                                        ProrateAmendmentInput(amendment=amendment,
                                                              subscription=sub, lines=[]))
    assert err.value.type == "proration.invalid_data"
