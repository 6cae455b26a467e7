"""The HTTP routes: Replicate's ``/v1`` API, output files, and the ``/_emulator`` inspection view."""

from __future__ import annotations

import copy
import hashlib
import html
import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from .catalog import ModelEntry
from .files import FilesApi
from .inputs import links
from .images import output_specs
from .middleware import FORCE_FAILURE
from .problems import bad_request, invalid, json_response, not_found, problem
from .protocol import decode_cursor, encode_cursor, parse_cancel_after, parse_prefer
from .state import EmulatorState
from .validation import WEBHOOK_EVENTS, validate_body

ACCOUNT = {
    "type": "user",
    "username": "emulator",
    "name": "Replicate emulator",
    "github_url": None,
    "avatar_url": None,
}
MODEL_BODY_KEYS = frozenset({"input", "webhook", "webhook_completed", "webhook_events_filter", "stream"})
VERSION_BODY_KEYS = MODEL_BODY_KEYS | {"version"}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class Api:
    def __init__(self, state: EmulatorState) -> None:
        self.state = state

    def routes(self) -> list[Route]:
        return [
            Route("/v1/account", self.account, methods=["GET"]),
            Route("/v1/models/{owner}/{name}", self.model, methods=["GET"]),
            Route("/v1/models/{owner}/{name}/versions/{version_id}", self.version, methods=["GET"]),
            Route("/v1/models/{owner}/{name}/predictions", self.create_for_model, methods=["POST"]),
            Route("/v1/predictions", self.create_for_version, methods=["POST"]),
            Route("/v1/predictions", self.list_predictions, methods=["GET"]),
            Route("/v1/predictions/{id}", self.get_prediction, methods=["GET"]),
            Route("/v1/predictions/{id}/cancel", self.cancel_prediction, methods=["POST"]),
            Route("/v1/webhooks/default/secret", self.webhook_secret, methods=["GET"]),
            Route("/files/{id}/{file_name}", self.file, methods=["GET"]),
            Route("/p/{id}", self.web_page, methods=["GET"]),
            Route("/_emulator/predictions", self.inspect, methods=["GET"]),
            Route("/_emulator/latency", self.set_latency, methods=["POST"]),
            *FilesApi(self.state.files, self.state).routes(),
            Route("/_emulator/renders", self.renders, methods=["GET"]),
        ]

    # Account, models, secret ---------------------------------------------------------------

    async def account(self, request: Request) -> Response:
        return json_response(ACCOUNT)

    async def model(self, request: Request) -> Response:
        entry = self.state.catalog.get(request.path_params["owner"], request.path_params["name"])
        return not_found() if entry is None else Response(entry.raw, media_type="application/json")

    async def version(self, request: Request) -> Response:
        entry = self.state.catalog.get(request.path_params["owner"], request.path_params["name"])
        if entry is None or entry.version_id != request.path_params["version_id"]:
            return not_found()
        return json_response(entry.latest_version)

    async def webhook_secret(self, request: Request) -> Response:
        return json_response({"key": self.state.webhook_secret})

    # Creating predictions ------------------------------------------------------------------

    async def create_for_model(self, request: Request) -> Response:
        entry = self.state.catalog.get(request.path_params["owner"], request.path_params["name"])
        if entry is None:
            return not_found()
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        errors = validate_body(body, MODEL_BODY_KEYS, ("input",))
        return await self._create(request, entry, "hidden", body, errors)

    async def create_for_version(self, request: Request) -> Response:
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        errors = validate_body(body, VERSION_BODY_KEYS, ("version", "input"))
        if errors:
            return invalid(errors)
        entry, version = self._resolve_version(body["version"])
        if entry is None:
            return problem(422, "Invalid version or not permitted",
                           "The specified version does not exist (or perhaps you don't have permission to use it?)")
        return await self._create(request, entry, version, body, [])

    def _resolve_version(self, ref: str) -> tuple[ModelEntry | None, str]:
        """``<64hex>`` | ``owner/name`` | ``owner/name:<64hex>`` -> (model, version to report)."""
        if _HEX64.match(ref):
            return self.state.catalog.by_version(ref), ref
        model_ref, _, version_id = ref.partition(":")
        owner, slash, name = model_ref.partition("/")
        entry = self.state.catalog.get(owner, name) if slash else None
        if entry is None or (version_id and version_id != entry.version_id):
            return None, ""
        return entry, version_id or "hidden"

    async def _create(self, request: Request, entry: ModelEntry, version: str, body: dict[str, Any],
                      errors: list) -> Response:
        if "input" in body:
            errors = [*errors, *entry.schema.validate(body["input"])]
        if errors:
            return invalid(errors)
        inputs: dict[str, Any] = body["input"]
        runs_with = entry.schema.with_defaults(entry.schema.declared(inputs))
        webhook = body.get("webhook") or body.get("webhook_completed")
        events = body.get("webhook_events_filter")
        if events is None:
            events = list(WEBHOOK_EVENTS) if "webhook" in body else ["completed"]
        forced = request.scope.get(FORCE_FAILURE)
        flagged = "FLAGGED" in str(inputs.get("prompt", "")) or bool(forced)
        engine, store = self.state.engine, self.state.store
        urls = links(entry.schema, runs_with)
        prediction = engine.create(
            fail=flagged,
            gone=forced == "gone",
            cancel_after=parse_cancel_after(request.headers.get("cancel-after")),
            prepare=(lambda specs: self.state.inputs.with_inputs(specs, urls)) if urls else None,
            model=entry.ref,
            version=version,
            input=copy.deepcopy(inputs),
            images=output_specs(entry.ref, runs_with, as_list=entry.schema.output_is_list),
            base_url=self.state.base_url,
            webhook=webhook,
            webhook_events=frozenset(events),
            output_is_list=entry.schema.output_is_list,
        )
        wait = parse_prefer(request.headers.get("prefer"))
        if wait is None:
            return json_response(store.render(prediction), 201)  # as recorded: 201, status "starting"
        finished = await engine.wait(prediction, wait)
        answer = store.render(prediction)
        if not finished:
            # Replicate answers a sync request whose wait ran out with status "starting", whatever
            # the prediction is doing; the official client relies on it to decide to poll.
            answer["status"] = "starting"
        elif answer["status"] == "succeeded" and _early(prediction.id, self.state.settings.early_answers):
            # As recorded: the wait ends as soon as the output files are in, while the status still
            # says "processing" (no completed_at, no metrics yet); a later get says "succeeded".
            answer.update(status="processing", completed_at=None)
            answer.pop("metrics", None)
        return json_response(answer, 201 if finished else 202, {"Preference-Applied": f"wait={wait}"})

    # Reading and cancelling ----------------------------------------------------------------

    async def get_prediction(self, request: Request) -> Response:
        prediction = self.state.store.get(request.path_params["id"])
        return not_found() if prediction is None else json_response(self.state.store.render(prediction))

    async def cancel_prediction(self, request: Request) -> Response:
        prediction = self.state.store.get(request.path_params["id"])
        if prediction is None:
            return not_found()
        self.state.engine.cancel(prediction)  # a terminal prediction stays as it is
        return json_response(self.state.store.render(prediction))

    async def list_predictions(self, request: Request) -> Response:
        raw = request.query_params.get("cursor")
        cursor = decode_cursor(raw) if raw else None
        if raw and cursor is None:
            return bad_request("Invalid cursor")
        results, older, newer = self.state.store.page(cursor)
        base = f"{self.state.base_url}/v1/predictions"
        return json_response({
            "next": None if older is None else f"{base}?cursor={encode_cursor('older', older)}",
            "previous": None if newer is None else f"{base}?cursor={encode_cursor('newer', newer)}",
            "results": results,
        })

    # Files, the web page, inspection -------------------------------------------------------

    async def file(self, request: Request) -> Response:
        spec = self.state.store.file(request.path_params["id"], request.path_params["file_name"])
        if spec is None:
            return not_found()  # unknown, unfinished, or removed after the retention period
        image = await self.state.renderer.render(spec)
        return Response(image.data, media_type=image.content_type,
                        headers={"cache-control": "private, max-age=3600"})

    async def web_page(self, request: Request) -> Response:
        prediction = self.state.store.get(request.path_params["id"])
        if prediction is None:
            return not_found()
        data = self.state.store.render(prediction)
        output = data["output"]
        urls = [output] if isinstance(output, str) else [u for u in output or [] if isinstance(u, str)]
        picture = "".join(f'<p><img src="{html.escape(url)}" style="max-width:100%"></p>' for url in urls)
        return HTMLResponse(
            f"<!doctype html><title>Prediction {html.escape(data['id'])}</title>"
            f"<h1>Prediction {html.escape(data['id'])}: {html.escape(data['status'])}</h1>{picture}"
            f"<pre>{html.escape(json.dumps(data, indent=2))}</pre>"
        )

    async def inspect(self, request: Request) -> Response:
        return json_response(self.state.store.snapshot())

    async def renders(self, request: Request) -> Response:
        """What drawing images has cost so far: benchmarks print it beside their own figures, to
        show the emulator is not what they measure."""
        return json_response(self.state.renderer.stats())

    async def set_latency(self, request: Request) -> Response:
        """Benchmarks of an out-of-process emulator change the model's run time between phases."""
        body = await _json_object(request)
        if isinstance(body, Response):
            return body
        seconds = body.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds < 0:
            return bad_request("seconds must be a non-negative number")
        self.state.settings.latency = float(seconds)
        return json_response({"latency": self.state.settings.latency})


def _early(prediction_id: str, share: float) -> bool:
    """Whether this prediction's sync answer comes early: a fixed draw per id (repeatable with --seed)."""
    return int(hashlib.sha256(prediction_id.encode()).hexdigest()[:8], 16) < share * 0x1_0000_0000


async def _json_object(request: Request) -> dict[str, Any] | Response:
    raw = await request.body()
    try:
        body = json.loads(raw)
    except ValueError as exc:
        return bad_request(f"The request body is not valid JSON: {exc}")
    if not isinstance(body, dict):
        return bad_request("The request body must be a JSON object")
    return body
