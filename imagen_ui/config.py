"""Settings: one frozen object from CLI flags > environment > .env file > defaults.

The token is read only from the environment or `.env`, never from a flag (flags show up in `ps`),
and it never appears in `repr()`/`str()` of the settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

from imagen_ui.schema import MODEL_ID

DEFAULT_MODEL = "google/imagen-4-fast"
TokenSource = Literal["environment", ".env"]
_TRUE = frozenset({"1", "true", "yes", "on"})
_T = TypeVar("_T")


class SettingsError(ValueError):
    """A setting from the environment or `.env` is malformed; the message names it and says why."""


@dataclass(frozen=True, repr=False)
class Settings:
    """Everything the app is configured by. Build it with `load_settings`."""

    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    offline: bool = False
    model: str = DEFAULT_MODEL
    history_dir: Path = Path("outputs")
    api_base: str | None = None  # e.g. "https://api.replicate.com", without /v1
    token: str | None = dataclasses.field(default=None, repr=False)
    analytics: bool = False
    max_in_flight: int = 32  # predictions in flight at once, all visitors together
    max_images: int = 4  # images one Generate may ask for
    _token_source: TokenSource | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def use_emulator(self) -> bool:
        """True when images come from the in-process emulator: offline, or nothing to reach Replicate with."""
        return self.offline or (not self.token and not self.api_base)

    @property
    def token_source(self) -> TokenSource | None:
        """Where the token came from: "environment", ".env", or None (no token, or not loaded)."""
        return self._token_source if self.token else None

    def __repr__(self) -> str:
        shown = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self) if f.repr]
        shown.append(f"token={'set' if self.token else 'unset'}")
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__


def build_arg_parser() -> argparse.ArgumentParser:
    """The parser for `python app.py [flags]`; every flag's help names the variable it overrides."""
    parser = argparse.ArgumentParser(
        prog="app.py",
        description="A browser playground for text-to-image models on Replicate.",
        epilog="The API token is read from REPLICATE_API_TOKEN (environment or a .env file in the working "
        "directory), never from a flag. Flags override environment variables, which override .env.",
    )
    flag = parser.add_argument
    flag("--host", type=_flag(_parse_host),
         help="address to listen on (env GRADIO_SERVER_NAME; default 127.0.0.1)")
    flag("--port", type=_flag(_parse_port),
         help="port to listen on, 1-65535 (env GRADIO_SERVER_PORT; default 7860)")
    flag("--share", action=argparse.BooleanOptionalAction, default=None,
         help="also serve on a public gradio.live link (env GRADIO_SHARE)")
    flag("--offline", action=argparse.BooleanOptionalAction, default=None,
         help="use the built-in emulator instead of Replicate, even with a token (env IMAGEN_UI_OFFLINE)")
    flag("--model", type=_flag(_parse_model), metavar="OWNER/NAME",
         help=f"Replicate model (env IMAGEN_UI_MODEL; default {DEFAULT_MODEL})")
    flag("--history-dir", type=_flag(_parse_dir), metavar="DIR",
         help="where images and the history index are kept (env IMAGEN_UI_HISTORY_DIR; default outputs)")
    flag("--api-base", type=_flag(_parse_api_base), metavar="URL",
         help="Replicate API base URL, e.g. http://127.0.0.1:8787 "
         "(env REPLICATE_BASE_URL; default https://api.replicate.com)")
    return parser


def load_settings(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    dotenv_path: str | Path | None = ".env",
) -> Settings:
    """Settings from flags (`argv`, default sys.argv[1:]), then `environ` (default os.environ), then the
    `.env` file at `dotenv_path` (relative to the working directory; None to skip; os.environ is never
    changed), then defaults. A blank value counts as unset at every level.

    A bad flag exits through `parser.error` (status 2); a bad variable raises SettingsError.
    """
    args = build_arg_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
    layers: list[tuple[str, Mapping[str, str | None]]] = [
        ("environment", os.environ if environ is None else environ),
    ]
    if dotenv_path is not None:
        # Literal values: no ${VAR} expansion, which would read os.environ and could mangle a token.
        layers.append((".env", dotenv_values(dotenv_path, interpolate=False)))

    def lookup(key: str) -> tuple[str, str] | None:
        for source, values in layers:
            value = values.get(key)
            if value is not None and value.strip():
                return value, source
        return None

    def setting(flag_value: _T | None, key: str, parse: Callable[[str], _T], default: _T) -> _T:
        if flag_value is not None:
            return flag_value
        found = lookup(key)
        if found is None:
            return default
        value, source = found
        try:
            return parse(value)
        except ValueError as error:
            where = "the environment" if source == "environment" else ".env"
            raise SettingsError(f"{key} in {where} {error}") from None

    token, token_source = None, None
    if found := lookup("REPLICATE_API_TOKEN"):
        token = _clean_token(found[0], found[1])
        token_source = found[1] if token else None
    return Settings(
        host=setting(args.host, "GRADIO_SERVER_NAME", _parse_host, Settings.host),
        port=setting(args.port, "GRADIO_SERVER_PORT", _parse_port, Settings.port),
        share=setting(args.share, "GRADIO_SHARE", _is_true, Settings.share),
        offline=setting(args.offline, "IMAGEN_UI_OFFLINE", _is_true, Settings.offline),
        model=setting(args.model, "IMAGEN_UI_MODEL", _parse_model, Settings.model),
        history_dir=setting(args.history_dir, "IMAGEN_UI_HISTORY_DIR", _parse_dir, Settings.history_dir),
        api_base=setting(args.api_base, "REPLICATE_BASE_URL", _parse_api_base, None),
        token=token,
        analytics=setting(None, "GRADIO_ANALYTICS_ENABLED", _is_true, Settings.analytics),
        _token_source=token_source,
    )


# Each parser takes the raw text and returns the value, or raises ValueError with the end of a
# sentence that starts with the flag or variable name.


def _parse_host(text: str) -> str:
    host = text.strip()
    if not host or any(ch.isspace() for ch in host):
        raise ValueError(f"must be a host name or address such as 127.0.0.1 or 0.0.0.0 (got {text!r})")
    return host


def _parse_port(text: str) -> int:
    try:
        port = int(text.strip())
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ValueError(f"must be a whole number from 1 to 65535 (got {text!r})")
    return port


def _parse_model(text: str) -> str:
    model = text.strip()
    if not MODEL_ID.fullmatch(model):
        raise ValueError(f"must look like owner/name, e.g. {DEFAULT_MODEL} (got {text!r})")
    return model


def _parse_dir(text: str) -> Path:
    return Path(text.strip()).expanduser()


def _parse_api_base(text: str) -> str:
    url = text.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        # Not echoed: it holds a password.
        raise ValueError("must not contain a user name or password")
    try:
        parts.port  # noqa: B018 (raises ValueError for a bad port)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        valid = valid and not parts.query and not parts.fragment
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(
            f"must be an http:// or https:// URL with a host, e.g. https://api.replicate.com (got {text!r})"
        )
    # The official Python client's base URL has no /v1 (it adds it); forgive the JS client's habit.
    return url.removesuffix("/v1")


def _is_true(text: str) -> bool:
    return text.strip().lower() in _TRUE


def _clean_token(text: str, source: str) -> str | None:
    """The token without surrounding whitespace or quotes; None when that leaves nothing."""
    token = text.strip().strip("\"'").strip()
    if not token:
        return None
    if any(ch.isspace() or not ch.isprintable() for ch in token):
        where = "the environment" if source == "environment" else ".env"
        # The token itself is never quoted back.
        raise SettingsError(
            f"REPLICATE_API_TOKEN in {where} contains spaces or control characters; copy it again from "
            "https://replicate.com/account/api-tokens."
        )
    return token


def _flag(parse: Callable[[str], _T]) -> Callable[[str], _T]:
    """`parse` as an argparse type, so its message shows as "argument --port: must be ..."."""

    def convert(text: str) -> _T:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    convert.__name__ = parse.__name__.lstrip("_")
    return convert
