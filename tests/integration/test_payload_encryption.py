"""Encrypted payloads on the real dev server, read back only through the codec server."""

from __future__ import annotations

import base64
from collections import Counter
from pathlib import Path

import httpx
from google.protobuf import json_format
from google.protobuf.message import Message
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client

from cli.send import deliver
from security.codec import ENCODING, AesGcmCodec
from security.codec_server import SESSION_COOKIE, create_codec_app
from security.keys import KeyRing, new_key_entry
from tests.integration.stack import running_engine
from tests.observability_harness import (
    encrypted_client,
    pii_lifecycle,
    pii_strings,
    serving,
    settle,
)

TOKEN = "finance-token-for-tests"
UI = "http://127.0.0.1:8233"


SDK_MARKER_KEYS = {"data"}
PATCH_MARKER = "core_patch"  # the SDK's record of a workflow.patched() call: just its id


def payloads_of(event: HistoryEvent) -> list[Payload]:
    """Every payload an event carries (inputs, results, signal args, local-activity results)
    except search attributes, which the server indexes and so must see in clear, and the
    SDK's own bookkeeping of a local activity (its marker's "data": seq, attempt, times)
    and its marker of a `workflow.patched` call (the patch id)."""
    found: list[Payload] = []

    def walk(message: object) -> None:
        if isinstance(message, Payload):
            found.append(message)
            return
        for field, value in message.ListFields():  # type: ignore[attr-defined]
            if field.message_type is None or field.name == "search_attributes":
                continue
            if field.message_type.GetOptions().map_entry:
                values = [v for k, v in value.items()
                          if not (field.name == "details" and k in SDK_MARKER_KEYS)]
            else:
                values = [value] if isinstance(value, Message) else list(value)
            for item in values:
                walk(item)

    if (event.HasField("marker_recorded_event_attributes")
            and event.marker_recorded_event_attributes.marker_name == PATCH_MARKER):
        return found
    walk(event)
    return found


async def history_events(client: Client, task_queue: str) -> list[HistoryEvent]:
    events: list[HistoryEvent] = []
    async for wf in client.list_workflows(f"TaskQueue = '{task_queue}'"):
        history = await client.get_workflow_handle(wf.id, run_id=wf.run_id).fetch_history()
        events += history.events
    return events


async def test_history_holds_no_cleartext_customer_data_and_the_codec_server_reveals_it(
        dev_client: Client, tmp_path: Path) -> None:
    old_key = new_key_entry("k-old")
    client = encrypted_client(dev_client, KeyRing.parse(old_key))
    life = pii_lifecycle("sub_enc_1")
    async with running_engine(client, tmp_path) as engine:
        await deliver(client, life.events, engine.config)
        await settle(engine, Counter({life.subscription_id: 2}))
        # The plain client reads exactly what the server stores.
        events = await history_events(dev_client, engine.config.task_queue)

    # The whole flow is there: activation and invoice, their calls (CRM, ERP, provisioning,
    # tax, journal, ERP) as local activity markers, whose results hold the customer's data.
    markers = [e for e in events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert len(markers) >= 6, [e.event_type for e in events]
    stored = b"".join(e.SerializeToString() for e in events)
    for secret in pii_strings():
        assert secret.encode() not in stored, secret
    payloads = [p for e in events for p in payloads_of(e) if p.metadata.get("encoding")]
    clear = [(e.event_type, p) for e in events for p in payloads_of(e)
             if p.metadata.get("encoding") and p.metadata["encoding"] != ENCODING]
    assert payloads and not clear, clear[:3]

    # Rotation: the codec server has a newer key in front; old histories still decode.
    rotated = KeyRing.parse(new_key_entry("k-new") + "," + old_key)
    app = create_codec_app(AesGcmCodec(rotated), SecretStr(TOKEN), [UI])
    body = json_format.MessageToJson(Payloads(payloads=payloads))
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
        refused = await http.post("/decode", content=body,
                                  headers={"content-type": "application/json"})
        wrong = await http.post("/decode", content=body, headers={
            "content-type": "application/json", "authorization": "Bearer not-the-token"})
        decoded = await http.post("/default/decode", content=body, headers={
            "content-type": "application/json", "authorization": f"Bearer {TOKEN}",
            "x-namespace": "default", "origin": UI})
        encoded = await http.post("/encode", content=json_format.MessageToJson(
            Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=b"1")])),
            headers={"content-type": "application/json", "authorization": f"Bearer {TOKEN}"})

    assert (refused.status_code, wrong.status_code) == (401, 401)
    assert decoded.status_code == 200
    assert decoded.headers["access-control-allow-origin"] == UI
    revealed = b"".join(p.data for p in json_format.Parse(decoded.text, Payloads()).payloads)
    for secret in pii_strings():
        assert secret.encode() in revealed, secret
    [new] = json_format.Parse(encoded.text, Payloads()).payloads
    assert new.metadata["encryption-key-id"] == b"k-new"


async def test_codec_server_admits_only_the_ui_origin_and_signed_in_browsers() -> None:
    codec = AesGcmCodec(KeyRing.parse(new_key_entry("k1")))
    [sealed] = await codec.encode([Payload(metadata={"encoding": b"json/plain"}, data=b'"x"')])
    body = json_format.MessageToJson(Payloads(payloads=[sealed]))
    headers = {"content-type": "application/json"}
    app = create_codec_app(codec, SecretStr(TOKEN), [UI])
    async with serving(app) as url, httpx.AsyncClient(base_url=url) as http:
        preflight = await http.options("/decode", headers={
            "origin": UI, "access-control-request-method": "POST",
            "access-control-request-headers": "content-type,x-namespace,authorization"})
        foreign = await http.options("/decode", headers={
            "origin": "http://evil.test", "access-control-request-method": "POST"})
        bad_login = await http.post("/login", content="token=nope", headers={
            "content-type": "application/x-www-form-urlencoded"})
        http.cookies.clear()
        login = await http.post("/login", content=f"token={TOKEN}", headers={
            "content-type": "application/x-www-form-urlencoded"})
        cookie = login.cookies.get(SESSION_COOKIE)
        with_cookie = await http.post("/decode", content=body, headers={
            **headers, "cookie": f"{SESSION_COOKIE}={cookie}"})
        forged = await http.post("/decode", content=body, headers={
            **headers, "cookie": f"{SESSION_COOKIE}=9999999999.deadbeef"})
        garbage = await http.post("/decode", content="{not json", headers={
            **headers, "authorization": f"Bearer {TOKEN}"})

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == UI
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
    assert "access-control-allow-origin" not in foreign.headers
    assert bad_login.status_code == 401 and bad_login.cookies.get(SESSION_COOKIE) is None
    assert login.status_code == 200 and cookie and TOKEN not in cookie
    assert with_cookie.status_code == 200
    assert base64.b64encode(b'"x"').decode() in with_cookie.text
    assert forged.status_code == 401
    assert garbage.status_code == 400

