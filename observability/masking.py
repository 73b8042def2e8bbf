"""Removal of personal data from log events before they are written anywhere.

Two rules, applied to every value of an event (nested dicts and lists included):
* fields known to hold personal data (name, email, phone, address parts, tax id, card
  number, ...) are replaced whole, whatever they contain;
* every string is scanned for emails, card numbers (Luhn-checked PANs), phone numbers,
  tax ids, street addresses, credentials in URLs and pydantic's echoed `input_value`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

MASK = "[masked]"

# Keys whose values are personal data whatever their content (compared lower-case).
PII_KEYS = frozenset({
    "name", "customer_name", "company_name", "legal_name", "first_name", "last_name",
    "full_name", "contact", "contact_name", "recipient", "email", "emails", "phone",
    "phone_number", "mobile", "address", "addresses", "bill_to", "sold_to", "ship_to",
    "line1", "line2", "street", "postal_code", "zip", "tax_id", "vat_id", "vat_number",
    "card", "card_number", "pan", "cvc", "cvv", "iban", "account_number", "password",
    "token", "authorization", "secret", "api_key",
})


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[card]" if 13 <= len(digits) <= 19 and _luhn_ok(digits) else match.group(0)


_STREET_WORDS = (r"St|Street|Ave|Avenue|Rd|Road|Blvd|Boulevard|Ln|Lane|Dr|Drive|Way|Ct|"
                 r"Court|Pl|Place|Sq|Square|Pkwy|Parkway|Hwy|Highway|Terrace|Rue|Via")
_EU_VAT = (r"(?:AT|BE|BG|CY|CZ|DE|DK|EE|EL|ES|FI|HR|HU|IE|IT|LT|LU|LV|MT|NL|PL|PT|RO|SE|SI|SK"
           r"|GB|CH|NO)")

# (pattern, replacement) in order; earlier rules win on overlapping text.
RULES: list[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]]] = [
    # pydantic echoes the offending input: input_value='Jane Doe' / input_value={...}
    (re.compile(r"input_value=(?:'[^']*'|\"[^\"]*\"|\{[^}]*\}|\[[^\]]*\]|[^,\s\]]+)"),
     "input_value=" + MASK),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@"), r"\1[credentials]@"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "[email]"),
    (re.compile(r"\b(?:\d[ -]?){12,18}\d\b"), _card),
    (re.compile(r"\+\d{1,3}(?:[\s.-]?\(?\d{1,5}\)?){2,5}\d"), "[phone]"),
    (re.compile(r"\(\d{3}\)\s?\d{3}[\s.-]\d{4}\b|\b\d{3}[\s.-]\d{3}[\s.-]\d{4}\b"), "[phone]"),
    (re.compile(rf"\b{_EU_VAT}U?\d{{8,12}}\b|\bFR[0-9A-Z]{{2}}\d{{9}}\b"), "[tax-id]"),
    (re.compile(r"\b\d{3}-\d{2}-\d{4}\b|\b\d{2}-\d{7}\b|\bT\d{13}\b"), "[tax-id]"),
    (re.compile(rf"\b\d{{1,5}}[A-Za-z]?\s+(?:[A-Z][\w'-]*\.?\s+){{0,4}}(?:{_STREET_WORDS})\b\.?"),
     "[address]"),
    (re.compile(r"\b[A-ZÄÖÜ][a-zäöüß-]+(?:straße|strasse|str\.|weg|allee|platz|gasse|damm)"
                r"\s+\d+[a-z]?\b"), "[address]"),
    (re.compile(r"\b\d{1,4}-\d{1,4}(?:-\d{1,4})?\s+[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?\b"),
     "[address]"),
]


# Values the logging pipeline itself adds; nothing personal can be in them.
SAFE_KEYS = frozenset({"timestamp", "level", "logger", "service", "trace_id", "span_id"})
_MAYBE_PII = re.compile(r"[0-9@]|://|input_value")


def mask_text(text: str) -> str:
    """A string with every recognised piece of personal data replaced."""
    if not _MAYBE_PII.search(text):  # every rule needs a digit, an @, a URL or input_value
        return text
    for pattern, replacement in RULES:
        text = pattern.sub(replacement, text)
    return text


def mask_value(value: Any, key: str | None = None) -> Any:
    """A value (recursively) with personal data removed; `key` is the field it sits in."""
    if key is not None and key.lower() in PII_KEYS and value not in (None, "", [], {}):
        return MASK
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, Mapping):
        return {k: mask_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return mask_text(str(value))


def mask_event(_logger: Any, _method: str, event: Mapping[str, Any]) -> dict[str, Any]:
    """structlog processor: the event dict with personal data removed."""
    return {k: v if k in SAFE_KEYS else mask_value(v, k) if k != "event" else mask_value(v)
            for k, v in event.items()}
