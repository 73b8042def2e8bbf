"""The synchronous validation API: direct calls to CRM and tax, guarded and with fallbacks.

Why direct and not through Temporal: a CPQ or checkout waits on these answers while a
person watches; they read (the CRM upsert of a validation is idempotent) and change no
order-to-cash state, so there is nothing to make durable. A workflow update would add
several server round trips per call and make the interactive path depend on the
Temporal cluster. Instead each call has a timeout, a circuit breaker per downstream
and a TTL cache of reference data; when a downstream is unavailable the answer is a
documented fallback marked `provisional: true`, and a post-validation (kept in the
gateway store, retried in the background) confirms it later or raises an exception item.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from typing import Any, TypedDict, TypeVar

from adapters.crm.port import CrmAccount, CrmPort
from adapters.tax.port import TaxNexus, TaxQuoter
from canonical.accounts import LegalEntity, serving_entity
from canonical.customer import Address, CustomerAccount
from canonical.errors import NotFoundError, PermanentError, RejectedError, TransientError
from canonical.money import Money, total

from .breakers import BreakerOpenError, CircuitBreaker, TtlCache
from .validation_models import (
    CreditCheck,
    LegalEntityCheck,
    NexusCheck,
    Reason,
    TaxQuoteRequest,
    TaxQuoteResponse,
    ValidateCustomerRequest,
    ValidateCustomerResponse,
    ValidateOrderRequest,
    ValidateOrderResponse,
)

T = TypeVar("T")


class _CustomerKeys(TypedDict):
    """The fields every customer answer repeats from the request."""

    customer_id: str
    legal_entity: str


class DownstreamUnavailableError(Exception):
    """A downstream did not answer (timeout, transient error, breaker open)."""

    def __init__(self, system: str, detail: str) -> None:
        super().__init__(f"{system} unavailable: {detail}")
        self.system = system
        self.detail = detail


class Downstream:
    """One downstream system: per-call timeout + circuit breaker."""

    def __init__(self, name: str, breaker: CircuitBreaker, timeout_s: float) -> None:
        self.name = name
        self.breaker = breaker
        self.timeout_s = timeout_s

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            self.breaker.before_call()
        except BreakerOpenError as exc:
            raise DownstreamUnavailableError(self.name, str(exc)) from exc
        try:
            async with asyncio.timeout(self.timeout_s):
                result = await fn()
        except (TimeoutError, TransientError) as exc:
            self.breaker.on_failure()
            raise DownstreamUnavailableError(self.name, f"{type(exc).__name__}: {exc}") from exc
        except PermanentError:
            self.breaker.on_success()  # it answered: a business refusal is not an outage
            raise
        except BaseException:
            self.breaker.on_failure()
            raise
        self.breaker.on_success()
        return result


def _entity_reasons(entities: Mapping[str, LegalEntity], c: CustomerAccount) -> list[Reason]:
    if c.legal_entity not in entities:
        return [Reason(code="unknown_legal_entity",
                       message=f"legal entity {c.legal_entity} is not configured")]
    serving = serving_entity(entities, c.country)
    if serving is None or serving.code != c.legal_entity:
        where = f"{serving.code} ({serving.name})" if serving else "no legal entity"
        return [Reason(code="wrong_legal_entity",
                       message=f"country {c.country} is served by {where}, not "
                               f"{c.legal_entity}")]
    return []


class ValidationService:
    """Customer, order and tax-quote validation over the CRM and tax ports.

    Args:
        queue_post_validation: stores a provisional answer for later confirmation and
            returns its id (see gateway/postvalidation.py).
    """

    def __init__(self, crm: CrmPort, tax: TaxQuoter,
                 entities: Mapping[str, LegalEntity], *, crm_breaker: CircuitBreaker,
                 tax_breaker: CircuitBreaker, timeout_s: float, cache_ttl_s: float,
                 queue_post_validation: Callable[[str, dict[str, Any], dict[str, Any]], int]
                 ) -> None:
        self._crm = crm
        self._tax = tax
        self._entities = entities
        self.crm = Downstream("crm", crm_breaker, timeout_s)
        self.tax = Downstream("tax", tax_breaker, timeout_s)
        self.accounts: TtlCache[CrmAccount | None] = TtlCache(cache_ttl_s)
        self.nexus_cache: TtlCache[TaxNexus] = TtlCache(cache_ttl_s)
        self._queue = queue_post_validation

    async def _post(self, kind: str, request: Any, answer: Any) -> int:
        return await asyncio.to_thread(self._queue, kind, request.model_dump(mode="json"),
                                       answer.model_dump(mode="json"))

    # --- customer ------------------------------------------------------------------------

    async def customer(self, req: ValidateCustomerRequest, *, correlation_id: str,
                       strict: bool = False) -> ValidateCustomerResponse:
        """CRM's verdict; provisional (local entity check) when the CRM is unavailable."""
        c = req.customer
        base: _CustomerKeys = {"customer_id": c.customer_id, "legal_entity": c.legal_entity}
        try:
            verdict = await self.crm.call(lambda: self._crm.validate_customer(
                c, correlation_id=correlation_id))
        except DownstreamUnavailableError:
            if strict:
                raise
            reasons = _entity_reasons(self._entities, c)
            answer = ValidateCustomerResponse(valid=not reasons, provisional=True,
                                              reasons=reasons, **base)
            pv = await self._post("customer", req, answer)
            return answer.model_copy(update={"post_validation_id": pv})
        except PermanentError as err:
            code = ("blocked" if isinstance(err, RejectedError) else "not_found"
                    if isinstance(err, NotFoundError) else None)
            reasons = ([Reason(code=code, message=err.message)] if code
                       else _entity_reasons(self._entities, c)
                       or [Reason(code="crm_invalid", message=err.message)])
            return ValidateCustomerResponse(valid=False, provisional=False, reasons=reasons,
                                            **base)
        return ValidateCustomerResponse(valid=verdict.valid, provisional=False,
                                        crm_account_id=verdict.crm_account_id,
                                        reasons=[Reason(code="crm", message=r)
                                                 for r in verdict.reasons], **base)

    # --- order -----------------------------------------------------------------------------

    async def _account(self, customer_id: str, correlation_id: str,
                       strict: bool) -> tuple[CrmAccount | None, str]:
        cached = self.accounts.get(customer_id)
        if cached is not None:
            return cached, "cache"
        try:
            account = await self.crm.call(lambda: self._crm.get_account(
                customer_id, correlation_id=correlation_id))
        except NotFoundError:
            return None, "crm"  # never seen: a new customer, nothing against it
        except DownstreamUnavailableError:
            if strict:
                raise
            stale = self.accounts.stale(customer_id)
            return stale, "fallback"
        self.accounts.put(customer_id, account)
        return account, "crm"

    async def nexus(self, country: str, region: str | None, correlation_id: str,
                    strict: bool, address: Address | None = None
                    ) -> tuple[TaxNexus | None, str]:
        key = (country, region)
        cached = self.nexus_cache.get(key)
        if cached is not None:
            return cached, "cache"
        try:
            found = await self.tax.call(lambda: self._tax.nexus(
                country, region, correlation_id=correlation_id, address=address))
        except DownstreamUnavailableError:
            if strict:
                raise
            return self.nexus_cache.stale(key), "fallback"
        self.nexus_cache.put(key, found)
        return found, "tax"

    async def order(self, req: ValidateOrderRequest, *, correlation_id: str,
                    strict: bool = False) -> ValidateOrderResponse:
        """Legal-entity determination, credit check and tax nexus for one order."""
        c = req.customer
        serving = serving_entity(self._entities, c.country)
        entity = LegalEntityCheck(requested=c.legal_entity,
                                  determined=serving.code if serving else None,
                                  name=serving.name if serving else None,
                                  ok=serving is not None and serving.code == c.legal_entity)
        reasons = [] if entity.ok else _entity_reasons(self._entities, c)
        (account, credit_src), (nexus, tax_src) = await asyncio.gather(
            self._account(c.customer_id, correlation_id, strict),
            self.nexus(c.bill_to.address.country, c.bill_to.address.region, correlation_id,
                       strict, c.bill_to.address))
        blocked = account is not None and account.blocked
        credit = CreditCheck(ok=not blocked, source=credit_src,
                             detail="account on credit hold (blocked in CRM)" if blocked
                             else "no CRM account yet" if account is None and credit_src == "crm"
                             else "in good standing" if account is not None
                             else "CRM unavailable: assumed in good standing")
        if blocked:
            reasons.append(Reason(code="credit_hold", message=credit.detail))
        tax = None
        if nexus is not None:
            net = total((Money(amount=ln.amount, currency=req.currency) for ln in req.lines),
                        req.currency)
            tax = NexusCheck(has_nexus=nexus.has_nexus, rate=nexus.rate,
                             jurisdiction=nexus.jurisdiction, source=tax_src,
                             estimated_tax=net.times(nexus.rate) if nexus.has_nexus
                             else Money.zero(req.currency))
        provisional = "fallback" in (credit_src, tax_src)
        answer = ValidateOrderResponse(valid=not reasons, provisional=provisional,
                                       legal_entity=entity, credit=credit, tax=tax,
                                       reasons=reasons)
        if provisional:
            pv = await self._post("order", req, answer)
            answer = answer.model_copy(update={"post_validation_id": pv})
        return answer

    # --- tax quote ---------------------------------------------------------------------------

    async def tax_quote(self, req: TaxQuoteRequest, *, correlation_id: str,
                        strict: bool = False) -> TaxQuoteResponse:
        """The tax engine's quote; provisional from the last known rate when it is down."""
        lines = [(ln.line_id, Money(amount=ln.amount, currency=req.currency))
                 for ln in req.lines]
        try:
            serving = serving_entity(self._entities, req.ship_to.country)
            result = await self.tax.call(lambda: self._tax.quote(
                req.currency, req.ship_to, lines, correlation_id=correlation_id,
                legal_entity=serving.code if serving else None))
        except DownstreamUnavailableError:
            if strict:
                raise
            known = self.nexus_cache.stale((req.ship_to.country, req.ship_to.region))
            if known is None:
                raise  # no rate known for this place: no guess at tax
            answer = _estimate(req, lines, known)
            pv = await self._post("tax_quote", req, answer)
            return answer.model_copy(update={"post_validation_id": pv})
        return TaxQuoteResponse(provisional=False, provider=result.provider, lines=result.lines,
                                total=result.total)


def _estimate(req: TaxQuoteRequest, lines: list[tuple[str, Money]],
              nexus: TaxNexus) -> TaxQuoteResponse:
    from canonical.billing import TaxLine

    rate = nexus.rate if nexus.has_nexus else Decimal(0)
    tax_lines = [TaxLine(line_id=line_id, jurisdiction=nexus.jurisdiction, rate=rate,
                         taxable=amount, amount=amount.times(rate)) for line_id, amount in lines]
    return TaxQuoteResponse(provisional=True, provider="gateway-fallback", lines=tax_lines,
                            total=total((t.amount for t in tax_lines), req.currency))
