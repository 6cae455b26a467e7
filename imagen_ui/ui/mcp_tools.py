"""The playground as MCP tools (`--mcp`): Gradio serves every tool below at /gradio_api/mcp/.

Three tools, each a `gr.api` endpoint with a docstring an assistant reads: list_models,
generate_image, search_history. They run outside Gradio's queue (`queue=False`): Gradio then hands
them the MCP request itself, so a caller is known by their own address (quotas in public mode) and
headers, not by the loopback relay Gradio uses for queued tools. Layout-free: what they do is in
`imagen_ui.service.assistant`; here only who is asking and how results look to an assistant.
"""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path
from urllib.parse import quote

import gradio as gr

from imagen_ui import gradio_tuning
from imagen_ui.service import GenerationService, Viewer, Visitor, token_owner, visitor_id, visitor_keys
from imagen_ui.service import assistant
from imagen_ui.service.assistant import AssistantError
from imagen_ui.ui.session import Who

# A visitor brings their own Replicate token in this header (not Authorization: a private Space's
# proxy takes that one for the Hugging Face token).
TOKEN_HEADER = "x-replicate-api-token"
TOOLS = ("list_models", "generate_image", "search_history")
VISITOR_HELP = (
    "This public demo keeps each visitor's history private. To search yours, send the same header "
    "with every request, e.g. Cookie: imagen_ui_visitor=<a random id of 16-64 letters, digits or dashes> "
    f"(or your own Replicate token in the {TOKEN_HEADER} header)."
)
logger = logging.getLogger(__name__)


class ToolError(gr.Error):
    """gr.Error whose text is the message itself: Gradio's MCP server sends `str(error)` (gr.Error's
    own is the message's repr, quotes and escapes included)."""

    def __str__(self) -> str:
        return str(self.message)


def build(service: GenerationService, who: Who) -> tuple[str, ...]:
    """Register the tools (inside the page's Blocks); returns their names for the MCP server."""
    slots = service.max_images
    default = service.default_model

    def list_models() -> str:
        """List the text-to-image models this playground offers and every input each one takes.

        Call this first: it says which model is the default, which can be used now, and for each
        input its type, allowed choices, default, and limits, so you can fill generate_image's inputs.

        Returns:
            JSON: a list of models, each with "model", "usable", "default", "description" and "inputs".
        """
        return json.dumps(assistant.describe_models(service), indent=1)

    async def generate_image(request: gr.Request, prompt: str, model: str = default, inputs: dict | None = None,
                             num_images: int = 1):
        try:
            visitor = _visitor(request, who)
            made = await assistant.generate(service, model=model, prompt=prompt, inputs=inputs,
                                            num_images=num_images, visitor=visitor)
        except AssistantError as error:
            raise ToolError(str(error), print_exception=False) from None
        except Exception:  # noqa: BLE001 - an unexpected error's text could carry upstream data
            logger.exception("generate_image failed")
            raise ToolError("Something went wrong on the server while making the image. Try again.",
                           print_exception=False) from None
        root = gradio_tuning.request_root_url(request)
        summary = {
            "model": made.model,
            "prompt": made.prompt,
            "images": [_described(entry, root, local=not who.public) for entry in made.entries],
        }
        if made.failures:
            summary["failed"] = made.failures
        files = [_file_data(entry.path) for entry in made.entries[:slots]]
        return (json.dumps(summary, indent=1), *files, *([""] * (slots - len(files))))

    generate_image.__doc__ = f"""Generate images from a text prompt with one of the playground's models.

        Every image is kept in the playground's history (search_history finds it again) and is
        returned both as an image and as a URL where the original file can be downloaded.

        Args:
            prompt: What the image should show, in words (at most a few thousand characters).
            model: The model, as owner/name (default {default}); list_models gives the choices.
            inputs: The model's other inputs as a JSON object, e.g. {{"aspect_ratio": "16:9", "output_format": "png"}}; leave it out for the model's defaults. list_models names each model's inputs.
            num_images: How many images to make, 1 to {slots}.

        Returns:
            JSON describing each image (url, history_id, prediction_id, width, height, format) and any failure in words; then the images themselves.
        """
    # Outputs: the summary, then one slot per image the call may make ("" where none was made).
    gradio_tuning.set_return_types(generate_image, (str, *([dict] * slots)))

    def search_history(request: gr.Request, query: str = "", limit: int = 10) -> str:
        """Search the images made in this playground (by anyone using it locally, or by you on a
        public demo) by words in their prompt, newest first.

        Args:
            query: Words the prompt contains (case does not matter); empty for the latest images.
            limit: How many images to return, 1 to 50.

        Returns:
            JSON: a list of images, each with url, prompt, model, inputs, created_at, history_id and prediction_id.
        """
        try:
            viewer = _viewer(request, who)
            entries = assistant.search(service, viewer, query, limit)
        except AssistantError as error:
            raise ToolError(str(error), print_exception=False) from None
        root = gradio_tuning.request_root_url(request)
        return json.dumps([_described(entry, root, local=not who.public, details=True) for entry in entries],
                          indent=1)

    for tool in (list_models, generate_image, search_history):
        gr.api(tool, api_name=tool.__name__, queue=False)
    return TOOLS


def _visitor(request: gr.Request, who: Who) -> Visitor:
    """Who calls: their own token (header) if any; in public mode their quota keys (address, and
    the visitor cookie when sent) and whose history their images go to."""
    token = _token(request)
    if not who.public:
        return Visitor(token=token)
    keys = tuple(visitor_keys(request, trust_forwarded=who.trust_forwarded))
    # Without an id, the images are still kept, under an owner nobody else is: private to this call.
    owner = _owner(request, token) or "mcp-" + secrets.token_hex(16)
    return Visitor(owner=owner, keys=keys, token=token)


def _viewer(request: gr.Request, who: Who) -> Viewer:
    if not who.public:
        return Viewer()
    owner = _owner(request, _token(request))
    if owner is None:
        raise AssistantError(VISITOR_HELP)
    return Viewer(owner=owner, everyone=False)


def _owner(request: gr.Request, token: str | None) -> str | None:
    if (cookie_id := _cookie_visitor(request)) is not None:
        return cookie_id
    return token_owner(token) if token else None


def _cookie_visitor(request: gr.Request) -> str | None:
    """The visitor cookie's id only: the MCP request has no Gradio session to derive one from."""
    found = visitor_id(request)
    return found if found and not found.startswith("s-") else None


def _token(request: gr.Request) -> str | None:
    headers = getattr(request, "headers", None) or {}
    value = (headers.get(TOKEN_HEADER) or "").strip()
    return value or None


def _file_data(path: Path) -> dict:
    """A stored image as Gradio's FileData: Gradio's MCP server sends it as an image plus its URL."""
    return {"path": str(path), "url": _file_url(path), "orig_name": path.name,
            "meta": {"_type": "gradio.FileData"}}


def _file_url(path: Path, root: str = "") -> str:
    return f"{root}/gradio_api/file={quote(str(path))}"


def _described(entry, root: str, *, local: bool, details: bool = False) -> dict:
    described = {"url": _file_url(entry.path, root), "history_id": entry.id,
                 "prediction_id": entry.prediction_id, "width": entry.width, "height": entry.height,
                 "format": entry.format}
    if local:  # on this machine an assistant can open the file itself
        described["file"] = str(entry.path)
    if details:
        described.update(prompt=entry.prompt, model=entry.model, created_at=entry.created_at,
                         inputs={k: v for k, v in entry.inputs.items() if k != "prompt"})
    return described
