"""A model's form, built from its schema: enums as dropdowns, booleans as checkboxes, bounded numbers
as sliders, the rest as text, in the schema's x-order with its descriptions as help text.

Every offered model gets its own form (shown only while it is picked), so switching models keeps
the shared prompt and never mixes one model's values into another's request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import gradio as gr

from imagen_ui import gradio_tuning
from imagen_ui.schema import InputField, ModelSchema, choice_label
from imagen_ui.service import SEED_INPUT, count_input
from imagen_ui.ui.labels import FIRST, help_for, label_for


@dataclass
class Form:
    """One model's controls, keyed by input name in the schema's order (the prompt is shared)."""

    model: str
    controls: dict[str, gr.components.Component] = field(default_factory=dict)
    column: gr.Column | None = None
    generate: gr.Button | None = None

    def values(self, data: Mapping) -> dict[str, object]:
        """This form's values by input name, from a handler's dict of inputs (component -> value)."""
        return {name: data[control] for name, control in self.controls.items()}


@dataclass
class Forms:
    """All models' forms plus the shared picker and prompt: what "Reuse settings" fills in."""

    picker: gr.Dropdown
    prompt: gr.Textbox
    forms: dict[str, Form] = field(default_factory=dict)

    @property
    def components(self) -> list:
        """Every component `fill` may update: use as a handler's outputs."""
        return [self.picker, self.prompt, *(c for f in self.forms.values() for c in f.controls.values())]

    def fill(self, model: str, values: Mapping) -> dict:
        """Updates by component: pick `model` and set the prompt and that model's controls named in
        `values`; every other control is left as it is."""
        controls = self.forms[model].controls
        updates: dict = {self.picker: model}
        if "prompt" in values:
            updates[self.prompt] = values["prompt"]
        updates.update({controls[name]: value for name, value in values.items() if name in controls})
        return updates


def controls_for(schema: ModelSchema, *, primary: bool) -> dict[str, gr.components.Component]:
    """The controls of every input but the prompt, by input name in the schema's order (the API's
    parameter order). Laid out with the common ones (labels.FIRST) up front and the rest under
    "More options". The primary form keeps plain element ids (e.g. #aspect_ratio); the others'
    are prefixed with the model's slug."""
    prefix = "" if primary else f"{slug(schema.model)}-"
    own_count = count_input(schema)  # the page's one "Images" control sets it
    fields = [f for f in schema.fields if f.name not in ("prompt", own_count)]
    first = [f for f in fields if f.name in FIRST]
    rest = [f for f in fields if f.name not in FIRST]
    made = {f.name: control_for(f, elem_id=prefix + f.name) for f in first}
    if rest:
        with gr.Accordion("More options", open=False, elem_id=f"{prefix}more-options",
                          elem_classes=["more-options"]):
            made.update({f.name: control_for(f, elem_id=prefix + f.name) for f in rest})
    return {f.name: made[f.name] for f in fields}


def carried_over(values: Mapping[str, object], schema: ModelSchema) -> dict[str, object]:
    """Of one model's form values, those another model (`schema`) also takes as they are: switching
    models keeps 16:9 at 16:9 where the new model offers it."""
    kept = {}
    for spec in schema.fields:
        if spec.name not in values or spec.name in ("prompt", SEED_INPUT):
            continue
        value = values[spec.name]
        if spec.choices is None or value in spec.choices:
            kept[spec.name] = value
    return kept


def control_for(field: InputField, *, elem_id: str) -> gr.components.Component:
    label = label_for(field.name, field.label)
    info = help_for(field.name, field.description, has_choices=bool(field.choices))
    if field.name == SEED_INPUT and field.kind == "integer":
        # A text box, not gr.Number: an empty Number is sent as 0, so every click repeated one seed.
        with gr.Row(equal_height=True):
            box = gr.Textbox(value="" if field.default is None else str(field.default), label=label,
                             info="Empty: a new random seed for every image. A number: image 1 uses it, "
                                  "image 2 the next one…", placeholder="random", elem_id=elem_id,
                             elem_classes=["seed-box"], scale=3)
            with gr.Column(scale=1, min_width=120):
                # Wired by the page (it knows the images): see page._wire_seed_buttons.
                box.seed_buttons = (gr.Button("🎲 Random", size="sm", elem_id=f"{elem_id}-random"),
                                    gr.Button("♻ Reuse image's", size="sm", elem_id=f"{elem_id}-reuse"))
        return box
    if field.choices:
        choices = [(choice_label(field.name, value), value) for value in field.choices]
        # allow_custom_value: the schema, not Gradio, refuses an unknown value, with a clearer message.
        return gr.Dropdown(choices, value=field.default, label=label, info=info, elem_id=elem_id,
                           allow_custom_value=True)
    if field.kind == "boolean":
        return gr.Checkbox(value=bool(field.default), label=label, info=info, elem_id=elem_id)
    if field.kind in ("integer", "number") and field.minimum is not None and field.maximum is not None:
        step = 1 if field.kind == "integer" else (field.maximum - field.minimum) / 100
        return gradio_tuning.accept_any_payload(gr.Slider(
            field.minimum, field.maximum, value=field.default, step=step, label=label, info=info,
            elem_id=elem_id))
    if field.kind in ("integer", "number"):
        return gr.Number(value=field.default, label=label, info=info, elem_id=elem_id,
                         precision=0 if field.kind == "integer" else None)
    return gr.Textbox(value=field.default or "", label=label, info=info, elem_id=elem_id)


def slug(model: str) -> str:
    """"google/imagen-4-fast" -> "imagen_4_fast": for element ids and API names."""
    return re.sub(r"[^a-z0-9]+", "_", model.split("/")[-1].lower()).strip("_")
