"""Image inputs on the page: a drop / paste / upload area for every schema input that takes images.

One image: a gr.Image. Several: an interactive gr.Gallery (thumbnails; each has its own remove
button) with "Earlier" / "Later" buttons that move the selected image, since the order is what the
model reads ("the first image" is the one match_input_image follows). Values stay file paths: the
service checks and uploads them on Generate.

"Use as input" (on the Generate gallery, Compare and History) puts an image into the picked
model's image input, or, when that model takes none, into the first model that does.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import gradio as gr

from imagen_ui.schema import InputField, ModelSchema

__all__ = ["aspect_help", "controls_of", "image_control", "image_field", "paths_of", "use_as_input"]

# Readable names for the inputs the bundled models give images under.
_NAMES = {"image_input": "Reference images", "input_images": "Input images", "input_image": "Input image"}
# What a model makes for "match_input_image" when no image is given (the emulator does the same).
MATCH_FALLBACK = "1:1"


def image_field(schema: ModelSchema | None) -> InputField | None:
    """The model's first image input, if it takes images."""
    return next((f for f in schema.fields if f.is_image), None) if schema else None


def label_of(field: InputField) -> str:
    name = _NAMES.get(field.name) or field.label
    return f"{name} (up to {field.image_limit})" if field.kind == "array" else name


def image_control(field: InputField, *, elem_id: str, check=None) -> gr.components.Component:
    """The drop area for `field`, with its reorder buttons when it takes several images. `check`
    (async, value -> problems) says at once what is wrong with a dropped file."""
    if field.kind != "array":
        image = gr.Image(type="filepath", sources=["upload", "clipboard"], label=label_of(field), height=200,
                         elem_id=elem_id, elem_classes=["image-input"], buttons=[])
        _check_when_dropped(image, check)
        return image
    gallery = gr.Gallery(
        type="filepath", interactive=True, sources=["upload", "clipboard"], file_types=["image"],
        label=label_of(field), columns=5, fit_columns=False, height=190, object_fit="cover", allow_preview=False,
        buttons=[], elem_id=elem_id, elem_classes=["image-input"],
    )
    selected = gr.State(None)
    with gr.Row(elem_classes=["image-order"], visible=False) as order:
        gr.Markdown("Click an image, then move it (the first one leads):", elem_classes=["image-order-help"])
        earlier = gr.Button("← Earlier", size="sm", scale=0, min_width=90, elem_id=f"{elem_id}-earlier")
        later = gr.Button("Later →", size="sm", scale=0, min_width=90, elem_id=f"{elem_id}-later")

    def choose(event: gr.SelectData) -> int:
        return event.index

    gallery.select(choose, outputs=selected, api_visibility="private")

    def mover(step: int):
        def move(value, index):
            paths = paths_of(value)
            if index is None or not 0 <= index < len(paths) or not 0 <= index + step < len(paths):
                return gr.skip(), index
            paths[index], paths[index + step] = paths[index + step], paths[index]
            return paths, index + step
        return move

    earlier.click(mover(-1), inputs=[gallery, selected], outputs=[gallery, selected], api_visibility="private")
    later.click(mover(+1), inputs=[gallery, selected], outputs=[gallery, selected], api_visibility="private")
    # Moving needs two images: the buttons show from then on.
    gallery.change(lambda value: gr.update(visible=len(paths_of(value)) > 1), inputs=gallery, outputs=order,
                   api_visibility="private", queue=False)
    _check_when_dropped(gallery, check)
    return gallery


def _check_when_dropped(control: gr.components.Component, check) -> None:
    if check is None:
        return

    async def checked(value) -> None:
        for problem in await check(paths_of(value)):
            gr.Warning(problem)

    control.upload(checked, inputs=control, api_visibility="private")


def controls_of(forms) -> list[gr.components.Component]:
    """Every form's image controls (what "Use as input" may fill)."""
    return [control for form in forms.forms.values() for name, control in form.controls.items()
            if isinstance(control, (gr.Image, gr.Gallery))]


def paths_of(value: object) -> list[str]:
    """File paths from an image control's value: a path, or a gallery's (path, caption) pairs."""
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    paths = []
    for item in items:
        if isinstance(item, (tuple, list)) and item:
            item = item[0]
        if isinstance(item, Mapping):  # a file's data, or a gallery item {"image": file data}
            inner = item.get("image") if isinstance(item.get("image"), Mapping) else item
            item = inner.get("path")
        if isinstance(item, (str, Path)) and str(item):
            paths.append(str(item))
    return paths


def use_as_input(service, forms, picked: str, path: str | None, data: Mapping) -> dict:
    """Updates that put the image at `path` into the picked model's image input (appended to a list
    one, replacing a single one), or into the first usable model that takes images."""
    if not path:
        raise gr.Error("Pick an image first.", print_exception=False)
    target = picked
    field = image_field(service.catalog[picked].schema) if picked in service.catalog else None
    if field is None or not service.catalog[picked].usable:
        target = next((m for m, e in service.catalog.items() if e.usable and image_field(e.schema)), None)
        if target is None:
            raise gr.Error("None of the offered models takes an input image.", print_exception=False)
        field = image_field(service.catalog[target].schema)
        gr.Info(f"{picked} takes no input image: switched to {target}.")
    control = forms.forms[target].controls[field.name]
    if field.kind != "array":
        return {forms.picker: target, control: path}
    paths = paths_of(data.get(control))
    if len(paths) >= field.image_limit:
        gr.Warning(f"{target} takes at most {field.image_limit} images: remove one first.")
        return {forms.picker: target}
    return {forms.picker: target, control: [*paths, path]}


def aspect_help(model: str, usual: str, has_image: bool, ratio: str | None) -> str:
    """The aspect ratio's help: what "Same as the input image" gives, with or without an image
    (`usual`, its help otherwise)."""
    if ratio != "match_input_image":
        return usual
    if has_image:
        return "The image follows the shape of the first input image."
    return (f"No input image yet: {model} makes a {MATCH_FALLBACK} (square) image. Add one, or pick a ratio.")
