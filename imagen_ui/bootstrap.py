"""Put the app together from Settings: emulator (offline), client, schema, history, service, page."""

from __future__ import annotations

import logging
import signal
from dataclasses import dataclass, field
from pathlib import Path

from imagen_ui import gradio_tuning
from imagen_ui.settings import Settings

logger = logging.getLogger(__name__)

OFFLINE_TOKEN = "offline-emulator"  # what the app sends to its own in-process emulator
OFFLINE_LATENCY = 1.5  # seconds: placeholders arrive about as fast as imagen-4-fast's real images
WEBHOOK_PATH = "/webhooks/replicate"
# With webhooks, the first poll waits this long past a prediction's expected end: a safety net.
WEBHOOK_GRACE = 5.0
# On SIGTERM/Ctrl+C, images in flight get this long to finish and be stored before the rest are
# cancelled (docker and systemd wait 10 s before they kill).
STOP_GRACE = 8.0


@dataclass
class App:
    settings: Settings
    demo: object  # gr.Blocks
    service: object  # GenerationService
    schema_source: str  # "live" or "bundled"
    emulator: object | None = None
    webhooks: object | None = None  # the WebhookReceiver, when the app has a public URL
    _closed: bool = field(default=False, repr=False)

    @property
    def offline(self) -> bool:
        return self.emulator is not None

    def launch(self, **options) -> None:
        """Serve the page (blocks unless prevent_thread_lock=True is passed)."""
        from starlette.middleware import Middleware

        from imagen_ui.public.request_guard import HeaderGuard
        from imagen_ui.settings import gradio_auth
        from imagen_ui.store import ARCHIVE_DIR
        from imagen_ui.ui import LAUNCH_OPTIONS, TILE_DIR

        settings = self.settings
        options.setdefault("server_name", settings.host)
        options.setdefault("server_port", settings.port)
        options.setdefault("share", settings.share)
        # Only the image files, their previews, the images they were made from, the page's tiles and
        # the zips: the SQLite index beside them holds every visitor's prompts.
        history = self.service.history
        options.setdefault("allowed_paths", [str(history.images_dir), str(history.previews_dir),
                                             str(history.input_images.dir), str(TILE_DIR), str(ARCHIVE_DIR)])
        options.setdefault("footer_links", [])
        for key, value in gradio_tuning.launch_options(self.demo, public=settings.public).items():
            options.setdefault(key, value)
        options.setdefault("auth", gradio_auth(settings))
        # Gradio hands app_kwargs to FastAPI. Every request's headers are bounded before anything
        # parses them (imagen_ui.public.request_guard, outermost); the page shows previews where it
        # shows a stored image.
        app_kwargs = {"middleware": [Middleware(HeaderGuard), gradio_tuning.previews_for_images(history.preview)],
                      "exception_handlers": gradio_tuning.exception_handlers()}
        if self.webhooks is not None:
            # The route lives on the app's own server, outside the login (Replicate must reach it;
            # the signature check is its lock).
            app_kwargs["routes"] = [self.webhooks.route]
        options.setdefault("app_kwargs", app_kwargs)
        for key, value in LAUNCH_OPTIONS.items():
            options.setdefault(key, value)
        options.setdefault("mcp_server", settings.mcp)
        blocking = not options.get("prevent_thread_lock", False)
        if options["mcp_server"]:
            options["prevent_thread_lock"] = True  # the MCP tools are chosen before serving on
        self.demo.launch(**options)
        gradio_tuning.close_deep_links(self.demo.server_app)
        if options["mcp_server"]:
            from imagen_ui.ui import MCP_TOOLS

            gradio_tuning.keep_mcp_tools(self.demo, MCP_TOOLS)
        if options["share"] and not getattr(self.demo, "share_url", None):
            # Said once, plainly; Gradio keeps serving on the local address.
            logger.warning("No public share link (no internet?): serving locally at %s only.",
                           getattr(self.demo, "local_url", f"http://{settings.host}:{settings.port}"))
        if options["mcp_server"] and blocking:
            self.demo.block_thread()

    def stop_on_signals(self) -> None:
        """SIGTERM or Ctrl+C: finish (or cancel on Replicate) what is in flight, then stop serving.
        Python's default would kill the process at once and leave billed predictions running."""

        def stop(signum: int, frame: object) -> None:
            # A second signal stops at once.
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            logger.info("Stopping: giving images in flight up to %g s to finish", STOP_GRACE)
            self.service.shutdown(STOP_GRACE)
            raise KeyboardInterrupt  # Gradio's launch() then closes its server and returns

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)

    def close(self) -> None:
        """Stop serving and stop the offline emulator with the app (it never outlives it)."""
        if self._closed:
            return
        self._closed = True
        try:
            # While Gradio's loop still runs: cancel what is left on Replicate, close the clients,
            # and let no worker thread write to the history after it is closed.
            self.service.shutdown(0.0)
            self.demo.close()
        finally:
            if self.emulator is not None:
                self.emulator.stop()
            self.service.history.close()


def create_app(settings: Settings, *, emulator=None) -> App:
    """Build the app. With no token and no API base (or --offline) an emulator starts in-process."""
    gradio_tuning.configure_environment(analytics=settings.analytics)  # before gradio is imported
    import gradio as gr

    gradio_tuning.check_version()

    from imagen_ui import ui
    from imagen_ui.emulator import Emulator
    from imagen_ui.public.budget import OWN_TOKEN_HINT as BUDGET_TOKEN_HINT
    from imagen_ui.public.budget import Budget
    from imagen_ui.public.proxies import same_peer_warning
    from imagen_ui.public.quota import quota_from_settings, trust_forwarded_for
    from imagen_ui.public.remembered_tokens import TokenVault
    from imagen_ui.replicate.client import ReplicateClient
    from imagen_ui.replicate.webhook_receiver import WebhookReceiver
    from imagen_ui.service.batch import BatchService
    from imagen_ui.service.catalog_loader import load_catalog
    from imagen_ui.service.generation import GenerationService
    from imagen_ui.store.history import History
    from imagen_ui.ui import TILE_DIR

    started_here = False
    if emulator is None and settings.use_emulator:
        emulator = Emulator(latency=OFFLINE_LATENCY).start()
        started_here = True
        logger.info("Offline mode: no REPLICATE_API_TOKEN, so images are placeholders from the built-in "
                    "Replicate emulator at %s. Put a token in the environment or .env for real ones.",
                    emulator.base_url)
    try:
        if emulator is not None:
            base_url, token = emulator.base_url, OFFLINE_TOKEN
        else:
            base_url, token = settings.api_base or "https://api.replicate.com", settings.token
        catalog = load_catalog(settings.offered_models, base_url, token)
        default = _opening_model(settings.model, catalog)
        webhook_url = settings.public_url.rstrip("/") + WEBHOOK_PATH if settings.public_url else None
        client = ReplicateClient(token, base_url=base_url,
                                 webhook_grace=WEBHOOK_GRACE if webhook_url else None)
        webhooks = (WebhookReceiver(secret_provider=client.webhook_secret, on_prediction=client.resolve,
                                    path=WEBHOOK_PATH) if webhook_url else None)
        history = History(settings.history_dir)
        # Served straight from the history: Gradio would otherwise hash and copy every image into
        # its cache on every update that shows it. They never change once written.
        gr.set_static_paths([history.images_dir, history.previews_dir, history.input_images.dir, TILE_DIR])
        service = GenerationService(
            client,
            catalog,
            history,
            default_model=default,
            max_in_flight=settings.max_in_flight,
            max_images=settings.max_images,
            has_token=bool(token),
            quota=quota_from_settings(settings),  # one that never refuses unless quotas_active
            vault=TokenVault(settings.history_dir) if settings.public else None,
            budget=(Budget(settings.daily_budget, own_token_hint=BUDGET_TOKEN_HINT if settings.public else None)
                    if settings.budget_active else None),
            visitor_api_base=settings.api_base or "https://api.replicate.com",
            webhook_url=webhook_url,
            configured_model=settings.model,
            # Image inputs may name files Gradio received (its upload folder) or kept ones.
            upload_roots=(Path(gradio_tuning.upload_folder()),),
        )
        notice = offline_notice(settings.public) if emulator is not None else None
        demo = ui.build(service, offline_notice=notice, analytics=settings.analytics,
                        public=settings.public, trust_forwarded=trust_forwarded_for(settings),
                        mcp=settings.mcp,
                        batches=BatchService(service, budget=service.budget))
    except BaseException:
        if started_here:
            emulator.stop()
        raise
    gradio_tuning.explain_bad_calls(demo)
    gradio_tuning.limit_uploads(demo)
    if warning := same_peer_warning(settings):
        logger.warning("%s", warning)
    if settings.budget_active:
        logger.info("Daily budget: $%g a day (UTC) of images on the host's token, estimated from Replicate's "
                    "prices; the log says the spend as it grows.", settings.daily_budget)
    gradio_tuning.freeze_startup_objects()
    return App(settings, demo, service, catalog[default].source, emulator if started_here else None,
               webhooks)


def _opening_model(wanted: str, catalog: dict) -> str:
    """The configured model, or the first usable one when Replicate no longer has it."""
    if catalog[wanted].usable:
        return wanted
    usable = [model for model, entry in catalog.items() if entry.usable]
    if usable:
        logger.warning("%s", catalog[wanted].problem)
        return usable[0]
    if catalog[wanted].schema is None:
        raise SystemExit(catalog[wanted].problem)
    return wanted  # nothing better: the page shows the problem


def offline_notice(public: bool = False) -> str:
    if public:
        return (
            "**Offline mode**: this demo's host set no Replicate token, so images are placeholders "
            "drawn by a built-in Replicate emulator. Paste your own token under *Use your own "
            "Replicate token* to make real images (paid by your account)."
        )
    return (
        "**Offline mode**: no Replicate API token was found, so images are placeholders drawn by the "
        "built-in Replicate emulator (the prompt is written on them). For real images, put your token "
        "in the `REPLICATE_API_TOKEN` environment variable or in a `.env` file "
        "(`REPLICATE_API_TOKEN=r8_…`) and restart; get one at https://replicate.com/account/api-tokens."
    )
