"""Faults: injected ones behave exactly as stated; random ones are reproducible with a seed."""

from __future__ import annotations

import httpx
import pytest

from imagen_ui.emulator import Emulator

CREATE = "/v1/models/google/imagen-4-fast/predictions"
pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def emulator(make_emulator) -> Emulator:
    """Sync answers always settled ("succeeded"): these tests check exact shapes. The early
    "processing" answers have their own tests."""
    return make_emulator(latency=0.05, retention=3600, early_answers=0.0)


def http(emu: Emulator, **kwargs) -> httpx.Client:
    kwargs["headers"] = {"Authorization": "Bearer x", **kwargs.get("headers", {})}
    return httpx.Client(base_url=emu.base_url, trust_env=False, timeout=kwargs.pop("timeout", 10), **kwargs)


def test_injected_429_has_retry_after_and_creates_nothing(emulator: Emulator) -> None:
    emulator.inject_fault("POST", CREATE, 429)
    emulator.inject_fault("POST", CREATE, 429, retry_after=3)
    with http(emulator) as h:
        first = h.post(CREATE, json={"input": {"prompt": "x"}})
        second = h.post(CREATE, json={"input": {"prompt": "x"}})
        third = h.post(CREATE, json={"input": {"prompt": "x"}})
    assert first.status_code == 429 and first.headers["retry-after"] == "1"
    assert first.headers["content-type"] == "application/problem+json"
    assert first.json() == {
        "title": "Request was throttled. Expected available in 1 second.",
        "detail": "Request was throttled. Expected available in 1 second.",
        "status": 429,
        "retry_after": 1,
    }
    assert second.headers["retry-after"] == "3" and second.json()["retry_after"] == 3
    assert third.status_code == 201
    assert [p["id"] for p in emulator.predictions()] == [third.json()["id"]]


@pytest.mark.parametrize("status", [500, 502, 503])
def test_injected_5xx_is_a_problem_and_creates_nothing(emulator: Emulator, status: int) -> None:
    emulator.inject_fault("POST", "/v1/", status, times=2)
    with http(emulator) as h:
        answers = [h.post(CREATE, json={"input": {"prompt": "x"}}) for _ in range(3)]
    assert [a.status_code for a in answers] == [status, status, 201]
    problem = answers[0].json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    assert answers[0].headers["content-type"] == "application/problem+json"
    assert len(emulator.predictions()) == 1


def test_injected_fault_matches_method_and_prefix(emulator: Emulator) -> None:
    emulator.inject_fault("GET", "/files/", 503)
    with http(emulator) as h:
        body = h.post(CREATE, json={"input": {"prompt": "x"}}, headers={"Prefer": "wait=5"}).json()
        assert h.get("/v1/account").status_code == 200
        assert h.get(body["output"]).status_code == 503
        assert h.get(body["output"]).status_code == 200


def test_drop_closes_without_response_and_creates_nothing(emulator: Emulator) -> None:
    emulator.inject_fault("POST", CREATE, "drop")
    with http(emulator) as h:
        with pytest.raises(httpx.RemoteProtocolError):
            h.post(CREATE, json={"input": {"prompt": "x"}})
        assert h.get("/v1/account").status_code == 200
    assert emulator.predictions() == [] and emulator.count("POST", CREATE) == 1


def test_drop_after_create_is_ambiguous(emulator: Emulator) -> None:
    emulator.inject_fault("POST", CREATE, "drop_after_create")
    with http(emulator) as h:
        with pytest.raises(httpx.RemoteProtocolError):
            h.post(CREATE, json={"input": {"prompt": "ambiguous"}})
    [prediction] = emulator.predictions()
    assert prediction["input"] == {"prompt": "ambiguous"}


def test_stall_creates_then_holds_the_answer(emulator: Emulator) -> None:
    emulator.inject_fault("POST", CREATE, "stall", delay=1.0)
    with http(emulator, timeout=httpx.Timeout(5, read=0.3)) as h:
        with pytest.raises(httpx.ReadTimeout):
            h.post(CREATE, json={"input": {"prompt": "stalled"}})
    [prediction] = emulator.predictions()
    assert prediction["input"] == {"prompt": "stalled"}
    with http(emulator) as h:  # a patient client gets the answer after the delay
        emulator.inject_fault("POST", CREATE, "stall", delay=0.3)
        response = h.post(CREATE, json={"input": {"prompt": "patient"}})
        assert response.status_code == 201 and response.json()["input"] == {"prompt": "patient"}


def test_unknown_fault_kind_is_refused(emulator: Emulator) -> None:
    for kind in (200, 600, True, "explode"):
        with pytest.raises(ValueError):
            emulator.inject_fault("POST", CREATE, kind)


def test_other_statuses_answer_in_replicates_shapes(emulator: Emulator) -> None:
    emulator.inject_fault("POST", CREATE, 402)
    emulator.inject_fault("POST", CREATE, 404)
    emulator.inject_fault("POST", CREATE, 401)
    with http(emulator) as h:
        answers = [h.post(CREATE, json={"input": {"prompt": "x"}}) for _ in range(3)]
    assert [a.status_code for a in answers] == [402, 404, 401]
    assert answers[0].json()["title"] == "Insufficient credit" and answers[0].json()["status"] == 402
    assert answers[1].json() == {"detail": "Not found"}
    assert answers[2].json()["title"] == "Unauthenticated"
    assert emulator.predictions() == []


def test_injected_e005_fails_the_created_prediction(emulator: Emulator) -> None:
    emulator.inject_fault("GET", "/v1/account", "e005")  # meaningless off a create: ignored
    emulator.inject_fault("POST", CREATE, "e005")
    with http(emulator) as h:
        assert h.get("/v1/account").status_code == 200
        failed = h.post(CREATE, json={"input": {"prompt": "fine"}}, headers={"Prefer": "wait=5"}).json()
        fine = h.post(CREATE, json={"input": {"prompt": "fine"}}, headers={"Prefer": "wait=5"}).json()
    assert failed["status"] == "failed" and "(E005)" in failed["error"] and failed["output"] is None
    assert fine["status"] == "succeeded"


def _outcomes(emu: Emulator, n: int = 30) -> list[tuple[int, str | None]]:
    outcomes = []
    with http(emu) as h:
        for i in range(n):
            if i % 3 == 2:
                response = h.get("/v1/account")
                outcomes.append((response.status_code, None))
                continue
            response = h.post(CREATE, json={"input": {"prompt": f"p{i}"}}, headers={"Prefer": "wait=5"})
            status = response.json().get("status") if response.status_code == 201 else None
            outcomes.append((response.status_code, status if isinstance(status, str) else None))
    return outcomes


def test_fail_rate_is_reproducible_with_a_seed(make_emulator) -> None:
    first = _outcomes(make_emulator(latency=0.0, fail_rate=0.5, seed=1234))
    second_emu = make_emulator(latency=0.0, fail_rate=0.5, seed=1234)
    second = _outcomes(second_emu)
    assert first == second
    kinds = {code for code, _ in first}
    assert 201 in kinds and kinds & {429, 500, 503}
    assert (201, "failed") in first and (201, "succeeded") in first  # E005 model failures too
    # Creates that got an HTTP fault created nothing.
    assert len(second_emu.predictions()) == sum(1 for code, status in second if code == 201 and status)
    failed = [p for p in second_emu.predictions() if p["status"] == "failed"]
    assert all("(E005)" in p["error"] for p in failed)
    other = _outcomes(make_emulator(latency=0.0, fail_rate=0.5, seed=4321))
    assert other != first


def test_fail_rate_spares_file_downloads(make_emulator) -> None:
    emu = make_emulator(latency=0.0, fail_rate=0.0, seed=1)
    with http(emu) as h:
        body = h.post(CREATE, json={"input": {"prompt": "x"}}, headers={"Prefer": "wait=5"}).json()
    flaky = make_emulator(latency=0.0, fail_rate=1.0, seed=1)
    with http(flaky) as h:
        assert h.get("/v1/account").status_code in (429, 500, 503)
        assert h.get(body["output"].replace(emu.base_url, flaky.base_url)).status_code == 404  # a real answer
