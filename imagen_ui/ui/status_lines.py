"""Status lines for a click's images, as text for the page (Markdown)."""

from __future__ import annotations

from imagen_ui.service import ImageSlot, Snapshot
from imagen_ui.ui import notices


def image_label(slot: ImageSlot) -> str:
    return f"Image {slot.index + 1}"


def model_label(slot: ImageSlot) -> str:
    return slot.model


def slot_line(slot: ImageSlot, label=image_label) -> str:
    """One image's line, e.g. 'Image 2: done in 4.1 s (model 3.9 s)'."""
    label = label(slot)
    if slot.status == "queued":
        text = "queued (waiting for a free slot)"
    elif slot.status == "uploading":
        text = f"{uploading(slot)}…"
    elif slot.status == "sent":
        text = "sent to Replicate…"  # the page counts the seconds meanwhile (ui.assets.PAGE_JS)
    elif slot.status in ("starting", "processing"):
        text = f"{slot.status}…"  # what Replicate said last
    elif slot.status == "succeeded":
        took = elapsed(slot)
        text = f"done in {took}" if took else "done"
        if slot.predict_time is not None:
            text += f" (model {slot.predict_time:.1f} s)"
    elif slot.status == "failed":
        text = f"failed: {slot.message or 'unknown error'}"
    else:
        text = "cancelled"
    return f"**{label}**: {notices.as_markdown_text(text)}"


def uploading(slot: ImageSlot) -> str:
    """'uploading 2 images': the click's input images on their way to Replicate."""
    return f"uploading {slot.uploads} image{'s' * (slot.uploads != 1)}"


def render(snapshot: Snapshot | None, label=image_label) -> str:
    if snapshot is None:
        return ""
    return "\n\n".join(slot_line(slot, label) for slot in snapshot.slots)


def render_by_model(snapshot: Snapshot | None) -> str:
    return render(snapshot, model_label)


def elapsed(slot: ImageSlot) -> str | None:
    """A finished slot's time, e.g. '4.1 s'."""
    if slot.started_at is None or slot.finished_at is None:
        return None
    return f"{max(0.0, slot.finished_at - slot.started_at):.1f} s"


def render_cancelled(snapshot: Snapshot | None) -> str:
    """The click's state right after Stop: every unfinished image shows as cancelled."""
    if snapshot is None:
        return "Cancelled."
    slots = tuple(
        slot if slot.done else ImageSlot(index=slot.index, status="canceled") for slot in snapshot.slots
    )
    return render(Snapshot(slots))
