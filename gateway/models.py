"""Success bodies of the intake endpoints (for the OpenAPI document and clients)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class EventAccepted(BaseModel):
    """One envelope: accepted into the inbox, or a duplicate of one already there."""

    accepted: bool
    event_id: str
    event_type: str
    subscription_id: str | None
    inbox_id: int | None
    duplicate: bool = Field(description="true: this event id was already accepted; "
                                        "nothing else happened")


class BatchAccepted(BaseModel):
    accepted: int = Field(description="events newly accepted")
    duplicates: int
    results: list[EventAccepted]


class MappedEvent(BaseModel):
    event_id: str
    event_type: str
    subscription_id: str


class WebhookAccepted(BaseModel):
    received: bool
    duplicate: bool
    event_id: str = Field(description="the Stripe event id")
    event_type: str | None = None
    inbox_id: int | None = None
    ignored: str | None = Field(default=None, description="why the event maps to no "
                                                          "canonical event (kept anyway)")
    events: list[MappedEvent] = []


class SettlementAccepted(BaseModel):
    """A partner settlement report: its payments accepted into the inbox, or a duplicate."""

    accepted: bool
    duplicate: bool = Field(description="true: this partner's settlement id was already "
                                        "accepted; nothing else happened")
    settlement_id: str = Field(description="`{partner}:{settlement_id}`")
    inbox_id: int | None = None
    payments: list[MappedEvent] = []
