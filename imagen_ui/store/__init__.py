"""The store: every generated image on disk with its parameters, indexed in SQLite.

    history     History: atomic writes, search, paging, delete, reconcile at start-up
    metadata    parameters embedded in PNG/JPEG/WebP files the way AUTOMATIC1111 writes them
    previews    small WebP copies of each image for the page (never carrying parameters)
    archive     Download all: a zip of a click's original files, named after the click

Nothing here knows of Gradio or Replicate's HTTP API.
"""

from imagen_ui.store.archive import ARCHIVE_DIR, write_zip
from imagen_ui.store.history import Entry, History, ReconcileReport

__all__ = ["ARCHIVE_DIR", "Entry", "History", "ReconcileReport", "write_zip"]
