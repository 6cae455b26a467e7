"""The emulator speaks Replicate's API: the official client unchanged, and the raw HTTP shapes."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import time
from datetime import datetime

import httpx
import pytest
import replicate
from conftest import wait_until
from PIL import Image
from replicate.exceptions import ModelError, ReplicateError

from imagen_ui.emulator import Emulator

MODEL = "google/imagen-4-fast"
CREATE = f"/v1/models/{MODEL}/predictions"
VERSION_ID = "efb61e33cffb69a1725083f675a44793929553f479918d01d6ce6e00efbee0d7"
E005 = re.compile(
    r"^The input or output was flagged as sensitive\. Please try again with different inputs\. "
    r"\(E005\) \([0-9a-z]+\)$"
)
pytestmark = pytest.mark.timeout(30)


def http(emu: Emulator, **kwargs) -> httpx.Client:
    return httpx.Client(base_url=emu.base_url, trust_env=False, timeout=10, **kwargs)


def client(emu: Emulator, token: str = "x") -> replicate.Client:
    return replicate.Client(api_token=token, base_url=emu.base_url)


# The official client ------------------------------------------------------------------------


def test_official_run_returns_the_image_url(emulator: Emulator) -> None:
    output = client(emulator).run(MODEL, input={"prompt": "a lighthouse", "output_format": "png"})
    # replicate 1.0.7 wraps only https: and data: outputs in FileOutput; loopback gives a str.
    assert isinstance(output, str)
    assert output.startswith(f"{emulator.base_url}/files/") and output.endswith(".png")
    image = Image.open(io.BytesIO(httpx.get(output, trust_env=False).content))
    assert (image.format, image.size) == ("PNG", (1024, 1024))


def test_official_run_by_version_id(emulator: Emulator) -> None:
    output = client(emulator).run(f"{MODEL}:{VERSION_ID}", input={"prompt": "a harbour"})
    assert isinstance(output, str) and output.endswith(".jpg")
    [prediction] = emulator.predictions()
    assert prediction["version"] == VERSION_ID
    assert emulator.count("GET", f"/v1/models/{MODEL}/versions/{VERSION_ID}") == 1


def test_official_run_raises_model_error_for_flagged_prompt(emulator: Emulator) -> None:
    with pytest.raises(ModelError) as caught:
        client(emulator).run(MODEL, input={"prompt": "something FLAGGED here"})
    assert E005.match(caught.value.prediction.error)


def test_official_run_polls_when_its_wait_runs_out(make_emulator) -> None:
    emu = make_emulator(latency=1.5)
    output = client(emu).run(MODEL, input={"prompt": "slow"}, wait=1)
    assert isinstance(output, str) and output.endswith(".jpg")  # not None: it saw "starting" and polled
    assert emu.count("GET", "/v1/predictions/") >= 1


def test_official_predictions_create_get_list_cancel(emulator: Emulator) -> None:
    c = client(emulator)
    done = c.predictions.create(model=MODEL, input={"prompt": "first"})
    assert (done.status, done.version, done.model) == ("starting", "hidden", MODEL)
    done.wait()
    assert done.status == "succeeded" and done.output.endswith(".jpg")
    assert c.predictions.get(done.id).output == done.output

    emulator.set_latency(30)
    running = c.predictions.create(model=MODEL, input={"prompt": "second"})
    page = c.predictions.list()
    assert [p.id for p in page.results] == [running.id, done.id]  # newest first
    assert page.next is None and page.previous is None
    canceled = c.predictions.cancel(running.id)
    assert canceled.status == "canceled" and canceled.output is None


def test_official_models_account_and_secret(emulator: Emulator) -> None:
    c = client(emulator)
    model = c.models.get(MODEL)
    assert (model.owner, model.name, model.latest_version.id) == ("google", "imagen-4-fast", VERSION_ID)
    schema = model.latest_version.openapi_schema["components"]["schemas"]
    assert schema["Input"]["required"] == ["prompt"]
    account = c.accounts.current()
    assert (account.type, account.username, account.name) == ("user", "emulator", "Replicate emulator")
    assert c.webhooks.default.secret().key == emulator.webhook_secret
    with pytest.raises(ReplicateError) as caught:
        c.models.get("google/no-such-model")
    assert caught.value.status == 404


# Creating, waiting, cancelling ----------------------------------------------------------------


def test_create_without_prefer_answers_201_starting(emulator: Emulator) -> None:
    with http(emulator) as h:
        response = h.post(CREATE, json={"input": {"prompt": "no wait"}})
    assert response.status_code == 201
    assert "preference-applied" not in response.headers
    body = response.json()
    assert body["status"] == "starting" and body["output"] is None
    assert re.fullmatch(r"[0-9a-z]{26}", body["id"])
    assert body["urls"] == {
        "cancel": f"{emulator.base_url}/v1/predictions/{body['id']}/cancel",
        "get": f"{emulator.base_url}/v1/predictions/{body['id']}",
        "web": f"{emulator.base_url}/p/{body['id']}",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", body["created_at"])
    assert int(response.headers["ratelimit-remaining"]) < 600 and response.headers["ratelimit-reset"] == "1"


def test_prefer_wait_answers_201_with_the_finished_prediction(emulator: Emulator) -> None:
    with http(emulator) as h:
        response = h.post(CREATE, json={"input": {"prompt": "wait"}}, headers={"Prefer": "wait=5"})
    assert response.status_code == 201
    assert response.headers["preference-applied"] == "wait=5"
    body = response.json()
    assert body["status"] == "succeeded" and body["source"] == "api" and body["data_removed"] is False
    assert body["output"] == f"{emulator.base_url}/files/{body['id']}/output.jpg"
    assert body["metrics"]["predict_time"] > 0 and body["metrics"]["total_time"] >= body["metrics"]["predict_time"]
    assert body["completed_at"] >= body["started_at"] >= body["created_at"]


def test_prefer_wait_that_runs_out_answers_202_unfinished(make_emulator) -> None:
    emu = make_emulator(latency=3.0)
    with http(emu) as h:
        started = time.monotonic()
        response = h.post(CREATE, json={"input": {"prompt": "slow"}}, headers={"Prefer": "wait=1"})
        elapsed = time.monotonic() - started
        assert response.status_code == 202
        assert response.headers["preference-applied"] == "wait=1"
        assert 0.9 < elapsed < 2.0
        body = response.json()
        assert body["status"] == "starting" and body["output"] is None
        # Polling shows what the model is really doing.
        assert h.get(f"/v1/predictions/{body['id']}").json()["status"] == "processing"


def test_plain_prefer_wait_means_60_seconds(emulator: Emulator) -> None:
    with http(emulator) as h:
        response = h.post(CREATE, json={"input": {"prompt": "x"}}, headers={"Prefer": "wait"})
    assert response.status_code == 201 and response.headers["preference-applied"] == "wait=60"


def test_cancel_running_prediction(make_emulator) -> None:
    emu = make_emulator(latency=30)
    with http(emu) as h:
        created = h.post(CREATE, json={"input": {"prompt": "cancel me"}}).json()
        response = h.post(f"/v1/predictions/{created['id']}/cancel")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "canceled" and body["output"] is None and body["completed_at"]
        assert h.get(f"/v1/predictions/{created['id']}").json()["status"] == "canceled"
        assert h.post(f"/v1/predictions/{created['id']}/cancel").json() == body  # terminal: unchanged


def test_cancel_after_sets_a_deadline(emulator: Emulator) -> None:
    from imagen_ui.emulator.protocol import parse_cancel_after

    assert [parse_cancel_after(v) for v in ("30s", "5m", "1h30m", "2s", "12", "soon", None)] == [
        30.0, 300.0, 5400.0, 5.0, 12.0, None, None]
    with http(emulator) as h:
        body = h.post(CREATE, json={"input": {"prompt": "x"}}, headers={"Cancel-After": "1m"}).json()
    created, deadline = (datetime.fromisoformat(body[k].replace("Z", "+00:00")) for k in ("created_at", "deadline"))
    assert abs((deadline - created).total_seconds() - 60) < 0.01


def test_cancel_of_finished_prediction_changes_nothing(emulator: Emulator) -> None:
    with http(emulator) as h:
        done = h.post(CREATE, json={"input": {"prompt": "done"}}, headers={"Prefer": "wait=5"}).json()
        again = h.post(f"/v1/predictions/{done['id']}/cancel")
    assert again.status_code == 200 and again.json() == done


def test_flagged_prompt_fails_with_e005(emulator: Emulator) -> None:
    with http(emulator) as h:
        body = h.post(CREATE, json={"input": {"prompt": "FLAGGED"}}, headers={"Prefer": "wait=5"}).json()
    assert body["status"] == "failed" and body["output"] is None
    assert E005.match(body["error"])


def test_create_by_version_forms(emulator: Emulator) -> None:
    with http(emulator) as h:
        for version, reported in [(MODEL, "hidden"), (VERSION_ID, VERSION_ID), (f"{MODEL}:{VERSION_ID}", VERSION_ID)]:
            response = h.post("/v1/predictions", json={"version": version, "input": {"prompt": "v"}})
            assert response.status_code == 201, version
            assert (response.json()["model"], response.json()["version"]) == (MODEL, reported)
        unknown = h.post("/v1/predictions", json={"version": "0" * 64, "input": {"prompt": "v"}})
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"


def test_list_pages_newest_first(emulator: Emulator) -> None:
    with http(emulator) as h:
        ids = [h.post(CREATE, json={"input": {"prompt": "FLAGGED page"}}).json()["id"] for _ in range(205)]
        first = h.get("/v1/predictions").json()
        assert [p["id"] for p in first["results"]] == ids[::-1][:100] and first["previous"] is None
        second = h.get(first["next"]).json()
        assert [p["id"] for p in second["results"]] == ids[::-1][100:200]
        third = h.get(second["next"]).json()
        assert [p["id"] for p in third["results"]] == ids[::-1][200:] and third["next"] is None
        back = h.get(third["previous"]).json()
        assert [p["id"] for p in back["results"]] == ids[::-1][100:200]
    assert [p.id for p in client(emulator).predictions.list(second["next"]).results] == ids[::-1][200:]
    assert set(first["results"][0]) >= {"id", "input", "output", "status", "urls", "created_at"}


def test_retention_removes_output_input_and_file(make_emulator) -> None:
    emu = make_emulator(latency=0.05, retention=0.5)
    with http(emu) as h:
        done = h.post(CREATE, json={"input": {"prompt": "short lived"}}, headers={"Prefer": "wait=5"}).json()
        assert h.get(done["output"]).status_code == 200
        time.sleep(0.6)  # the behaviour under test: the retention period runs out
        gone = h.get(f"/v1/predictions/{done['id']}").json()
        assert (gone["data_removed"], gone["output"], gone["input"], gone["status"]) == (True, None, {}, "succeeded")
        assert h.get(done["output"]).status_code == 404


# Errors ---------------------------------------------------------------------------------------


def test_token_mismatch_is_401_problem(make_emulator) -> None:
    emu = make_emulator(token="r8_right")
    with http(emu) as h:
        wrong = h.get("/v1/account", headers={"Authorization": "Bearer r8_wrong"})
        missing = h.get("/v1/account")
        right = h.get("/v1/account", headers={"Authorization": "Bearer r8_right"})
    for response in (wrong, missing):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == {
            "title": "Unauthenticated",
            "detail": "You did not pass a valid authentication token",
            "status": 401,
        }
    assert right.status_code == 200
    with pytest.raises(ReplicateError) as caught:
        client(emu, token="r8_wrong").run(MODEL, input={"prompt": "x"})
    assert caught.value.status == 401


def test_unknown_model_and_prediction_are_404(emulator: Emulator) -> None:
    with http(emulator) as h:
        responses = [
            h.get("/v1/models/google/not-a-model"),
            h.post("/v1/models/google/not-a-model/predictions", json={"input": {"prompt": "x"}}),
            h.get("/v1/predictions/doesnotexist0000000000000"),
            h.post("/v1/predictions/doesnotexist0000000000000/cancel"),
        ]
    for response in responses:
        assert response.status_code == 404 and response.json() == {"detail": "Not found"}
    assert emulator.predictions() == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"input": {"prompt": "x", "aspect_ratio": "2:1"}},
         [("enum", "input.aspect_ratio",
           'aspect_ratio must be one of the following: "1:1", "9:16", "16:9", "3:4", "4:3"')]),
        ({"input": {"aspect_ratio": "1:1"}}, [("required", "input", "prompt is required")]),
        ({"input": {"prompt": 42}},
         [("invalid_type", "input.prompt", "Invalid type. Expected: string, given: integer")]),
        ({"input": {"prompt": "x", "seed": 1}},
         [("additional_property_not_allowed", "input", "Additional property seed is not allowed")]),
        ({"input": {"prompt": "x"}, "versoin": "typo"},
         [("additional_property_not_allowed", "(root)", "Additional property versoin is not allowed")]),
        ({"input": {"prompt": "x"}, "webhook_events_filter": ["done"]},
         [("enum", "webhook_events_filter.0",
           'webhook_events_filter.0 must be one of the following: "start", "output", "logs", "completed"')]),
    ],
)
def test_validation_errors_are_422_with_invalid_fields(emulator: Emulator, body, expected) -> None:
    with http(emulator) as h:
        response = h.post(CREATE, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Input validation failed" and problem["status"] == 422
    fields = [(f["type"], f["field"], f["description"]) for f in problem["invalid_fields"]]
    assert fields == expected
    assert problem["detail"] == "\n".join(f"- {field}: {text}" for _, field, text in expected)
    assert emulator.predictions() == []


def test_malformed_json_is_400_problem(emulator: Emulator) -> None:
    with http(emulator) as h:
        response = h.post(CREATE, content=b'{"input": {"prompt": ', headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 400 and response.json()["title"]


# Control API, inspection, isolation -------------------------------------------------------------


def test_requests_are_recorded_in_order(emulator: Emulator) -> None:
    with http(emulator) as h:
        done = h.post(CREATE, json={"input": {"prompt": "rec"}}, headers={"Prefer": "wait=5", "X-Test": "1"}).json()
        h.get(done["output"])
    methods_paths = [(r.method, r.path) for r in emulator.requests]
    assert methods_paths == [("POST", CREATE), ("GET", f"/files/{done['id']}/output.jpg")]
    first = emulator.requests[0]
    assert first.headers["x-test"] == "1" and first.headers["prefer"] == "wait=5"
    assert first.body == b'{"input":{"prompt":"rec"}}'
    assert emulator.count("POST", "/v1/") == 1 and emulator.count("GET", "/files/") == 1
    assert emulator.prediction(done["id"]) == done
    with pytest.raises(KeyError):
        emulator.prediction("nope")


def test_inspection_endpoint_matches_predictions(emulator: Emulator) -> None:
    with http(emulator) as h:
        h.post(CREATE, json={"input": {"prompt": "one"}}, headers={"Prefer": "wait=5"})
        h.post(CREATE, json={"input": {"prompt": "two"}}, headers={"Prefer": "wait=5"})
        listed = h.get("/_emulator/predictions").json()
    assert listed == emulator.predictions()
    assert [p["input"]["prompt"] for p in listed] == ["two", "one"]
    assert emulator.count(None, "/_emulator") == 0  # inspection is not part of the record


def test_stop_is_fast_and_idempotent_even_with_a_waiting_request(make_emulator) -> None:
    import threading

    emu = make_emulator(latency=30)
    answers: list[int] = []

    def waiting_create() -> None:
        with http(emu) as h:
            answers.append(h.post(CREATE, json={"input": {"prompt": "x"}}, headers={"Prefer": "wait=60"}).status_code)

    thread = threading.Thread(target=waiting_create)
    thread.start()
    wait_until(lambda: emu.predictions())
    started = time.monotonic()
    emu.stop()
    emu.stop()
    thread.join(5)
    assert time.monotonic() - started < 1.5
    assert answers == [202]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{emu.base_url}/v1/account", trust_env=False)


def test_emulator_imports_nothing_else_of_the_app() -> None:
    code = "import sys, imagen_ui.emulator; print(sorted(m for m in sys.modules if m.startswith('imagen_ui')))"
    modules = eval(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert all(m == "imagen_ui" or m.startswith("imagen_ui.emulator") for m in modules), modules
