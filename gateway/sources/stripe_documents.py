"""Stripe payments, payment failures, voids, credit notes and refunds mapped to canonical events."""

from __future__ import annotations

from adapters.payments.stripe import invoice_payment_intent
from canonical.billing import CreditMemo, CreditMemoLine
from canonical.events import (
    CreditMemoIssued,
    CreditMemoIssuedEvent,
    InvoiceVoided,
    InvoiceVoidedEvent,
    PaymentFailed,
    PaymentFailedEvent,
    PaymentRefunded,
    PaymentRefundedEvent,
    PaymentSucceeded,
    PaymentSucceededEvent,
)
from canonical.money import total
from canonical.payment import Payment, PaymentFailure, Refund

from .stripe_context import Context
from .stripe_fields import Node, currency_of, line_net, line_taxes, moment, money
from .stripe_invoices import issue_if_finalized, subscription_of_invoice


def _payment_intent_of_invoice(inv: Node) -> str | None:
    inv.ref("payment_intent")  # the shapes checked: a malformed one refuses the webhook
    inv.items("payments")
    return invoice_payment_intent(inv.value)  # the payments connector's rule: one id


def invoice_paid(ctx: Context) -> None:
    inv = ctx.obj
    inv_id = inv.req("id")
    route = subscription_of_invoice(ctx, inv)
    account = ctx.customer(inv.ref("customer") or route.customer_id, f"{inv.path}.customer")
    currency = currency_of(inv)
    paid = inv.req("amount_paid", int)
    issue_if_finalized(ctx, inv, route, account)
    if paid <= 0:
        ctx.ignore("invoice paid without money collected (amount_paid is 0)")
        return
    out_of_band = bool(inv.opt("paid_out_of_band", bool))
    payment_id = _payment_intent_of_invoice(inv) or f"{inv_id}-paid"
    at = moment(inv.dig("status_transitions", "paid_at") or ctx.created)
    ctx.learn(payment_id, route.subscription_id, route.customer_id, inv_id)
    payment = Payment(payment_id=payment_id, invoice_id=inv_id, customer_id=account.customer_id,
                      legal_entity=account.legal_entity, amount=money(paid, currency),
                      received_on=at.date(), method="out_of_band" if out_of_band else "card",
                      gateway_reference=inv.ref("charge") or payment_id)
    ctx.emit(PaymentSucceededEvent, f"stripe:payment:{payment_id}:succeeded", at, 4,
             route.subscription_id, PaymentSucceeded(payment=payment))


def payment_intent_succeeded(ctx: Context) -> None:
    pi = ctx.obj
    pi_id = pi.req("id")
    invoice_ref = pi.ref("invoice") or pi.dig("metadata", "invoice_id")
    route = ctx.route(invoice_ref, pi_id)
    if route is None:
        if invoice_ref:
            raise ctx.unroutable(f"{pi.path}.invoice", invoice_ref)
        ctx.ignore("payment intent not linked to an invoice the gateway has seen; "
                   "invoice.paid carries invoice payments")
        return
    account = ctx.customer(pi.ref("customer") or route.customer_id, f"{pi.path}.customer")
    currency = currency_of(pi)
    charge = pi.opt_child("latest_charge") if isinstance(pi.value.get("latest_charge"),
                                                         dict) else None
    fee_minor = charge.dig("balance_transaction", "fee") if charge else None
    at = moment(charge.req("created", int) if charge else ctx.created)
    fee = money(fee_minor, currency) if isinstance(fee_minor, int) and fee_minor > 0 else None
    invoice_id = route.invoice_id or invoice_ref
    if invoice_id is None:
        raise ctx.unroutable(f"{pi.path}.invoice", pi_id)
    payment = Payment(payment_id=pi_id, invoice_id=invoice_id, customer_id=account.customer_id,
                      legal_entity=account.legal_entity,
                      amount=money(pi.req("amount_received", int), currency), fee=fee,
                      received_on=at.date(), method=_method(pi),
                      gateway_reference=pi.ref("latest_charge") or pi_id)
    ctx.emit(PaymentSucceededEvent, f"stripe:payment:{pi_id}:succeeded", at, 4,
             route.subscription_id, PaymentSucceeded(payment=payment))


def _method(pi: Node) -> str:
    types = pi.opt("payment_method_types", list) or []
    return str(types[0]) if types else "card"


def invoice_payment_failed(ctx: Context) -> None:
    inv = ctx.obj
    inv_id = inv.req("id")
    route = subscription_of_invoice(ctx, inv)
    account = ctx.customer(inv.ref("customer") or route.customer_id, f"{inv.path}.customer")
    currency = currency_of(inv)
    attempt = max(1, inv.opt("attempt_count", int) or 1)
    payment_id = _payment_intent_of_invoice(inv) or f"{inv_id}-attempt-{attempt}"
    error = inv.dig("payment_intent", "last_payment_error") or {}
    issue_if_finalized(ctx, inv, route, account)
    at = moment(ctx.created)
    failure = PaymentFailure(
        payment_id=payment_id, invoice_id=inv_id, customer_id=account.customer_id,
        amount=money(inv.opt("amount_remaining", int) or inv.req("amount_due", int), currency),
        failure_code=str(error.get("code") or "invoice_payment_failed"),
        failure_message=str(error.get("message") or ""), attempt=attempt, failed_on=at.date())
    ctx.emit(PaymentFailedEvent, f"stripe:invoice:{inv_id}:failed:{attempt}", at, 4,
             route.subscription_id, PaymentFailed(failure=failure))


def invoice_voided(ctx: Context) -> None:
    inv = ctx.obj
    inv_id = inv.req("id")
    route = subscription_of_invoice(ctx, inv)
    account = ctx.customer(inv.ref("customer") or route.customer_id, f"{inv.path}.customer")
    issue_if_finalized(ctx, inv, route, account)  # an invoice is voided after it was issued
    at = moment(inv.dig("status_transitions", "voided_at") or ctx.created)
    ctx.emit(InvoiceVoidedEvent, f"stripe:invoice:{inv_id}:voided", at, 6,
             route.subscription_id, InvoiceVoided(invoice_id=inv_id, voided_on=at.date(),
                                                  reason="voided in Stripe"))


def credit_note_created(ctx: Context) -> None:
    cn = ctx.obj
    cn_id = cn.req("id")
    invoice_id = cn.ref("invoice")
    route = ctx.route(invoice_id)
    if route is None:
        raise ctx.unroutable(f"{cn.path}.invoice", invoice_id)
    account = ctx.customer(cn.ref("customer") or route.customer_id, f"{cn.path}.customer")
    currency = currency_of(cn)
    lines = []
    for line in cn.items("lines"):
        tax = total((t[3] for t in line_taxes(line, currency)), currency)
        lines.append(CreditMemoLine(line_id=line.req("id"),
                                    description=line.opt("description") or "credit",
                                    amount=line_net(line, currency),
                                    tax_amount=tax))
    at = moment(cn.opt("effective_at", int) or cn.req("created", int))
    memo = CreditMemo(credit_memo_id=cn_id, customer_id=account.customer_id,
                      subscription_id=route.subscription_id, invoice_id=invoice_id,
                      legal_entity=account.legal_entity, currency=currency, issued_on=at.date(),
                      reason=str(cn.opt("reason") or cn.opt("memo") or "credit note"),
                      lines=lines)
    ctx.emit(CreditMemoIssuedEvent, f"stripe:credit_note:{cn_id}:issued", at, 3,
             route.subscription_id, CreditMemoIssued(credit_memo=memo))


def charge_refunded(ctx: Context) -> None:
    ch = ctx.obj
    ch_id = ch.req("id")
    pi_id = ch.ref("payment_intent")
    route = ctx.route(ch.ref("invoice"), pi_id, ch_id)
    if route is None:
        raise ctx.unroutable(f"{ch.path}.payment_intent", pi_id or ch_id)
    account = ctx.customer(ch.ref("customer") or route.customer_id, f"{ch.path}.customer")
    currency = currency_of(ch)
    refunds = [(r.req("id"), r.req("amount", int), r.req("created", int))
               for r in ch.items("refunds")]
    if not refunds:  # refunds not listed: the delta since the previous state
        previous = ctx.evt.child("data").opt("previous_attributes", dict) or {}
        now_refunded = ch.req("amount_refunded", int)
        delta = now_refunded - int(previous.get("amount_refunded") or 0)
        refunds = [(f"{ch_id}-refunded-{now_refunded}", delta, ctx.created)]
    for refund_id, amount, created in refunds:
        at = moment(created)
        refund = Refund(refund_id=refund_id, payment_id=pi_id or ch_id,
                        invoice_id=route.invoice_id, customer_id=account.customer_id,
                        legal_entity=account.legal_entity, amount=money(amount, currency),
                        refunded_on=at.date(), reason=str(ch.dig("refunds", "reason") or ""))
        ctx.emit(PaymentRefundedEvent, f"stripe:refund:{refund_id}", at, 5,
                 route.subscription_id, PaymentRefunded(refund=refund))

