"""The one error shape of every gateway answer that is not a success."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


class ErrorItem(BaseModel):
    """One problem: where (dotted path in the request), what was expected, what came."""

    path: str = Field(description="dotted field path in the request body ('' = the body)")
    type: str = Field(description="stable machine-readable error type")
    message: str
    expected: str | None = None
    got: Any = None


class ErrorBody(BaseModel):
    """Every 4xx/5xx body."""

    error: str = Field(description="category: unauthorized, invalid_signature, json_invalid, "
                                   "schema_invalid, unknown_event_type, unmappable_customer, "
                                   "unroutable, downstream_unavailable, store_unavailable, "
                                   "payload_too_large, not_found, method_not_allowed")
    message: str
    errors: list[ErrorItem] = []
    dead_letter_ids: list[int] = Field(default=[], description="where the refused payload "
                                                               "was kept")


def error_response(status: int, error: str, message: str,
                   errors: list[dict[str, Any]] | None = None,
                   dead_letter_ids: list[int] | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body = ErrorBody(error=error, message=message,
                     errors=[ErrorItem.model_validate(e) for e in errors or []],
                     dead_letter_ids=dead_letter_ids or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "body is not JSON (dead-lettered)"},
    401: {"model": ErrorBody, "description": "missing or invalid API key / signature"},
    413: {"model": ErrorBody, "description": "body larger than the limit"},
    422: {"model": ErrorBody, "description": "invalid or unmappable (dead-lettered)"},
    503: {"model": ErrorBody, "description": "the gateway's store is unavailable"},
}
