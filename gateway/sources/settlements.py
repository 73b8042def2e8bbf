"""Partner settlement reports: a partner (a marketplace, a reseller) collected invoices for us
and remits what it collected less its fee, in one deposit.

One report becomes one `payment.succeeded` per invoice it settles — the invoice's gross as
the payment and the partner's fee as the payment's fee — so each subscription's
receivable is cleared by what the customer paid, the fee is booked as an expense, and
cash clearing holds exactly the deposit (posting rules: Dr Cash clearing / Cr AR;
Dr Payment Fees / Cr Cash clearing). The report is refused whole, with every problem
named, unless its lines add up to the deposit to the cent: a settlement that does not
tie is a question for the partner, not something to post in part.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from canonical.base import EntityCode, Id
from canonical.events import (
    BusinessKeys,
    EnvelopeBase,
    PaymentSucceeded,
    PaymentSucceededEvent,
)
from canonical.money import CurrencyCode, Money
from canonical.payment import Payment

from .base import Category, Mapped, MappingError, Routes, problem

MAPPING_VERSION = "settlement-1"
EVENT_TYPE = "partner.settlement"


class SettlementLine(BaseModel):
    """One invoice the partner collected: Cashloop's ids, as invoiced."""

    model_config = ConfigDict(extra="forbid")

    invoice_id: Id
    subscription_id: Id
    customer_id: Id
    gross: Decimal  # what the customer paid the partner for the invoice
    fee: Decimal = Decimal(0)  # what the partner kept of it


class SettlementReport(BaseModel):
    """A partner's settlement of one legal entity's invoices, in one currency."""

    model_config = ConfigDict(extra="forbid")

    settlement_id: Id
    partner: Id  # the sender's name (its API key's source); one partner cannot settle another's
    legal_entity: EntityCode
    currency: CurrencyCode
    settled_on: dt.date
    net_amount: Decimal  # the deposit: the lines' gross less their fees
    lines: list[SettlementLine] = Field(min_length=1, max_length=1000)


class SettlementMapper:
    """Maps one settlement report to its payments; `entities` are the legal entities a
    report may settle."""

    channel = "settlements"
    mapping_version = MAPPING_VERSION
    untrusted_order = False

    def __init__(self, entities: Mapping[str, Any]) -> None:
        self._entities = entities

    def map(self, body: bytes, routes: Routes) -> Mapped:
        report = self._parse(body)
        problems = self._problems(report)
        if problems:
            raise MappingError(Category.SCHEMA_INVALID,
                               f"settlement {report.settlement_id} is refused: "
                               f"{problems[0]['message']}", problems)
        at = dt.datetime.combine(report.settled_on, dt.time(12), dt.UTC)
        events: list[EnvelopeBase] = [PaymentSucceededEvent(
            event_id=_event_id(report, ln), occurred_at=at, source=report.partner, sequence=None,
            correlation_id=f"settlement-{report.settlement_id}"[:200],
            keys=BusinessKeys(subscription_id=ln.subscription_id),
            payload=PaymentSucceeded(payment=Payment(
                payment_id=f"{report.partner}:{report.settlement_id}:{ln.invoice_id}",
                invoice_id=ln.invoice_id,
                customer_id=ln.customer_id, legal_entity=report.legal_entity,
                amount=Money(amount=ln.gross, currency=report.currency),
                fee=Money(amount=ln.fee, currency=report.currency) if ln.fee else None,
                received_on=report.settled_on, method=f"partner:{report.partner}"[:200],
                gateway_reference=report.settlement_id)))
            for ln in report.lines]
        return Mapped(source_event_id=f"{report.partner}:{report.settlement_id}",
                      event_type=EVENT_TYPE, events=events, order_keys=[""] * len(events))

    @staticmethod
    def _parse(body: bytes) -> SettlementReport:
        try:
            raw = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MappingError(Category.JSON_INVALID, "body is not valid JSON", [
                problem("", "json_invalid", "a settlement report (a JSON object)",
                        message=str(exc))]) from exc
        try:
            return SettlementReport.model_validate(raw)
        except ValidationError as exc:
            items = [problem(".".join(str(p) for p in err["loc"]), err["type"], err["msg"],
                             _short(err.get("input")), err["msg"]) for err in exc.errors()]
            raise MappingError(Category.SCHEMA_INVALID, "the settlement report is invalid",
                               items) from exc

    def _problems(self, report: SettlementReport) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        if report.legal_entity not in self._entities:
            found.append(problem("legal_entity", "unknown_entity",
                                 "a legal entity of config/entities.toml", report.legal_entity,
                                 f"no legal entity {report.legal_entity}"))
        seen: set[str] = set()
        net = Decimal(0)
        for i, ln in enumerate(report.lines):
            path = f"lines.{i}"
            for name, value in (("gross", ln.gross), ("fee", ln.fee)):
                if not _exact(value, report.currency):
                    found.append(problem(f"{path}.{name}", "amount_precision",
                                         f"an amount in whole {report.currency} minor units",
                                         str(value), f"{value} {report.currency} is finer than "
                                         "the currency's minor unit"))
            if ln.gross <= 0:
                found.append(problem(f"{path}.gross", "not_positive", "a positive amount",
                                     str(ln.gross), f"{ln.invoice_id}: gross must be positive"))
            if not 0 <= ln.fee <= ln.gross:
                found.append(problem(f"{path}.fee", "fee_out_of_range",
                                     "a fee between 0 and the line's gross", str(ln.fee),
                                     f"{ln.invoice_id}: fee {ln.fee} outside 0..{ln.gross}"))
            if len(_event_id(report, ln)) > 200:
                found.append(problem(f"{path}.invoice_id", "id_too_long",
                                     "partner, settlement and invoice ids of 187 characters "
                                     "together at most", ln.invoice_id,
                                     f"{ln.invoice_id}: its payment's event id would pass 200 "
                                     "characters"))
            if ln.invoice_id in seen:
                found.append(problem(f"{path}.invoice_id", "duplicate_invoice",
                                     "each invoice once per settlement", ln.invoice_id,
                                     f"{ln.invoice_id} is settled twice in one report"))
            seen.add(ln.invoice_id)
            net += ln.gross - ln.fee
        if net != report.net_amount:
            found.append(problem("net_amount", "settlement_unbalanced",
                                 f"the lines' gross less fees: {net}", str(report.net_amount),
                                 f"the lines add up to {net} {report.currency}, the deposit is "
                                 f"{report.net_amount}"))
        return found


def _event_id(report: SettlementReport, line: SettlementLine) -> str:
    """The payment event of one line: the longest id a line makes (its payment's is within)."""
    return f"settlement:{report.partner}:{report.settlement_id}:{line.invoice_id}"


def _exact(amount: Decimal, currency: str) -> bool:
    try:
        Money(amount=amount, currency=currency)
    except ValidationError:
        return False
    return True


def _short(value: Any) -> Any:
    text = json.dumps(value, default=str)
    return value if len(text) <= 80 else text[:77] + "..."
