"""A visitor's own token, remembered on their device only when they ask, and forgotten everywhere.

The browser never stores the token itself. When a visitor ticks "Remember my token on this device",
it stores a seal: the token encrypted and authenticated (Fernet, from `cryptography`) under a key
that stays on the server (a 0600 file beside the history, never in the page or its config), bound
to that browser's visitor id and at most `max_age` old. Another browser, a copied localStorage
without the cookie, or anyone reading /config gets nothing usable from it.

Forget forgets everywhere: every seal of that token made before it no longer opens (on any device),
and a session that still holds it is refused until someone pastes it again. What is remembered of a
forgotten token is an HMAC of it (never the token), in a small file, for `max_age`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["MAX_AGE", "TokenForgotten", "TokenVault"]

log = logging.getLogger(__name__)

KEY_FILE = ".remembered-token-key"
FORGOTTEN_FILE = ".forgotten-tokens.json"
MAX_AGE = 30 * 86_400  # a seal older than 30 days no longer opens
MAX_FORGOTTEN = 10_000  # beyond it the oldest are dropped (their seals expire within MAX_AGE anyway)
MAX_SEAL_CHARS = 2_000  # a seal of a 256-character token is about 500


class TokenForgotten(Exception):
    """A click with a token that was forgotten (on this device or another) since it was checked."""

    title = "Token forgotten"

    def __init__(self) -> None:
        super().__init__("Your Replicate token was forgotten on this app (Forget was pressed, here or on another "
                         "device). Paste it again under \"Use your own Replicate token\" to use it.")


class TokenVault:
    def __init__(self, directory: Path | str, *, clock: Callable[[], float] = time.time,
                 max_age: int = MAX_AGE) -> None:
        self.directory = Path(directory)
        self.clock = clock
        self.max_age = max_age
        self._lock = threading.Lock()
        key = self._key()
        self._fernet = Fernet(key)
        self._hmac_key = hashlib.sha256(b"imagen-ui forgotten tokens\0" + key).digest()
        self._forgotten: dict[str, list[float | bool]] = self._load_forgotten()  # digest -> [at, in_force]

    def seal(self, token: str, device: str) -> str:
        """What the browser keeps for `token` on `device` (its visitor id)."""
        body = json.dumps({"t": token, "d": self._digest("device", device)}).encode()
        return self._fernet.encrypt_at_time(body, int(self.clock())).decode("ascii")

    def open(self, sealed: str, device: str) -> str | None:
        """The token of a seal made on `device`, or None (not ours, another device's, expired, or forgotten)."""
        if not isinstance(sealed, str) or not sealed or len(sealed) > MAX_SEAL_CHARS:
            return None
        try:
            body = self._fernet.decrypt_at_time(sealed.encode("ascii"), self.max_age, int(self.clock()))
            made = self._fernet.extract_timestamp(sealed.encode("ascii"))
            data = json.loads(body)
        except (InvalidToken, UnicodeEncodeError, ValueError):
            return None
        token = data.get("t") if isinstance(data, dict) else None
        if not isinstance(token, str) or not hmac.compare_digest(str(data.get("d")), self._digest("device", device)):
            return None
        with self._lock:
            entry = self._forgotten.get(self._digest("token", token))
        if entry is not None and made <= entry[0]:
            return None
        return token

    def forget(self, token: str) -> None:
        """No seal of `token` made until now opens again, anywhere; sessions holding it are refused."""
        with self._lock:
            self._forgotten[self._digest("token", token)] = [self.clock(), True]
            self._save_forgotten()

    def forgotten(self, token: str) -> bool:
        """Whether a session holding `token` must stop using it (it was forgotten since it was checked)."""
        with self._lock:
            entry = self._forgotten.get(self._digest("token", token))
        return bool(entry and entry[1])

    def pasted_again(self, token: str) -> None:
        """The token was pasted and checked again: sessions may use it; its old seals stay void."""
        with self._lock:
            entry = self._forgotten.get(self._digest("token", token))
            if entry is not None and entry[1]:
                entry[1] = False
                self._save_forgotten()

    # --- files ---------------------------------------------------------------------------------

    def _digest(self, purpose: str, value: str) -> str:
        return hmac.new(self._hmac_key, f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()

    def _key(self) -> bytes:
        path = self.directory / KEY_FILE
        try:
            key = path.read_bytes().strip()
            base64.urlsafe_b64decode(key)
            if len(key) == 44:
                return key
            log.warning("%s is not a key; making a new one (remembered tokens must be pasted again)", path)
        except FileNotFoundError:
            pass
        key = Fernet.generate_key()
        self._write(path, key)
        return key

    def _load_forgotten(self) -> dict[str, list[float | bool]]:
        path = self.directory / FORGOTTEN_FILE
        try:
            if path.stat().st_size > 4 * 2**20:
                raise ValueError("too large")
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, RecursionError) as error:
            log.warning("%s cannot be read (%s); starting with no forgotten tokens", path, type(error).__name__)
            return {}
        now = self.clock()
        return {k: [float(v[0]), bool(v[1])] for k, v in data.items()
                if isinstance(v, list) and len(v) == 2 and isinstance(v[0], (int, float))
                and now - v[0] < self.max_age} if isinstance(data, dict) else {}

    def _save_forgotten(self) -> None:
        now = self.clock()
        kept = sorted(((k, v) for k, v in self._forgotten.items() if now - v[0] < self.max_age),
                      key=lambda item: item[1][0])[-MAX_FORGOTTEN:]
        self._forgotten = dict(kept)
        try:
            self._write(self.directory / FORGOTTEN_FILE, json.dumps(self._forgotten).encode())
        except OSError as error:
            log.warning("cannot save forgotten tokens (%s); they are forgotten until a restart", error.strerror)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
        os.replace(tmp, path)
