"""The sandbox tax engine: a documented rate table, idempotent calculation by invoice id."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import JSON, Column, Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import registry
from sqlmodel import Field as DbField
from sqlmodel import Session, SQLModel

from canonical.billing import Invoice, TaxLine, TaxResult
from canonical.customer import Address
from canonical.money import CurrencyCode, Money, round_amount, total

from .common import SandboxError, new_app, validation_detail
from .db import UtcDateTime, create_tables, now_utc
from .faults import FaultSettings

PROVIDER = "sandbox-tax"

# Sales tax by US state where the demo company has nexus; every other state: no nexus.
US_STATE_RATES: dict[str, Decimal] = {
    "CA": Decimal("0.0725"),
    "NY": Decimal("0.08875"),
    "TX": Decimal("0.0625"),
    "WA": Decimal("0.065"),
}
# VAT/GST by country (Canada: federal GST only); every other country: no nexus.
COUNTRY_RATES: dict[str, Decimal] = {
    "CA": Decimal("0.05"),
    "DE": Decimal("0.19"),
    "AT": Decimal("0.20"),
    "FR": Decimal("0.20"),
    "NL": Decimal("0.21"),
    "JP": Decimal("0.10"),
    "GB": Decimal("0.20"),
}
# Lines with this tax code are never taxed.
EXEMPT_TAX_CODES = frozenset({"EXEMPT"})


def rate_for(country: str, region: str | None) -> tuple[Decimal, str, bool]:
    """(rate, jurisdiction, has_nexus) for a ship-to; US jurisdictions are "US-<state>"."""
    if country == "US":
        state = (region or "").upper()
        rate = US_STATE_RATES.get(state)
        return (rate or Decimal(0), f"US-{state}" if state else "US", rate is not None)
    rate = COUNTRY_RATES.get(country)
    return (rate or Decimal(0), country, rate is not None)


def line_tax(amount: Money, rate: Decimal) -> Money:
    """Tax on one line, rounded to the currency's minor unit (half away from zero)."""
    return Money(amount=round_amount(amount.amount * rate, amount.currency),
                 currency=amount.currency)


def tax_result(calculation_id: str, currency: str, ship_to: Address,
               lines: list[tuple[str, Money, str]], at: dt.datetime) -> TaxResult:
    """The TaxResult for (line_id, net amount, tax code) lines shipped to `ship_to`."""
    rate, jurisdiction, _ = rate_for(ship_to.country, ship_to.region)
    tax_lines = []
    for line_id, amount, tax_code in lines:
        line_rate = Decimal(0) if tax_code in EXEMPT_TAX_CODES else rate
        tax_lines.append(TaxLine(line_id=line_id, jurisdiction=jurisdiction, rate=line_rate,
                                 taxable=amount, amount=line_tax(amount, line_rate)))
    return TaxResult(provider=PROVIDER, calculation_id=calculation_id, lines=tax_lines,
                     total=total((t.amount for t in tax_lines), currency), calculated_at=at)


class TaxTable(SQLModel, registry=registry()):
    """Base of the tax engine's tables."""


class Calculation(TaxTable, table=True):
    """A stored calculation; a repeat for the same invoice returns it unchanged."""

    __tablename__ = "calculations"

    invoice_id: str = DbField(primary_key=True)
    calculation_id: str
    result: dict[str, Any] = DbField(sa_column=Column(JSON, nullable=False))
    calculated_at: dt.datetime = DbField(sa_type=UtcDateTime)


class CalculateRequest(BaseModel):
    """Body of a calculation: the invoice and where it ships."""

    invoice: Invoice
    ship_to: Address


class QuoteLine(BaseModel):
    """One net amount to quote tax for."""

    line_id: str = Field(min_length=1)
    amount: Decimal
    tax_code: str = "SAAS"


class QuoteRequest(BaseModel):
    """Body of a quote: currency, ship-to and lines."""

    currency: CurrencyCode
    ship_to: Address
    lines: list[QuoteLine] = Field(min_length=1)


def create_tax_app(engine: Engine, faults: FaultSettings | None = None,
                   name: str = "tax") -> FastAPI:
    """The sandbox tax engine over `engine` (tables created now)."""
    create_tables(engine, TaxTable.metadata)
    app = new_app(name, faults)

    @app.post("/v1/tax/calculate")
    def calculate(req: CalculateRequest) -> TaxResult:
        """Tax an invoice; a repeat for its id returns the stored result."""
        inv = req.invoice
        with Session(engine, expire_on_commit=False) as s:
            stored = s.get(Calculation, inv.invoice_id)
            if stored is not None:
                return TaxResult.model_validate(stored.result)
            result = tax_result(f"TX-{inv.invoice_id}", inv.currency, req.ship_to,
                                [(ln.line_id, ln.amount, ln.tax_code) for ln in inv.lines],
                                now_utc())
            s.add(Calculation(invoice_id=inv.invoice_id, calculation_id=result.calculation_id,
                              result=result.model_dump(mode="json"),
                              calculated_at=result.calculated_at))
            try:
                s.commit()
            except IntegrityError:
                s.rollback()  # a concurrent first calculation won: answer what it stored
                stored = s.get(Calculation, inv.invoice_id)
                assert stored is not None
                return TaxResult.model_validate(stored.result)
            return result

    @app.get("/v1/tax/nexus")
    def nexus(country: str, region: str | None = None) -> dict[str, Any]:
        """Whether tax is collected for a place, and at which rate."""
        rate, jurisdiction, has_nexus = rate_for(country.upper(), region)
        return {"has_nexus": has_nexus, "rate": str(rate), "jurisdiction": jurisdiction}

    @app.post("/v1/tax/quote")
    def quote(req: QuoteRequest) -> TaxResult:
        """An unstored estimate for arbitrary lines."""
        # Money() rejects amounts finer than the currency's minor unit: a 422, as for invoices.
        try:
            lines = [(ln.line_id, Money(amount=ln.amount, currency=req.currency), ln.tax_code)
                     for ln in req.lines]
        except ValidationError as exc:
            raise SandboxError(422, "validation", validation_detail(exc)) from exc
        return tax_result("TQ-quote", req.currency, req.ship_to, lines, now_utc())

    return app
