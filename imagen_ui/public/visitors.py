"""Who a request comes from, for per-visitor history in public mode.

The page sets a random id in a cookie once per browser (JS below); every request of that browser
carries it, the Gradio API included, so no extra API input is needed. Ids are 128-bit random, so
one visitor cannot guess another's.
"""

from __future__ import annotations

import hashlib
import re

COOKIE = "imagen_ui_visitor"
_VALID = re.compile(r"[A-Za-z0-9-]{16,64}")

# Runs on page load: a year-long, first-party id for this browser.
SET_COOKIE_JS = f"""
() => {{
  if (!document.cookie.split("; ").some((c) => c.startsWith("{COOKIE}="))) {{
    const id = crypto.randomUUID ? crypto.randomUUID()
      : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
    document.cookie = "{COOKIE}=" + id + "; max-age=31536000; path=/; SameSite=Lax";
  }}
}}
"""


def visitor_id(request: object) -> str | None:
    """The browser's visitor id, else one derived from the Gradio session (API clients)."""
    headers = getattr(request, "headers", None) or {}
    raw = headers.get("cookie") if hasattr(headers, "get") else None
    if raw and (value := _cookie_value(str(raw), COOKIE)) and _VALID.fullmatch(value):
        return value
    session = getattr(request, "session_hash", None)
    if session:
        return "s-" + hashlib.sha256(str(session).encode()).hexdigest()[:32]
    return None


def _cookie_value(header: str, name: str) -> str | None:
    """The first value of cookie `name` in a Cookie header, in linear time (http.cookies' parser is
    quadratic in backslash escapes, which no id of ours holds)."""
    for part in header.split(";"):
        key, equals, value = part.partition("=")
        if equals and key.strip() == name:
            return value.strip().strip('"')
    return None


def token_owner(token: str) -> str:
    """A history owner id for a visitor known only by their own Replicate token (an MCP client):
    stable for the token, and no way back to it (a one-way hash; the token itself is never stored)."""
    return "t-" + hashlib.sha256(("imagen-ui history owner:" + token).encode()).hexdigest()[:32]
