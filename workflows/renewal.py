"""RenewalFlow: renew a subscription's term, or end it cleanly when the customer opted out.

A durable timer waits until `renewal_lead_days` before the term end, then CRM says
whether the customer opted out or changed terms. A renewal waits for the new term's
start, posts its contract, the term invoice (id `{subscription_id}-r{n}`, taxed by the
tax engine) and its revenue schedules, and then waits visibly in
AwaitingErpConfirmation (PostingStatus=awaiting_erp) until the ERP confirms the
invoice. An opt-out waits for the term end, revokes the entitlements and cancels the
contract: no invoice, and the schedules simply end with the term.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from decimal import Decimal
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.crm import RenewalTermsInput
    from activities.io import EntitlementInput, ErpDocumentInput
    from activities.proration import RenewalTermInput
    from adapters.erp.port import ContractPosting, ErpReceipt, ReceiptStatus
    from adapters.erp.routing import Domain
    from canonical.billing import Invoice
    from canonical.proration import ServiceLine, service_lines
    from canonical.renewal import RenewalTerms, renewal_invoice_id
    from canonical.subscription import Subscription

from . import search, versions
from .calls import Calls
from .config import FlowConfig
from .flow import Skipped, StepFailedForGoodError
from .measure import measure
from .postings import (
    PATCH_ZERO_DOCUMENTS,
    booking_rate,
    invoice_books_nothing,
    invoice_external_ids,
    invoice_postings,
    midnight,
    post_landed,
    push_reversals,
    taxed,
    until,
)
from .renewal_state import TRANSITIONS, RenewalInput, RenewalResult, RenewalState
from .saga import Compensated, Compensations, SagaFlow, generation_id

S = RenewalState


def renewal_window(sub: Subscription, config: FlowConfig) -> dt.datetime:
    """When a term's renewal opens: `renewal_lead_days` before its end, at midnight UTC."""
    return midnight(sub.term_end - dt.timedelta(days=config.renewal_lead_days))


@workflow.defn
class RenewalFlow(SagaFlow):
    FLOW = "renewal"
    TRANSITIONS = TRANSITIONS
    _state: RenewalState  # (set by Flow._init_flow and _transition)
    COMPENSATING = S.COMPENSATING
    COMPENSATED = S.COMPENSATED
    POSTING = {S.AWAITING_ERP_CONFIRMATION: search.PostingStatus.AWAITING_ERP,
               S.RENEWED: search.PostingStatus.POSTED, S.ENDED: search.PostingStatus.POSTED,
               S.COMPENSATED: search.PostingStatus.COMPENSATED}

    @workflow.init
    def __init__(self, input: RenewalInput) -> None:
        self._init_flow(input.config, S.STARTED, input.correlation_id)
        self._calls = Calls(input.config)
        self._input = input
        self._subscription = input.subscription
        self._withdrawn: str | None = None
        self._terms: RenewalTerms | None = None

    @workflow.signal
    def withdraw(self, reason: str) -> None:
        """The subscription was cancelled: do not renew (honoured while waiting)."""
        self._withdrawn = reason

    @workflow.signal
    def update_subscription(self, subscription: Subscription) -> None:
        """The subscription's items changed (an amendment) before the renewal."""
        self._subscription = subscription

    @workflow.query
    def state(self) -> RenewalState:
        return self._state

    @workflow.run
    @search.flushed
    async def run(self, input: RenewalInput) -> RenewalResult:
        sub = input.subscription
        self._upsert_started(sub.customer_id, sub, input.correlation_id)
        result = await self._renew(input)
        result = result.model_copy(update={"audit": list(self._audit)})
        await workflow.wait_condition(workflow.all_handlers_finished)
        await self._notify_parent(finished=True, outcome=result.model_dump(mode="json"))
        return result

    async def _wait(self, state: RenewalState, at: dt.datetime, why: str) -> bool:
        """Wait until `at` in `state`; False when withdrawn meanwhile."""
        self._transition(state, note=f"until {at.isoformat()}")
        wait = until(at)
        if wait is not None and self._withdrawn is None:
            self._upsert(search.next_action(at))
            await self._notify_parent(waiting_until=at)
            with contextlib.suppress(TimeoutError):
                await workflow.wait_condition(lambda: self._withdrawn is not None,
                                              timeout=wait, timeout_summary=why)
            self._upsert(search.next_action(None))
            await self._notify_parent()
        if self._withdrawn is not None:
            self._transition(S.WITHDRAWN, note=self._withdrawn)
            return False
        return True

    def _measure_lag(self, outcome: str) -> None:
        """Renewal processing lag: from the term's end (when the renewal is due) to now."""
        sub = self._input.subscription
        lag = (workflow.now() - midnight(sub.term_end)).total_seconds()
        measure("renewal_processing_lag", lag, legal_entity=sub.legal_entity, outcome=outcome)

    def _result(self, state: RenewalState, **fields: Any) -> RenewalResult:
        return RenewalResult(state=state, number=self._input.number, **fields)

    async def _renew(self, input: RenewalInput) -> RenewalResult:
        sub, cfg, cid = input.subscription, input.config, input.correlation_id
        window = renewal_window(sub, cfg)
        if not await self._wait(S.WAITING_FOR_RENEWAL_WINDOW, window, "renewal window"):
            return self._result(S.WITHDRAWN, reason=self._withdrawn)
        self._transition(S.CHECKING_CRM)
        terms = await self._step("check_crm", lambda _: self._calls.renewal_terms(
            RenewalTermsInput(customer_id=sub.customer_id, items=self._subscription.items,
                              correlation_id=cid)))
        if isinstance(terms, Skipped):
            self._transition(S.SKIPPED, note=terms.reason)
            return self._result(S.SKIPPED, reason=terms.reason)
        self._terms = terms
        if terms.opt_out:
            return await self._end_of_term(input)
        if not await self._wait(S.WAITING_FOR_TERM_START, midnight(sub.term_end), "term start"):
            return self._result(S.WITHDRAWN, reason=self._withdrawn)
        outcome = await self._saga(self._post_term)
        if isinstance(outcome, Compensated):
            return self._result(S.COMPENSATED, compensations=outcome.compensations,
                                reason=f"{outcome.reason} at {outcome.step}: "
                                       f"{outcome.skipped_reason}")
        return outcome

    async def _end_of_term(self, input: RenewalInput) -> RenewalResult:
        sub, cid = input.subscription, input.correlation_id
        if not await self._wait(S.WAITING_FOR_TERM_END, midnight(sub.term_end), "term end"):
            return self._result(S.WITHDRAWN, reason=self._withdrawn)
        self._transition(S.ENDING_TERM, note="customer opted out of renewal")
        revoked = await self._step("revoke_entitlements", lambda _: self._calls.revoke(
            EntitlementInput(subscription_id=sub.subscription_id, customer_id=sub.customer_id,
                             correlation_id=cid)))
        docs: list[str] = []
        if not isinstance(revoked, Skipped) and input.contract_external_id:
            closed = await self._step("close_contract", lambda _: self._calls.cancel_contract(
                ErpDocumentInput(legal_entity=sub.legal_entity, domain=Domain.RECEIVABLES,
                                 external_id=input.contract_external_id or "",
                                 reason="ended: renewal opt-out", correlation_id=cid)))
            if not isinstance(closed, Skipped):
                docs.append(closed.document_id)
        self._transition(S.ENDED, documents=docs)
        self._measure_lag("ended")
        self._upsert(search.POSTING_STATUS.value_set(search.PostingStatus.POSTED))
        return self._result(S.ENDED, ended_on=sub.term_end, documents=docs,
                            reason="renewal opt-out")

    async def _post_term(self, saga: Compensations, gen: int,
                         _corrected: dict[str, Any] | None) -> RenewalResult:
        inp, calls, cid = self._input, self._calls, self._input.correlation_id
        entity = inp.subscription.legal_entity
        self._transition(S.POSTING_CONTRACT, note=f"renewal {inp.number}, generation {gen}")
        invoice_id = renewal_invoice_id(inp.subscription.subscription_id, inp.number)
        built = await self._step("renewal_term", lambda _: calls.renewal_term(RenewalTermInput(
            subscription=self._subscription.model_copy(update={
                "term_start": inp.subscription.term_start,
                "term_end": inp.subscription.term_end}),
            items=self._terms.items if self._terms else None, invoice_id=invoice_id)),
            permanent="raise")
        if isinstance(built, Skipped):
            self._transition(S.SKIPPED, note=built.reason)
            return self._result(S.SKIPPED, reason=built.reason)
        term = built.term
        contract_id = generation_id(f"ctr:{term.subscription_id}:{term.term_start.isoformat()}",
                                    gen)
        saga.push(f"cancel {contract_id}", lambda: calls.cancel_contract(ErpDocumentInput(
            legal_entity=entity, domain=Domain.RECEIVABLES, external_id=contract_id,
            reason="renewal undone", correlation_id=cid)), contract_id)
        contract = await self._step("post_contract", lambda _: post_landed(
            calls, saga, [ContractPosting(external_id=contract_id, subscription=term)], cid),
            permanent="raise")
        if isinstance(contract, Skipped):
            self._transition(S.SKIPPED, note=contract.reason)
            return self._result(S.SKIPPED, reason=contract.reason)
        docs = [r.document_id for r in contract.values()]

        self._transition(S.POSTING_INVOICE, documents=docs)
        invoice = await self._step("calculate_tax", lambda _: taxed(
            calls, built.invoice, inp.customer, cid), permanent="raise")
        if isinstance(invoice, Skipped):
            self._transition(S.SKIPPED, note=invoice.reason)
            return self._result(S.SKIPPED, reason=invoice.reason)
        note = f"term {term.term_start}..{term.term_end}, invoice {invoice_id}"
        if invoice_books_nothing(invoice) and versions.patched(inp.config,
                                                                PATCH_ZERO_DOCUMENTS):
            lines_out, rate = service_lines(invoice), None
            note += f" of {invoice.total}: nothing to book"
        else:
            posted = await self._post_invoice(saga, invoice, gen, docs)
            if isinstance(posted, Skipped):
                self._transition(S.SKIPPED, note=posted.reason)
                return self._result(S.SKIPPED, reason=posted.reason)
            lines_out, rate = posted
        self._transition(S.RENEWED, documents=docs, note=note)
        self._measure_lag("renewed")
        self._upsert(search.POSTING_STATUS.value_set(search.PostingStatus.POSTED))
        return self._result(S.RENEWED, term=term, invoice=invoice, invoice_rate=rate,
                            new_lines=lines_out,
                            contract_external_id=contract_id, documents=docs)

    async def _post_invoice(self, saga: Compensations, invoice: Invoice, gen: int,
                            docs: list[str]
                            ) -> tuple[list[ServiceLine], Decimal | None] | Skipped:
        """Post the term's invoice and its schedules (undone with the saga) and wait until the
        ERP confirms it: (its service lines, its booking rate); `docs` gains its documents."""
        inp, calls, cid = self._input, self._calls, self._input.correlation_id
        entity = inp.subscription.legal_entity
        push_reversals(saga, calls, entity, invoice_external_ids(invoice, gen),
                       f"renewal {inp.number} undone", cid)
        lines_out: list[ServiceLine] = []
        rates: list[Decimal | None] = [None]

        async def post_invoice(_: Any) -> dict[str, ErpReceipt]:
            postings, lines = await invoice_postings(calls, invoice, gen, cid)
            lines_out[:] = lines
            rates[:] = [booking_rate(postings)]
            return await post_landed(calls, saga, postings, cid)

        receipts = await self._step("post_invoice", post_invoice, permanent="raise")
        if isinstance(receipts, Skipped):
            return receipts
        docs += [r.document_id for r in receipts.values()]
        invoice_ext = invoice_external_ids(invoice, gen)[0][1]
        self._remember(search.INVOICE_IDS.value_set([invoice.invoice_id]),
                       search.INVOICE_POSTED_AT.value_set(workflow.now()))
        await self._confirmed(receipts[invoice_ext], entity, cid)
        return lines_out, rates[0]

    async def _confirmed(self, receipt: ErpReceipt, entity: str, cid: str) -> None:
        """Poll the ERP until it confirms the invoice (backing off); refused -> compensate."""
        self._transition(S.AWAITING_ERP_CONFIRMATION, documents=[receipt.document_id])
        cfg = self._config
        self._upsert(search.POSTING_STATUS.value_set(search.PostingStatus.AWAITING_ERP))
        delay = cfg.erp_confirmation_poll_s
        query = ErpDocumentInput(legal_entity=entity, domain=Domain.RECEIVABLES,
                                 external_id=receipt.external_id, correlation_id=cid)
        while receipt.status == ReceiptStatus.PENDING:
            await workflow.sleep(dt.timedelta(seconds=delay), summary="ERP confirmation")
            delay = min(delay * 2, cfg.erp_confirmation_poll_max_s)
            polled = await self._step("get_erp_receipt",
                                      lambda _: self._calls.get_receipt(query),
                                      permanent="raise")
            if isinstance(polled, Skipped):
                self._record(str(self._state), note=f"confirmation skipped: {polled.reason}")
                return
            receipt = polled
        if receipt.status != ReceiptStatus.POSTED:
            raise StepFailedForGoodError("await_erp_confirmation", "erp.not_confirmed",
                                         f"{receipt.external_id} is {receipt.status}")
