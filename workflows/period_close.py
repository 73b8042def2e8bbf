"""PeriodCloseWorkflow: recognise a period's revenue, then lock the period in every ERP.

Run monthly by a Temporal Schedule (`starter.py close --schedule`: on the 1st it closes
the month before) or on demand (`starter.py close --period 2026-10`). For each legal
entity it asks the revenue ERP which schedule periods up to the period are still open,
builds their recognition journals in a local activity (external id
`rev:{schedule_id}:{period}`, so a re-run posts nothing twice), posts them, and locks
the period in the ERPs of the entity's receivables and revenue domains. A recognition
the ERP had to move out of a locked period is flagged in the audit trail.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.erp import ErpActivities
    from activities.io import LockPeriodInput, OpenRevenuePeriodsInput, RecognitionJournalsInput
    from activities.rules import RulesActivities
    from adapters.erp.port import ErpReceipt, JournalPosting, OpenRevenuePeriod
    from adapters.erp.routing import Domain
    from canonical.ledger import JournalEntry

from . import search
from .calls import Calls
from .config import CALL_TIMEOUT, RULES_TIMEOUT, FlowConfig
from .flow import AuditRecord, Flow, Skipped

# Recognition journals per local activity and per ERP activity (payload sizes stay small).
CHUNK = 200


class PeriodCloseState(StrEnum):
    STARTED = "Started"
    RECOGNISING = "Recognising"
    LOCKING = "Locking"
    CLOSED = "Closed"


S = PeriodCloseState
TRANSITIONS: dict[PeriodCloseState, frozenset[PeriodCloseState]] = {
    S.STARTED: frozenset({S.RECOGNISING}),
    S.RECOGNISING: frozenset({S.LOCKING, S.CLOSED}),
    S.LOCKING: frozenset({S.CLOSED}),
}


class PeriodCloseInput(BaseModel):
    # YYYY-MM; None closes the month before the run (what the monthly schedule does).
    period: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}$")
    legal_entities: list[str]
    lock: bool = True
    config: FlowConfig = Field(default_factory=FlowConfig)


class EntityClose(BaseModel):
    legal_entity: str
    recognised: int = 0  # recognition journals posted now (duplicates not counted)
    documents: list[str] = []
    # Recognitions the ERP booked in a later open period (their own period was locked).
    moved: dict[str, str] = {}
    locked_in: list[str] = []  # ERP targets that locked the period
    skipped: str | None = None


class PeriodCloseResult(BaseModel):
    period: str
    entities: list[EntityClose]
    audit: list[AuditRecord] = []


def previous_period(now: datetime) -> str:
    year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
    return f"{year:04d}-{month:02d}"


@workflow.defn
class PeriodCloseWorkflow(Flow):
    FLOW = "period_close"
    TRANSITIONS = TRANSITIONS
    _state: PeriodCloseState  # (set by Flow._init_flow and _transition)

    @workflow.init
    def __init__(self, input: PeriodCloseInput) -> None:
        self._period = input.period or previous_period(workflow.now())
        self._init_flow(input.config, S.STARTED, f"close-{self._period}")
        self._calls = Calls(input.config)
        self._results: list[EntityClose] = []

    @workflow.query
    def state(self) -> PeriodCloseState:
        return self._state

    @workflow.query
    def progress(self) -> list[EntityClose]:
        return list(self._results)

    @workflow.run
    @search.flushed
    async def run(self, input: PeriodCloseInput) -> PeriodCloseResult:
        self._upsert(search.O2C_FLOW.value_set(self.FLOW),
                     search.CORRELATION_ID.value_set(self._correlation_id))
        self._transition(S.RECOGNISING, note=f"closing {self._period} for "
                         f"{', '.join(input.legal_entities)}")
        for entity in input.legal_entities:
            self._results.append(await self._recognise(entity))
        if input.lock:
            self._transition(S.LOCKING)
            for result in self._results:
                await self._lock(result)
        self._transition(S.CLOSED, note=f"{self._period} closed")
        await workflow.wait_condition(workflow.all_handlers_finished)
        return PeriodCloseResult(period=self._period, entities=self._results,
                                 audit=list(self._audit))

    async def _recognise(self, entity: str) -> EntityClose:
        cid = self._correlation_id
        due = await self._step(f"list_open_revenue_periods {entity}", lambda _: (
            workflow.execute_activity_method(
                ErpActivities.list_open_revenue_periods,
                OpenRevenuePeriodsInput(legal_entity=entity, through=self._period,
                                        correlation_id=cid),
                start_to_close_timeout=CALL_TIMEOUT, retry_policy=self._config.retry_policy(),
                task_queue=self._config.erp_task_queue)))
        if isinstance(due, Skipped):
            return EntityClose(legal_entity=entity, skipped=due.reason)
        result = EntityClose(legal_entity=entity)
        for start in range(0, len(due), CHUNK):
            outcome = await self._post_chunk(entity, due[start:start + CHUNK])
            if isinstance(outcome, Skipped):
                result.skipped = outcome.reason
                return result
            for receipt in outcome:
                if not receipt.duplicate:
                    result.recognised += 1
                result.documents.append(receipt.document_id)
                if receipt.posted_period:
                    result.moved[receipt.external_id] = receipt.posted_period
        self._record(str(self._state), documents=result.documents[-50:],
                     note=f"{entity}: {result.recognised} recognition journal(s) through "
                          f"{self._period} ({len(due)} open period(s))")
        for external_id, period in result.moved.items():
            self._record(str(self._state), note=f"FLAG {entity}: {external_id} dated in a "
                                                f"locked period, posted in {period}")
        return result

    async def _post_chunk(self, entity: str, periods: list[OpenRevenuePeriod]
                          ) -> list[ErpReceipt] | Skipped:
        cid = self._correlation_id
        with search.local_activity():
            entries: list[JournalEntry] = await workflow.execute_local_activity_method(
                RulesActivities.recognition_journals,
                RecognitionJournalsInput(periods=periods, correlation_id=cid),
                start_to_close_timeout=RULES_TIMEOUT, retry_policy=self._config.retry_policy())
        postings = [JournalPosting(external_id=e.external_id, entry=e) for e in entries]
        return await self._step(f"post_recognition {entity}", lambda _: self._calls.post(
            entity, Domain.REVENUE, list(postings), cid))

    async def _lock(self, result: EntityClose) -> None:
        if result.skipped is not None:
            self._record(str(self._state), note=f"{result.legal_entity}: not locked, "
                                                f"recognition skipped ({result.skipped})")
            return
        for domain in (Domain.RECEIVABLES, Domain.REVENUE):
            req = LockPeriodInput(legal_entity=result.legal_entity, domain=domain,
                                  period=self._period, correlation_id=self._correlation_id)
            lock = await self._step(
                f"lock_period {result.legal_entity} {domain}",
                lambda _, r=req: workflow.execute_activity_method(  # type: ignore[misc]
                    ErpActivities.lock_erp_period, r, start_to_close_timeout=CALL_TIMEOUT,
                    retry_policy=self._config.retry_policy(),
                    task_queue=self._config.erp_task_queue))
            if isinstance(lock, Skipped):
                continue
            if lock.erp not in result.locked_in:
                result.locked_in.append(lock.erp)
        self._record(str(self._state), note=f"{result.legal_entity}: {self._period} locked in "
                                            f"{', '.join(result.locked_in) or 'no ERP'}")
