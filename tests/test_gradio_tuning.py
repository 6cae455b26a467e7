"""The Gradio settings the many-users figure rests on (benchmarks/playground_load.py) are in effect.

Several are Gradio's internal knobs (environment variables read when the queue is made, attributes
of its queue): a Gradio upgrade that renames one would silently cost the speed back, so this says so.
"""

from __future__ import annotations

import gc

from playground import serve


def test_queue_settings_that_keep_a_burst_of_clicks_cheap(emulator, tmp_path):
    with serve(tmp_path / "history", api_base=emulator.base_url) as (app, _url):
        queue = app.demo._queue
        assert queue.live_updates is False  # queue positions once a second, not per started event
        assert queue.ANAYLTICS_CACHE_FREQUENCY == 100  # monitoring summary every 100 events...
        assert queue.ANALYTICS_MAX_EVENTS == 1000  # ...over the last 1,000
        assert queue.max_thread_count == app.demo.max_threads == 256  # launch() kept ui.build's figure
        assert gc.get_freeze_count() > 0  # the long-lived startup objects are out of the collector's way


def test_each_session_gets_its_own_copy_of_a_blocks_config(emulator, tmp_path):
    with serve(tmp_path / "history", api_base=emulator.base_url) as (app, _url):
        prompt = next(b for b in app.demo.blocks.values() if getattr(b, "elem_id", None) == "prompt")
        first = prompt.get_config()
        first["value"] = "one visitor's prompt"  # what Gradio does to a session's copy
        del first["label"]
        second = prompt.get_config()
        assert second["value"] != "one visitor's prompt" and second["label"] == "Prompt"
        assert second is not first


def test_the_guards_on_gradios_own_routes_are_in_effect(emulator, tmp_path):
    """Each leans on a Gradio internal (hostile tests show the attacks; this says when one is gone)."""
    from imagen_ui import gradio_tuning

    with serve(tmp_path / "history", api_base=emulator.base_url, public=True) as (app, _url):
        demo = app.demo
        assert demo.max_file_size == 20 * 2**20  # launch(max_file_size=...) parsed "20mb"
        assert demo.delete_cache == gradio_tuning.CACHE_CLEANUP  # read by the server's lifespan
        assert demo.run_history is False  # public mode: no runs kept in the browser
        assert "checked" in demo.preprocess_data.__qualname__  # explain_bad_calls wraps Gradio's
        paths = {getattr(route, "path", None) for route in demo.server_app.router.routes}
        assert gradio_tuning.DEEP_LINK_ROUTE not in paths and "/config" in paths  # Gradio's app.get routes
