"""A batch's prompts from what a person pasted or dropped: one prompt a line, or a CSV with a `prompt`
column and other columns named after the model's inputs. Every row is checked against the model's
schema here, so a batch with a bad line is refused, by line number, before anything is sent.

Pure: text and bytes in, validated rows (or `schema.InvalidRequest`) out. Linear in the input's size,
which is bounded (MAX_FILE_BYTES, MAX_ROWS): public mode's visitors can drop anything here.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from imagen_ui.schema import InvalidRequest, ModelSchema, Problem

MAX_ROWS = 500  # prompts in one batch
MAX_FILE_BYTES = 1024 * 1024
MAX_TEXT_CHARS = 1_000_000
MAX_PROBLEMS = 12  # lines reported at once; the rest are counted
TEXT_SUFFIXES = (".txt", ".csv")
_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})
# A placeholder prompt, to check the batch's shared settings once rather than on every line.
_SETTINGS_PROBE = "settings check"


@dataclass(frozen=True)
class _Record:
    """A line (or CSV record) as read: its number, its cells by input name, what is wrong with its shape."""

    line: int
    cells: dict[str, Any]
    problem: str | None = None


@dataclass(frozen=True)
class BatchRow:
    """One prompt of a batch: where it was (1-based line of the text or file) and the model input
    to send for it (the prompt, the batch's settings, and the row's own cells over them)."""

    line: int
    inputs: Mapping[str, Any]

    @property
    def prompt(self) -> str:
        return str(self.inputs.get("prompt", ""))


def parse_batch(
    schema: ModelSchema,
    settings: Mapping[str, Any],
    *,
    text: str | None = None,
    file_name: str | None = None,
    file_data: bytes | None = None,
    max_rows: int = MAX_ROWS,
) -> list[BatchRow]:
    """The batch's rows, in order, or InvalidRequest naming every bad line (up to MAX_PROBLEMS).

    `settings` are the model's other inputs as the form has them (blank ones are left to the
    model); a CSV cell overrides its column's setting for that row. Empty lines are skipped. Either
    `text` (pasted: one prompt a line) or a file (`file_name` + `file_data`: .txt or .csv), not both.
    """
    pasted = text if isinstance(text, str) and text.strip() else None
    if pasted is not None and file_data is not None:
        raise InvalidRequest.single("prompts", "Paste prompts or drop a file, not both: clear one of them.")
    settings = {k: v for k, v in settings.items() if k != "prompt"}
    _check_settings(schema, settings)
    if file_data is not None:
        suffix, decoded = _read_file(file_name, file_data)
        records = _csv_records(schema, decoded) if suffix == ".csv" else _lines(decoded)
    elif pasted is not None:
        if len(pasted) > MAX_TEXT_CHARS:
            raise InvalidRequest.single(
                "prompts", f"The pasted text is {len(pasted):,} characters long; the limit is {MAX_TEXT_CHARS:,}.")
        records = _lines(pasted)
    else:
        raise InvalidRequest.single("prompts", "Paste some prompts (one a line) or drop a .txt or .csv file.")
    return _validate(schema, settings, records, max_rows)


def _check_settings(schema: ModelSchema, settings: Mapping[str, Any]) -> None:
    """The shared settings, checked once: a bad one is said once, not on every line."""
    try:
        schema.validate({**settings, "prompt": _SETTINGS_PROBE})
    except InvalidRequest as error:
        raise InvalidRequest([Problem(p.field, f"Settings: {p.message}") for p in error.problems]) from None


def _read_file(name: str | None, data: bytes) -> tuple[str, str]:
    """(suffix, text) of a dropped file, or InvalidRequest when it is not a text file we read."""
    shown = PurePath(name or "the file").name
    suffix = PurePath(shown).suffix.lower()
    if suffix not in TEXT_SUFFIXES:
        raise InvalidRequest.single(
            "file", f"{shown} is not a .txt or .csv file. Drop a text file with one prompt a line, "
            "or a CSV file with a prompt column.")
    if len(data) > MAX_FILE_BYTES:
        raise InvalidRequest.single(
            "file", f"{shown} is {len(data) / 1024 / 1024:.1f} MB; a batch file may be at most "
            f"{MAX_FILE_BYTES // 1024 // 1024} MB.")
    if b"\x00" in data:
        raise InvalidRequest.single("file", f"{shown} is not a text file (it holds binary data).")
    try:
        decoded = data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a BOM
    except UnicodeDecodeError as error:
        raise InvalidRequest.single(
            "file", f"{shown} is not UTF-8 text (byte {error.start + 1} is not). Save it as UTF-8 "
            "(\"CSV UTF-8\" in Excel) and drop it again.") from None
    return suffix, decoded


def _lines(text: str) -> list[_Record]:
    """A record of {"prompt": line} for every line that is not blank."""
    return [_Record(number, {"prompt": line}) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _csv_records(schema: ModelSchema, text: str) -> list[_Record]:
    """Every non-blank record, numbered by the line it starts on, its cells by input name."""
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        while header is not None and not any(cell.strip() for cell in header):
            header = next(reader, None)  # blank lines before the header
        if header is None:
            raise InvalidRequest.single("file", "The CSV file is empty: it needs a header line with a prompt column.")
        header_line = reader.line_num
        columns = _columns(schema, header)
        records = []
        start = reader.line_num + 1
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) > len(columns):
                records.append(_Record(line, {}, f"it has {len(cells)} cells but the header has "
                                                 f"{len(columns)} columns."))
                continue
            records.append(_Record(line, {name: cell for name, cell in zip(columns, cells) if cell.strip()}))
    except csv.Error as error:
        line = reader.line_num or 1
        raise InvalidRequest.single("file", f"Line {line}: the CSV cannot be read ({error}).") from None
    if header_line and not records:
        raise InvalidRequest.single("file", "The CSV file has a header but no prompts under it.")
    return records


def _columns(schema: ModelSchema, header: list[str]) -> list[str]:
    """The header's cells as input names (case and spaces forgiven), or InvalidRequest."""
    by_folded = {name.casefold(): name for name in schema.names}
    columns, unknown = [], []
    for cell in header:
        folded = cell.strip().casefold().replace(" ", "_")
        name = by_folded.get(folded)
        if name is None:
            unknown.append(cell.strip() or "(blank)")
        columns.append(name or "")
    if unknown:
        known = ", ".join(schema.names)
        raise InvalidRequest.single(
            "file", f"The CSV's columns {', '.join(repr(u) for u in unknown)} are not inputs of "
            f"{schema.model}; its inputs are: {known}.")
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise InvalidRequest.single("file", f"The CSV has more than one {', '.join(duplicates)} column.")
    if "prompt" not in columns:
        raise InvalidRequest.single("file", "The CSV has no prompt column: name the column of prompts \"prompt\".")
    return columns


def _validate(schema: ModelSchema, settings: Mapping[str, Any],
              records: list[_Record], max_rows: int) -> list[BatchRow]:
    if not records:
        raise InvalidRequest.single("prompts", "There are no prompts: every line is empty.")
    if len(records) > max_rows:
        raise InvalidRequest.single(
            "prompts", f"The batch has {len(records):,} prompts; one batch may have at most {max_rows:,}.")
    rows, problems, bad_lines = [], [], 0
    for record in records:
        line = record.line
        try:
            if record.problem:
                raise InvalidRequest.single(None, record.problem)
            cells = {name: _cell(schema, name, value) for name, value in record.cells.items()}
            rows.append(BatchRow(line, schema.validate({**settings, **cells})))
        except InvalidRequest as error:
            bad_lines += 1
            if len(problems) < MAX_PROBLEMS:
                problems.append(Problem(f"line {line}", f"Line {line}: {error}"))
    if bad_lines:
        more = bad_lines - len(problems)
        if more:
            problems.append(Problem(None, f"…and {more} more line{'s' * (more != 1)} with problems."))
        problems.append(Problem(None, "Nothing was sent; fix these lines and run the batch again."))
        raise InvalidRequest(problems)
    return rows


def _cell(schema: ModelSchema, name: str, value: str) -> Any:
    """A CSV cell as the schema's type wants it: CSV has only text, so "true" is made a boolean;
    numbers stay text (the schema reads exact numeric text itself)."""
    try:
        kind = schema.field(name).kind
    except KeyError:
        return value
    if kind == "boolean":
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    return value
