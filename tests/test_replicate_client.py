"""ReplicateClient against the emulator over loopback HTTP: API calls, typed errors, retries, secrecy."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest
from client_helpers import FAST_RETRY
from client_helpers import client_for as shared_client_for
from conftest import free_port, wait_until_async

from imagen_ui.replicate.client import (
    AmbiguousCreateError,
    InvalidInputError,
    ModelNotFoundError,
    NetworkError,
    PredictionCanceledError,
    PredictionFailedError,
    PredictionNotFoundError,
    PredictionTimeoutError,
    RateLimitedError,
    ReplicateClient,
    ReplicateError,
    SafetyFilterError,
    ServerError,
    UnauthenticatedError,
)

pytestmark = pytest.mark.anyio

MODEL = "google/imagen-4-fast"
CREATE_PATH = f"/v1/models/{MODEL}/predictions"
INPUT = {"prompt": "a lighthouse at dusk"}
TOKEN = "r8_TESTtoken_must_never_leak_0123456789"


def client_for(emu, **kwargs) -> ReplicateClient:
    kwargs.setdefault("token", TOKEN)
    return shared_client_for(emu, **kwargs)


# -- plain calls ------------------------------------------------------------------------------------


async def test_account_and_model_and_secret(emulator) -> None:
    async with client_for(emulator) as client:
        account = await client.account()
        model = await client.get_model(MODEL)
        secret = await client.webhook_secret()
    assert account["username"]
    assert model["owner"] == "google" and model["name"] == "imagen-4-fast"
    assert "Input" in model["latest_version"]["openapi_schema"]["components"]["schemas"]
    assert secret == emulator.webhook_secret and secret.startswith("whsec_")
    assert client.calls == {"account": 1, "model": 1, "webhook_secret": 1}
    assert emulator.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


async def test_create_get_list_cancel(make_emulator) -> None:
    emu = make_emulator(latency=5.0)
    async with client_for(emu) as client:
        created = await client.create_prediction(MODEL, INPUT, cancel_after="30s")
        fetched = await client.get_prediction(created.id)
        page = await client.list_predictions()
        canceled = await client.cancel_prediction(created.id)
    assert created.status == "starting" and not created.is_terminal
    assert fetched.id == created.id and fetched.input == INPUT
    assert [p.id for p in page.results] == [created.id] and page.next is None
    assert canceled.status == "canceled" and canceled.is_terminal
    assert emu.prediction(created.id)["status"] == "canceled"
    assert emu.requests[0].headers["cancel-after"] == "30s"
    assert client.calls == {"create": 1, "get": 1, "list": 1, "cancel": 1}


async def test_create_by_version_and_webhook_fields(emulator) -> None:
    async with client_for(emulator) as client:
        prediction = await client.create_prediction_by_version(
            MODEL, INPUT, wait=5, webhook="https://example.com/hook", webhook_events_filter=["completed"]
        )
    assert prediction.status == "succeeded"
    sent = emulator.requests[0]
    assert sent.path == "/v1/predictions" and sent.headers["prefer"] == "wait=5"
    assert b'"webhook_events_filter":["completed"]' in sent.body.replace(b" ", b"")


async def test_list_predictions_follows_next_on_the_api_origin_only(emulator) -> None:
    async with client_for(emulator) as client:
        page = await client.list_predictions(f"{emulator.base_url}/v1/predictions")
        assert page.results == []
        with pytest.raises(ValueError):
            await client.list_predictions("https://evil.example/v1/predictions?cursor=x")
    assert emulator.count("GET", "/v1/predictions") == 1


async def test_run_returns_the_succeeded_prediction(emulator) -> None:
    async with client_for(emulator) as client:
        prediction = await client.run(MODEL, {**INPUT, "output_format": "png"})
    assert prediction.status == "succeeded" and prediction.is_terminal
    assert prediction.output_urls == [prediction.output] and prediction.output.endswith(".png")
    assert prediction.predict_time is not None and prediction.predict_time > 0


# -- typed errors -----------------------------------------------------------------------------------


async def test_wrong_token_is_unauthenticated(make_emulator) -> None:
    emu = make_emulator(token="the-right-token")
    async with client_for(emu, token="a-wrong-token") as client:
        with pytest.raises(UnauthenticatedError) as info:
            await client.account()
        with pytest.raises(UnauthenticatedError):
            await client.run(MODEL, INPUT)
    assert info.value.status == 401 and info.value.title == "Unauthenticated"
    assert "valid authentication token" in str(info.value)
    assert emu.count("POST", CREATE_PATH) == 1  # a 401 is final: not retried


async def test_missing_token_sends_no_authorization(make_emulator) -> None:
    emu = make_emulator(token="the-right-token")
    async with client_for(emu, token=None) as client:
        with pytest.raises(UnauthenticatedError):
            await client.account()
    assert "authorization" not in emu.requests[0].headers


async def test_unknown_model_is_model_not_found(emulator) -> None:
    async with client_for(emulator) as client:
        with pytest.raises(ModelNotFoundError) as on_get:
            await client.get_model("nobody/no-such-model")
        with pytest.raises(ModelNotFoundError):
            await client.run("nobody/no-such-model", INPUT)
    assert on_get.value.status == 404 and "Not found" in str(on_get.value)
    assert not isinstance(on_get.value, PredictionNotFoundError)


async def test_unknown_prediction_is_prediction_not_found(emulator) -> None:
    async with client_for(emulator) as client:
        with pytest.raises(PredictionNotFoundError):
            await client.get_prediction("nosuchprediction0000000000")
        with pytest.raises(PredictionNotFoundError):
            await client.cancel_prediction("nosuchprediction0000000000")
    assert emulator.count("GET", "/v1/predictions/") == 1  # a 404 is final: not retried


async def test_bad_input_is_invalid_input_with_fields(emulator) -> None:
    async with client_for(emulator) as client:
        with pytest.raises(InvalidInputError) as info:
            await client.run(MODEL, {"prompt": "x", "aspect_ratio": "2:1"})
    error = info.value
    assert error.status == 422
    assert [f["field"] for f in error.invalid_fields] == ["input.aspect_ratio"]
    assert "aspect_ratio" in str(error)
    assert emulator.predictions() == []


async def test_flagged_prompt_is_safety_filter_error(emulator) -> None:
    async with client_for(emulator) as client:
        with pytest.raises(SafetyFilterError) as info:
            await client.run(MODEL, {"prompt": "FLAGGED content"})
    assert isinstance(info.value, PredictionFailedError)
    assert info.value.prediction.status == "failed" and "E005" in str(info.value)


async def test_prediction_canceled_elsewhere_is_canceled_error(make_emulator) -> None:
    emu = make_emulator(latency=3.0)
    async with client_for(emu) as client:
        run = asyncio.ensure_future(client.run(MODEL, INPUT))
        await wait_until_async(lambda: emu.predictions())
        await client.cancel_prediction(emu.predictions()[0]["id"])
        with pytest.raises(PredictionCanceledError) as info:
            await run
    assert info.value.prediction.status == "canceled"


async def test_throttled_get_retries_then_raises_rate_limited(emulator) -> None:
    emulator.inject_fault("GET", "/v1/account", 429, times=3, retry_after=0)
    async with client_for(emulator) as client:
        with pytest.raises(RateLimitedError) as info:
            await client.account()
    assert info.value.status == 429 and info.value.retry_after == 0
    assert emulator.count("GET", "/v1/account") == 3 and client.calls["account"] == 3


async def test_retry_after_longer_than_the_cap_is_not_waited_out(emulator) -> None:
    emulator.inject_fault("GET", "/v1/account", 429, retry_after=30)
    async with client_for(emulator) as client:
        with pytest.raises(RateLimitedError) as info:
            await asyncio.wait_for(client.account(), 2)
    assert info.value.retry_after == 30 and emulator.count("GET", "/v1/account") == 1


async def test_retry_after_is_honoured(emulator) -> None:
    emulator.inject_fault("GET", "/v1/account", 429, retry_after=1)
    async with client_for(emulator) as client:
        started = asyncio.get_running_loop().time()
        await client.account()
        waited = asyncio.get_running_loop().time() - started
    assert waited >= 0.95 and emulator.count("GET", "/v1/account") == 2


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_get_retries_server_errors(emulator, status: int) -> None:
    created = emulator_prediction(emulator)
    emulator.inject_fault("GET", "/v1/predictions/", status, times=2)
    async with client_for(emulator) as client:
        prediction = await client.get_prediction(created)
    assert prediction.id == created and emulator.count("GET", "/v1/predictions/") == 3


async def test_get_gives_up_after_bounded_retries_with_server_error(emulator) -> None:
    emulator.inject_fault("GET", "/v1/predictions", 503, times=3)
    async with client_for(emulator) as client:
        with pytest.raises(ServerError) as info:
            await client.list_predictions()
    assert info.value.status == 503 and "Service Unavailable" in str(info.value)
    assert emulator.count("GET", "/v1/predictions") == 3


async def test_get_retries_a_dropped_connection(emulator) -> None:
    emulator.inject_fault("GET", "/v1/account", "drop")
    async with client_for(emulator) as client:
        assert (await client.account())["username"]
    assert emulator.count("GET", "/v1/account") == 2


async def test_unreachable_server_is_network_error(emulator) -> None:
    async with ReplicateClient(TOKEN, base_url=f"http://127.0.0.1:{free_port()}", retry=FAST_RETRY) as client:
        with pytest.raises(NetworkError) as on_get:
            await client.account()
        with pytest.raises(NetworkError) as on_create:
            await client.create_prediction(MODEL, INPUT)
    assert client.calls == {"account": 3, "create": 3}  # never connected: safe to retry even a create
    assert not isinstance(on_create.value, AmbiguousCreateError)
    assert "ConnectError" in str(on_get.value)


# -- creates: retried only when nothing can have been created ---------------------------------------


async def test_create_is_retried_after_429(emulator) -> None:
    emulator.inject_fault("POST", CREATE_PATH, 429, retry_after=0)
    async with client_for(emulator) as client:
        prediction = await client.run(MODEL, INPUT)
    assert prediction.status == "succeeded"
    assert emulator.count("POST", CREATE_PATH) == 2
    assert len(emulator.predictions()) == 1


async def test_create_is_not_resent_after_a_read_timeout(emulator) -> None:
    emulator.inject_fault("POST", CREATE_PATH, "stall", delay=0.6)
    async with client_for(emulator, timeout=httpx.Timeout(0.3)) as client:
        with pytest.raises(AmbiguousCreateError) as info:
            await client.create_prediction(MODEL, INPUT)
    assert "ReadTimeout" in str(info.value)
    assert emulator.count("POST", CREATE_PATH) == 1
    assert len(emulator.predictions()) == 1  # it was created, and billed, once


async def test_create_is_not_resent_after_the_connection_drops(emulator) -> None:
    emulator.inject_fault("POST", CREATE_PATH, "drop_after_create")
    async with client_for(emulator) as client:
        with pytest.raises(AmbiguousCreateError):
            await client.run(MODEL, INPUT)
    assert emulator.count("POST", CREATE_PATH) == 1 and len(emulator.predictions()) == 1


@pytest.mark.parametrize("status", [500, 503])
async def test_create_is_not_resent_after_a_server_error(emulator, status: int) -> None:
    emulator.inject_fault("POST", CREATE_PATH, status)
    async with client_for(emulator) as client:
        with pytest.raises(AmbiguousCreateError) as info:
            await client.create_prediction(MODEL, INPUT)
    assert info.value.status == status and emulator.count("POST", CREATE_PATH) == 1


async def test_cancel_is_retried_after_429(make_emulator) -> None:
    emu = make_emulator(latency=5.0)
    async with client_for(emu) as client:
        created = await client.create_prediction(MODEL, INPUT)
        emu.inject_fault("POST", f"/v1/predictions/{created.id}/cancel", 429, retry_after=0)
        canceled = await client.cancel_prediction(created.id)
    assert canceled.status == "canceled"
    assert emu.count("POST", f"/v1/predictions/{created.id}/cancel") == 2


async def test_cancel_keeps_trying_through_server_errors(make_emulator) -> None:
    # An undelivered cancel leaves a billed prediction running: 5xx answers are tried again,
    # more times than an ordinary call would be.
    emu = make_emulator(latency=30.0)
    async with client_for(emu) as client:
        created = await client.create_prediction(MODEL, INPUT)
        emu.inject_fault("POST", f"/v1/predictions/{created.id}/cancel", 503, times=4)
        canceled = await client.cancel_prediction(created.id)
    assert canceled.status == "canceled"
    assert emu.count("POST", f"/v1/predictions/{created.id}/cancel") == 5
    assert emu.prediction(created.id)["status"] == "canceled"


async def test_wait_timeout_cancels_the_prediction_remotely(make_emulator) -> None:
    emu = make_emulator(latency=5.0)
    async with client_for(emu) as client:
        created = await client.create_prediction(MODEL, INPUT)
        with pytest.raises(PredictionTimeoutError) as info:
            await client.wait(created, timeout=0.3)
        assert client.waiting == 0
    assert emu.prediction(created.id)["status"] == "canceled"
    assert info.value.prediction.status == "canceled"
    assert client.calls["cancel"] == 1


async def test_run_timeout_cancels_the_prediction_remotely(make_emulator) -> None:
    emu = make_emulator(latency=5.0)
    async with client_for(emu) as client:
        with pytest.raises(PredictionTimeoutError) as info:
            await client.run(MODEL, INPUT, timeout=1.3)
    assert emu.predictions()[0]["status"] == "canceled"
    assert "within 1.3 s" in str(info.value)


# -- the token stays secret -------------------------------------------------------------------------


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


async def test_token_never_appears_in_reprs_errors_or_logs(make_emulator, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # httpx, httpcore and our own loggers at their chattiest
    emu = make_emulator(token=TOKEN)
    errors: list[BaseException] = []
    async with client_for(emu) as client:
        prediction = await client.run(MODEL, INPUT)
        download = await client.download(prediction.output)
        emu.inject_fault("POST", CREATE_PATH, "drop_after_create")
        for call in (
            client.create_prediction(MODEL, INPUT),  # the dropped connection
            client.get_model("nobody/nothing"),
            client.download("ftp://example.com/x.png"),
            client.run(MODEL, {"prompt": "FLAGGED"}),
        ):
            try:
                await call
            except ReplicateError as exc:
                errors.append(exc)
    async with client_for(emu, token="not-" + TOKEN) as wrong:
        try:
            await wrong.account()
        except ReplicateError as exc:
            errors.append(exc)
    async with ReplicateClient(TOKEN, base_url=f"http://127.0.0.1:{free_port()}", retry=FAST_RETRY) as dead:
        try:
            await dead.account()
        except ReplicateError as exc:
            errors.append(exc)

    assert len(errors) == 6
    texts = [repr(client), str(client), repr(prediction), str(prediction), repr(download), repr(vars(client))]
    for error in errors:
        for link in _chain(error):
            assert not isinstance(link, httpx.HTTPError), "an httpx error (holding the request) is reachable"
            texts += [str(link), repr(link), repr(vars(link))]
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(record.args) for record in caplog.records]
    assert any("HTTP Request" in text for text in texts), "httpx debug logging was not captured"
    leaks = [text for text in texts if TOKEN in text]
    assert leaks == []


def emulator_prediction(emu) -> str:
    """Create a prediction with a plain client (not ours) and return its id."""
    answer = httpx.post(f"{emu.base_url}{CREATE_PATH}", json={"input": INPUT}, headers={"Authorization": "Bearer x"})
    answer.raise_for_status()
    return answer.json()["id"]
