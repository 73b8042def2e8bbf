"""In-memory doubles of the ports, for unit tests only (real systems are in tests/integration)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from adapters.crm.port import CustomerValidation
from adapters.erp.port import ErpReceipt, OpenRevenuePeriod, PeriodLock, Posting, ReceiptStatus
from adapters.provisioning.port import EntitlementChange, Entitlements, EntitlementStatus
from canonical.billing import Invoice, TaxLine, TaxResult
from canonical.customer import Address, CustomerAccount
from canonical.errors import CashloopError, NotFoundError
from canonical.fx import ExchangeRate
from canonical.money import Money, round_amount, total

_PREFIX = {"customer": "CUS", "contract": "CTR", "invoice": "INV", "credit_memo": "CM",
           "schedule": "SCH", "schedule_end": "SCE", "payment": "PAY", "journal": "JE"}


class FakeCrm:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail_with: CashloopError | None = None

    async def validate_customer(self, customer: CustomerAccount, *,
                                correlation_id: str) -> CustomerValidation:
        self.calls.append(customer.customer_id)
        if self.fail_with:
            raise self.fail_with
        return CustomerValidation(customer_id=customer.customer_id,
                                  crm_account_id=f"CRM-{customer.customer_id}",
                                  legal_entity=customer.legal_entity, valid=True)


class FakeTax:
    RATE = Decimal("0.10")

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def calculate(self, invoice: Invoice, ship_to: Address, *,
                        correlation_id: str) -> TaxResult:
        self.calls.append(invoice.invoice_id)
        lines = [TaxLine(line_id=ln.line_id, jurisdiction=ship_to.country, rate=self.RATE,
                         taxable=ln.amount,
                         amount=Money(amount=round_amount(ln.amount.amount * self.RATE,
                                                          invoice.currency),
                                      currency=invoice.currency))
                 for ln in invoice.lines]
        return TaxResult(provider="fake", calculation_id=f"TX-{invoice.invoice_id}", lines=lines,
                         total=total((t.amount for t in lines), invoice.currency),
                         calculated_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))


class FakeErp:
    def __init__(self, name: str = "erp-fake") -> None:
        self.name = name
        self.documents: dict[str, Posting] = {}
        self.receipts: dict[str, ErpReceipt] = {}
        self.calls = 0
        self.fail_kinds: dict[str, CashloopError] = {}
        self.locks: set[tuple[str, str]] = set()

    async def post(self, postings: list[Posting], *, correlation_id: str) -> list[ErpReceipt]:
        self.calls += 1
        result = []
        for p in postings:
            if p.kind in self.fail_kinds:
                raise self.fail_kinds[p.kind]
            if p.external_id in self.receipts:
                result.append(self.receipts[p.external_id].model_copy(update={"duplicate": True}))
                continue
            number = sum(1 for d in self.documents.values() if d.kind == p.kind) + 1
            receipt = ErpReceipt(external_id=p.external_id,
                                 document_id=f"{_PREFIX[p.kind]}-{number:06d}",
                                 status=ReceiptStatus.POSTED, erp=self.name)
            self.documents[p.external_id] = p
            self.receipts[p.external_id] = receipt
            result.append(receipt)
        return result

    async def reverse(self, external_id: str, *, reversal_external_id: str, reason: str,
                      correlation_id: str) -> ErpReceipt:
        receipt = ErpReceipt(external_id=reversal_external_id, document_id="JE-REV",
                             status=ReceiptStatus.POSTED, erp=self.name)
        self.receipts.setdefault(reversal_external_id, receipt)
        return self.receipts[reversal_external_id]

    async def cancel_contract(self, external_id: str, *, reason: str,
                              correlation_id: str) -> ErpReceipt:
        receipt = self.receipts[external_id].model_copy(update={"status": "cancelled"})
        self.receipts[external_id] = receipt
        return receipt

    async def get_receipt(self, external_id: str, *, correlation_id: str) -> ErpReceipt:
        if external_id not in self.receipts:
            raise NotFoundError(f"{external_id} unknown", system="erp")
        return self.receipts[external_id]

    async def open_revenue_periods(self, legal_entity: str, through: str, *,
                                   correlation_id: str) -> list[OpenRevenuePeriod]:
        return []

    async def lock_period(self, legal_entity: str, period: str, *,
                          correlation_id: str) -> PeriodLock:
        duplicate = (legal_entity, period) in self.locks
        self.locks.add((legal_entity, period))
        return PeriodLock(legal_entity=legal_entity, period=period, erp=self.name,
                          locked_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC), duplicate=duplicate)

    def kinds(self) -> list[str]:
        return [p.kind for p in self.documents.values()]


class FakeProvisioning:
    def __init__(self) -> None:
        self.status: dict[str, Entitlements] = {}

    async def grant(self, change: EntitlementChange, *, correlation_id: str) -> Entitlements:
        e = Entitlements(subscription_id=change.subscription_id,
                         status=EntitlementStatus.GRANTED, skus=change.skus)
        self.status[change.subscription_id] = e
        return e

    def _set(self, subscription_id: str, status: EntitlementStatus) -> Entitlements:
        e = self.status[subscription_id].model_copy(update={"status": status})
        self.status[subscription_id] = e
        return e

    async def suspend(self, subscription_id: str, *, correlation_id: str) -> Entitlements:
        return self._set(subscription_id, EntitlementStatus.SUSPENDED)

    async def restore(self, subscription_id: str, *, correlation_id: str) -> Entitlements:
        return self._set(subscription_id, EntitlementStatus.GRANTED)

    async def revoke(self, subscription_id: str, *, correlation_id: str) -> Entitlements:
        return self._set(subscription_id, EntitlementStatus.REVOKED)


class FakeRates:
    """A rate table in memory: {(base, quote): rate}; an unknown pair is NotFound."""

    def __init__(self, table: dict[tuple[str, str], Decimal] | None = None) -> None:
        self.table = dict(table or {})
        self.calls: list[tuple[str, str, dt.date]] = []

    async def rate(self, base: str, quote: str, on: dt.date, *,
                   correlation_id: str) -> ExchangeRate:
        self.calls.append((base, quote, on))
        if (base, quote) not in self.table:
            raise NotFoundError(f"no rate {base}/{quote}", system="rates")
        return ExchangeRate(base=base, quote=quote, rate=self.table[(base, quote)],
                            effective_from=on, source="fake")
