"""Any Replicate image model: forms from schemas, the model picker, gone models, Compare, API code."""

from __future__ import annotations

import time

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from PIL import Image
from conftest import free_port, wait_until
from playground import choose, serve
from playwright.sync_api import expect

FLUX = "black-forest-labs/flux-schnell"
IMAGEN = ("google/imagen-4-fast", "google/imagen-4-ultra", "google/imagen-4")


@pytest.fixture
def emulator(make_emulator):
    return make_emulator(latency=0.05)


def test_a_differently_shaped_model_gets_its_own_form_and_runs(emulator, tmp_path, page):  # noqa: F811
    with serve(tmp_path / "o", api_base=emulator.base_url, models=(*IMAGEN, FLUX)) as (_, url):
        page.goto(url)
        page.locator("#prompt textarea").fill("kept across models")
        choose(page, "model", FLUX)
        expect(page.locator("#model-about")).to_contain_text(FLUX)
        form = page.locator("#generate-flux_schnell")
        expect(form).to_be_visible()
        expect(page.locator("#generate")).to_be_hidden()
        # Its own controls, the less common ones under "More options": a bounded integer as a
        # slider, booleans as checkboxes.
        more = page.locator("#flux_schnell-more-options")
        expect(more.locator("#flux_schnell-go_fast")).to_be_hidden()
        more.get_by_text("More options").click()
        expect(page.locator("#flux_schnell-num_inference_steps input[type=range]")).to_be_visible()
        go_fast = page.locator("#flux_schnell-go_fast input[type=checkbox]")
        expect(go_fast).to_be_checked()
        go_fast.uncheck()
        page.locator("#flux_schnell-num_inference_steps input[type=number]").fill("2")
        choose(page, "flux_schnell-output_format", "PNG")
        expect(page.locator("#prompt textarea")).to_have_value("kept across models")
        form.click()
        expect(page.locator("#gallery button.thumbnail-item")).to_have_count(1, timeout=10_000)
        [prediction] = emulator.predictions()
        assert prediction["model"] == FLUX
        assert prediction["input"]["go_fast"] is False
        assert prediction["input"]["num_inference_steps"] == 2
        assert prediction["input"]["prompt"] == "kept across models"


def test_a_list_output_model_makes_its_images_in_one_prediction_with_one_count_control(emulator, tmp_path):
    # flux's own num_outputs is the click's image count: no second control to multiply it with.
    with serve(tmp_path / "o", api_base=emulator.base_url, models=(*IMAGEN, FLUX)) as (app, url):
        client = Client(url, verbose=False, analytics_enabled=False)
        info = client.view_api(return_format="dict", print_info=False)
        flux_api = info["named_endpoints"]["/generate_flux_schnell"]
        names = [p["parameter_name"] for p in flux_api["parameters"]]
        assert names[0] == "prompt" and "num_outputs" not in names and names[-1] == "num_images"
        values = {"prompt": "three at once", "output_format": "png", "num_images": 3}
        args = [values.get(name, p.get("parameter_default")) for name, p in zip(names, flux_api["parameters"])]
        gallery, status = client.predict(*args, api_name="/generate_flux_schnell")
        assert len(gallery) == 3
        for item in gallery:
            with Image.open(item["image"]) as image:
                assert image.format == "PNG"
        [prediction] = emulator.predictions()
        assert prediction["input"]["num_outputs"] == 3 and isinstance(prediction["input"]["seed"], int)
        assert len(app.service.history.page(everyone=True)) == 3
        assert all(f"Image {n}" in status for n in (1, 2, 3))  # a status per output file


def test_an_empty_seed_is_a_new_random_one_on_every_click_and_is_kept(emulator, tmp_path):
    with serve(tmp_path / "o", api_base=emulator.base_url, models=(FLUX,)) as (app, url):
        client = Client(url, verbose=False, analytics_enabled=False)
        for prompt, seed in (("random seed", ""), ("random seed", ""), ("a fixed seed", "41")):
            client.predict(prompt=prompt, seed=seed, num_images=1, api_name="/generate_flux_schnell")
        seeds = [p["input"]["seed"] for p in reversed(emulator.predictions())]  # newest first, as Replicate lists
        assert len(set(seeds[:2])) == 2 and seeds[2] == 41
        assert {e.inputs["seed"] for e in app.service.history.page(everyone=True)} == set(seeds)


def test_a_model_that_is_gone_is_reported_once_on_the_page(emulator, tmp_path, page):  # noqa: F811
    emulator.inject_fault("GET", "/v1/models/google/imagen-4-ultra", 404)
    with serve(tmp_path / "o", api_base=emulator.base_url) as (app, url):
        assert app.service.catalog["google/imagen-4-ultra"].problem
        page.goto(url)
        choose(page, "model", "google/imagen-4-ultra (unavailable)")
        about = page.locator("#model-about")
        expect(about).to_contain_text("Replicate has no model google/imagen-4-ultra")
        expect(about).to_contain_text("google/imagen-4-fast")  # what to try instead
        client = Client(url, verbose=False, analytics_enabled=False)
        with pytest.raises(AppError) as refused:
            client.predict("x", "1:1", "jpg", "block_only_high", 1, api_name="/generate_imagen_4_ultra")
        assert "no model google/imagen-4-ultra" in str(refused.value)
    assert emulator.count("POST", "/v1/models/") == 0  # nothing was sent for it


def test_compare_sends_one_prompt_to_three_models(emulator, tmp_path):
    with serve(tmp_path / "o", api_base=emulator.base_url) as (app, url):
        client = Client(url, verbose=False, analytics_enabled=False)
        gallery, lines = client.predict("a lighthouse", list(IMAGEN), "16:9", api_name="/compare")
        captions = sorted(item["caption"].split(" · ")[0] for item in gallery)
        assert captions == sorted(IMAGEN)
        assert all(" s" in item["caption"] for item in gallery)  # each model's time
        assert {p["model"] for p in emulator.predictions()} == set(IMAGEN)
        assert all(p["input"]["aspect_ratio"] == "16:9" for p in emulator.predictions())
        assert sorted(e.model for e in app.service.history.page(everyone=True)) == sorted(IMAGEN)
        for model in IMAGEN:
            assert model in lines
        with pytest.raises(AppError) as refused:
            client.predict("a lighthouse", [], "16:9", api_name="/compare")
        assert "Pick from 1 to" in str(refused.value)


def test_use_via_api_shows_the_current_request_without_a_token(emulator, tmp_path, page):  # noqa: F811
    with serve(tmp_path / "o", api_base=emulator.base_url, token="r8_SECRET-never-shown") as (_, url):
        page.goto(url)
        page.locator("#prompt textarea").fill('a "quoted" prompt')
        choose(page, "aspect_ratio", "16:9 landscape")
        page.locator("#api-code").get_by_text("Use via API").click()
        python = page.locator("#api-python")
        expect(python).to_contain_text('replicate.run(')
        expect(python).to_contain_text("google/imagen-4-fast")
        expect(python).to_contain_text('"16:9"')
        page.get_by_role("tab", name="curl").click()
        expect(page.locator("#api-curl")).to_contain_text("$REPLICATE_API_TOKEN")
        assert "r8_SECRET" not in page.content()


def test_a_generation_completed_by_webhook_makes_no_status_calls(make_emulator, tmp_path):
    emulator = make_emulator(latency=1.6)  # longer than the 1 s sync window: the webhook must tell
    port = free_port()
    with serve(tmp_path / "o", api_base=emulator.base_url, port=port,
               public_url=f"http://127.0.0.1:{port}") as (app, url):
        client = Client(url, verbose=False, analytics_enabled=False)
        for n in (1, 2):
            started = time.monotonic()
            gallery, _ = client.predict(f"told by webhook {n}", "1:1", "jpg", "block_only_high", n,
                                        api_name="/generate")
            assert len(gallery) == n
            assert time.monotonic() - started < 3.5  # not the polling safety net, 5 s later
        calls = app.service.client.calls
        assert calls["get"] == 0 and calls["list"] == 0, calls  # polling never had to step in
        assert app.webhooks.counts["accepted"] >= 3, app.webhooks.counts
        creates = [r for r in emulator.requests if r.method == "POST" and r.path.endswith("/predictions")]
        assert all(b'"webhook": "http://127.0.0.1:' in r.body or b'"webhook":"http://127.0.0.1:' in r.body
                   for r in creates)


def test_use_via_api_reads_the_picked_models_own_form_by_name(emulator, tmp_path, page):  # noqa: F811
    # Flux's form comes after the three Imagen forms: its values must be found by input name.
    with serve(tmp_path / "o", api_base=emulator.base_url, models=(*IMAGEN, FLUX)) as (_, url):
        page.goto(url)
        page.locator("#prompt textarea").fill("a flux request")
        choose(page, "aspect_ratio", "16:9 landscape")  # imagen-4-fast's form
        choose(page, "model", FLUX)
        # Switching keeps what flux also takes; then flux's own form is what the request holds.
        expect(page.locator("#flux_schnell-aspect_ratio input")).to_have_value("16:9 landscape")
        choose(page, "flux_schnell-aspect_ratio", "21:9 landscape")
        page.locator("#flux_schnell-more-options").get_by_text("More options").click()
        page.locator("#flux_schnell-num_inference_steps input[type=number]").fill("3")
        choose(page, "flux_schnell-output_format", "PNG")
        page.locator("#api-code").get_by_text("Use via API").click()
        python = page.locator("#api-python")
        expect(python).to_contain_text(FLUX)
        expect(python).to_contain_text('"num_inference_steps": 3')
        expect(python).to_contain_text('"output_format": "png"')
        expect(python).to_contain_text('"aspect_ratio": "21:9"')
        assert '"16:9"' not in python.inner_text()


def test_use_via_api_follows_the_form_and_the_image_count(emulator, tmp_path, page):  # noqa: F811
    with serve(tmp_path / "o", api_base=emulator.base_url, models=(*IMAGEN, FLUX)) as (_, url):
        page.goto(url)
        page.locator("#api-code").get_by_text("Use via API").click()
        python = page.locator("#api-python")
        expect(python).to_contain_text("google/imagen-4-fast")
        page.locator("#prompt textarea").fill("typed after opening")
        expect(python).to_contain_text('"typed after opening"')  # no button to press
        page.locator("#num_images input[type=number]").fill("3")
        page.locator("#num_images input[type=number]").press("Enter")
        expect(python).to_contain_text("for number in range(1, 4):")  # one prediction per image
        choose(page, "model", FLUX)
        expect(python).to_contain_text('"num_outputs": 3')  # flux makes them in one prediction
        assert "for number" not in python.inner_text()


def test_the_seed_box_rolls_a_random_seed_and_reuses_an_images(emulator, tmp_path, page):  # noqa: F811
    with serve(tmp_path / "o", api_base=emulator.base_url, models=(*IMAGEN, FLUX)) as (_, url):
        page.goto(url)
        choose(page, "model", FLUX)
        page.locator("#prompt textarea").fill("keep this one")
        page.locator("#generate-flux_schnell").click()
        caption = page.locator("#gallery .caption-label").first
        expect(caption).to_contain_text("seed", timeout=10_000)
        [prediction] = emulator.predictions()
        sent = prediction["input"]["seed"]
        assert f"seed {sent}" in caption.inner_text()  # the seed it was made with is shown
        page.locator("#flux_schnell-more-options").get_by_text("More options").click()
        seed = page.locator("#flux_schnell-seed textarea, #flux_schnell-seed input").first
        expect(seed).to_have_value("")
        page.locator("#flux_schnell-seed-reuse").click()
        expect(seed).to_have_value(str(sent))
        page.locator("#generate-flux_schnell").click()
        assert wait_until(lambda: len(emulator.predictions()) == 2, timeout=10)
        assert emulator.predictions()[0]["input"]["seed"] == sent  # the same image again
        page.locator("#flux_schnell-seed-random").click()
        expect(seed).to_have_value("")
