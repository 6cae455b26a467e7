"""Optional login for a shared app, through Gradio's own `launch(auth=...)`.

Credentials come from `--auth user:password` (repeatable), IMAGEN_UI_AUTH ("user:pass,user2:pass2")
or an auth file (one `user:password` a line; `#` comment lines and blank lines are skipped). A
password may contain ':' (the line is split on the first one); surrounding spaces are ignored.

No message here ever quotes a password, or a user name (a line with the parts swapped would put the
password there): errors name the line or entry number only.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

Credential = tuple[str, str]
SHAPE = "user:password with neither part empty"
MAX_FILE_BYTES = 2**20


class CredentialsError(ValueError):
    """A malformed credential; the message says where (line or entry number), never what."""


def parse_credential(text: str) -> Credential:
    """`user:password` -> (user, password); ValueError (without the text) when malformed."""
    user, colon, password = text.partition(":")
    user, password = user.strip(), password.strip()
    if not colon or not user or not password:
        raise CredentialsError(f"must be {SHAPE}")
    if not user.isprintable() or not password.isprintable():
        raise CredentialsError("must not contain control characters")
    return user, password


def parse_credential_list(text: str) -> tuple[Credential, ...]:
    """IMAGEN_UI_AUTH's "user:pass,user2:pass2" (so passwords there cannot contain ',')."""
    numbered = []
    try:
        for number, entry in enumerate(text.split(","), start=1):
            try:
                numbered.append((number, parse_credential(entry)))
            except CredentialsError as error:
                raise CredentialsError(f"entry {number} {error} (entries are separated by commas)") from None
        return _unique(numbered, "entry")
    except CredentialsError as error:
        # Read after the variable's name: "IMAGEN_UI_AUTH in the environment is not valid: entry 2 ..."
        raise CredentialsError(f"is not valid: {error}") from None


def read_auth_file(path: str | Path) -> tuple[Credential, ...]:
    """The credentials in an auth file. CredentialsError names the bad line; OSError if unreadable."""
    with Path(path).open("rb") as file:  # read with a bound: a device or a huge file is no auth file
        raw = file.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise CredentialsError(f"is larger than {MAX_FILE_BYTES // 2**20} MiB; it should hold user:password lines")
    text = raw.decode("utf-8-sig")  # -sig: a BOM from Notepad is not part of a name
    numbered: list[tuple[int, Credential]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            numbered.append((number, parse_credential(line)))
        except CredentialsError as error:
            raise CredentialsError(f"line {number} {error}") from None
    if not numbered:
        raise CredentialsError(f"holds no {SHAPE} line")
    return _unique(numbered, "line")


def combine(*groups: Iterable[Credential]) -> tuple[Credential, ...]:
    """All credentials of several sources; a user given twice is an error, not a silent pick of one."""
    merged = [credential for group in groups for credential in group]
    if len({user for user, _ in merged}) != len(merged):
        raise CredentialsError("the same user name is given twice (--auth, IMAGEN_UI_AUTH, auth file)")
    return tuple(merged)


def _unique(numbered: list[tuple[int, Credential]], unit: str) -> tuple[Credential, ...]:
    first_seen: dict[str, int] = {}
    for number, (user, _) in numbered:
        if user in first_seen:
            raise CredentialsError(f"{unit} {number} repeats the user name of {unit} {first_seen[user]}")
        first_seen[user] = number
    return tuple(credential for _, credential in numbered)
