"""The History tab: every image kept, newest first, searchable, with reuse, download and delete.

Layout and wiring only; what a visitor may see and do is decided by the service (`Viewer`).
"""

from __future__ import annotations

import html
from urllib.parse import quote

import gradio as gr

from imagen_ui.schema import choice_label, humanize
from imagen_ui.service import Entry, GenerationService
from imagen_ui.ui import image_inputs
from imagen_ui.ui import notices
from imagen_ui.ui.labels import label_for
from imagen_ui.ui.session import Who, refusal

PER_PAGE = 24


def build(service: GenerationService, forms, tabs: gr.Tabs, who: Who, tab: gr.Tab) -> None:
    viewer = who.viewer

    with gr.Row(equal_height=True, elem_id="history-search-row"):
        search = gr.Textbox(placeholder="Search prompts…", show_label=False, scale=5, container=False,
                            elem_id="history-search", max_length=200)
        refresh = gr.Button("Search", scale=1, elem_id="history-refresh")
    gallery = gr.Gallery(
        label="history",
        show_label=False,
        columns=6,
        height="auto",
        object_fit="cover",
        allow_preview=False,  # a click selects; the full-size view is in the details below
        buttons=[],
        elem_id="history-gallery",
    )
    with gr.Row():
        newer = gr.Button("← Newer", size="sm", elem_id="history-newer", interactive=False)
        where = gr.Markdown(label="page", elem_id="history-page")
        older = gr.Button("Older →", size="sm", elem_id="history-older")
    with gr.Row(visible=False, elem_id="history-details", equal_height=False) as details:
        full = gr.Image(show_label=False, interactive=False, buttons=["fullscreen"], scale=3,
                        elem_id="history-image")
        with gr.Column(scale=2):
            about = gr.Markdown(elem_id="history-about")
            made_from = gr.Gallery(label="Made from", columns=6, fit_columns=False, height=110, object_fit="cover",
                                   allow_preview=False, buttons=[], interactive=False, visible=False,
                                   elem_id="history-inputs")
            with gr.Row():
                reuse = gr.Button("Reuse settings", variant="primary", elem_id="history-reuse")
                use_input = gr.Button("Use as input", elem_id="history-use-as-input")
                download = gr.DownloadButton("Download", elem_id="history-download")
                delete = gr.Button("Delete…", variant="stop", elem_id="history-delete")
            with gr.Group(visible=False, elem_id="history-confirm-box") as confirm_row:
                gr.Markdown("Delete this image for good? This cannot be undone.")
                with gr.Row():
                    confirm = gr.Button("Yes, delete it", variant="stop", elem_id="history-confirm")
                    keep = gr.Button("Keep it", elem_id="history-keep")

    page_no = gr.State(0)
    shown_ids = gr.State([])
    selected = gr.State(None)

    def load(query: str, page: int, request: gr.Request):
        found = service.history_page(viewer(request), query=query, page=page, per_page=PER_PAGE)
        # Tiles are small previews (loaded lazily by the gallery); the details below show and
        # download the original.
        items = [(str(service.preview(e, "tile") or e.path), _caption(e)) for e in found.entries]
        if found.total:
            label = f"Page {found.page + 1} of {found.pages} · {found.total} image{'s' * (found.total != 1)}"
            if cost := service.history_cost(viewer(request), query=query):
                label += f" · {cost}"
        else:
            label = "No images match." if query else "No images yet: the ones you generate appear here."
        return {gallery: items, where: label, page_no: found.page, shown_ids: [e.id for e in found.entries],
                selected: None, details: gr.update(visible=False), confirm_row: gr.update(visible=False),
                newer: gr.update(interactive=found.page > 0),
                older: gr.update(interactive=found.page < found.pages - 1)}

    listing = [gallery, where, page_no, shown_ids, selected, details, confirm_row, newer, older]
    refresh.click(load, inputs=[search, page_no], outputs=listing, api_name="history")
    for trigger in (tab.select, search.submit):
        trigger(load, inputs=[search, page_no], outputs=listing, api_visibility="private")

    def load_newer(query: str, page: int, request: gr.Request):
        return load(query, page - 1, request)

    def load_older(query: str, page: int, request: gr.Request):
        return load(query, page + 1, request)

    newer.click(load_newer, inputs=[search, page_no], outputs=listing, api_visibility="private")
    older.click(load_older, inputs=[search, page_no], outputs=listing, api_visibility="private")

    def choose(ids: list[int], request: gr.Request, event: gr.SelectData):
        entry_id = ids[event.index] if 0 <= event.index < len(ids) else None
        entry = service.history_entry(viewer(request), entry_id)
        path = str(entry.path) if entry else None
        inputs = [str(p) for p in service.input_image_paths(entry.inputs)] if entry else []
        return {selected: entry.id if entry else None, details: gr.update(visible=entry is not None),
                about: _details(entry) + _open_original(path) if entry else "", full: path, download: path,
                confirm_row: gr.update(visible=False), made_from: gr.update(value=inputs, visible=bool(inputs))}

    gallery.select(choose, inputs=shown_ids,
                   outputs=[selected, details, about, full, download, confirm_row, made_from],
                   api_visibility="private")

    def reuse_settings(entry_id: int | None, request: gr.Request):
        entry = service.history_entry(viewer(request), entry_id)
        if entry is None:
            raise refusal("Not found", "That image is no longer in the history.")
        model = service.usable_model(entry.model)
        if model != entry.model:
            notices.info(f"{entry.model} is not available any more: settings copied to {model} instead.")
        else:
            notices.info("Settings copied to the Generate tab.")
        values = service.form_values(entry.inputs, model)
        return {**forms.fill(model, values), tabs: gr.Tabs(selected="generate-tab")}

    reuse.click(reuse_settings, inputs=selected, outputs=[*forms.components, tabs],
                api_visibility="private")

    controls = image_inputs.controls_of(forms)

    def use(data: dict, request: gr.Request):
        entry = service.history_entry(viewer(request), data[selected])
        if entry is None:
            raise refusal("Not found", "That image is no longer in the history.")
        return {**image_inputs.use_as_input(service, forms, data[forms.picker], str(entry.path), data),
                tabs: gr.Tabs(selected="generate-tab")}

    use_input.click(use, inputs={forms.picker, selected, *controls}, outputs=[forms.picker, tabs, *controls],
                    api_visibility="private")

    delete.click(lambda: gr.update(visible=True), outputs=confirm_row, api_visibility="private")
    keep.click(lambda: gr.update(visible=False), outputs=confirm_row, api_visibility="private")

    def remove(entry_id: int | None, query: str, page: int, request: gr.Request):
        if entry_id is None or not service.delete_entry(viewer(request), entry_id):
            notices.warn("That image was already gone.")
        return load(query, page, request)

    confirm.click(remove, inputs=[selected, search, page_no], outputs=listing, api_visibility="private")


def _caption(entry: Entry) -> str:
    prompt = " ".join(entry.prompt.split())
    return prompt if len(prompt) <= 60 else prompt[:59] + "…"


def _open_original(path: str) -> str:
    """A link to the original file in a new tab (the full-size view above shows its preview)."""
    href = html.escape("gradio_api/file=" + quote(path), quote=True)
    return f'\n\n<a href="{href}" target="_blank" rel="noopener" class="open-original">Open the original</a>'


def _cell(text: str) -> str:
    return html.escape(" ".join(text.split())).replace("|", "\\|")


def _details(entry: Entry) -> str:
    """The entry's prompt and parameters, as Markdown (escaped: prompts are user text)."""
    created = entry.created_at.replace("T", " ").rstrip("Z").split(".")[0]
    rows = [("Model", entry.model), ("Created", f"{created} UTC"),
            ("Size", f"{entry.width}×{entry.height} {entry.format.upper()}, {entry.byte_size / 1024:.0f} KiB")]
    if entry.predict_time is not None:
        rows.append(("Model time", f"{entry.predict_time:.1f} s"))
    rows += [(label_for(name, humanize(name)), _shown(name, value)) for name, value in entry.inputs.items()
             if name != "prompt"]
    rows.append(("Prediction", entry.prediction_id))
    table = "\n".join(f"| {_cell(k)} | {_cell(v)} |" for k, v in rows)
    return f"**Prompt:** {html.escape(entry.prompt)}\n\n| Setting | Value |\n|---|---|\n{table}"


def _shown(name: str, value: object) -> str:
    """A stored input as a person reads it: kept input images by count (they show under Made from)."""
    names = value if isinstance(value, list) else [value]
    if names and all(isinstance(n, str) and n.startswith("inputs/") for n in names):
        return f"{len(names)} image{'s' * (len(names) != 1)} (under Made from)"
    return choice_label(name, value)
