"""What a person reads for each model input: a short label and one line of help.

Schemas give Cog's titles ("Num inference steps", "Go fast", "Megapixels") and help written for
programmers that repeats the enum values already shown as friendlier choices. Inputs are named the
same across models, so one table by input name covers every bundled model; an input not listed
keeps its schema title and description.
"""

from __future__ import annotations

__all__ = ["FIRST", "FRIENDLY", "help_for", "label_for"]

# Shown up front, next to the prompt and image inputs; everything else is under "More options".
FIRST = ("aspect_ratio", "output_format", "resolution", "size")

FRIENDLY: dict[str, tuple[str, str]] = {
    "aspect_ratio": ("Aspect ratio", "The shape of the image."),
    "output_format": ("Format", "JPEG is smaller; PNG is lossless; WebP is both, where the model offers it."),
    "safety_filter_level": ("Safety filter", "How strictly Google blocks prompts and images it judges unsafe."),
    "resolution": ("Resolution", "Pixels on the long side: 1K ≈ 1024, 2K ≈ 2048, 4K ≈ 4096. More costs more."),
    "size": ("Resolution", "Pixels on the long side: 2K ≈ 2048, 4K ≈ 4096; Custom uses width and height."),
    "seed": ("Seed", ""),  # the seed box writes its own help (see form.control_for)
    "num_inference_steps": ("Steps", "More steps add detail but take longer."),
    "go_fast": ("Fast mode", "A quicker, slightly less exact version of the model."),
    "megapixels": ("Megapixels", "About how many million pixels the image has."),
    "output_quality": ("Quality", "For JPEG and WebP: 100 is best, lower makes smaller files. PNG ignores it."),
    "disable_safety_checker": ("Turn off the safety checker", "Allow images the model's checker would block."),
    "safety_tolerance": ("Safety tolerance", "Higher allows more: 1 is strictest."),
    "prompt_upsampling": ("Enhance the prompt", "Let the model rewrite the prompt with more detail first."),
    "enhance_prompt": ("Enhance the prompt", "Let the model rewrite the prompt with more detail first."),
    "allow_fallback_model": ("Allow a fallback model",
                             "When Google is busy, Replicate may use bytedance/seedream-5 instead (billed at "
                             "its price)."),
    "google_search": ("Ground on Google Search", "Let the model look things up on the web first."),
    "image_search": ("Ground on image search", "Let the model look at images found on the web first."),
    "sequential_image_generation": ("Image sets", "Auto: the model may make a related set of images."),
    "width": ("Width", "In pixels; used with a custom size or aspect ratio."),
    "height": ("Height", "In pixels; used with a custom size or aspect ratio."),
    "guidance": ("Guidance", "How closely to follow the prompt; higher is more literal."),
    "negative_prompt": ("Negative prompt", "What the image should not contain."),
}


def label_for(name: str, schema_title: str) -> str:
    return FRIENDLY.get(name, (schema_title, ""))[0]


def help_for(name: str, description: str, *, has_choices: bool) -> str | None:
    """One line a person understands; a schema description that lists enum values is dropped when
    the choices themselves are shown (it only repeats them, less readably)."""
    if name in FRIENDLY:
        return FRIENDLY[name][1] or None
    if not description or (has_choices and "_" in description):
        return None
    line = description.strip().split("\n")[0]
    return line if len(line) <= 160 else line[:159] + "…"
