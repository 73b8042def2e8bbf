"""The codec server the Temporal UI and CLI call to see decrypted payloads.

Protocol (Temporal's remote codec): ``POST .../encode`` and ``POST .../decode`` with a
``Payloads`` protobuf as JSON in and out; only the last path segment counts, so the
endpoint may be mounted under a prefix such as ``/{namespace}``. Every call needs the
bearer token (``Authorization: Bearer <token>``, e.g. ``temporal --codec-auth``) or the
session cookie that ``/login`` sets after the token was entered in a browser (the UI then
needs "Include cross-origin credentials"). CORS admits only the configured UI origins.
Payloads are never logged.

Run: ``python -m security.codec_server`` (``make up`` does).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from google.protobuf import json_format
from pydantic import SecretStr
from temporalio.api.common.v1 import Payload, Payloads

from .codec import AesGcmCodec, PayloadDecryptionError

SESSION_COOKIE = "cashloop_codec_session"
SESSION_SECONDS = 8 * 3600
log = logging.getLogger(__name__)

_LOGIN_PAGE = """<!doctype html><title>Cashloop codec server</title>
<h1>Cashloop codec server</h1><p>{message}</p>
<form method="post" action="login"><label>Codec token
<input type="password" name="token" autofocus></label> <button>Sign in</button></form>
<p>Then, in the Temporal UI's codec server settings, turn on
<em>Include cross-origin credentials</em>.</p>"""


def _session_value(token: str, expires: int) -> str:
    mac = hmac.new(token.encode(), f"codec-session:{expires}".encode(), hashlib.sha256)
    return f"{expires}.{mac.hexdigest()}"


def _valid_session(token: str, value: str | None) -> bool:
    if not value or "." not in value:
        return False
    expires_s = value.split(".", 1)[0]
    if not expires_s.isdigit() or int(expires_s) < time.time():
        return False
    return hmac.compare_digest(value, _session_value(token, int(expires_s)))


def _authorised(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(presented.strip().encode(),
                                                          token.encode()):
        return True
    return _valid_session(token, request.cookies.get(SESSION_COOKIE))


def create_codec_app(codec: AesGcmCodec, token: SecretStr, origins: Sequence[str]) -> FastAPI:
    """The codec server app.

    Args:
        codec: the payload codec (with the full key ring, so old histories decode).
        token: the bearer token every encode/decode call must present.
        origins: browser origins (the Temporal UI) allowed by CORS, with credentials.
    """
    secret = token.get_secret_value()
    if not secret:
        raise ValueError("the codec server needs a non-empty token")
    app = FastAPI(title="Cashloop codec server", docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.add_middleware(CORSMiddleware, allow_origins=list(origins), allow_credentials=True,
                       allow_methods=["POST"],
                       allow_headers=["content-type", "x-namespace", "authorization"])

    async def apply(request: Request,
                    fn: Callable[[Sequence[Payload]], Awaitable[list[Payload]]]) -> Response:
        if not _authorised(request, secret):
            return JSONResponse({"detail": "codec token required"}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        try:
            payloads = json_format.Parse(await request.body(), Payloads())
            out = Payloads(payloads=await fn(payloads.payloads))
        except (json_format.ParseError, PayloadDecryptionError, ValueError) as exc:
            # The error names key ids at most, never payload content.
            return JSONResponse({"detail": str(exc)[:300]}, status_code=400)
        return Response(json_format.MessageToJson(out), media_type="application/json")

    @app.post("/encode")
    @app.post("/{prefix:path}/encode")
    async def encode(request: Request) -> Response:
        """Encrypt payloads with the newest key (inputs typed into the UI or CLI)."""
        return await apply(request, codec.encode)

    @app.post("/decode")
    @app.post("/{prefix:path}/decode")
    async def decode(request: Request) -> Response:
        """Decrypt payloads with whichever key each one names."""
        return await apply(request, codec.decode)

    @app.get("/health")
    async def health() -> dict[str, object]:
        """Liveness and the key ids in the ring (never the keys)."""
        return {"status": "ok", "service": "codec", "key_ids": codec.ring.ids}

    @app.get("/login")
    async def login_page() -> HTMLResponse:
        """A form to exchange the token for a session cookie (browser users)."""
        return HTMLResponse(_LOGIN_PAGE.format(message="Enter the codec token."))

    @app.post("/login")
    async def login(request: Request) -> HTMLResponse:
        """Check the token; set an HttpOnly session cookie derived from it (not the token)."""
        form = parse_qs((await request.body()).decode(errors="replace"))
        presented = (form.get("token") or [""])[0]
        if not hmac.compare_digest(presented.encode(), secret.encode()):
            return HTMLResponse(_LOGIN_PAGE.format(message="Wrong token."), status_code=401)
        expires = int(time.time()) + SESSION_SECONDS
        page = HTMLResponse(_LOGIN_PAGE.format(
            message="Signed in: the Temporal UI in this browser now shows decoded payloads."))
        page.set_cookie(SESSION_COOKIE, _session_value(secret, expires), max_age=SESSION_SECONDS,
                        httponly=True, samesite="lax")
        return page

    return app


def main() -> int:
    """Serve on CASHLOOP_HOST:CASHLOOP_CODEC_PORT with the configured keys and token."""
    import uvicorn

    from observability.logging import configure_logging
    from settings import Settings
    from settings_secrets import load_secrets

    settings = Settings()
    configure_logging(settings.log_format, settings.log_level, service="codec")
    secrets = load_secrets()
    ring = secrets.key_ring()
    if ring is None or secrets.codec_token is None:
        print("codec server: set CASHLOOP_CODEC_KEYS (or CASHLOOP_CODEC_KEYS_FILE) and "
              "CASHLOOP_CODEC_TOKEN", file=sys.stderr)
        return 2
    app = create_codec_app(AesGcmCodec(ring), secrets.codec_token, settings.ui_origins())
    print(f"codec server listening on http://{settings.host}:{settings.codec_port} "
          f"(keys {ring.ids}; UI origins {settings.ui_origins()})", flush=True)
    uvicorn.run(app, host=settings.host, port=settings.codec_port, log_level="warning",
                access_log=False, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
