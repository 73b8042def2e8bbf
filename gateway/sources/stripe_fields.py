"""Reading Stripe objects: typed field access with exact error paths, money, times, lines, taxes.

Both the current API shapes (invoice `parent.subscription_details`, line `parent`,
`pricing`, `taxes`) and the older ones (`subscription`, `proration`, `price`,
`tax_amounts`) are read, so endpoints pinned to either API version map alike.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from canonical.billing import TaxLine
from canonical.catalog import BillingPeriod, Plan
from canonical.money import Money, total

from .base import Category, MappingError, problem

_TYPE_NAMES = {str: "string", int: "integer", dict: "object", list: "array", bool: "boolean"}


class Node:
    """A JSON object with the dotted path it was found at, for precise error reports."""

    def __init__(self, value: dict[str, Any], path: str) -> None:
        self.value = value
        self.path = path

    def _at(self, key: str | int) -> str:
        return f"{self.path}.{key}" if self.path else str(key)

    def _check(self, key: str, value: Any, kind: type) -> Any:
        if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
            raise MappingError(Category.SCHEMA_INVALID, f"{self._at(key)} has the wrong type",
                               [problem(self._at(key), "type_error", _TYPE_NAMES[kind],
                                        _got(value))])
        return value

    def req(self, key: str, kind: type = str) -> Any:
        """A required field of type `kind`."""
        if self.value.get(key) is None:
            raise MappingError(Category.SCHEMA_INVALID, f"{self._at(key)} is missing",
                               [problem(self._at(key), "missing", _TYPE_NAMES[kind])])
        return self._check(key, self.value[key], kind)

    def opt(self, key: str, kind: type = str) -> Any:
        """An optional field (None when absent or null)."""
        value = self.value.get(key)
        return None if value is None else self._check(key, value, kind)

    def child(self, key: str) -> Node:
        """A required nested object."""
        return Node(self.req(key, dict), self._at(key))

    def opt_child(self, key: str) -> Node | None:
        value = self.opt(key, dict)
        return None if value is None else Node(value, self._at(key))

    def ref(self, key: str) -> str | None:
        """An id field that may also come expanded into its object."""
        value = self.value.get(key)
        if isinstance(value, dict):
            value = value.get("id")
        return None if value is None else self._check(key, value, str)

    def items(self, key: str) -> list[Node]:
        """The `data` of a Stripe list (or a plain array) as nodes; [] when absent."""
        value = self.value.get(key)
        if value is None:
            return []
        if isinstance(value, dict):
            holder = Node(value, self._at(key))
            value, base = holder.req("data", list), holder._at("data")
        else:
            value, base = self._check(key, value, list), self._at(key)
        return [Node(_object(v, f"{base}.{i}"), f"{base}.{i}") for i, v in enumerate(value)]

    def dig(self, *keys: str) -> Any:
        """A nested optional value (None when any step is missing)."""
        value: Any = self.value
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MappingError(Category.SCHEMA_INVALID, f"{path} is not an object",
                           [problem(path, "type_error", "object", _got(value))])
    return value


def _got(value: Any) -> Any:
    if isinstance(value, dict | list):
        return f"<{type(value).__name__}>"
    return value


def currency_of(node: Node, key: str = "currency") -> str:
    return str(node.req(key, str)).upper()


def money(minor: int, currency: str) -> Money:
    """Stripe's integer minor units as Money (JPY has none, KWD three)."""
    return Money.of_minor(minor, currency)


def moment(unix: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(unix, dt.UTC)


def day(unix: int) -> dt.date:
    return moment(unix).date()


def billing_period(node: Node) -> BillingPeriod:
    """month/quarter/year from a price's `recurring` (interval, interval_count)."""
    recurring = node.child("recurring")
    interval = recurring.req("interval", str)
    count = recurring.opt("interval_count", int) or 1
    period = {("month", 1): BillingPeriod.MONTH, ("month", 3): BillingPeriod.QUARTER,
              ("year", 1): BillingPeriod.YEAR, ("month", 12): BillingPeriod.YEAR}.get(
                  (interval, count))
    if period is None:
        raise MappingError(Category.SCHEMA_INVALID, "unsupported billing interval", [problem(
            f"{recurring.path}.interval", "unsupported_interval",
            "month (x1, x3, x12) or year (x1)", f"{interval} x{count}")])
    return period


def plan_of(price: Node, currency: str) -> Plan:
    """A canonical plan from a Stripe price (plan code = lookup_key or price id)."""
    price_id = price.req("id", str)
    product = price.ref("product") or price_id
    unit = price.opt("unit_amount", int)
    if unit is None:
        unit = int(Decimal(price.req("unit_amount_decimal", str)))
    return Plan(plan_code=price.opt("lookup_key") or price_id, sku=product,
                name=price.opt("nickname") or price.dig("product", "name") or product,
                price=money(unit, currency), billing_period=billing_period(price))


def is_proration(line: Node) -> bool:
    parent = line.opt("parent", dict) or {}
    for detail in ("subscription_item_details", "invoice_item_details"):
        # the current API fills only the detail named by parent.type
        if (isinstance(parent.get(detail), dict) and parent[detail].get("proration")
                and parent.get("type") in (None, detail)):
            return True
    return bool(line.opt("proration", bool))


def is_subscription_line(line: Node) -> bool:
    return bool(line.dig("parent", "type") == "subscription_item_details"
                or line.opt("type") == "subscription")


def price_id_of(line: Node) -> str | None:
    price: str | None = line.dig("pricing", "price_details", "price") or line.dig("price", "id")
    return price


def product_of(line: Node) -> str | None:
    product = line.dig("pricing", "price_details", "product") or line.dig("price", "product")
    return product.get("id") if isinstance(product, dict) else product


def is_metered(line: Node) -> bool:
    return bool(line.dig("price", "recurring", "usage_type") == "metered")


def line_taxes(line: Node, currency: str) -> list[tuple[str, Decimal | None, Money, Money, bool]]:
    """(jurisdiction, rate or None, taxable, tax, inclusive) per tax on a line.

    Reads `taxes` (current API) or `tax_amounts` (older); a tax rate expanded into its
    object gives jurisdiction and percentage, an id gives the id.
    """
    result = []
    for tax in line.items("taxes") or line.items("tax_amounts"):
        rate_ref = tax.dig("tax_rate_details", "tax_rate") or tax.value.get("tax_rate")
        rate_obj = rate_ref if isinstance(rate_ref, dict) else None
        jurisdiction = ((rate_obj or {}).get("jurisdiction") or (rate_obj or {}).get("country")
                        or (rate_obj or {}).get("id") or rate_ref or "stripe")
        percentage = (rate_obj or {}).get("percentage")
        rate = (Decimal(str(percentage)) / 100) if percentage is not None else None
        inclusive = (tax.opt("tax_behavior") == "inclusive") or bool(tax.opt("inclusive", bool))
        taxable = tax.opt("taxable_amount", int)
        result.append((str(jurisdiction), rate,
                       money(taxable if taxable is not None else 0, currency),
                       money(tax.req("amount", int), currency), inclusive))
    return result


def line_net(line: Node, currency: str) -> Money:
    """What an invoice or credit note line books: its `amount` less its discounts and the
    tax included in it. Stripe's line `amount` is before discounts — a line's own and its
    share of the invoice's, each in `discount_amounts` — and includes an inclusive tax; a
    discount lowers the price (what AR, revenue and the taxable amount carry), so
    the line books what the customer is charged and AR ties to Stripe's `total`."""
    discounted = sum(d.req("amount", int) for d in line.items("discount_amounts"))
    inclusive = total((t[3] for t in line_taxes(line, currency) if t[4]), currency)
    return money(line.req("amount", int) - discounted, currency) - inclusive


def tax_lines(line_id: str, taxes: list[tuple[str, Decimal | None, Money, Money, bool]],
              sign: int = 1) -> list[TaxLine]:
    """Canonical tax lines of one invoice line; `sign` -1 turns a credit line positive."""
    out = []
    for jurisdiction, rate, taxable, amount, _inclusive in taxes:
        if rate is None:
            rate = (amount.amount / taxable.amount).quantize(Decimal("0.000001")) \
                if taxable.amount else Decimal(0)
        out.append(TaxLine(line_id=line_id, jurisdiction=jurisdiction, rate=rate,
                           taxable=taxable.times(sign), amount=amount.times(sign)))
    return out
