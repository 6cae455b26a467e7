"""Settings: one frozen object from CLI flags > environment > .env file > defaults.

The token is read only from the environment or `.env`, never from a flag (flags show up in `ps`),
and neither it nor a login password ever appears in `repr()`/`str()` of the settings.

Public mode (`--public`, a share link, a Hugging Face Space) means strangers use the host's Replicate
account: each sees only their own history, and the per-visitor quotas apply (see imagen_ui.public.quota).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import ipaddress
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import urlsplit

from dotenv import dotenv_values

from imagen_ui.credentials import (
    Credential,
    CredentialsError,
    combine,
    parse_credential,
    parse_credential_list,
    read_auth_file,
)
from imagen_ui.schema import MODEL_ID

DEFAULT_MODEL = "google/imagen-4-fast"
DEFAULT_MODELS = ("google/imagen-4-fast", "google/imagen-4-ultra", "google/imagen-4")
TokenSource = Literal["environment", ".env"]
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
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
    # The models the page offers (the picker and Compare); `model` is the one it opens with.
    models: tuple[str, ...] = DEFAULT_MODELS
    history_dir: Path = Path("outputs")
    api_base: str | None = None  # e.g. "https://api.replicate.com", without /v1
    token: str | None = dataclasses.field(default=None, repr=False)
    analytics: bool = False
    max_in_flight: int = 96  # predictions in flight at once, all visitors together
    max_images: int = 4  # images one Generate may ask for
    public: bool = False  # strangers use the app: per-visitor history and quotas
    quota_images_per_hour: int = 20  # per visitor, on the host's token, public mode only; 0 = no limit
    quota_concurrent: int = 2  # generations at once per visitor, same conditions; 0 = no limit
    auth: tuple[Credential, ...] = dataclasses.field(default=(), repr=False)  # Gradio login, if any
    public_url: str | None = None  # the app's own public base URL (for webhooks)
    daily_budget: float | None = None  # dollars a UTC day of images on the host's token; None = no limit
    # Proxies whose X-Forwarded-For names the visitor: addresses or networks, "*" for any peer.
    trusted_proxies: tuple[str, ...] = ()
    _token_source: TokenSource | None = dataclasses.field(default=None, repr=False, compare=False)
    _on_spaces: bool = dataclasses.field(default=False, repr=False)

    def __post_init__(self) -> None:
        if self._on_spaces and not self.public:
            # A Space is reachable by anyone who has its address: always public.
            object.__setattr__(self, "public", True)

    @property
    def on_spaces(self) -> bool:
        """True when running as a Hugging Face Space (env SYSTEM=spaces)."""
        return self._on_spaces

    @property
    def offered_models(self) -> tuple[str, ...]:
        """The models the page offers, the one it opens with first."""
        return tuple(dict.fromkeys((self.model, *self.models)))

    @property
    def quotas_active(self) -> bool:
        """True when quotas guard the host's money: public mode with images from Replicate (not the
        offline emulator). A visitor's own token is exempt too, but that is decided per request."""
        return self.public and not self.use_emulator

    @property
    def budget_active(self) -> bool:
        """True when a daily budget guards the host's token (images from Replicate, not the emulator)."""
        return bool(self.daily_budget) and not self.use_emulator

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
        shown.append(f"auth={len(self.auth)} user{'' if len(self.auth) == 1 else 's'}" if self.auth else "auth=off")
        if self.on_spaces:
            shown.append("on_spaces=True")
        return f"Settings({', '.join(shown)})"

    __str__ = __repr__


def build_arg_parser() -> argparse.ArgumentParser:
    """The parser for `python app.py [flags]`; every flag's help names the variable it overrides."""
    parser = argparse.ArgumentParser(
        prog="app.py",
        description="A browser playground for text-to-image models on Replicate.",
        epilog="The API token is read from REPLICATE_API_TOKEN (environment or a .env file in the working "
        "directory), never from a flag. Flags override environment variables, which override .env. "
        "Public mode (--public, --share, or a Hugging Face Space) gives each visitor their own history and "
        "applies the quotas to images paid by the host's token; a local run has no quotas.",
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
    flag("--models", type=_flag(_parse_models), metavar="A/B,C/D",
         help="comma-separated models offered in the page's picker and Compare (env IMAGEN_UI_MODELS; "
         f"default {','.join(DEFAULT_MODELS)}); --model is added if missing")
    flag("--history-dir", type=_flag(_parse_dir), metavar="DIR",
         help="where images and the history index are kept (env IMAGEN_UI_HISTORY_DIR; default outputs)")
    flag("--api-base", type=_flag(_parse_api_base), metavar="URL",
         help="Replicate API base URL, e.g. http://127.0.0.1:8787 "
         "(env REPLICATE_BASE_URL; default https://api.replicate.com)")
    flag("--public", action=argparse.BooleanOptionalAction, default=None,
         help="strangers use this app: each visitor sees only their own history and the quotas apply "
         "(env IMAGEN_UI_PUBLIC; default on with --share and always on a Hugging Face Space, "
         "where --no-public is ignored)")
    flag("--quota-images-per-hour", type=_flag(_parse_limit), metavar="N",
         help="images each visitor may make per hour on the host's token, 0 = unlimited "
         "(env IMAGEN_UI_QUOTA_IMAGES_PER_HOUR; default 20; public mode only, off on a local run "
         "whatever is set)")
    flag("--quota-concurrent", type=_flag(_parse_limit), metavar="N",
         help="generations each visitor may run at once on the host's token, 0 = unlimited "
         "(env IMAGEN_UI_QUOTA_CONCURRENT; default 2; public mode only, off on a local run "
         "whatever is set)")
    flag("--daily-budget", type=_flag(_parse_budget), metavar="USD",
         help="dollars a day (UTC) that images on the host's token may cost, all visitors together, "
         "estimated from a bundled price table; 0 = no limit (env IMAGEN_UI_DAILY_BUDGET; default no limit; "
         "visitors with their own token are not counted)")
    flag("--trusted-proxies", type=_flag(_parse_proxies), metavar="ADDR,NET",
         help="proxies whose X-Forwarded-For header names the visitor, e.g. 127.0.0.1 for a reverse proxy "
         "on this machine, or * for any (as uvicorn's --forwarded-allow-ips); without it, every visitor "
         "behind such a proxy looks like one address (env IMAGEN_UI_TRUSTED_PROXIES)")
    flag("--auth", type=_flag(parse_credential), action="append", metavar="USER:PASSWORD",
         help="require a login; repeat for more users (env IMAGEN_UI_AUTH=\"user:pass,user2:pass2\"). "
         "Flags are visible to other users of this machine (ps): prefer --auth-file")
    flag("--auth-file", type=_flag(_parse_path), metavar="PATH",
         help="require a login for the users in this file: one user:password a line, # comments "
         "(env IMAGEN_UI_AUTH_FILE)")
    flag("--public-url", type=_flag(_parse_public_url), metavar="URL",
         help="this app's own public base URL, e.g. https://you-imagen.hf.space, for webhooks "
         "(env IMAGEN_UI_PUBLIC_URL; default on a Space: its address)")
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
        layers.append((".env", dotenv_values(stream=io.StringIO(_read_dotenv(Path(dotenv_path))),
                                             interpolate=False)))

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
    # A fact about the host, not a setting: only the real environment says so, never .env.
    on_spaces = (layers[0][1].get("SYSTEM") or "").strip() == "spaces"
    share = setting(args.share, "GRADIO_SHARE", _is_true, Settings.share)
    # An explicit --public/--no-public (or IMAGEN_UI_PUBLIC) wins over the share link's default.
    public = on_spaces or setting(args.public, "IMAGEN_UI_PUBLIC", _parse_switch, share)
    space_url = _space_url(layers[0][1].get("SPACE_HOST")) if on_spaces else None
    model = setting(args.model, "IMAGEN_UI_MODEL", _parse_model, Settings.model)
    models = setting(args.models, "IMAGEN_UI_MODELS", _parse_models, Settings.models)
    return Settings(
        host=setting(args.host, "GRADIO_SERVER_NAME", _parse_host, Settings.host),
        port=setting(args.port, "GRADIO_SERVER_PORT", _parse_port, Settings.port),
        share=share,
        offline=setting(args.offline, "IMAGEN_UI_OFFLINE", _is_true, Settings.offline),
        model=model,
        models=models if model in models else (model, *models),
        history_dir=setting(args.history_dir, "IMAGEN_UI_HISTORY_DIR", _parse_dir, Settings.history_dir),
        api_base=setting(args.api_base, "REPLICATE_BASE_URL", _parse_api_base, None),
        token=token,
        analytics=setting(None, "GRADIO_ANALYTICS_ENABLED", _is_true, Settings.analytics),
        public=public,
        quota_images_per_hour=setting(args.quota_images_per_hour, "IMAGEN_UI_QUOTA_IMAGES_PER_HOUR",
                                      _parse_limit, Settings.quota_images_per_hour),
        quota_concurrent=setting(args.quota_concurrent, "IMAGEN_UI_QUOTA_CONCURRENT", _parse_limit,
                                 Settings.quota_concurrent),
        auth=_load_auth(
            setting(tuple(args.auth or ()) or None, "IMAGEN_UI_AUTH", parse_credential_list, ()),
            setting(args.auth_file, "IMAGEN_UI_AUTH_FILE", _parse_path, None),
        ),
        public_url=setting(args.public_url, "IMAGEN_UI_PUBLIC_URL", _parse_public_url, space_url),
        daily_budget=setting(args.daily_budget, "IMAGEN_UI_DAILY_BUDGET", _parse_budget, None) or None,
        trusted_proxies=setting(args.trusted_proxies, "IMAGEN_UI_TRUSTED_PROXIES", _parse_proxies, ()),
        _token_source=token_source,
        _on_spaces=on_spaces,
    )


MAX_DOTENV_BYTES = 2**20


def _read_dotenv(path: Path) -> str:
    """The .env file's text ("" when there is none), read with a bound: settings, not a data file."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_DOTENV_BYTES + 1)
    except (FileNotFoundError, IsADirectoryError):
        return ""
    except OSError as error:
        raise SettingsError(f"The .env file {path} cannot be read ({error.strerror or type(error).__name__}).") from None
    if len(raw) > MAX_DOTENV_BYTES:
        raise SettingsError(f"The .env file {path} is larger than 1 MiB; it should hold a few NAME=value lines.")
    return raw.decode("utf-8", errors="replace")


def _load_auth(inline: tuple[Credential, ...], auth_file: Path | None) -> tuple[Credential, ...]:
    """Inline credentials plus the auth file's. Errors name a line or entry, never a password."""
    from_file: tuple[Credential, ...] = ()
    if auth_file is not None:
        try:
            from_file = read_auth_file(auth_file)
        except CredentialsError as error:
            raise SettingsError(f"The auth file {auth_file}: {error}.") from None
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else type(error).__name__
            raise SettingsError(f"The auth file {auth_file} cannot be read ({reason}).") from None
    try:
        return combine(inline, from_file)
    except CredentialsError as error:
        raise SettingsError(f"Login users: {error}.") from None


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


def _parse_models(text: str) -> tuple[str, ...]:
    models = tuple(dict.fromkeys(_parse_model(part) for part in text.split(",") if part.strip()))
    if not models:
        raise ValueError("must name at least one model, e.g. google/imagen-4-fast")
    return models


def _parse_dir(text: str) -> Path:
    return _parse_path(text)


def _parse_limit(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"must be a whole number, 0 or more (0 means no limit) (got {text!r})")
    return value


def _parse_budget(text: str) -> float:
    try:
        value = float(text.strip().removeprefix("$").replace(",", ""))
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and 0 <= value <= 1_000_000):
        raise ValueError(f"must be a number of US dollars, e.g. 5 or 12.50, 0 for no limit (got {text!r})")
    return value


def _parse_proxies(text: str) -> tuple[str, ...]:
    proxies = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part != "*":
            try:
                part = str(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError("must be addresses or networks separated by commas, e.g. 127.0.0.1 or "
                                 f"10.0.0.0/8, or * for any (got {text!r})") from None
        proxies.append(part)
    if not proxies:
        raise ValueError("must name at least one address, network or *")
    return tuple(dict.fromkeys(proxies))


def _parse_path(text: str) -> Path:
    return Path(text.strip()).expanduser()


def _parse_switch(text: str) -> bool:
    """Strict, unlike _is_true: a typo must not quietly turn public mode (and its quotas) off."""
    word = text.strip().lower()
    if word not in _TRUE | _FALSE:
        raise ValueError(f"must be true or false (got {text!r})")
    return word in _TRUE


def _parse_api_base(text: str) -> str:
    url = _parse_http_url(text, example="https://api.replicate.com")
    # The official Python client's base URL has no /v1 (it adds it); forgive the JS client's habit.
    return url.removesuffix("/v1")


def _parse_public_url(text: str) -> str:
    return _parse_http_url(text, example="https://you-imagen.hf.space")


def _space_url(space_host: str | None) -> str | None:
    """A Space's own address from SPACE_HOST (a comma-separated list when it has a custom domain)."""
    host = (space_host or "").split(",")[0].strip()
    try:
        return _parse_public_url(f"https://{host}") if host else None
    except ValueError:
        return None


def _parse_http_url(text: str, *, example: str) -> str:
    url = text.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        # Not echoed: it holds a password.
        raise ValueError("must not contain a user name or password")
    try:
        parts.port  # noqa: B018 (raises ValueError for a bad port)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        valid = valid and not parts.query and not parts.fragment
        valid = valid and not any(ch.isspace() or not ch.isprintable() for ch in url)
    except ValueError:
        valid = False
    if not valid:
        raise ValueError(f"must be an http:// or https:// URL with a host, e.g. {example} (got {text!r})")
    return url


def _is_true(text: str) -> bool:
    return text.strip().lower() in _TRUE


def _clean_token(text: str, source: str) -> str | None:
    """The token without surrounding whitespace or quotes; None when that leaves nothing."""
    token = text.strip().strip("\"'").strip()
    if not token:
        return None
    if any(ch.isspace() or not ch.isprintable() or not ch.isascii() for ch in token):
        where = "the environment" if source == "environment" else ".env"
        # The token itself is never quoted back.
        raise SettingsError(
            f"REPLICATE_API_TOKEN in {where} contains spaces, control or non-ASCII characters; copy it "
            "again from https://replicate.com/account/api-tokens."
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


def gradio_auth(settings: Settings) -> list[Credential] | None:
    """What to pass as `demo.launch(auth=...)`: the (user, password) list, or None for no login.

    A list (not a callable) lets Gradio compare passwords itself, in constant time (hmac.compare_digest).
    """
    return list(settings.auth) or None
