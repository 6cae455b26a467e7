"""Persistent history: each generated image is a file under ``root/images``, indexed in SQLite.

The files are the source of truth: every one carries its generation parameters (see
:mod:`imagen_ui.store.metadata`), so :meth:`History.reconcile` can rebuild any row from its file.
Writes are ordered so a kill at any moment leaves either nothing or a complete file:
temp file -> fsync -> rename -> fsync dir, and only then the row. Reconcile (run at start-up)
finishes the job: it drops rows whose file is gone, indexes files that have no row, and deletes
leftover temp files. A history directory belongs to one process at a time.

Layout::

    root/history.sqlite3                     the index (WAL mode)
    root/images/YYYY-MM/<name>               a local run's images (owner None)
    root/images/v-<key>/YYYY-MM/<name>       a visitor's images in public mode (key = hash of owner)
    root/previews/<same folders>/<name>.<px>.webp  small copies for the page (see previews.py)
    root/orphans/                            image files reconcile could not index
    root/inputs/<xx>/<sha256>.<ext>          images generations were made from (input_images)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import stat
import threading
import time
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from imagen_ui.store import metadata, previews
from imagen_ui.store.input_images import InputImages

__all__ = ["Entry", "History", "ReconcileReport"]

log = logging.getLogger(__name__)

INDEX_NAME = "history.sqlite3"
IMAGES_DIR = "images"
ORPHANS_DIR = "orphans"
TEMP_PREFIX = ".tmp-"
_IMAGE_SUFFIXES = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp"}
_VISITOR_DIR_PREFIX = "v-"
_MTIME_SETTLE_NS = 2_000_000_000

# Model inputs with a label of their own in the infotext, in the order they are written.
_LABELLED_INPUTS = {
    "aspect_ratio": "Aspect ratio",
    "output_format": "Output format",
    "safety_filter_level": "Safety filter level",
}
_LABELS = {"Model", "Size", "Prediction", "Created", "Predict time", *_LABELLED_INPUTS.values()}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,          -- relative to the root, '/'-separated
    prediction_id TEXT NOT NULL UNIQUE,
    model TEXT NOT NULL,
    prompt TEXT NOT NULL,
    prompt_folded TEXT NOT NULL,        -- prompt.casefold(): case-insensitive beyond ASCII
    inputs TEXT NOT NULL,               -- JSON object: all model inputs as sent
    created_at TEXT NOT NULL,           -- fixed-width ISO 8601 UTC, so text order is time order
    predict_time REAL,
    format TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    byte_size INTEGER NOT NULL,
    owner TEXT
);
-- Newest-first pages walk one of these backwards and stop after `limit` rows.
CREATE INDEX IF NOT EXISTS entries_by_time ON entries (created_at, id);
CREATE INDEX IF NOT EXISTS entries_by_owner_time ON entries (owner, created_at, id);
-- Maps a visitor folder back to its owner, so reconcile can restore ownership of a file.
CREATE TABLE IF NOT EXISTS owners (
    key TEXT PRIMARY KEY,
    owner TEXT NOT NULL UNIQUE
);
-- Folders under images/, with the mtime they had when last found in agreement with the index
-- (NULL: list it at the next start-up). Every folder holding a row is here.
CREATE TABLE IF NOT EXISTS folders (
    path TEXT PRIMARY KEY,
    mtime_ns INTEGER
) WITHOUT ROWID;
PRAGMA user_version = 1;
"""
_IN_FOLDER = "path > ? AND path < ? AND instr(substr(path, ?), '/') = 0"  # see _in_folder()
_UPSERT_FOLDER = (
    "INSERT INTO folders (path, mtime_ns) VALUES (?, ?)"
    " ON CONFLICT (path) DO UPDATE SET mtime_ns = excluded.mtime_ns"
)
# What a row holds, by name: inserted from a dict, read back as sqlite3.Row (by name, not position).
_ROW_FIELDS = ("path", "prediction_id", "model", "prompt", "prompt_folded", "inputs", "created_at",
               "predict_time", "format", "width", "height", "byte_size", "owner")
_COLUMNS = ", ".join(("id", *(name for name in _ROW_FIELDS if name != "prompt_folded")))
_INSERT = (f"INSERT INTO entries ({', '.join(_ROW_FIELDS)})"
           f" VALUES ({', '.join(':' + name for name in _ROW_FIELDS)})")


@dataclass(frozen=True)
class Entry:
    """One image in the history."""

    id: int
    path: Path
    prediction_id: str
    model: str
    prompt: str
    inputs: dict
    created_at: str
    predict_time: float | None
    format: str
    width: int
    height: int
    byte_size: int
    owner: str | None


@dataclass(frozen=True)
class ReconcileReport:
    """What :meth:`History.reconcile` repaired."""

    removed_rows: int = 0  # rows whose file was gone
    reindexed: int = 0  # files without a row, indexed from their embedded parameters
    orphaned: int = 0  # files without a row and without readable parameters: moved to orphans/
    temp_files_removed: int = 0  # leftovers of writes interrupted by a crash
    folders_listed: int = 0  # folders that changed since last checked (the others were skipped)

    @property
    def repairs(self) -> tuple[int, int, int, int]:
        return self.removed_rows, self.reindexed, self.orphaned, self.temp_files_removed


class History:
    """The image history under ``root``. Thread-safe; one process per directory."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()
        (self.root / IMAGES_DIR).mkdir(parents=True, exist_ok=True)
        self.input_images = InputImages(self.root)  # what entries were made from, named in their inputs
        (self.root / previews.PREVIEWS_DIR).mkdir(exist_ok=True)
        self._lock = threading.Lock()
        self._writing: set[str] = set()  # temp files of adds in progress: not leftovers
        self._conn = sqlite3.connect(
            self.root / INDEX_NAME, check_same_thread=False, isolation_level=None
        )
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")  # a returned add survives power loss too
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(_SCHEMA)
            self.last_reconcile: ReconcileReport = self.reconcile()  # what start-up repaired
        except BaseException:
            self._conn.close()
            raise

    @property
    def images_dir(self) -> Path:
        """Where the image files live (the index beside it is private: never serve it)."""
        return self.root / IMAGES_DIR

    @property
    def previews_dir(self) -> Path:
        """Where the images' previews live (servable like the images)."""
        return self.root / previews.PREVIEWS_DIR

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- writing ------------------------------------------------------------------------------

    def add(
        self,
        *,
        data: bytes,
        fmt: str,
        prediction_id: str,
        model: str,
        inputs: Mapping,
        created_at: datetime | str,
        predict_time: float | None,
        width: int,
        height: int,
        owner: str | None = None,
        previews: bool = True,
    ) -> Entry:
        """Store one image with its parameters embedded; return its entry.

        The file is on disk (fsynced) before its row exists. Adding a prediction id that is
        already stored returns the stored entry and writes nothing. Its previews are made from
        `data` before the row, unless `previews` is False: then the caller makes them with
        `preview` (from the file, after letting go of `data`).
        """
        if not prediction_id:
            raise ValueError("prediction_id must not be empty")
        fmt = _checked_format(data, fmt)
        created = _utc_iso(created_at)
        inputs = dict(inputs)
        prompt = str(inputs.get("prompt", ""))
        with self._lock:
            existing = self._select_one("prediction_id = ?", (prediction_id,))
            if existing is not None:
                return existing
            folder = self._folder_for(owner, created)
        rel_path = f"{folder}/{_file_name(model, created, prompt, prediction_id, fmt)}"
        params = _infotext_params(model, inputs, width, height, prediction_id, created, predict_time)
        # In pieces, views into `data`: the image is never copied whole in memory.
        body = _with_infotext(data, fmt, metadata.format_infotext(prompt, params))
        self._write_atomically(self.root / rel_path, body)
        if previews:
            # Before the row, so the page finds them as soon as it can find the image; from the
            # bytes in hand (the same pixels: only the parameters were added), not read back.
            self._make_previews(rel_path, data)

        row = _row(path=rel_path, prediction_id=prediction_id, model=model, prompt=prompt, inputs=inputs,
                   created_at=created, predict_time=predict_time, format=fmt, width=width, height=height,
                   byte_size=sum(len(part) for part in body), owner=owner)
        with self._lock:
            try:
                with self._transaction():
                    entry_id = self._insert(row)
                    self._mark_changed(folder)
            except sqlite3.IntegrityError:
                # Another add (or reconcile) stored this prediction meanwhile: keep theirs.
                existing = self._select_one("prediction_id = ?", (prediction_id,))
                if existing is None:
                    raise
                if existing.path != self.root / rel_path:
                    (self.root / rel_path).unlink(missing_ok=True)
                return existing
        return _entry({"id": entry_id, **row}, self.root)

    def delete(self, entry_id: int, *, owner: str | None = None, everyone: bool = False) -> bool:
        """Delete an entry and its file if ``owner`` may (or ``everyone``); return whether it did."""
        where, args = _owner_filter(owner, everyone)
        with self._lock:
            found = self._conn.execute(
                f"SELECT path, inputs FROM entries WHERE id = ? {'AND ' + where if where else ''}",
                (entry_id, *args),
            ).fetchone()
            if found is None:
                return False
            # File first: a crash in between leaves a row without a file, which reconcile drops.
            # The other order would let reconcile bring the deleted image back.
            path = self.root / found[0]
            path.unlink(missing_ok=True)
            _fsync_dir(path.parent)
            for kind in previews.KINDS:
                previews.preview_path(self.root, found[0], kind).unlink(missing_ok=True)
            with self._transaction():
                self._conn.execute("DELETE FROM entries WHERE id = ?", (entry_id,))
                self._mark_changed(found[0].rpartition("/")[0])
            # Its input images go too, unless another entry was made from them as well.
            self._release_input_images({n for _, group in InputImages.names_in(json.loads(found[1])) for n in group})
            return True

    def release_input_images(self, names: set[str]) -> None:
        """Remove kept input images that no entry names (those of a click that made nothing)."""
        with self._lock:
            self._release_input_images(names)

    def _release_input_images(self, names: set[str]) -> None:
        self.input_images.remove(n for n in names if not self._conn.execute(
            "SELECT 1 FROM entries WHERE instr(inputs, ?) > 0 LIMIT 1", (n,)).fetchone())

    # --- reading ------------------------------------------------------------------------------

    def page(
        self,
        *,
        owner: str | None = None,
        everyone: bool = False,
        query: str = "",
        offset: int = 0,
        limit: int = 24,
    ) -> list[Entry]:
        """Entries newest first. ``everyone`` sees all owners; otherwise only ``owner``'s
        (``None``: rows without an owner). ``query`` is a case-insensitive prompt substring."""
        if offset < 0 or limit < 0:
            raise ValueError("offset and limit must not be negative")
        where, args = _search_filter(owner, everyone, query)
        sql = (
            f"SELECT {_COLUMNS} FROM entries {where}"
            " ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?"
        )
        with self._lock:
            return self._entries(sql, (*args, limit, offset))

    def count(self, *, owner: str | None = None, everyone: bool = False, query: str = "") -> int:
        """How many entries :meth:`page` can show with the same filters."""
        where, args = _search_filter(owner, everyone, query)
        with self._lock:
            return self._conn.execute(f"SELECT COUNT(*) FROM entries {where}", args).fetchone()[0]

    def tally(self, *, owner: str | None = None, everyone: bool = False, query: str = "",
              by: str | None = None) -> list[tuple[str, object, int]]:
        """How many entries :meth:`page` can show, per model and per value of the input `by`
        (None when it has none): [(model, value, count)]."""
        where, args = _search_filter(owner, everyone, query)
        path = "$." + by if by and by.isidentifier() else None
        value = "json_extract(inputs, ?)" if path else "NULL"
        sql = f"SELECT model, {value} AS v, COUNT(*) FROM entries {where} GROUP BY model, v"
        with self._lock:
            return [tuple(row) for row in self._conn.execute(sql, ((path,) if path else ()) + tuple(args))]

    def get(self, entry_id: int) -> Entry | None:
        with self._lock:
            return self._select_one("id = ?", (entry_id,))

    def get_by_prediction(self, prediction_id: str) -> Entry | None:
        with self._lock:
            return self._select_one("prediction_id = ?", (prediction_id,))

    # --- previews -----------------------------------------------------------------------------

    def preview(self, image: Path | str, kind: str = previews.GALLERY) -> Path | None:
        """The `kind` preview ("gallery" or "tile") of an image file of this history, made now from
        the file if it is missing; None for a path that is not one of the history's images, or an
        image no preview can be made of. Call from a worker thread: making one decodes the image."""
        rel_path = self._image_rel_path(image)
        if rel_path is None:
            return None
        target = previews.preview_path(self.root, rel_path, kind)
        if _nonempty(target):
            return target
        if kind not in previews.kinds_for(self.root / rel_path):  # KeyError for an unknown kind
            return None  # small and lossy already: the original is its own preview
        try:
            data = (self.root / rel_path).read_bytes()
        except OSError:
            return None
        return target if self._make_previews(rel_path, data) else None

    def _image_rel_path(self, image: Path | str) -> str | None:
        """`image`'s path relative to the root ("images/…"), if it is an image file in images/."""
        candidate = Path(os.path.abspath(image))
        images = self.root / IMAGES_DIR
        if not candidate.is_relative_to(images) or candidate.suffix.lower() not in _IMAGE_SUFFIXES:
            return None
        if candidate.name.startswith(TEMP_PREFIX) or not candidate.is_file():
            return None
        return candidate.relative_to(self.root).as_posix()

    def _make_previews(self, rel_path: str, data: bytes) -> bool:
        targets = {kind: previews.preview_path(self.root, rel_path, kind) for kind in previews.KINDS}
        try:
            previews.make_previews(data, targets)
            return True
        except (OSError, ValueError) as exc:  # the image itself is stored: only its preview is missing
            log.warning("history: no preview of %s: %s", rel_path, exc)
            return False

    # --- repair -------------------------------------------------------------------------------

    def reconcile(self) -> ReconcileReport:
        """Make the index and the image files agree again (run at start-up).

        Only folders that changed since they were last checked are listed: a folder's mtime
        changes whenever a file in it is created, renamed or deleted. Their listing is compared
        with the index inside SQLite (a temp table), so no indexed image is read and no
        per-entry data is held in Python; an unchanged history costs one stat per folder.
        """
        with self._lock:
            conn = self._conn
            started_ns = time.time_ns()
            known = dict(conn.execute("SELECT path, mtime_ns FROM folders"))
            scan = _Scan(self.root, self._writing, known)
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS listing (path TEXT PRIMARY KEY) WITHOUT ROWID")
            with self._transaction():  # one commit for all: re-indexing thousands stays quick
                conn.executemany("INSERT INTO temp.listing VALUES (?)", ((p,) for p in scan.images()))
                removed = 0
                for folder in scan.listed:
                    removed += conn.execute(
                        f"DELETE FROM entries WHERE {_IN_FOLDER}"
                        " AND path NOT IN (SELECT path FROM temp.listing)", _in_folder(folder),
                    ).rowcount
                gone = known.keys() - scan.visited
                for folder in gone:  # deleted with everything in it
                    removed += conn.execute(f"DELETE FROM entries WHERE {_IN_FOLDER}", _in_folder(folder)).rowcount
                    conn.execute("DELETE FROM folders WHERE path = ?", (folder,))
                unindexed = [row[0] for row in conn.execute(
                    "SELECT path FROM temp.listing WHERE path NOT IN (SELECT path FROM entries)")]
                conn.execute("DELETE FROM temp.listing")
                reindexed = sum(self._reindex(rel_path) for rel_path in unindexed)
                for folder, seen_ns in scan.listed.items():
                    conn.execute(_UPSERT_FOLDER, (folder, _settled_mtime(self.root / folder, seen_ns, started_ns)))
            temp_previews = self._reconcile_previews(scan.listed, gone)
        orphaned = len(unindexed) - reindexed
        if removed:
            log.warning("history: removed %d entries whose image file was missing", removed)
        if orphaned:
            log.warning("history: moved %d unreadable files to %s", orphaned, self.root / ORPHANS_DIR)
        return ReconcileReport(removed, reindexed, orphaned, scan.temp_removed + temp_previews, len(scan.listed))

    def _reconcile_previews(self, listed: Mapping[str, int], gone: set[str]) -> int:
        """Previews follow their images: in each folder that changed, previews whose image is gone
        (deleted, or moved to orphans) and leftover temp files go; a folder that is gone takes its
        previews along. Missing previews are made when asked for (`preview`). Returns temp files removed."""
        temps = 0
        for folder in listed:
            mirror = self.root / previews.PREVIEWS_DIR / folder.partition("/")[2]
            try:
                items = list(os.scandir(mirror))
            except OSError:  # no previews there (yet)
                continue
            for item in items:
                name = item.name
                image = previews.original_name(name)
                stale = name.startswith(previews.TEMP_PREFIX) or (
                    image is not None and not os.path.exists(os.path.join(self.root, folder, image)))
                if stale and item.is_file(follow_symlinks=False):
                    with contextlib.suppress(OSError):
                        os.unlink(item.path)
                        temps += name.startswith(previews.TEMP_PREFIX)
        for folder in gone:
            inside = folder.partition("/")[2]
            if inside:  # never the whole previews tree
                shutil.rmtree(self.root / previews.PREVIEWS_DIR / inside, ignore_errors=True)
        return temps

    def _reindex(self, rel_path: str) -> bool:
        """Index a file from its embedded parameters, or move it to orphans/; True if indexed."""
        path = self.root / rel_path
        try:
            data = path.read_bytes()
            text = metadata.read(data)
            fields = _fields_from_infotext(text) if text else None
        except (OSError, ValueError) as exc:
            log.warning("history: cannot read %s: %s", path, exc)
            fields = None
        owner = self._owner_of(rel_path)
        if fields is not None and owner is not False:
            row = _row(path=rel_path, prediction_id=fields["prediction_id"], model=fields["model"],
                       prompt=fields["prompt"], inputs=fields["inputs"], created_at=fields["created_at"],
                       predict_time=fields["predict_time"], format=_sniff(data), width=fields["width"],
                       height=fields["height"], byte_size=len(data), owner=owner)
            try:
                self._insert(row)
                return True
            except sqlite3.IntegrityError:  # a copy of an indexed prediction
                log.warning("history: %s repeats prediction %s", path, fields["prediction_id"])
        _move_to_orphans(path, self.root / ORPHANS_DIR)
        return False

    # --- internals ----------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error. Call with the lock held."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def _insert(self, row: dict) -> int:
        return self._conn.execute(_INSERT, row).lastrowid

    def _entries(self, sql: str, args: tuple) -> list[Entry]:
        cursor = self._conn.cursor()
        cursor.row_factory = sqlite3.Row
        return [_entry(row, self.root) for row in cursor.execute(sql, args)]

    def _mark_changed(self, folder: str) -> None:
        """List ``folder`` at the next start-up (its mtime says so too; this does not depend on
        it). Its parents are recorded as well, so the walk reaches it through skipped ones."""
        self._conn.execute(_UPSERT_FOLDER, (folder, None))
        parent = folder.rpartition("/")[0]
        while parent:
            self._conn.execute("INSERT OR IGNORE INTO folders (path, mtime_ns) VALUES (?, NULL)", (parent,))
            parent = parent.rpartition("/")[0]

    def _select_one(self, where: str, args: tuple) -> Entry | None:
        found = self._entries(f"SELECT {_COLUMNS} FROM entries WHERE {where}", args)
        return found[0] if found else None

    def _folder_for(self, owner: str | None, created: str) -> str:
        """``images/YYYY-MM`` or, for a visitor, ``images/v-<key>/YYYY-MM`` (key registered)."""
        month = created[:7]
        if owner is None:
            return f"{IMAGES_DIR}/{month}"
        key = hashlib.sha256(owner.encode("utf-8")).hexdigest()[:16]
        with self._transaction():
            self._conn.execute("INSERT OR IGNORE INTO owners (key, owner) VALUES (?, ?)", (key, owner))
            stored = self._conn.execute("SELECT owner FROM owners WHERE key = ?", (key,)).fetchone()
        if stored[0] != owner:
            raise RuntimeError("owner key collision")  # 64-bit hash: not expected to happen
        return f"{IMAGES_DIR}/{_VISITOR_DIR_PREFIX}{key}/{month}"

    def _owner_of(self, rel_path: str) -> str | None | bool:
        """The owner a folder stands for; False for a visitor folder nobody is registered to."""
        parts = rel_path.split("/")
        if len(parts) < 3 or not parts[1].startswith(_VISITOR_DIR_PREFIX):
            return None
        key = parts[1].removeprefix(_VISITOR_DIR_PREFIX)
        found = self._conn.execute("SELECT owner FROM owners WHERE key = ?", (key,)).fetchone()
        return found[0] if found else False

    def _write_atomically(self, path: Path, body: list[bytes | memoryview]) -> None:
        """Write via a temp file in the same folder: readers see no file or the whole file."""
        _make_dirs(path.parent)
        temp = path.with_name(f"{TEMP_PREFIX}{secrets.token_hex(6)}-{path.name}")
        with self._lock:
            self._writing.add(temp.name)
        try:
            with open(temp, "xb") as file:
                for part in body:
                    file.write(part)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, path)
            _fsync_dir(path.parent)  # make the rename itself durable
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        finally:
            with self._lock:
                self._writing.discard(temp.name)


class _Scan:
    """Walks ``root/images``: lists folders that changed since last checked (yielding their
    image paths, deleting leftover temp files) and steps over unchanged ones."""

    def __init__(self, root: Path, in_progress: set[str], known: dict[str, int | None]) -> None:
        self.root = root
        self.in_progress = in_progress
        self.known = known  # folder -> mtime_ns when last found in agreement with the index
        self.visited: set[str] = set()
        self.listed: dict[str, int] = {}  # folder -> mtime_ns seen before listing it
        self.temp_removed = 0

    def images(self) -> Iterator[str]:
        # Plain strings, not pathlib: Path interns every name it parses (memory that grows with
        # the history and is never freed) and is several times slower per file.
        children: dict[str, list[str]] = {}
        for folder in self.known:
            children.setdefault(folder.rpartition("/")[0], []).append(folder)
        pending = [IMAGES_DIR]
        while pending:
            folder = pending.pop()
            path = os.path.join(self.root, folder)
            try:
                status = os.stat(path)
                if not stat.S_ISDIR(status.st_mode):
                    continue  # gone (replaced by a file): its rows go too
                items = os.scandir(path) if self.known.get(folder) != status.st_mtime_ns else None
            except (FileNotFoundError, NotADirectoryError):
                continue  # gone: its rows go too
            except OSError as exc:  # unreadable is not gone: keep its rows, try again next time
                log.warning("history: cannot list %s: %s", path, exc)
                self.visited.add(folder)
                continue
            self.visited.add(folder)
            if items is None:  # unchanged since last checked: the same files as indexed
                pending.extend(children.get(folder, ()))
                continue
            self.listed[folder] = status.st_mtime_ns
            with items:
                for item in items:
                    name = item.name
                    if item.is_dir(follow_symlinks=False):
                        pending.append(f"{folder}/{name}")
                    elif name.startswith(TEMP_PREFIX):
                        if name not in self.in_progress:
                            self._remove_temp(item.path)
                    elif name[name.rfind(".") :].lower() in _IMAGE_SUFFIXES and item.is_file():
                        yield f"{folder}/{name}"

    def _remove_temp(self, path: str) -> None:
        try:
            os.unlink(path)
            self.temp_removed += 1
        except OSError as exc:
            log.warning("history: cannot remove leftover %s: %s", path, exc)


# --- helpers ----------------------------------------------------------------------------------


def _row(*, prompt: str, inputs: Mapping, **fields) -> dict:
    """A row to insert, by column name (the prompt is also kept case-folded, for search)."""
    return {"prompt": prompt, "prompt_folded": prompt.casefold(), "inputs": json.dumps(dict(inputs)), **fields}


def _entry(row: Mapping, root: Path) -> Entry:
    """An entry from a row read by name (sqlite3.Row or the inserted dict plus its id)."""
    return Entry(id=row["id"], path=root / row["path"], prediction_id=row["prediction_id"],
                 model=row["model"], prompt=row["prompt"], inputs=json.loads(row["inputs"]),
                 created_at=row["created_at"], predict_time=row["predict_time"], format=row["format"],
                 width=row["width"], height=row["height"], byte_size=row["byte_size"], owner=row["owner"])


def _owner_filter(owner: str | None, everyone: bool) -> tuple[str, tuple]:
    if everyone:
        return "", ()
    # Spelled out (not `owner IS ?`) so SQLite uses the (owner, created_at, id) index.
    return ("owner IS NULL", ()) if owner is None else ("owner = ?", (owner,))


def _search_filter(owner: str | None, everyone: bool, query: str) -> tuple[str, tuple]:
    """A WHERE clause (or "") and its arguments. instr() has no wildcards to escape."""
    clause, args = _owner_filter(owner, everyone)
    clauses = [clause] if clause else []
    needle = query.strip().casefold()
    if needle:
        clauses.append("instr(prompt_folded, ?) > 0")
        args = (*args, needle)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), args


def _in_folder(folder: str) -> tuple[str, str, int]:
    """Arguments for _IN_FOLDER: paths between "F/" and "F0" ('0' follows '/'), no deeper."""
    return f"{folder}/", f"{folder}0", len(folder) + 2


def _settled_mtime(folder: Path, seen_ns: int, started_ns: int) -> int | None:
    """The mtime to trust next start-up, or None to list the folder again then.

    Only a folder that did not change while we looked, and whose last change was well before
    we began: timestamps are coarse (ext4 ~4 ms, FAT 2 s), so a change in the same tick as the
    recorded one would otherwise go unseen.
    """
    try:
        now_ns = os.stat(folder).st_mtime_ns
    except OSError:
        return None
    return now_ns if now_ns == seen_ns and now_ns < started_ns - _MTIME_SETTLE_NS else None


def _sniff(data: bytes) -> str | None:
    if data.startswith(metadata.PNG_SIGNATURE):
        return "png"
    if data.startswith(metadata.JPEG_SOI):
        return "jpg"
    if metadata.is_webp(data):
        return "webp"
    return None


def _checked_format(data: bytes, fmt: str) -> str:
    """The real format of ``data`` ("png"/"jpg"/"webp"); a wrong ``fmt`` is logged, not fatal."""
    actual = _sniff(data)
    if actual is None:
        raise ValueError("image data is not PNG, JPEG or WebP")
    declared = {"jpeg": "jpg"}.get(fmt.lower(), fmt.lower())
    if declared != actual:
        log.warning("history: data declared %r is %s; stored as %s", fmt, actual, actual)
    return actual


def _with_infotext(data: bytes, fmt: str, infotext: str) -> list[bytes | memoryview]:
    try:
        return metadata.embed_parts(data, fmt, infotext)
    except metadata.InfotextTooLong:
        # Keep the image: its row still holds the parameters.
        log.warning("history: parameters too long to embed; stored the image without them")
        return [data]


def _nonempty(path: Path) -> bool:
    try:
        return path.stat().st_size > 0  # an empty one: cut short by a crash (previews are not fsynced)
    except OSError:
        return False


def _utc_iso(value: datetime | str) -> str:
    """Fixed-width ISO 8601 in UTC (naive times are taken as UTC): 2026-11-26T05:12:33.000000Z."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _slug(text: str, limit: int) -> str:
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:limit].rstrip("-")


def name_stem(model: str, created: str, prompt: str) -> str:
    """``imagen-4-fast_20261126-051233_a-red-fox-in-snow``: what a file of one click is named after
    (`created` is fixed-width ISO 8601 UTC)."""
    model_part = _slug(model.split(":", 1)[0].rsplit("/", 1)[-1], 40) or "model"
    stamp = f"{created[0:4]}{created[5:7]}{created[8:10]}-{created[11:13]}{created[14:16]}{created[17:19]}"
    return f"{model_part}_{stamp}_{_slug(prompt, 40) or 'image'}"


def _file_name(model: str, created: str, prompt: str, prediction_id: str, fmt: str) -> str:
    """``imagen-4-fast_20261126-051233_a-red-fox-in-snow_<prediction id>.png``"""
    id_part = prediction_id
    if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", prediction_id):
        # Never let an id name another file (or directory); the hash keeps it unique.
        digest = hashlib.sha256(prediction_id.encode("utf-8")).hexdigest()[:12]
        id_part = f"{_slug(prediction_id, 32)}-{digest}".lstrip("-")
    return f"{name_stem(model, created, prompt)}_{id_part}.{fmt}"


def _infotext_params(model: str, inputs: Mapping, width: int, height: int, prediction_id: str,
                     created: str, predict_time: float | None) -> dict[str, object]:
    """The parameters line, in the order the app shows them."""
    params: dict[str, object] = {"Model": model}
    params.update({label: inputs[name] for name, label in _LABELLED_INPUTS.items() if name in inputs})
    params.update({"Size": f"{width}x{height}", "Prediction": prediction_id, "Created": created,
                   "Predict time": predict_time})
    for name, value in inputs.items():
        if name != "prompt" and name not in _LABELLED_INPUTS and name not in _LABELS:
            if metadata.is_valid_key(name):
                params[name] = value
    return params


def parameters_of(data: bytes) -> dict | None:
    """The model and inputs stored in an image's embedded parameters: {"model": …, "inputs": {…}}.

    None when the file carries no parameters of ours (or is not a PNG/JPEG/WebP)."""
    try:
        text = metadata.read(data)
    except ValueError:
        return None
    fields = _fields_from_infotext(text) if text else None
    return None if fields is None else {"model": fields["model"], "inputs": fields["inputs"]}


def _fields_from_infotext(text: str) -> dict | None:
    """Row fields from our infotext; None if it lacks what a row needs."""
    prompt, params = metadata.parse_infotext(text)
    try:
        width, height = (int(n) for n in params["Size"].split("x"))
        fields = {"prediction_id": params["Prediction"], "model": params["Model"],
                  "created_at": _utc_iso(params["Created"]), "width": width, "height": height}
    except (KeyError, ValueError):
        return None
    try:
        fields["predict_time"] = float(params["Predict time"])
    except (KeyError, ValueError):
        fields["predict_time"] = None
    inputs: dict[str, object] = {"prompt": prompt}
    inputs.update({name: params[label] for name, label in _LABELLED_INPUTS.items() if label in params})
    inputs.update({key: _json_scalar(value) for key, value in params.items() if key not in _LABELS})
    return {**fields, "prompt": prompt, "inputs": inputs}


def _json_scalar(value: str) -> object:
    """Undo format_infotext's JSON for numbers, booleans and lists; strings stay strings."""
    if re.fullmatch(r"-?\d+(\.\d+)?([eE][-+]?\d+)?|true|false|null|\[.*\]|\{.*\}", value):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):  # RecursionError: "[[[[…" nested past the parser's depth
            pass
    return value


def _move_to_orphans(path: Path, orphans: Path) -> None:
    orphans.mkdir(exist_ok=True)
    target = orphans / path.name
    n = 1
    while target.exists():
        target = orphans / f"{path.stem}-{n}{path.suffix}"
        n += 1
    try:
        os.replace(path, target)
    except OSError as exc:
        log.warning("history: cannot move %s to %s: %s", path, orphans, exc)


def _make_dirs(folder: Path) -> None:
    """mkdir -p, and fsync each new folder's parent so the folder survives a power cut."""
    missing = []
    probe = folder
    while not probe.is_dir():
        missing.append(probe)
        probe = probe.parent
    folder.mkdir(parents=True, exist_ok=True)
    for created in reversed(missing):
        _fsync_dir(created.parent)


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # Windows cannot open a directory; NTFS journals renames itself
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
