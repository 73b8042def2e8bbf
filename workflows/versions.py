"""Which code path a flow takes where the code changed: by its config, or by patch markers.

Every `workflow.patched` call that takes the new path writes a marker, and the SDK
upserts the TemporalChangeVersion search attribute with it: two history events and a
visibility write per patch, in every new execution, for the life of the patch. A flow
started by this code carries `FlowConfig.code_version` = CODE_VERSION in its input
(immutable in its history), and every patch that existed when that version was cut
counts as applied without a marker. Executions started before (their input has no
code_version) ask `workflow.patched` as before, so their histories replay unchanged,
and so does a running one that meets the new code (it takes the new path from then on).
"""

from __future__ import annotations

from temporalio import workflow

from .config import FlowConfig

# Patches folded into code version 1 (every patch id of the code before it).
VERSION_1 = frozenset({
    "o2c-flows-v1", "search-skip-unchanged", "search-coalesced", "perf-local-calls",
    "perf-one-erp-call", "renewal-started-at-window", "child-reported-before-start-v1",
    "dunning-stop-before-cancel", "void-stops-dunning", "cancellation-withdrawable",
    "amendment-waits-for-its-invoice", "late-amendment-reverses-paid-rebill",
    "late-cancellation-reverses-amendments",
    "same-cancellation-noted",
})


# Code version -> the patches it includes; each includes its predecessor's.
FOLDED: dict[int, frozenset[str]] = {
    1: VERSION_1,
    2: VERSION_1 | {"activation-in-entity"},
    3: VERSION_1 | {"activation-in-entity", "perf-erp-local-first"},
    4: VERSION_1 | {"activation-in-entity", "perf-erp-local-first", "amendment-in-entity"},
    5: VERSION_1 | {"activation-in-entity", "perf-erp-local-first", "amendment-in-entity",
                    "dunning-reports-waits-only"},
    6: VERSION_1 | {"activation-in-entity", "perf-erp-local-first", "amendment-in-entity",
                    "dunning-reports-waits-only", "fresh-run-after-activation"},
    7: VERSION_1 | {"activation-in-entity", "perf-erp-local-first", "amendment-in-entity",
                    "dunning-reports-waits-only", "fresh-run-after-activation",
                    "upstream-documents-before-amendment", "documents-tell-dunning"},
}
FOLDED[8] = FOLDED[7] | {"late-cancellation-tells-dunning", "upstream-memo-release-adjusted"}
FOLDED[9] = FOLDED[8] | {"zero-documents-book-nothing"}


def patched(config: FlowConfig, patch_id: str) -> bool:
    """`workflow.patched(patch_id)`, answered by the config where its version includes it."""
    if patch_id in FOLDED.get(config.code_version, frozenset()):
        return True
    return workflow.patched(patch_id)
