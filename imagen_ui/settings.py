"""Settings: one frozen object from CLI flags > environment > .env file > defaults.

Each setting is declared once, on its field of `Settings`: its default, flag, environment variable,
parser and help. The argparse parser (`build_arg_parser`), the reading of the environment and `.env`
(`load_settings`) and the dataclass's defaults all come from those declarations, so a new setting is
one new field with `declared(...)` (and a sample of it in tests/test_config.py's SAMPLES, which the
tests ask for). Only the rules that tie settings together (public mode follows the share link, a
Space is always public, ...) are written out, in `load_settings`.

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
from typing import Any, Literal, TypeVar
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
# Imagen 4 first (Google retired it on its own API in 2026; the page then opens on the first model
# Replicate still serves), then the image models people use today, which take reference images.
DEFAULT_MODELS = ("google/imagen-4-fast", "google/imagen-4-ultra", "google/imagen-4", "google/nano-banana-pro",
                  "google/nano-banana-2", "bytedance/seedream-4.5", "black-forest-labs/flux-2-pro",
                  "black-forest-labs/flux-kontext-pro")
DEFAULT_HISTORY_DIR = Path("outputs")
TokenSource = Literal["environment", ".env"]
Source = Literal["flag", "environment", ".env", "default"]
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_T = TypeVar("_T")


class SettingsError(ValueError):
    """A setting from the environment or `.env` is malformed; the message names it and says why."""


# Each parser takes the raw text and returns the value, or raises ValueError with the end of a
# sentence that starts with the flag or variable name ("argument --port: ...", "GRADIO_SERVER_PORT
# in the environment ...").


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


def _parse_limit(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"must be a whole number, 0 or more (0 means no limit) (got {text!r})")
    return value


def _parse_budget(text: str) -> float | None:
    """Dollars, "5", "12.50" or "$5"; 0 means no limit (None)."""
    try:
        value = float(text.strip().removeprefix("$").replace(",", ""))
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and 0 <= value <= 1_000_000):
        raise ValueError(f"must be a number of US dollars, e.g. 5 or 12.50, 0 for no limit (got {text!r})")
    return value or None


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
    if "\x00" in text:  # no system opens such a path; refused here, not as a traceback later
        raise ValueError(f"must be a file or folder path (got {text!r})")
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


def _clean_token(text: str) -> str | None:
    """The token without surrounding whitespace or quotes; None when that leaves nothing."""
    token = text.strip().strip("\"'").strip()
    if not token:
        return None
    if any(ch.isspace() or not ch.isprintable() or not ch.isascii() for ch in token):
        # The token itself is never quoted back.
        raise ValueError(
            "contains spaces, control or non-ASCII characters; copy it again from "
            "https://replicate.com/account/api-tokens."
        )
    return token


# --- declarations ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Declared:
    """Where one setting comes from and how it reads; `Settings`' fields carry these (see `declared`).

    `parse` reads the environment's (and `.env`'s) text, and the flag's unless `flag_parse` is given;
    it returns the value or raises ValueError (see the parsers above). A `switch` is a `--x/--no-x`
    flag; a `repeat` flag may be given several times (its values make a tuple). A `secret` has no
    flag and never shows in `repr()`. The help text gets "(env VAR; default D; note)" appended:
    `shown_default` replaces the default's own text, "" leaves it out.
    """

    name: str = ""  # the field's (filled in from the dataclass)
    default: Any = None  # the field's (filled in from the dataclass)
    flag: str | None = None
    env: str | None = None
    parse: Callable[[str], Any] | None = None
    flag_parse: Callable[[str], Any] | None = None
    switch: bool = False
    repeat: bool = False
    secret: bool = False
    metavar: str | None = None
    help: str = ""
    shown_default: str | None = None
    note: str | None = None
    env_example: str | None = None

    def __post_init__(self) -> None:
        if self.flag is None and self.env is None:
            raise TypeError(f"setting {self.name or '?'} has neither a flag nor an environment variable")
        if self.secret and self.flag is not None:
            raise TypeError(f"setting {self.name or '?'} is secret: flags show up in ps, it needs no flag")
        if self.parse is None and (self.env is not None or not self.switch):
            raise TypeError(f"setting {self.name or '?'} needs `parse` to read its text")

    def help_text(self, *, name_env: bool = True) -> str:
        """The help with where else the value comes from and its default: "... (env VAR; default D)"."""
        parts = []
        if self.env and name_env:
            parts.append(f'env {self.env}="{self.env_example}"' if self.env_example else f"env {self.env}")
        shown = _shown(self.default) if self.shown_default is None else self.shown_default
        if shown:
            parts.append(f"default {shown}")
        if self.note:
            parts.append(self.note)
        return f"{self.help} ({'; '.join(parts)})" if parts else self.help


_DECLARED = "imagen_ui.settings"  # the key of a field's Declared in its metadata


def declared(default: Any, *, flag: str | None = None, env: str | None = None, help: str,
             repr: bool = True, **how: Any) -> Any:
    """A `Settings` field with its declaration (see `Declared` for the keywords)."""
    declaration = Declared(default=default, flag=flag, env=env, help=help, **how)
    return dataclasses.field(default=default, repr=repr and not declaration.secret,
                             metadata={_DECLARED: declaration})


@dataclass(frozen=True, repr=False)
class Settings:
    """Everything the app is configured by. Build it with `load_settings`."""

    host: str = declared(
        "127.0.0.1", flag="--host", env="GRADIO_SERVER_NAME", parse=_parse_host,
        help="address to listen on")
    port: int = declared(
        7860, flag="--port", env="GRADIO_SERVER_PORT", parse=_parse_port,
        help="port to listen on, 1-65535")
    share: bool = declared(
        False, flag="--share", env="GRADIO_SHARE", parse=_is_true, switch=True,
        help="also serve on a public gradio.live link")
    offline: bool = declared(
        False, flag="--offline", env="IMAGEN_UI_OFFLINE", parse=_is_true, switch=True,
        help="use the built-in emulator instead of Replicate, even with a token")
    # The model the page opens with.
    model: str = declared(
        DEFAULT_MODEL, flag="--model", env="IMAGEN_UI_MODEL", parse=_parse_model, metavar="OWNER/NAME",
        help="Replicate model")
    # The models the page offers (the picker and Compare); load_settings adds `model` if missing.
    models: tuple[str, ...] = declared(
        DEFAULT_MODELS, flag="--models", env="IMAGEN_UI_MODELS", parse=_parse_models, metavar="A/B,C/D",
        help="comma-separated models offered in the page's picker and Compare; --model is added if missing")
    history_dir: Path = declared(  # noqa: RUF009 (declared() returns a dataclasses.field)
        DEFAULT_HISTORY_DIR, flag="--history-dir", env="IMAGEN_UI_HISTORY_DIR", parse=_parse_path,
        metavar="DIR", help="where images and the history index are kept")
    api_base: str | None = declared(  # e.g. "https://api.replicate.com", without /v1
        None, flag="--api-base", env="REPLICATE_BASE_URL", parse=_parse_api_base, metavar="URL",
        help="Replicate API base URL, e.g. http://127.0.0.1:8787", shown_default="https://api.replicate.com")
    token: str | None = declared(
        None, env="REPLICATE_API_TOKEN", parse=_clean_token, secret=True,
        help="the Replicate API token, never read from a flag (flags show up in ps)")
    analytics: bool = declared(
        False, env="GRADIO_ANALYTICS_ENABLED", parse=_is_true,
        help="true lets Gradio send its usage analytics")
    max_in_flight: int = 96  # predictions in flight at once, all visitors together
    max_images: int = 4  # images one Generate may ask for
    # Strangers use the app: per-visitor history and quotas. Unless given, load_settings follows
    # `share`; a Space is always public.
    public: bool = declared(
        False, flag="--public", env="IMAGEN_UI_PUBLIC", parse=_parse_switch, switch=True,
        help="strangers use this app: each visitor sees only their own history and the quotas apply",
        shown_default="on with --share and always on a Hugging Face Space, where --no-public is ignored")
    # Per visitor, on the host's token, public mode only; 0 = no limit.
    quota_images_per_hour: int = declared(
        20, flag="--quota-images-per-hour", env="IMAGEN_UI_QUOTA_IMAGES_PER_HOUR", parse=_parse_limit,
        metavar="N", note="public mode only, off on a local run whatever is set",
        help="images each visitor may make per hour on the host's token, 0 = unlimited")
    quota_concurrent: int = declared(
        2, flag="--quota-concurrent", env="IMAGEN_UI_QUOTA_CONCURRENT", parse=_parse_limit,
        metavar="N", note="public mode only, off on a local run whatever is set",
        help="generations each visitor may run at once on the host's token, 0 = unlimited")
    # The app's own public base URL (for webhooks); unless given, a Space's address.
    public_url: str | None = declared(
        None, flag="--public-url", env="IMAGEN_UI_PUBLIC_URL", parse=_parse_public_url, metavar="URL",
        help="this app's own public base URL, e.g. https://you-imagen.hf.space, for webhooks",
        shown_default="on a Space: its address")
    # Gradio login, if any; load_settings adds the users of --auth-file (AUTH_FILE below).
    auth: tuple[Credential, ...] = declared(
        (), flag="--auth", env="IMAGEN_UI_AUTH", parse=parse_credential_list, flag_parse=parse_credential,
        repeat=True, metavar="USER:PASSWORD", env_example="user:pass,user2:pass2", repr=False,
        help="require a login; repeat for more users. Flags are visible to other users of this machine "
        "(ps): prefer --auth-file")
    mcp: bool = declared(
        False, flag="--mcp", env="IMAGEN_UI_MCP", parse=_parse_switch, switch=True,
        help="also serve the playground as an MCP server: tools for AI assistants")
    # Dollars a UTC day of images on the host's token, all visitors together; None = no limit.
    daily_budget: float | None = declared(
        None, flag="--daily-budget", env="IMAGEN_UI_DAILY_BUDGET", parse=_parse_budget, metavar="USD",
        shown_default="no limit", note="visitors with their own token are not counted",
        help="dollars a day (UTC) that images on the host's token may cost, all visitors together, "
        "estimated from a bundled price table; 0 = no limit")
    # Proxies whose X-Forwarded-For names the visitor: addresses or networks, "*" for any peer.
    trusted_proxies: tuple[str, ...] = declared(
        (), flag="--trusted-proxies", env="IMAGEN_UI_TRUSTED_PROXIES", parse=_parse_proxies,
        metavar="ADDR,NET",
        help="proxies whose X-Forwarded-For header names the visitor, e.g. 127.0.0.1 for a reverse proxy "
        "on this machine, or * for any (as uvicorn's --forwarded-allow-ips); without it, every visitor "
        "behind such a proxy looks like one address")
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


# Inputs that are no setting of their own: load_settings folds each into a setting.
AUTH_FILE = Declared(  # its users join `auth`
    name="auth_file", flag="--auth-file", env="IMAGEN_UI_AUTH_FILE", parse=_parse_path, metavar="PATH",
    help="require a login for the users in this file: one user:password a line, # comments")
INPUTS = (AUTH_FILE,)


def declarations() -> tuple[Declared, ...]:
    """Every setting's declaration, in `--help` order."""
    kept = tuple(
        dataclasses.replace(field.metadata[_DECLARED], name=field.name, default=field.default)
        for field in dataclasses.fields(Settings)
        if _DECLARED in field.metadata
    )
    return (*kept, *INPUTS)


def build_arg_parser() -> argparse.ArgumentParser:
    """The parser for `python app.py [flags]`; every flag's help names the variable it overrides."""
    env_only = [d for d in declarations() if d.flag is None]
    parser = argparse.ArgumentParser(
        prog="app.py",
        description="A browser playground for text-to-image models on Replicate.",
        epilog="Read from the environment or a .env file in the working directory only: "
        + "; ".join(f"{d.env}, {d.help_text(name_env=False)}" for d in env_only)
        + ". Flags override environment variables, which override .env. "
        "Public mode (--public, --share, or a Hugging Face Space) gives each visitor their own history and "
        "applies the quotas to images paid by the host's token; a local run has no quotas.",
    )
    for d in declarations():
        if d.flag is None:
            continue
        if d.switch:
            parser.add_argument(d.flag, dest=d.name, action=argparse.BooleanOptionalAction, default=None,
                                help=d.help_text())
        else:
            parse = d.flag_parse or d.parse
            assert parse is not None
            parser.add_argument(d.flag, dest=d.name, type=_flag(parse), metavar=d.metavar, default=None,
                                action="append" if d.repeat else "store", help=d.help_text())
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
    real_environ = os.environ if environ is None else environ
    layers: list[tuple[TokenSource, Mapping[str, str | None]]] = [("environment", real_environ)]
    if dotenv_path is not None:
        # Literal values: no ${VAR} expansion, which would read os.environ and could mangle a token.
        layers.append((".env", dotenv_values(stream=io.StringIO(_read_dotenv(Path(dotenv_path))),
                                             interpolate=False)))

    values: dict[str, Any] = {}
    sources: dict[str, Source] = {}
    for d in declarations():
        values[d.name], sources[d.name] = _read(d, getattr(args, d.name, None), layers)

    # The rules that tie settings together, and the facts about the host.
    # Only the real environment says this is a Space, never .env.
    on_spaces = (real_environ.get("SYSTEM") or "").strip() == "spaces"
    if sources["public"] == "default":
        values["public"] = values["share"]  # an explicit --public/--no-public wins over the share link's
    if sources["public_url"] == "default" and on_spaces:
        values["public_url"] = _space_url(real_environ.get("SPACE_HOST"))
    if values["model"] not in values["models"]:
        values["models"] = (values["model"], *values["models"])
    values["auth"] = _load_auth(values["auth"], values.pop(AUTH_FILE.name))
    token_source = sources["token"] if values["token"] else None
    return Settings(**values, _token_source=token_source, _on_spaces=on_spaces)  # type: ignore[arg-type]


def _read(declaration: Declared, flag_value: Any,
          layers: Sequence[tuple[TokenSource, Mapping[str, str | None]]]) -> tuple[Any, Source]:
    """One setting's value and where it came from: the flag, else the first layer with a non-blank
    value, else the default."""
    if flag_value is not None:
        return (tuple(flag_value) if declaration.repeat else flag_value), "flag"
    if declaration.env is not None:
        for source, values in layers:
            text = values.get(declaration.env)
            if text is None or not text.strip():
                continue
            assert declaration.parse is not None
            try:
                return declaration.parse(text), source
            except ValueError as error:
                where = "the environment" if source == "environment" else ".env"
                raise SettingsError(f"{declaration.env} in {where} {error}") from None
    return declaration.default, "default"


def _shown(default: Any) -> str:
    """A default as `--help` shows it; "" for none."""
    if default is None or default is False or default == ():
        return ""
    if isinstance(default, tuple):
        return ",".join(map(str, default))
    return str(default)


MAX_DOTENV_BYTES = 2**20


def _read_dotenv(path: Path) -> str:
    """The .env file's text ("" when there is none), read with a bound: settings, not a data file."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_DOTENV_BYTES + 1)
    except (FileNotFoundError, IsADirectoryError):
        return ""
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise SettingsError(f"The .env file {path} cannot be read ({reason}).") from None
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


def _space_url(space_host: str | None) -> str | None:
    """A Space's own address from SPACE_HOST (a comma-separated list when it has a custom domain)."""
    host = (space_host or "").split(",")[0].strip()
    try:
        return _parse_public_url(f"https://{host}") if host else None
    except ValueError:
        return None


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
