"""The Compare tab: one prompt sent to several models at once, results side by side with each
model's time. Every image lands in the history like any other."""

from __future__ import annotations

import gradio as gr

from imagen_ui.schema import InvalidRequest, choice_label
from imagen_ui.service import GenerationService
from imagen_ui.ui import notices
from imagen_ui.ui import status_lines as status
from imagen_ui.ui.session import Who, refusal, session_of, stream
from imagen_ui.ui.tiles import Tiles, shape_of


def build(service: GenerationService, own_token: gr.State, who: Who) -> None:
    usable = [m for m, e in service.catalog.items() if e.usable]
    ratios = _shared_choices(service, usable, "aspect_ratio")
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            prompt = gr.Textbox(label="Prompt", lines=3, elem_id="compare-prompt",
                                placeholder="One prompt, several models…")
            models = gr.CheckboxGroup(usable, value=usable[: service.max_compare], label="Models",
                                      elem_id="compare-models")
            aspect = gr.Dropdown([(choice_label("aspect_ratio", r), r) for r in ratios],
                                 value=ratios[0] if ratios else None, label="Aspect ratio",
                                 visible=bool(ratios), allow_custom_value=True,
                                 elem_id="compare-aspect_ratio")
            with gr.Row():
                run_button = gr.Button("Compare", variant="primary", elem_id="compare-run")
                cancel = gr.Button("Cancel", variant="secondary", elem_id="compare-cancel")  # live while running
        with gr.Column(scale=3, min_width=320):
            gallery = gr.Gallery(label="Side by side", columns=max(1, min(len(usable), 4)),
                                 height="auto", object_fit="contain", elem_id="compare-gallery",
                                 buttons=["download", "download_all", "fullscreen"])
            lines = gr.Markdown(label="status", elem_id="compare-status")

    async def compare(prompt: str, models: list[str], aspect_ratio: str | None, token: str | None,
                      request: gr.Request):
        """Compare models: the prompt, the models (owner/name list), and an aspect ratio."""
        common = {"aspect_ratio": aspect_ratio} if aspect_ratio else {}
        try:
            generation = service.compare(prompt, list(models or []), common,
                                         visitor=who(request, token), session=session_of(request))
        except InvalidRequest as error:
            raise refusal("Check the form", str(error)) from None
        async for update in stream(generation, status.render_by_model,
                                   Tiles(shape_of(aspect_ratio), label=lambda slot: slot.model)):
            yield update

    event = run_button.click(compare, inputs=[prompt, models, aspect, own_token],
                             outputs=[gallery, lines], api_name="compare", concurrency_limit=None,
                             show_progress="minimal")
    cancel.click(None, cancels=[event], api_visibility="private")


def _shared_choices(service: GenerationService, models: list[str], name: str) -> list[str]:
    """The choices of input `name` that every one of `models` accepts, in the first one's order."""
    choices: list[str] | None = None
    for model in models:
        schema = service.schema_for(model)
        field = next((f for f in schema.fields if f.name == name and f.choices), None)
        if field is None:
            continue
        choices = list(field.choices) if choices is None else [c for c in choices if c in field.choices]
    return choices or []
