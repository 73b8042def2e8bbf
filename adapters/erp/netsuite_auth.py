"""NetSuite's token-based authentication: every request signed with OAuth 1.0a.

NetSuite's REST web services take TBA (an integration record's consumer key and secret,
an access token's id and secret) as an OAuth 1.0a `Authorization` header signed with
HMAC-SHA256, the realm being the account id in upper case with `_` for `-`
(1234567_SB1). The signature base string holds the method, the URL without its query,
and every oauth and query parameter (RFC 5849 3.4.1); a JSON body is not signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from urllib.parse import quote

import httpx


def _enc(value: str) -> str:
    # RFC 5849 3.6: unreserved characters only, spaces as %20
    return quote(value, safe="~-._")


def realm(account_id: str) -> str:
    return account_id.upper().replace("-", "_")


def account_host(account_id: str) -> str:
    """The REST host of an account: 1234567_SB1 -> 1234567-sb1.suitetalk.api.netsuite.com."""
    return f"https://{account_id.lower().replace('_', '-')}.suitetalk.api.netsuite.com"


@dataclass(frozen=True)
class TbaCredentials:
    account_id: str
    consumer_key: str
    consumer_secret: str
    token_id: str
    token_secret: str


def signature(method: str, url: httpx.URL, oauth: dict[str, str],
              credentials: TbaCredentials) -> str:
    """The oauth_signature of one request (RFC 5849 3.4, HMAC-SHA256)."""
    params = [(_enc(k), _enc(v)) for k, v in [*url.params.multi_items(), *oauth.items()]]
    normalized = "&".join(f"{k}={v}" for k, v in sorted(params))
    base_url = str(url.copy_with(query=None, fragment=None))
    base = "&".join([method.upper(), _enc(base_url), _enc(normalized)])
    key = f"{_enc(credentials.consumer_secret)}&{_enc(credentials.token_secret)}"
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class NetSuiteTba(httpx.Auth):
    """Signs each request (a retry is signed again: NetSuite refuses a reused nonce)."""

    def __init__(self, credentials: TbaCredentials, *,
                 clock: Callable[[], float] = time.time,
                 nonce: Callable[[], str] = lambda: secrets.token_hex(16)) -> None:
        self._credentials = credentials
        self._clock = clock
        self._nonce = nonce

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response,
                                                              None]:
        request.headers["Authorization"] = self.header(request.method, request.url)
        yield request

    def header(self, method: str, url: httpx.URL) -> str:
        c = self._credentials
        oauth = {"oauth_consumer_key": c.consumer_key, "oauth_token": c.token_id,
                 "oauth_signature_method": "HMAC-SHA256",
                 "oauth_timestamp": str(int(self._clock())), "oauth_nonce": self._nonce(),
                 "oauth_version": "1.0"}
        oauth["oauth_signature"] = signature(method, url, oauth, c)
        fields = [f'realm="{realm(c.account_id)}"'] + [f'{k}="{_enc(v)}"'
                                                       for k, v in oauth.items()]
        return "OAuth " + ",".join(fields)


def netsuite_client(credentials: TbaCredentials, *, base_url: str | None = None,
                    timeout: httpx.Timeout | float = 30.0,
                    transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """An httpx client for one account's REST web services, every request signed."""
    return httpx.AsyncClient(base_url=base_url or account_host(credentials.account_id),
                             auth=NetSuiteTba(credentials), timeout=timeout,
                             transport=transport)
