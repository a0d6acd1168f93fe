"""The API key of mutating endpoints (``X-API-Key``).

When ``RNN_FORECAST_API_KEY`` is set and not empty, every endpoint that
changes state requires the header: 401 when it is missing, 403 when it is
wrong, and 400 when it is sent more than once, because the keys could
differ. Reads and forecasts stay open. The key is compared in constant time
and never logged.
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from service.deps import SettingsDep
from service.errors import AuthError

API_KEY_HEADER = "X-API-Key"
# RFC 9110 section 15.5.2: a 401 response must carry a WWW-Authenticate
# challenge. "APIKey" is no registered scheme, and its parameter names the
# header that takes the key.
CHALLENGE = {"WWW-Authenticate": f'APIKey header="{API_KEY_HEADER}"'}

_scheme = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="Required on mutating endpoints when RNN_FORECAST_API_KEY is set",
)


def require_api_key(
    request: Request,
    settings: SettingsDep,
    key: Annotated[str | None, Security(_scheme)],
) -> None:
    """Raise ``AuthError`` unless the request carries the configured key,
    once."""
    expected = settings.api_key.get_secret_value() if settings.api_key else ""
    if not expected:
        return
    sent = len(request.headers.getlist(API_KEY_HEADER))
    if sent > 1:
        raise AuthError(
            f"the {API_KEY_HEADER} header is sent {sent} times; send it once, "
            "with the service's API key",
            status=400,
        )
    if not key:
        raise AuthError(
            f"missing {API_KEY_HEADER} header; this endpoint changes state and "
            "needs the service's API key",
            status=401,
            headers=CHALLENGE,
        )
    if not secrets.compare_digest(key.encode(), expected.encode()):
        raise AuthError(f"the {API_KEY_HEADER} header is wrong", status=403)


ApiKeyDep = Depends(require_api_key)
