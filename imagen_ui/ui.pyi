"""Gradio Blocks: layout and wiring only. No HTTP, no SQL, no file formats: those live in the service."""

from __future__ import annotations

import gradio as gr

from imagen_ui import status
from imagen_ui.schema import InputField, InvalidRequest, ModelSchema, choice_label
from imagen_ui.service import GenerationService

# The prompt from the model's Replicate page, and a few that show the controls off.
REPLICATE_PAGE_PROMPT = (
    "The photo: Create a cinematic, photorealistic medium shot capturing the dynamic energy of a "
    "high-octane action film. The focus is a young woman with wind-swept dark hair streaked with pink "
    "highlights and determined features, looking directly and intently into the camera lens, she is "
    "slightly off-center. She wears a fitted pink and gold racing jacket over a black tank top with "
    '"Imagen 4 Fast" in motion-stylized lettering and on the next line "on Replicate" emblazoned across '
    "the chest and aviator sunglasses pushed up on her head. The lighting is dramatic with motion blur "
    "streaks and neon reflections from passing city lights, creating dynamic lens flares and light trails "
    "(they do not cover her face). The background shows a blurred urban nightscape with streaking car "
    "headlights and illuminated skyscrapers rushing past, rendered with heavy motion blur and shallow depth "
    "of field. High contrast lighting, vibrant neon color palette with deep blues and electric yellows, and "
    "razor-sharp focus on her intense eyes enhance the fast-paced, electrifying atmosphere. She is "
    "illuminated while the background is darker."
)
EXAMPLES = [
    (REPLICATE_PAGE_PROMPT, "4:3"),
    ("A red fox curled up asleep in fresh snow at dawn, soft pink light, telephoto photo", "16:9"),
    ("Isometric cutaway of a tiny cozy bookshop on a rainy evening, warm windows, detailed", "1:1"),
    ("A vintage travel poster for Mars: 'Visit Olympus Mons', bold flat colors, art deco lettering", "9:16"),
    ("Macro photo of a dew-covered spider web with a blurred garden behind, morning sun", "3:4"),
]
LABELS = {"safety_filter_level": "Safety filter", "output_format": "Output format"}

# Ctrl/Cmd+Enter in the prompt presses Generate (a multi-line box keeps Enter for new lines).
SHORTCUT_JS = """
() => {
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !(event.ctrlKey || event.metaKey)) return;
    if (!event.target.closest || !event.target.closest("#prompt")) return;
    event.preventDefault();
    document.querySelector("#generate")?.click();
  });
}
"""
CSS = """
#offline-banner { border: 1px solid var(--color-accent); border-radius: 8px; padding: 4px 12px;
                  background: var(--color-accent-soft); }
#status p { margin: 2px 0; }
footer { display: none !important; }
"""
LAUNCH_OPTIONS = {"js": SHORTCUT_JS, "css": CSS, "theme": gr.themes.Default()}


def build(
    service: GenerationService,
    *,
    offline_notice: str | None = None,
    analytics: bool = False,
    max_threads: int = 256,
) -> gr.Blocks:
    """The playground page for the service's model. `offline_notice` is shown at the top when set."""
    schema = service.schema
    with gr.Blocks(title=f"imagen-ui · {schema.model}", analytics_enabled=analytics) as demo:
        _header(schema, offline_notice)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                prompt = gr.Textbox(
                    label="Prompt",
                    lines=4,
                    max_lines=12,
                    placeholder="Describe the image… (Ctrl+Enter to generate)",
                    elem_id="prompt",
                    autofocus=True,
                )
                controls = [_control(f) for f in schema.fields if f.name != "prompt"]
                count = UncheckedSlider(
                    1, service.max_images, value=1, step=1, label="Number of images", elem_id="num_images"
                )
                with gr.Row():
                    generate = gr.Button("Generate", variant="primary", elem_id="generate")
                    cancel = gr.Button("Cancel", variant="stop", elem_id="cancel")
                _examples(prompt, controls, schema)
            with gr.Column(scale=3, min_width=320):
                gallery = gr.Gallery(
                    label="Images",
                    columns=2,
                    height="auto",
                    object_fit="contain",
                    buttons=["download", "download_all", "fullscreen"],
                    elem_id="gallery",
                )
                status_box = gr.Markdown(elem_id="status")

        names = ["prompt", *(f.name for f in schema.fields if f.name != "prompt")]

        async def run(request: gr.Request, *values):
            """Generate images: (prompt, aspect_ratio, output_format, safety_filter_level, num_images)."""
            *field_values, num_images = values
            try:
                inputs, n = service.validate(dict(zip(names, field_values)), num_images)
            except InvalidRequest as error:
                raise gr.Error(str(error), title="Check the form") from None
            shown: list[str] | None = None
            last = None
            async for snapshot in service.generate(inputs, n, session=_session(request)):
                paths = [str(p) for p in snapshot.paths]
                gallery_value = gr.skip() if paths == shown else paths
                shown = paths
                last = snapshot
                yield gallery_value, status.render(snapshot)
            failures = [s.message for s in (last.slots if last else ()) if s.status == "failed"]
            if last is not None and not last.paths and failures:
                raise gr.Error(failures[0], title="No image was made")

        click = generate.click(
            run,
            inputs=[prompt, *controls, count],
            outputs=[gallery, status_box],
            api_name="generate",
            concurrency_limit=None,  # I/O-bound: one visitor never waits for another's images
            show_progress="minimal",
        )

        def stop(request: gr.Request) -> str:
            return status.render_cancelled(service.last_snapshot(_session(request)))

        cancel.click(stop, outputs=status_box, cancels=[click], queue=False, api_visibility="private")
        demo.unload(lambda request: service.cancel_session(_session(request)))

    # The queue's worker slots are sized from max_threads when the queue is made (Gradio notes).
    demo.max_threads = max_threads
    demo.queue(default_concurrency_limit=None)
    return demo


def _header(schema: ModelSchema, offline_notice: str | None) -> None:
    page = schema.url or f"https://replicate.com/{schema.model}"
    gr.Markdown(f"## imagen-ui · [{schema.model}]({page})\n{schema.description or ''}")
    if offline_notice:
        gr.Markdown(offline_notice, elem_id="offline-banner")

from gradio.events import Dependency

class UncheckedSlider(gr.Slider):
    """A slider whose value the service validates, so a bad value sent straight to the API gets the
    schema's message naming the field, not Gradio's generic bounds error."""

    is_template = True  # Gradio's template mechanism: the page renders it as a plain Slider

    def preprocess(self, payload: float) -> float:
        return payload
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


def _control(field: InputField) -> gr.components.Component:
    label = LABELS.get(field.name) or field.label
    info = field.description or None
    if field.choices:
        choices = [(choice_label(field.name, value), value) for value in field.choices]
        # allow_custom_value: the schema, not Gradio, refuses an unknown value, with a clearer message.
        return gr.Dropdown(choices, value=field.default, label=label, info=info, elem_id=field.name,
                           allow_custom_value=True)
    if field.kind == "boolean":
        return gr.Checkbox(value=bool(field.default), label=label, info=info, elem_id=field.name)
    if field.kind in ("integer", "number") and field.minimum is not None and field.maximum is not None:
        step = 1 if field.kind == "integer" else (field.maximum - field.minimum) / 100
        return UncheckedSlider(
            field.minimum, field.maximum, value=field.default, step=step, label=label, info=info,
            elem_id=field.name,
        )
    if field.kind in ("integer", "number"):
        return gr.Number(value=field.default, label=label, info=info, elem_id=field.name,
                         precision=0 if field.kind == "integer" else None)
    return gr.Textbox(value=field.default or "", label=label, info=info, elem_id=field.name)


def _examples(prompt: gr.Textbox, controls: list, schema: ModelSchema) -> None:
    if "aspect_ratio" not in schema.names:
        gr.Examples([[p] for p, _ in EXAMPLES], inputs=[prompt])
        return
    aspect = controls[[f.name for f in schema.fields if f.name != "prompt"].index("aspect_ratio")]
    gr.Examples([list(e) for e in EXAMPLES], inputs=[prompt, aspect], label="Examples")


def _session(request: gr.Request | None) -> str | None:
    return getattr(request, "session_hash", None) if request is not None else None