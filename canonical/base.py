"""Shared pydantic configuration for canonical models."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

# Identifiers coming from upstream systems: non-empty, no surrounding whitespace.
Id = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=False,
                                      pattern=r"^\S(.*\S)?$")]
# Legal entity codes such as "US01" or "DE01".
EntityCode = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9_]{2,16}$")]
CountryCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class Canonical(BaseModel):
    """Frozen, strict-about-unknown-fields base of every canonical model."""

    model_config = ConfigDict(frozen=True, extra="forbid")
