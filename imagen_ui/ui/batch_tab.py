"""Batch mode on the Generate tab: many prompts (pasted one a line, or a dropped .txt/.csv), the
model and settings picked above once, each prompt a row with its images and status as they land,
Cancel for the whole batch, and "Download all" as one zip. Also the `/batch` API endpoint.

Layout and wiring only: checking, pacing and the zip are `BatchService`'s.
"""

from __future__ import annotations

import asyncio
import html
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import gradio as gr

from imagen_ui.schema import InvalidRequest
from imagen_ui.service import BatchRefused, BatchService, BatchSnapshot, QuotaExceeded, ShuttingDown
from imagen_ui.service.batch_input import MAX_FILE_BYTES, MAX_ROWS
from imagen_ui.ui import notices
from imagen_ui.ui import status_lines as status
from imagen_ui.ui.form import Forms
from imagen_ui.ui.session import Who, session_of

STATUS_WORDS = {"queued": "queued", "running": "running…", "canceled": "cancelled"}


def build(batches: BatchService, forms: Forms, own_token: gr.State, who: Who) -> None:
    service = batches.service
    with gr.Accordion("Batch: many prompts in one go", open=False, elem_id="batch"):
        gr.Markdown(f"One prompt a line, or drop a .txt file (one a line) or a .csv file with a `prompt` "
                    f"column and, if you like, columns named after the model's other inputs. The model and "
                    f"settings above apply to every prompt (a CSV cell overrides its column). Up to "
                    f"{MAX_ROWS} prompts; bad lines are reported before anything is sent.",
                    elem_id="batch-help")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                prompts = gr.Textbox(label="Prompts, one a line", lines=6, max_lines=16,
                                     placeholder="a red fox asleep in snow\nan owl at dusk\n…",
                                     elem_id="batch-prompts")
                dropped = gr.File(label="…or a .txt / .csv file", file_types=[".txt", ".csv"], height=110,
                                  elem_id="batch-file")
                per_prompt = gr.Slider(1, service.max_images, value=1, step=1, label="Images per prompt",
                                       elem_id="batch-per-prompt")
                with gr.Row():
                    run_button = gr.Button("Run batch", variant="primary", elem_id="batch-run")
                    cancel = gr.Button("Cancel batch", variant="stop", elem_id="batch-cancel")
            with gr.Column(scale=3, min_width=300):
                summary = gr.Markdown(elem_id="batch-summary")
                table = gr.HTML(elem_id="batch-rows")
                download = gr.DownloadButton("Download all (zip)", visible=False, elem_id="batch-download")
        # The picked model's settings, gathered when Run is pressed; the API's `settings` parameter.
        settings = gr.JSON(visible=False, elem_id="batch-settings")

    def gather(data: dict) -> dict:
        form = forms.forms[data[forms.picker]]
        return {settings: form.values(data), download: gr.DownloadButton(value=None, visible=False)}

    async def batch(request: gr.Request, prompts: str, file: str | None, model: str, settings: dict | None,
                    images_per_prompt: int, token: str | None):
        """Run many prompts with one model and its settings: one prompt a line in `prompts`, or a
        .txt/.csv `file` (a prompt column, optionally columns named after the model's inputs).
        `settings` are the model's other inputs by name. Bad lines are refused before anything is
        sent. Yields the batch's progress; the last output is a zip of its images and a CSV."""
        visitor = who(request, token)
        try:
            name, data = _read(file)
            prepared = batches.prepare(model or service.default_model, dict(settings or {}), images_per_prompt,
                                       text=prompts, file_name=name, file_data=data)
            run = batches.run(prepared, visitor=visitor, session=session_of(request))
            last = await anext(run)  # limits are checked before anything is sent
        # Escaped (notices): a batch's messages quote its lines, which anyone can write.
        except InvalidRequest as error:
            raise notices.error("\n".join(p.message for p in error.problems), title="Check the batch") from None
        except BatchRefused as error:
            raise notices.error(error, title="Too big for what is left") from None
        except QuotaExceeded as error:
            raise notices.error(error, title="Limit reached") from None
        except ShuttingDown as error:
            raise notices.error(error, title="Restarting") from None
        yield render_summary(last), render_rows(last), None
        async for last in run:
            yield render_summary(last), render_rows(last), gr.skip()
        archive = await asyncio.to_thread(batches.archive, last)
        # A plain value, so the API answers with the file; the page shows the button after (below).
        yield render_summary(last), render_rows(last), str(archive)

    controls = [c for f in forms.forms.values() for c in f.controls.values()]
    gathered = run_button.click(gather, inputs={forms.picker, *controls}, outputs=[settings, download],
                                api_visibility="private", queue=False)
    running = gathered.then(batch, inputs=[prompts, dropped, forms.picker, settings, per_prompt, own_token],
                            outputs=[summary, table, download], api_name="batch", concurrency_limit=None,
                            # The table shows the progress; Gradio's tracker would also flag a
                            # cancelled batch's outputs "Error".
                            show_progress="hidden")
    running.success(lambda: gr.DownloadButton(visible=True), outputs=download, api_visibility="private",
                    queue=False)

    def stop(request: gr.Request):
        last = batches.last(session_of(request))
        if last is None:
            return "Cancelled.", gr.skip()
        return render_summary(cancelled(last), stopped=True), render_rows(cancelled(last))

    async def settle(request: gr.Request):
        """Once the cancelled batch has wound down: its final rows (an update it had already sent
        may have landed after Stop's), and the zip of what finished."""
        session = session_of(request)
        await batches.wait_idle(session, timeout=5.0)
        last = batches.last(session)
        if last is None:
            return gr.skip(), gr.skip(), gr.skip()
        last = cancelled(last)
        zip_update = gr.skip()
        if last.paths:
            archive = await asyncio.to_thread(batches.archive, last)
            zip_update = gr.DownloadButton(value=str(archive), visible=True)
        return render_summary(last, stopped=True), render_rows(last), zip_update

    cancel.click(stop, outputs=[summary, table], cancels=[running], queue=False,
                 api_visibility="private").then(settle, outputs=[summary, table, download],
                                                api_visibility="private", show_progress="hidden")


def _read(file: str | None) -> tuple[str | None, bytes | None]:
    """A dropped file's name and bytes (one byte past the limit at most: the service says it is too big)."""
    if not file:
        return None, None
    path = Path(file)
    with path.open("rb") as handle:
        return path.name, handle.read(MAX_FILE_BYTES + 1)


def cancelled(snapshot: BatchSnapshot) -> BatchSnapshot:
    """The batch as it stands once Cancel is pressed: what had not finished shows as cancelled."""
    items = []
    for item in snapshot.items:
        if item.finished:
            items.append(item)
            continue
        slots = tuple(s if s.done else replace(s, status="canceled") for s in item.slots)
        items.append(replace(item, state="done", slots=slots) if slots else replace(item, state="canceled"))
    return replace(snapshot, items=tuple(items))


def render_summary(snapshot: BatchSnapshot, *, stopped: bool = False) -> str:
    total = len(snapshot.items)
    parts = [f"**{total} prompt{'s' * (total != 1)}** with {html.escape(snapshot.batch.model)}"]
    for label, statuses in (("done", ("succeeded",)), ("partly done", ("partial",)), ("running", ("running",)),
                            ("queued", ("queued",)), ("failed", ("failed",)), ("cancelled", ("canceled",))):
        if count := snapshot.count(*statuses):
            parts.append(f"{count} {label}")
    text = " · ".join(parts)
    if stopped:
        text += "\n\nBatch cancelled: finished images are kept in History."
    elif snapshot.done:
        made = len(snapshot.paths)
        text += f"\n\nFinished: {made} image{'s' * (made != 1)}, all in History."
    return text


def render_rows(snapshot: BatchSnapshot) -> str:
    """The batch as an HTML table: line, prompt, images (thumbnails linking to the originals), status.
    Every prompt and message is escaped: they are anyone's text."""
    rows = []
    for item in snapshot.items:
        images = "".join(
            f'<a href="{_url(path)}" target="_blank" rel="noopener"><img src="{_url(path)}" loading="lazy" '
            f'alt="image for line {item.line}"></a>' for path in item.paths)
        rows.append(
            f'<tr class="batch-row batch-{item.status}" data-line="{item.line}">'
            f'<td class="batch-line">{item.line}</td>'
            f'<td class="batch-prompt">{html.escape(item.prompt)}</td>'
            f'<td class="batch-images">{images}</td>'
            f'<td class="batch-status">{html.escape(_status(item))}</td></tr>')
    return ('<table class="batch-table"><thead><tr><th>Line</th><th>Prompt</th><th>Images</th>'
            f'<th>Status</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _status(item) -> str:
    if item.status in STATUS_WORDS:
        return STATUS_WORDS[item.status]
    if item.status == "succeeded":
        took = status.elapsed(max(item.slots, key=lambda s: s.finished_at or 0.0))
        return f"done in {took}" if took else "done"
    failed = [s for s in item.slots if s.status == "failed"]
    if item.status == "partial":
        made = sum(s.status == "succeeded" for s in item.slots)
        why = f": {failed[0].message}" if failed and failed[0].message else ""
        return f"{made} of {len(item.slots)} images{why}"
    return f"failed: {item.message or 'unknown error'}"


def _url(path: Path) -> str:
    # Relative: the page may be served under a path prefix (a proxy, a Space).
    return html.escape(f"gradio_api/file={quote(str(path))}")
