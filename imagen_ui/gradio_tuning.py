"""Every change this app makes to Gradio's own behaviour, in one room, each with why it exists.

They reach into Gradio's internals (environment knobs read when the queue is made, attributes of
blocks, the queue and event handlers), so they hold for the pinned Gradio only: `check_version` says
at start-up when another version runs, and `tests/test_gradio_tuning.py` is the contract that fails
when an upgrade renames one. Each measured figure comes from `benchmarks/playground_load.py`.

Callers: `bootstrap` (before and after the page is built) and the page's wiring (`imagen_ui.ui`).
Importing this module does not import Gradio: `configure_environment` must run before that.
"""

from __future__ import annotations

import functools
import gc
import importlib.util
import inspect
import logging
import asyncio
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

__all__ = [
    "PINNED_GRADIO",
    "MAX_THREADS",
    "accept_any_payload",
    "check_version",
    "close_deep_links",
    "configure_environment",
    "exception_handlers",
    "explain_bad_calls",
    "freeze_startup_objects",
    "keep_mcp_tools",
    "launch_options",
    "limit_uploads",
    "memoize_block_configs",
    "name_parameters",
    "previews_for_images",
    "request_root_url",
    "set_return_types",
    "tune_queue",
    "upload_folder",
]

logger = logging.getLogger(__name__)

PINNED_GRADIO = "6.31.0"  # requirements.txt and README's sdk_version say the same
# Worker slots of the queue: every click streams for seconds while waiting on Replicate (I/O, not
# CPU), so the 40 Gradio gives by default made the 41st visitor wait for a slot.
MAX_THREADS = 256
# Gradio's queue rebuilds its monitoring summary (a pandas DataFrame of the last 10,000 events,
# grouped and ranked) after every event, in a thread that holds the GIL: a few ms per event, growing
# with the app's age. Every 100 events over the last 1,000 is plenty for its /monitoring page.
QUEUE_SUMMARY_ENV = {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "100", "GRADIO_ANALYTICS_MAX_EVENTS": "1000"}
# Gradio's "auto" sends every queued event a fresh position (a pydantic message each) whenever any
# event starts: O(n²) in a burst of clicks. Once a second is plenty when events hardly wait.
STATUS_UPDATE_RATE = 1.0
# /gradio_api/upload takes files from anyone who can reach the page, and Gradio keeps them until it
# restarts (two 50 MB files stayed): one file is capped (a reference image is a few MB; Replicate
# itself advises data URIs of 1 MB at most), and every hour uploads older than an hour are removed.
MAX_UPLOAD = "20mb"
CACHE_CLEANUP = (3600, 3600)  # (every N seconds, files older than M seconds): Blocks(delete_cache=)
DEEP_LINK_ROUTE = "/gradio_api/deep_link"
_MEMOIZED_METHODS = ("api_info", "api_info_as_input", "api_info_as_output", "example_inputs")


def configure_environment(*, analytics: bool) -> None:
    """Before Gradio is imported anywhere: analytics and version checks stay off unless asked for,
    and the queue's summary knobs above are read when the queue is made."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "True" if analytics else "False"
    if not analytics:
        os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    for key, value in QUEUE_SUMMARY_ENV.items():
        os.environ.setdefault(key, value)


def check_version() -> bool:
    """True when the running Gradio is the pinned one; otherwise says once that the tunings below
    may not apply (the app still runs, only slower or with Gradio's own error messages)."""
    import gradio

    if gradio.__version__ == PINNED_GRADIO:
        return True
    logger.warning("Gradio %s is installed; imagen-ui is tuned for %s (requirements.txt). It should work, "
                   "but the speed figures and some messages may differ.", gradio.__version__, PINNED_GRADIO)
    return False


def memoize_block_configs(demo: Any) -> None:
    """Compute each block's config and API description once instead of per visitor and event.

    Gradio 6 rebuilds every block's config (an inspect.signature of its constructor, and three
    pydantic JSON-schema generations) for each new session and each streamed update; with 64
    visitors that was most of the server's CPU (1.93 -> 1.74). They depend only on how the blocks
    were built, which this page never changes after launch; sessions change their own copies.
    """
    for block in demo.blocks.values():
        for name in _MEMOIZED_METHODS:
            method = getattr(block, name, None)
            if callable(method):
                setattr(block, name, functools.cache(method))
        block.get_config = _config_once(block.get_config)


def _config_once(get_config: Callable[..., dict]) -> Callable[..., dict]:
    """A block's config, computed at its first use (after launch) and copied from then on.

    A shallow copy, as Gradio's own get_config gives: it puts the block's attributes (choices,
    value, ...) into every config it builds without copying them, and sessions change only their
    copy's top-level keys ("value", and None-valued keys they delete)."""
    cache: dict = {}

    def cached(*args, **kwargs):
        if args or kwargs:
            return get_config(*args, **kwargs)
        if "config" not in cache:
            cache["config"] = get_config()
        return dict(cache["config"])

    return cached


def tune_queue(demo: Any, *, max_threads: int = MAX_THREADS) -> None:
    """Enable the queue with no per-event concurrency cap (every event is I/O-bound) and the
    settings above. The worker slots are sized from max_threads when the queue is made, and
    launch() resets them from its own argument: `launch_options` passes the same figure."""
    demo.max_threads = max_threads
    demo.queue(default_concurrency_limit=None, status_update_rate=STATUS_UPDATE_RATE)


def launch_options(demo: Any, *, public: bool = False) -> dict:
    """What launch() must be given so it keeps what `tune_queue` set, with uploads capped. In public
    mode the browser keeps no run history: Gradio records a run's inputs in localStorage, a password
    box's value (a visitor's token) included."""
    options = {"max_threads": demo.max_threads, "max_file_size": MAX_UPLOAD}
    if public:
        options["run_history"] = False
    return options


def limit_uploads(demo: Any) -> None:
    """Before launch: Gradio deletes its cached uploads on CACHE_CLEANUP's schedule (read at launch)."""
    demo.delete_cache = CACHE_CLEANUP


def close_deep_links(app: Any) -> None:
    """After launch: no deep links. Gradio's /gradio_api/deep_link writes a session's component values
    (every input of its events, a password box's value included) to a file it then serves to anyone
    who has the link. The page has no deep-link button; the route answers 404 like any unknown path."""
    app.router.routes[:] = [route for route in app.router.routes
                            if getattr(route, "path", None) != DEEP_LINK_ROUTE]


def name_parameters(handler: Callable, names: Sequence[str], *, request_first: bool = True) -> None:
    """Give a `*values` handler a signature with one parameter per name, so Gradio's API page,
    gradio_client and MCP name the parameters after the model's inputs instead of `values`."""
    import gradio as gr

    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    head = [inspect.Parameter("request", kind, annotation=gr.Request)] if request_first else []
    handler.__signature__ = inspect.Signature(head + [inspect.Parameter(n, kind) for n in names])


def accept_any_payload(component: Any) -> Any:
    """Let the service, not Gradio, refuse an out-of-range value sent straight to the API, so the
    message names the field ("Number of images must be…") instead of Gradio's generic bounds error.
    Set on the instance: a subclass would make Gradio write a .pyi file into this package."""
    component.preprocess = lambda payload: payload
    return component


def freeze_startup_objects() -> None:
    """Once the page is built. Gradio tries `import matplotlib` twice per event (to switch its
    plotting backend); when it is not installed each try searches sys.path anew, so it is recorded
    as missing. Then what exists now (Gradio, the page's blocks, the schemas) lives as long as the
    app: frozen, the collector's full passes stop rescanning it (unfrozen, one such pass took 0.1 s
    in the middle of a burst of clicks). Start-up's garbage goes first."""
    if "matplotlib" not in sys.modules and importlib.util.find_spec("matplotlib") is None:
        sys.modules["matplotlib"] = None  # type: ignore[assignment]
    gc.collect()
    gc.freeze()


def explain_bad_calls(demo: Any) -> None:
    """A call with too few values, or a value a component cannot read (a number where a list goes),
    fails in Gradio before any handler of ours runs: with a blank error for the caller and a
    traceback in the host's log. It now fails with a gr.Error naming what the call needs."""
    import gradio as gr
    import pydantic

    preprocess_data = demo.preprocess_data

    async def checked(block_fn, inputs, state, explicit_call=False):
        wanted = block_fn.inputs
        if not isinstance(inputs, list) or len(inputs) < len(wanted):
            names = _parameter_names(block_fn)
            sent = len(inputs) if isinstance(inputs, list) else 0
            values = "value" if len(names) == 1 else "values"
            raise gr.Error(f"This call takes {len(names)} {values} ({', '.join(names)}); it sent {sent}.",
                           title="Check the call", print_exception=False)
        try:
            return await preprocess_data(block_fn, inputs, state, explicit_call)
        except gr.Error:
            raise
        except (ValueError, TypeError, pydantic.ValidationError) as error:
            index = re.search(r"at index (\d+)", str(error)[:500])
            block = wanted[int(index[1])] if index and int(index[1]) < len(wanted) else None
            what = f"The value for {_input_name(block)}" if block is not None else "A value"
            raise gr.Error(f"{what} is not of a kind this call takes.", title="Check the call",
                           print_exception=False) from None

    demo.preprocess_data = checked


def exception_handlers() -> dict:
    """For launch(app_kwargs=...): an API name the app does not have is a 404 (Gradio answers 500)."""
    from gradio.route_utils import FnIndexInferError
    from starlette.responses import PlainTextResponse

    def unknown(request, error):
        name = request.path_params.get("api_name") or request.url.path.rsplit("/", 1)[-1]
        return PlainTextResponse(f"No API endpoint named {name[:100]!r}; see /gradio_api/info.", status_code=404)

    return {FnIndexInferError: unknown}


def _parameter_names(block_fn: Any) -> list[str]:
    """What the API page calls the event's parameters: the handler's own names (name_parameters
    gives them), else the components' labels; state inputs are not sent by callers."""
    sent = [block for block in block_fn.inputs if not getattr(block, "stateful", False)]
    try:
        parameters = [p for p in inspect.signature(block_fn.fn).parameters.values()
                      if p.name != "request" and p.kind is not inspect.Parameter.VAR_POSITIONAL]
    except (TypeError, ValueError):
        parameters = []
    if len(parameters) >= len(sent):
        return [p.name for p in parameters[:len(sent)]]
    return [_input_name(block) for block in sent]


def _input_name(block: Any) -> str:
    return str(getattr(block, "label", None) or getattr(block, "elem_id", None) or type(block).__name__.lower())


def set_return_types(handler: Callable, types: Sequence[type]) -> None:
    """Declare a `gr.api` handler's outputs (one per type) when their number is known only when the
    page is built (generate_image: the summary plus one slot per image a call may make)."""
    signature = inspect.signature(handler)
    handler.__signature__ = signature.replace(return_annotation=tuple[tuple(types)])


def keep_mcp_tools(demo: Any, tools: Sequence[str]) -> None:
    """After launch(mcp_server=True): serve only `tools` over MCP.

    Gradio makes every public API endpoint a tool, and calls the queued ones through one shared
    gradio_client on loopback: every MCP caller then has the same session (one visitor id) and no
    address of their own, which would make public mode's per-visitor quotas and history meaningless.
    The tools kept here run outside the queue and see the caller's own request. The page's endpoints
    stay in the Gradio API; they are only not MCP tools. Its table of tool -> endpoint decides both
    what tools/list shows and what tools/call accepts."""
    server = getattr(demo, "mcp_server_obj", None)
    if server is None:
        return
    wanted = {server.tool_prefix + name for name in tools}
    server.tool_to_endpoint = {t: e for t, e in server.tool_to_endpoint.items() if t in wanted}


def request_root_url(request: Any) -> str:
    """The app's public root URL as the caller reached it (proxy headers honoured), for links in a
    tool's text; Gradio's own rule, as it uses for the file URLs of an MCP tool's outputs."""
    from gradio import route_utils

    # A gr.Request wraps the Starlette request; outside the queue Gradio passes the Starlette one.
    starlette_request = getattr(request, "request", None) or request
    if getattr(starlette_request, "url", None) is None:
        return ""
    return route_utils.get_root_url(request=starlette_request, route_path=starlette_request.url.path,
                                    root_path=None)


FILE_ROUTE = "/gradio_api/file="
# What tells a browser's image load (an <img>, which shows a preview) from everything else (a
# download by fetch(), a link opened, gradio_client, curl: the original). Fetch Metadata where the
# browser sends it (https, localhost); elsewhere the Accept header of an image load.
_IMAGE_DEST = b"image"
_VARY = (b"vary", b"Sec-Fetch-Dest, Accept")


def previews_for_images(find_preview: Callable[[str], Path | None]) -> Any:
    """Middleware (for launch's app_kwargs) through which the page shows previews of stored images
    while every download, "open original", the zip and the API get the original file.

    The page's galleries and image views hold the original files (so `/generate`'s API output and
    every download button stay the exact bytes the model made), and the browser shows them with
    <img>. Such a request for `/gradio_api/file=<original>` is routed to Gradio's own file route for
    the preview instead (`find_preview(path)` -> its path, or None to serve the original): Gradio
    still checks the login and the allowed paths. Both answers say `Vary: Sec-Fetch-Dest, Accept`,
    so no cache hands one for the other."""
    from starlette.middleware import Middleware

    return Middleware(_PreviewsForImages, find_preview=find_preview)


class _PreviewsForImages:
    def __init__(self, app: Any, find_preview: Callable[[str], Path | None]) -> None:
        self.app = app
        self.find_preview = find_preview

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        at = path.find(FILE_ROUTE) if scope.get("method") in ("GET", "HEAD") else -1
        if at < 0:
            await self.app(scope, receive, send)
            return
        if _shows_an_image(scope["headers"]):
            target = path[at + len(FILE_ROUTE):]
            preview = await asyncio.to_thread(self.find_preview, target)  # may make a missing one
            if preview is not None:
                rewritten = path[: at + len(FILE_ROUTE)] + str(preview)
                scope = {**scope, "path": rewritten, "raw_path": quote(rewritten).encode()}

        async def send_with_vary(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), _VARY]}
            await send(message)

        await self.app(scope, receive, send_with_vary)


def _shows_an_image(headers: list[tuple[bytes, bytes]]) -> bool:
    dest = accept = None
    for name, value in headers:
        if name == b"sec-fetch-dest":
            dest = value
        elif name == b"accept":
            accept = value
    if dest is not None:
        return dest == _IMAGE_DEST
    return accept is not None and b"image/webp" in accept  # browsers' image loads; fetch() sends */*


def upload_folder() -> str:
    """Where Gradio keeps the files visitors upload (GRADIO_TEMP_DIR, else <tmp>/gradio): the only
    place, with the history, that a request may name an image file in."""
    from gradio.utils import get_upload_folder

    return get_upload_folder()
