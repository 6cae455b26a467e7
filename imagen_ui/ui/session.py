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


async def stream(generation, render, item=lambda slot, path: str(path)):
    """Yield (gallery, status) for each snapshot of `generation`; the quota is checked first.
    `item(slot, path)` makes a gallery item of a stored file (a path, or a (path, caption) pair)."""
    async with contextlib.aclosing(generation):
        try:
            last = await anext(generation)  # the quota is checked before anything is sent
        except QuotaExceeded as error:
            raise notices.error(error, title="Limit reached") from None
        except (BudgetSpent, TokenForgotten) as error:
            raise notices.error(error, title=error.title) from None
        except ShuttingDown as error:
            raise notices.error(error, title="Restarting") from None
        yield [], render(last)
        async for snapshot in generation:
            last = snapshot
            # The whole list each time, not gr.skip(): in Gradio 6 a skip is an "update" that builds
            # a new Gallery and its config per yield, which costs more than re-sending a few paths
            # (served as static files, so nothing is copied).
            yield [item(slot, path) for slot in snapshot.slots for path in slot.paths], render(snapshot)
    failures = [s.message for s in last.slots if s.status == "failed"]
    if not last.paths and failures:
        raise notices.error(failures[0], title="No image was made")


def session_of(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None) if request is not None else None
