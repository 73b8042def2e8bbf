"""Exact column types, schema names and the stable body hash of the sandbox stores."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, insert, select

from adapters.sandbox.common import stable_hash
from adapters.sandbox.db import DecimalText, UtcDateTime, make_engine, schema_name


def test_decimal_text_round_trips_exactly_and_refuses_floats() -> None:
    meta = MetaData()
    table = Table("t", meta, Column("id", Integer, primary_key=True),
                  Column("amount", DecimalText()), Column("at", UtcDateTime()))
    engine = make_engine("sqlite://", "unit")
    meta.create_all(engine)
    at = dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, amount=Decimal("0.10"), at=at))
        row = conn.execute(select(table)).one()
        with pytest.raises(Exception, match="float"):
            conn.execute(insert(table).values(id=2, amount=0.1))
    assert row.amount == Decimal("0.10") and str(row.amount) == "0.10"
    assert row.at == at and row.at.tzinfo is not None


def test_schema_names_follow_the_service() -> None:
    assert schema_name("erp-legacy") == "erp_legacy"
    with pytest.raises(ValueError):
        schema_name("erp; drop")


def test_stable_hash_ignores_key_order_and_correlation_ids() -> None:
    a = {"x": 1, "entry": {"correlation_id": "t1", "amount": "1.00"}}
    b = {"entry": {"amount": "1.00", "correlation_id": "t2"}, "x": 1}
    assert stable_hash(a) == stable_hash(b)
    assert stable_hash(a) != stable_hash({**a, "x": 2})
