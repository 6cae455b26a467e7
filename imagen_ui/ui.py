"""Gradio Blocks: layout and wiring only. No HTTP, no SQL, no file formats: those live in the service."""

from __future__ import annotations

import contextlib
import functools
import inspect
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from imagen_ui import status, ui_account, ui_history
from imagen_ui.quota import QuotaExceeded, visitor_keys
from imagen_ui.schema import InputField, InvalidRequest, ModelSchema, choice_label
from imagen_ui.service import GenerationService, Visitor
from imagen_ui.visitor import SET_COOKIE_JS, visitor_id

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


@dataclass(frozen=True)
class Form:
    """The Generate tab's inputs, so other tabs can fill them ("Reuse settings")."""

    prompt: gr.Textbox
    controls: list
    names: list[str]  # the controls' input names, in order

    @property
    def components(self) -> list:
        return [self.prompt, *self.controls]

    def values(self, values: dict) -> list:
        """Updates for prompt + controls from a dict of input values (missing: left as they are)."""
        prompt = values.get("prompt", gr.skip())
        return [prompt, *(values.get(name, gr.skip()) for name in self.names)]


LAUNCH_OPTIONS = {"js": SHORTCUT_JS, "css": CSS, "theme": gr.themes.Default()}


def build(
    service: GenerationService,
    *,
    offline_notice: str | None = None,
    analytics: bool = False,
    public: bool = False,
    trust_forwarded: bool = False,
    secret_dir: Path | None = None,
    max_threads: int = 256,
) -> gr.Blocks:
    """The playground page for the service's model. `offline_notice` is shown at the top when set.

    `public`: visitors each see only their own history (share link, Spaces)."""
    schema = service.schema
    with gr.Blocks(title=f"imagen-ui · {schema.model}", analytics_enabled=analytics) as demo:
        _header(schema, offline_notice)
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("Generate", id="generate-tab"):
                own_token = (ui_account.build(demo, service, secret_dir or service.history.root)
                             if public else gr.State(None))
                form = _playground(service, own_token, public, trust_forwarded)
            with gr.Tab("History", id="history-tab") as history_tab:
                ui_history.build(service, form, tabs, public, history_tab)
        demo.load(None, js=SET_COOKIE_JS)

        def closed(request: gr.Request) -> None:
            service.cancel_session(_session(request))

        demo.unload(closed)

    _memoize_api_info(demo)
    # The queue's worker slots are sized from max_threads when the queue is made (Gradio notes).
    demo.max_threads = max_threads
    demo.queue(default_concurrency_limit=None)
    return demo


def _memoize_api_info(demo: gr.Blocks) -> None:
    """Compute each component's API description once instead of on every event.

    Gradio 6 rebuilds a component's config, including three pydantic JSON-schema generations
    (api_info, as input, as output), for every block of a new session and for every output of
    every streamed update; with 64 visitors that was most of the server's CPU. The descriptions
    depend only on the component's construction, which this page never changes.
    """
    for block in demo.blocks.values():
        for name in ("api_info", "api_info_as_input", "api_info_as_output", "example_inputs"):
            method = getattr(block, name, None)
            if callable(method):
                setattr(block, name, functools.cache(method))


def _playground(service: GenerationService, own_token: gr.State, public: bool,
                trust_forwarded: bool) -> Form:
    """The Generate tab: form, buttons, gallery and status lines; returns the form's inputs."""
    schema = service.schema
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
            # Buttons right under the prompt: on a phone they stay in reach above the options.
            with gr.Row():
                generate = gr.Button("Generate", variant="primary", elem_id="generate")
                cancel = gr.Button("Cancel", variant="stop", elem_id="cancel")
            controls = [_control(f) for f in schema.fields if f.name != "prompt"]
            count = _unchecked(gr.Slider(
                1, service.max_images, value=1, step=1, label="Number of images", elem_id="num_images"
            ))
        with gr.Column(scale=3, min_width=320):
            gallery = gr.Gallery(
                label="Images",
                columns=2,
                height="auto",
                object_fit="contain",
                buttons=["download", "download_all", "fullscreen"],
                elem_id="gallery",
            )
            status_box = gr.Markdown(label="status", elem_id="status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            _examples(prompt, controls, schema)
        with gr.Column(scale=2):
            dropped = gr.File(
                label="Drop one of your images here to reuse its settings",
                file_types=[".png", ".jpg", ".jpeg"],
                height=140,
                elem_id="drop-settings",
            )

    form = Form(prompt, controls, [f.name for f in schema.fields if f.name != "prompt"])

    async def run(request: gr.Request, *values):
        """Generate images: (prompt, aspect_ratio, output_format, safety_filter_level, num_images)."""
        *field_values, num_images, token = values
        try:
            inputs, n = service.validate(dict(zip(["prompt", *form.names], field_values)), num_images)
        except InvalidRequest as error:
            raise gr.Error(str(error), title="Check the form") from None
        visitor = Visitor(
            owner=visitor_id(request) if public else None,
            keys=tuple(visitor_keys(request, trust_forwarded=trust_forwarded)) if public else (),
            token=token or None,
        )
        last = None
        generation = service.generate(inputs, n, visitor=visitor, session=_session(request))
        async with contextlib.aclosing(generation):
            try:
                last = await anext(generation)  # the quota is checked before anything is sent
            except QuotaExceeded as error:
                raise gr.Error(str(error), title="Limit reached") from None
            yield [], status.render(last)
            async for snapshot in generation:
                last = snapshot
                # The whole list each time, not gr.skip(): in Gradio 6 a skip is an "update" that
                # builds a new Gallery and its config per yield, which costs more than re-sending a
                # few paths (served as static files, so nothing is copied).
                yield [str(p) for p in snapshot.paths], status.render(snapshot)
        failures = [s.message for s in (last.slots if last else ()) if s.status == "failed"]
        if last is not None and not last.paths and failures:
            raise gr.Error(failures[0], title="No image was made")

    # Name the API's parameters after the inputs (the handler itself takes them as *values).
    run.__signature__ = inspect.Signature(
        [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request)]
        + [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
           for n in ("prompt", *form.names, "num_images", "own_token")]
    )
    click = generate.click(
        run,
        inputs=[prompt, *controls, count, own_token],  # own_token: session state, not in the API
        outputs=[gallery, status_box],
        api_name="generate",
        concurrency_limit=None,  # I/O-bound: one visitor never waits for another's images
        show_progress="minimal",
    )

    def stop(request: gr.Request) -> str:
        return status.render_cancelled(service.last_snapshot(_session(request)))

    cancel.click(stop, outputs=status_box, cancels=[click], queue=False, api_visibility="private")

    def restore(path: str | None):
        values = service.settings_from_image(Path(path).read_bytes()) if path else None
        if values is None:
            if path:
                gr.Warning("That image carries no settings of ours to reuse.")
            return [gr.skip()] * (1 + len(controls)) + [None]
        gr.Info("Settings restored from the image.")
        return [*form.values(values), None]

    dropped.upload(restore, inputs=dropped, outputs=[*form.components, dropped],
                   api_visibility="private")
    return form


def _header(schema: ModelSchema, offline_notice: str | None) -> None:
    page = schema.url or f"https://replicate.com/{schema.model}"
    gr.Markdown(f"## imagen-ui · [{schema.model}]({page})\n{schema.description or ''}")
    if offline_notice:
        gr.Markdown(offline_notice, elem_id="offline-banner")


def _unchecked(slider: gr.Slider) -> gr.Slider:
    """Let the service, not Gradio, refuse an out-of-range value sent straight to the API, so the
    message names the field ("Number of images must be…") instead of Gradio's generic bounds error.
    Set on the instance: a Slider subclass would make Gradio write a .pyi file into this package."""
    slider.preprocess = lambda payload: payload
    return slider


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
        return _unchecked(gr.Slider(
            field.minimum, field.maximum, value=field.default, step=step, label=label, info=info,
            elem_id=field.name,
        ))
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
