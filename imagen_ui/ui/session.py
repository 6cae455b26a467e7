"""Pieces the page's tabs share: who is asking, and streaming a generation into gallery + status."""

from __future__ import annotations

import contextlib

import gradio as gr

from imagen_ui.service import (
    BudgetSpent,
    QuotaExceeded,
    ShuttingDown,
    TokenForgotten,
    Viewer,
    Visitor,
    visitor_id,
    visitor_keys,
)
from imagen_ui.ui import notices
from imagen_ui.ui.tiles import Tiles


class Who:
    """Turns a request into the service's Visitor (history owner and quota keys in public mode)
    and Viewer."""

    def __init__(self, public: bool, trust_forwarded: bool) -> None:
        self.public = public
        self.trust_forwarded = trust_forwarded

    def __call__(self, request: gr.Request, token: str | None) -> Visitor:
        if not self.public:
            return Visitor(token=token or None)
        keys = tuple(visitor_keys(request, trust_forwarded=self.trust_forwarded))
        return Visitor(owner=visitor_id(request), keys=keys, token=token or None)

    def viewer(self, request: gr.Request | None) -> Viewer:
        """Whose history the request may see: the visitor's own in public mode, else all of it."""
        return Viewer(owner=visitor_id(request), everyone=False) if self.public else Viewer()


async def stream(generation, render, tiles: Tiles):
    """Yield (gallery, status) for each snapshot of `generation`; the quota is checked first.
    `tiles` turns a snapshot into the gallery: one numbered tile per image, with its status."""
    async with contextlib.aclosing(generation):
        try:
            last = await anext(generation)  # the quota is checked before anything is sent
        except QuotaExceeded as error:
            raise refusal("Limit reached", str(error)) from None
        except (BudgetSpent, TokenForgotten) as error:
            raise refusal(error.title, str(error)) from None
        except ShuttingDown as error:
            raise refusal("Restarting", str(error)) from None
        yield tiles.items(last), render(last)
        async for snapshot in generation:
            last = snapshot
            # The whole list each time, not gr.skip(): in Gradio 6 a skip is an "update" that builds
            # a new Gallery and its config per yield, which costs more than re-sending a few paths
            # (served as static files, so nothing is copied).
            yield tiles.items(snapshot), render(snapshot)
    failures = [s.message for s in last.slots if s.status == "failed"]
    if not last.paths and failures:
        raise refusal("No image was made", failures[0])


# Titles of the page's error toasts. Gradio 6's toast shows "Error" whatever the title, so the title
# leads the message (API callers read it too) and the page's script moves it into the toast's title.
TOAST_TITLES = ("Check the form", "Limit reached", "Restarting", "No image was made", "Not found",
                "Today's budget is spent", "Token forgotten")


def refusal(title: str, message: str) -> gr.Error:
    """The error for a click that is refused or made nothing: said once, with a real title. The
    message is escaped (notices): Gradio renders a toast as HTML, and messages quote values."""
    assert title in TOAST_TITLES, title
    return gr.Error(f"{title}: {notices.as_text(message)}", title=title, print_exception=False, duration=12)


def session_of(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None) if request is not None else None
