"""Gradio Blocks: layout and wiring only. No HTTP, no SQL, no file formats: those live in the service."""

from __future__ import annotations

import functools
from pathlib import Path

import gradio as gr

from imagen_ui import gradio_tuning
from imagen_ui.catalog import ModelEntry
from imagen_ui.schema import InvalidRequest
from imagen_ui.service import SET_COOKIE_JS, BatchService, GenerationService, count_input
from imagen_ui.ui import account as ui_account
from imagen_ui.ui import batch_tab as ui_batch
from imagen_ui.ui import compare_tab as ui_compare
from imagen_ui.ui import history_tab as ui_history
from imagen_ui.ui import image_inputs
from imagen_ui.ui import mcp_tools as ui_mcp
from imagen_ui.ui import notices, snippets
from imagen_ui.ui import status_lines as status
from imagen_ui.ui.assets import CSS, PAGE_JS
from imagen_ui.ui.form import Form, Forms, carried_over, controls_for, slug
from imagen_ui.ui.session import Who, refusal, session_of, stream
from imagen_ui.ui.tiles import Tiles, shape_of

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
LAUNCH_OPTIONS = {"js": PAGE_JS, "css": CSS, "theme": gr.themes.Default()}


def build(
    service: GenerationService,
    *,
    offline_notice: str | None = None,
    analytics: bool = False,
    public: bool = False,
    trust_forwarded: bool = False,
    max_threads: int = gradio_tuning.MAX_THREADS,
    mcp: bool = False,
    batches: BatchService | None = None,
) -> gr.Blocks:
    """The playground page. `offline_notice` is shown at the top when set.

    `public`: visitors each see only their own history, quotas apply, and they may bring a token."""
    batches = batches or BatchService(service)
    with gr.Blocks(title="imagen-ui", analytics_enabled=analytics) as demo:
        gr.Markdown("## imagen-ui · text to image on Replicate")
        if offline_notice:
            gr.Markdown(offline_notice, elem_id="offline-banner")
        # Said once, when the page opens on another model than it is set up for (Replicate withdrew it).
        notice = gr.Markdown(visible=False, elem_id="model-notice")
        who = Who(public, trust_forwarded)
        with gr.Tabs(elem_id="tabs") as tabs:
            with gr.Tab("Generate", id="generate-tab"):
                own_token = (ui_account.build(demo, service, offline=offline_notice is not None)
                             if public else gr.State(None))
                forms, events = _playground(service, own_token, who)
                ui_batch.build(batches, forms, own_token, who)
            with gr.Tab("Compare", id="compare-tab"):
                compared = ui_compare.build(service, own_token, who, forms, tabs)
            with gr.Tab("History", id="history-tab") as history_tab:
                ui_history.build(service, forms, tabs, who, history_tab)
        if mcp:
            ui_mcp.build(service, who)
        demo.load(None, js=SET_COOKIE_JS)
        _follow_retirements(demo, service, forms, notice, compared, events)

        def closed(request: gr.Request) -> None:
            service.cancel_session(session_of(request))
            batches.cancel_session(session_of(request))

        demo.unload(closed)

    gradio_tuning.memoize_block_configs(demo)
    gradio_tuning.tune_queue(demo, max_threads=max_threads)
    return demo


def _playground(service: GenerationService, own_token: gr.State, who: Who) -> Forms:
    """The Generate tab: model picker, prompt, one form per model, gallery and status lines."""
    catalog = service.catalog
    default = service.default_model
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            picker = gr.Dropdown(
                [(_model_label(m, e), m) for m, e in catalog.items()], value=default, label="Model",
                elem_id="model", visible=len(catalog) > 1,
            )
            about = gr.Markdown(_about(catalog[default]), elem_id="model-about")
            prompt = gr.Textbox(
                label="Prompt",
                lines=4,
                max_lines=12,
                placeholder="Describe the image… (Ctrl+Enter to generate)",
                elem_id="prompt",
                elem_classes=[_limit_class(catalog[default])],
                autofocus=True,
            )
            forms = Forms(picker, prompt)
            # Buttons right under the prompt: on a phone they stay in reach above the options.
            with gr.Row():
                for model in catalog:
                    primary = model == default
                    forms.forms[model] = Form(model, generate=gr.Button(
                        "Generate", variant="primary", visible=primary, elem_classes=["generate-button"],
                        elem_id="generate" if primary else f"generate-{slug(model)}",
                    ))
                cancel = gr.Button("Cancel", variant="secondary", elem_id="cancel")  # live while running
            # One count for every model (a model's own count input is hidden and set from it).
            count = gradio_tuning.accept_any_payload(gr.Slider(1, service.max_images, value=1, step=1,
                                                               label="Images", elem_id="num_images"))
            estimate = gr.Markdown(service.estimate(default, 1), elem_id="estimate")
            # Public mode: what is left of the visitor's hour on the host's token, said as a number.
            quota_left = gr.Markdown(elem_id="quota-left", visible=who.public)
            for model, entry in catalog.items():
                form = forms.forms[model]
                with gr.Column(visible=model == default) as form.column:
                    if entry.schema is not None:
                        form.controls = controls_for(entry.schema, primary=model == default,
                                                     check_images=functools.partial(service.precheck_images, model))
        with gr.Column(scale=3, min_width=320):
            gallery = gr.Gallery(
                label="Images",
                columns=2,
                height="auto",
                object_fit="contain",
                # Our own Download buttons below give the originals under their names; the
                # gallery's "download all" would zip the placeholders as gallery.zip.
                buttons=["fullscreen"],
                elem_id="gallery",
            )
            with gr.Row(elem_id="downloads"):
                download_one = gr.DownloadButton("Download", visible=False, size="sm", elem_id="download")
                download_all = gr.DownloadButton("Download all", visible=False, size="sm",
                                                 elem_id="download-all")
                use_input = gr.Button("Use as input", visible=False, size="sm", elem_id="use-as-input")
            chosen = gr.State(None)  # the image "Use as input" takes: the selected one, else the first
            status_box = gr.Markdown(label="status", elem_id="status")
            gr.HTML('<button id="notify-me" type="button">Notify me when images are ready in a background '
                    "tab</button>", elem_id="notify", padding=False)
            _api_code(service, forms, count)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            _examples(forms, catalog)
        with gr.Column(scale=2):
            dropped = gr.File(
                label="Drop one of your images here to reuse its settings",
                file_types=[".png", ".jpg", ".jpeg", ".webp"],  # every format we write settings into
                height=140,
                elem_id="drop-settings",
            )

    def pick(model: str):
        shown = {part: gr.update(visible=name == model)
                 for name, form in forms.forms.items() for part in (form.column, form.generate)}
        return {about: _about(catalog[model]), prompt: gr.update(elem_classes=[_limit_class(catalog[model])]),
                **shown}

    picker.change(pick, inputs=picker,
                  outputs=[about, prompt, *(part for f in forms.forms.values() for part in (f.column, f.generate))],
                  api_visibility="private")

    shown = gr.State(default)  # the model whose form was on screen before the person picked another

    def carry_over(data: dict):
        """A person picked another model: its form takes the values it shares with the last one.
        (On .input, not .change: Reuse settings sets the picker and the form together.)"""
        before, now = data[shown], data[forms.picker]
        updates = {shown: now}
        if before in forms.forms and now in forms.forms and before != now and catalog[now].schema:
            values = forms.forms[before].values(data)
            updates.update(forms.fill(now, carried_over(values, catalog[now].schema)))
            updates.pop(forms.picker, None)
        return updates

    picker.input(carry_over, inputs={shown, *forms.components}, outputs=[shown, *forms.components],
                 api_visibility="private")

    def price(data: dict):
        model = data[picker]
        form = forms.forms.get(model)
        values = {name: data[c] for name, c in form.controls.items() if c in data} if form else {}
        return service.estimate(model, data[count], values)

    # The estimate follows what changes the price: the model, the count, a priced input (resolution).
    priced = [c for f in forms.forms.values() for name, c in f.controls.items() if name in service.priced_inputs]
    for trigger in (picker.change, count.change, *(c.change for c in priced)):
        trigger(price, inputs={picker, count, *priced}, outputs=estimate, api_visibility="private",
                queue=False, show_progress="hidden")

    events = [_wire_generate(service, form, prompt, count, own_token, who, gallery, status_box,
                             api_name="generate" if model == default else f"generate_{slug(model)}")
              for model, form in forms.forms.items()]

    def stop(request: gr.Request) -> str:
        return status.render_cancelled(service.last_snapshot(session_of(request)))

    stopped = cancel.click(stop, outputs=status_box, cancels=events, queue=False, api_visibility="private")

    def offer_downloads(request: gr.Request):
        """After a click (or its cancel): Download has its first image, Download all the zip."""
        snapshot = service.last_snapshot(session_of(request))
        paths = snapshot.paths if snapshot else []
        archive = service.archive(snapshot) if snapshot else None
        return {
            download_one: gr.update(value=str(paths[0]) if paths else None, visible=bool(paths),
                                    label="Download image 1" if len(paths) > 1 else "Download"),
            download_all: gr.update(value=str(archive) if archive else None, visible=archive is not None,
                                    label=f"Download all {len(paths)} (.zip)"),
            use_input: gr.update(visible=bool(paths)),
            chosen: str(paths[0]) if paths else None,
        }

    for event in (*events, stopped):
        event.then(offer_downloads, outputs=[download_one, download_all, use_input, chosen],
                   api_visibility="private")

    picked = gr.State(0)  # the tile last selected (0: the first image)

    def pick_image(request: gr.Request, event: gr.SelectData):
        """The selected tile's original, if it is one (a placeholder has nothing to download)."""
        snapshot = service.last_snapshot(session_of(request))
        items = Tiles().items(snapshot) if snapshot else []
        path = items[event.index][0] if 0 <= event.index < len(items) else None
        if path is None or Path(path) not in snapshot.paths:
            return {download_one: gr.update(visible=False), picked: event.index, use_input: gr.update(visible=False),
                    chosen: None}
        return {download_one: gr.update(value=path, visible=True, label=f"Download image {event.index + 1}"),
                picked: event.index, use_input: gr.update(visible=True), chosen: path}

    gallery.select(pick_image, outputs=[download_one, picked, use_input, chosen], api_visibility="private")
    _wire_seed_buttons(service, forms, picked)
    image_controls = image_inputs.controls_of(forms)

    def use_chosen(data: dict):
        """The generated image into the picked model's image input: edit the result next."""
        return image_inputs.use_as_input(service, forms, data[picker], data[chosen], data)

    use_input.click(use_chosen, inputs={picker, chosen, *image_controls}, outputs=[picker, *image_controls],
                    api_visibility="private")

    def restore(path: str | None):
        found = service.settings_from_image(Path(path).read_bytes()) if path else None
        if found is None:
            if path:
                notices.warn("That image carries no settings of ours to reuse.")
            return {dropped: None}
        skipped = f" except {', '.join(found.skipped)} (not values this model takes)" if found.skipped else ""
        notices.info(f"Settings restored from the image{skipped}.")
        return {**forms.fill(found.model, found.values), dropped: None}

    dropped.upload(restore, inputs=dropped, outputs=[*forms.components, dropped],
                   api_visibility="private")
    def left(token: str | None, request: gr.Request) -> str:
        remaining = service.images_left(who(request, token))
        if remaining is None:
            return ""
        return f"{remaining} image{'s' * (remaining != 1)} left this hour on this demo's token."

    if who.public:
        for event in events:
            event.then(left, inputs=own_token, outputs=quota_left, api_visibility="private")
        prompt.focus(left, inputs=own_token, outputs=quota_left, api_visibility="private", queue=False)
    return forms, events


def _follow_retirements(demo: gr.Blocks, service: GenerationService, forms: Forms, notice: gr.Markdown,
                        compared, events: list) -> None:
    """A model Replicate withdrew is marked in the picker and Compare; the page opens on the first
    usable one and says so once (on load); a click that finds a model gone moves the picker off it."""
    picker = forms.picker

    def models_now():
        catalog = service.catalog
        usable = [m for m, e in catalog.items() if e.usable]
        return ([(_model_label(m, e), m) for m, e in catalog.items()], usable)

    def on_load():
        choices, usable = models_now()
        text = service.retirement_notice()
        return {picker: gr.update(choices=choices, value=service.default_model),
                notice: gr.update(value=f"⚠ {text}" if text else "", visible=bool(text)),
                compared: gr.update(choices=usable, value=usable[: service.max_compare])}

    demo.load(on_load, outputs=[picker, notice, compared], api_visibility="private", queue=False)

    def after_click(model: str):
        entry = service.catalog.get(model)
        if entry is None or not entry.retired:
            return {picker: gr.skip(), notice: gr.skip(), compared: gr.skip()}
        choices, usable = models_now()
        moved = service.usable_model(model)
        return {picker: gr.update(choices=choices, value=moved),
                notice: gr.update(value=f"⚠ {model} is no longer available on Replicate, so the page "
                                        f"moved to {moved}.", visible=True),
                compared: gr.update(choices=usable, value=usable[: service.max_compare])}

    for event in events:
        # A click that finds its model gone fails, and Gradio runs no .then() after a failure.
        for follow in (event.then, event.failure):
            follow(after_click, inputs=picker, outputs=[picker, notice, compared], api_visibility="private")


def _wire_seed_buttons(service: GenerationService, forms: Forms, picked: gr.State) -> None:
    """Each seed box's Random (empty: a new seed per image) and Reuse (the selected image's seed)."""
    for form in forms.forms.values():
        box = form.controls.get("seed")
        if box is None or not hasattr(box, "seed_buttons"):
            continue
        random_button, reuse_button = box.seed_buttons
        random_button.click(lambda: "", outputs=box, api_visibility="private", queue=False)

        def reuse(index: int, request: gr.Request):
            snapshot = service.last_snapshot(session_of(request))
            slots = snapshot.slots if snapshot else ()
            slot = slots[index] if 0 <= index < len(slots) else (slots[0] if slots else None)
            if slot is None or slot.seed is None:
                notices.warn("No image with a known seed yet: generate one first.")
                return gr.skip()
            return str(slot.seed)

        reuse_button.click(reuse, inputs=picked, outputs=box, api_visibility="private")


def _wire_generate(service, form: Form, prompt, count, own_token, who: Who, gallery, status_box,
                   *, api_name: str):
    """One model's Generate: validate, then stream its images; the API endpoint `api_name`."""
    model = form.model

    async def run(request: gr.Request, *values):
        *field_values, num_images, token = values
        # Positional: /generate's parameter order is the public API (prompt, then the schema's order).
        try:  # checking input images decodes them: off the event loop
            inputs, n = await service.avalidate(dict(zip(["prompt", *form.controls], field_values)),
                                                num_images, model=model)
        except InvalidRequest as error:
            raise refusal("Check the form", str(error)) from None
        generation = service.generate(inputs, n, model=model, visitor=who(request, token),
                                      session=session_of(request))
        async for update in stream(generation, status.render, Tiles(shape_of(inputs.get("aspect_ratio")))):
            yield update

    run.__doc__ = f"Generate images with {model}: the prompt, its inputs, and the number of images."
    gradio_tuning.name_parameters(run, ("prompt", *form.controls, "num_images", "own_token"))
    return form.generate.click(
        run,
        inputs=[prompt, *form.controls.values(), count, own_token],  # own_token: session state, not in the API
        outputs=[gallery, status_box],
        api_name=api_name,
        concurrency_limit=None,  # I/O-bound: one visitor never waits for another's images
        show_progress="minimal",
        # The service validates every input itself; Gradio's per-input preprocessing would only
        # cost a worker-thread round trip per input, on every click.
        preprocess=False,
    )


def _api_code(service: GenerationService, forms: Forms, count) -> None:
    """"Use via API": the same request as Python, JavaScript and curl, for the current form."""
    with gr.Accordion("Use via API", open=False, elem_id="api-code") as accordion:
        gr.Markdown("The same request with Replicate's own clients. Set `REPLICATE_API_TOKEN` first; "
                    "the token is never shown here.")
        with gr.Tabs():
            with gr.Tab("Python"):
                python = gr.Code(language="python", elem_id="api-python", interactive=False)
            with gr.Tab("JavaScript"):
                javascript = gr.Code(language="javascript", elem_id="api-javascript", interactive=False)
            with gr.Tab("curl"):
                curl = gr.Code(language="shell", elem_id="api-curl", interactive=False)
    def show(data: dict):
        """Inputs by component (a set of inputs gives one dict): the picked model's form, by name,
        and the image count: the model's own count input, or that many runs."""
        model = data[forms.picker]
        form = forms.forms.get(model)
        if form is None:
            return "", "", ""
        schema = service.schema_for(model)
        inputs = {"prompt": data[forms.prompt] or "", **form.values(data)}
        inputs = {k: v for k, v in inputs.items() if v not in (None, "") or k == "prompt"}
        # The slider's raw payload (an int, or a float such as 3.0); anything else counts as one image.
        value = data[count]
        number = (int(value) if isinstance(value, (int, float)) and not isinstance(value, bool)
                  and 1 <= value <= service.max_images else 1)
        own = count_input(schema)
        runs = 1 if own else number
        if own and number > 1:
            inputs[own] = number
        return (snippets.python_snippet(schema, inputs, runs=runs),
                snippets.javascript_snippet(schema, inputs, runs=runs),
                snippets.curl_snippet(schema, inputs, runs=runs))

    # It follows the form as it changes (each trigger's latest state wins), not only when opened.
    triggers = [accordion.expand, count.change, *(c.change for c in forms.components)]
    gr.on(triggers, show, inputs={count, *forms.components}, outputs=[python, javascript, curl],
          api_visibility="private", trigger_mode="always_last", show_progress="hidden")  # queued: in order


def _about(entry: ModelEntry) -> str:
    schema = entry.schema
    page = (schema.url if schema else None) or f"https://replicate.com/{entry.model}"
    text = f"[{entry.model}]({page})"
    if schema and schema.description:
        text += f": {schema.description}"
    if entry.problem:
        text += f"\n\n<span class='model-problem'>⚠ {entry.problem}</span>"
    return text


def _limit_class(entry: ModelEntry) -> str:
    """The prompt's length limit as a class the page's counter reads ("limit-2000")."""
    field = next((f for f in entry.schema.fields if f.name == "prompt"), None) if entry.schema else None
    return f"limit-{field.max_length}" if field is not None and field.max_length else "limit-0"


def _model_label(model: str, entry: ModelEntry) -> str:
    if entry.retired:
        return f"{model} (retired)"
    return f"{model} (unavailable)" if entry.problem else model


def _examples(forms: Forms, catalog) -> None:
    """Examples fill the prompt and the picked model's aspect ratio, where it offers that ratio."""
    ratio = gr.Textbox(visible=False, label="Aspect ratio")
    gr.Examples([list(e) for e in EXAMPLES], inputs=[forms.prompt, ratio], label="Examples")
    targets = [f.controls["aspect_ratio"] for f in forms.forms.values() if "aspect_ratio" in f.controls]

    def apply(data: dict):
        model = data[forms.picker]
        schema = catalog[model].schema if model in catalog else None
        if schema is None or not data[ratio]:
            return {}
        updates = forms.fill(model, carried_over({"aspect_ratio": data[ratio]}, schema))
        updates.pop(forms.picker, None)
        return updates

    ratio.change(apply, inputs={ratio, forms.picker}, outputs=targets, api_visibility="private")
