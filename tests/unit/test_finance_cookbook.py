"""docs/finance-cookbook.md shows exactly the queries of cli/cookbook.py, and the recipes
fill their placeholders safely."""

from __future__ import annotations

import re

import pytest

from cli.cookbook import BY_NAME, RECIPES, query_for
from observability import workflow_metrics
from settings import PROJECT_ROOT
from workflows import measure
from workflows.search import ALL_KEYS

DOC = (PROJECT_ROOT / "docs" / "finance-cookbook.md").read_text()


def test_the_cookbook_shows_every_recipe_query_verbatim() -> None:
    lines = DOC.splitlines()
    for recipe in RECIPES:
        assert recipe.query in lines, f"{recipe.name}: query block missing"
        assert f'--query "{recipe.query}"' in DOC, f"{recipe.name}: CLI line missing"
        assert f"starter.py find {recipe.name}" in DOC


def test_the_cookbook_shows_no_query_that_is_not_a_recipe() -> None:
    shown = set(re.findall(r'temporal workflow list [^\n]*--query "([^"]+)"', DOC))
    assert shown - {"<query>"} == {r.query for r in RECIPES}
    assert set(re.findall(r"starter\.py find ([\w-]+)", DOC)) == set(BY_NAME)


def test_the_cookbook_describes_every_search_attribute() -> None:
    for key in ALL_KEYS:
        assert f"`{key.name}`" in DOC, key.name


def test_placeholders_are_filled_and_quotes_escaped() -> None:
    assert query_for("customer", customer_id="o'brien") == "CustomerId = 'o\\'brien'"
    assert query_for("posted-today", today="2026-11-26") == (
        "InvoicePostedAt >= '2026-11-26T00:00:00Z'")
    with pytest.raises(ValueError, match="correlation_id"):
        query_for("correlation")


def test_workflows_and_the_worker_agree_on_the_metric_hook() -> None:
    assert measure.EXTERN == workflow_metrics.EXTERN


def test_make_up_points_finance_at_the_ui_and_the_cookbook() -> None:
    from devstack.stack import finance_pointer
    from settings import Settings

    text = "\n".join(finance_pointer(Settings(temporal_ui_port=18233)))
    assert ":18233/namespaces/default/workflows" in text
    assert "docs/finance-cookbook.md" in text and BY_NAME["parked"].query in text
