"""imagen_ui.settings: flags > environment > .env > defaults, and a token that never shows."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from imagen_ui.settings import (
    AUTH_FILE,
    Declared,
    Settings,
    SettingsError,
    build_arg_parser,
    declarations,
    load_settings,
)

CANARY = "r8_CANARY_must_never_be_printed_0123456789"


def load(argv=(), env=None, dotenv: str | None = None, tmp_path: Path | None = None) -> Settings:
    """load_settings with an explicit environment and, when given, a .env file with `dotenv` text."""
    path = None
    if dotenv is not None:
        path = tmp_path / ".env"
        path.write_text(dotenv, encoding="utf-8")
    return load_settings(list(argv), env or {}, path)


def test_defaults():
    settings = load()
    assert settings == Settings()
    assert (settings.host, settings.port, settings.share, settings.offline) == ("127.0.0.1", 7860, False, False)
    assert (settings.model, settings.history_dir, settings.api_base) == ("google/imagen-4-fast", Path("outputs"), None)
    assert (settings.token, settings.token_source, settings.analytics) == (None, None, False)
    assert (settings.max_in_flight, settings.max_images) == (96, 4)
    assert settings.use_emulator


def test_every_environment_variable(tmp_path):
    env = {
        "REPLICATE_API_TOKEN": "r8_env",
        "REPLICATE_BASE_URL": "http://127.0.0.1:8787/",
        "IMAGEN_UI_MODEL": "google/imagen-4-ultra",
        "IMAGEN_UI_HISTORY_DIR": str(tmp_path / "h"),
        "GRADIO_SERVER_NAME": "0.0.0.0",
        "GRADIO_SERVER_PORT": "8080",
        "GRADIO_SHARE": "true",
        "IMAGEN_UI_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "True",
    }
    settings = load(env=env)
    assert settings == Settings(
        host="0.0.0.0",
        port=8080,
        share=True,
        offline=True,
        model="google/imagen-4-ultra",
        history_dir=tmp_path / "h",
        api_base="http://127.0.0.1:8787",
        token="r8_env",
        analytics=True,
        public=True,  # a share link puts the app in front of strangers
    )
    assert settings.token_source == "environment"


def test_every_flag():
    argv = ["--host", "0.0.0.0", "--port", "9000", "--share", "--offline", "--model", "acme/toy",
            "--history-dir", "/tmp/hist", "--api-base", "https://proxy.example.com"]
    settings = load(argv)
    assert (settings.host, settings.port, settings.share, settings.offline) == ("0.0.0.0", 9000, True, True)
    assert (settings.model, settings.history_dir, settings.api_base) == ("acme/toy", Path("/tmp/hist"), "https://proxy.example.com")


def test_precedence_cli_over_env_over_dotenv_over_default(tmp_path):
    dotenv = "GRADIO_SERVER_PORT=7001\nIMAGEN_UI_MODEL=dot/env\nGRADIO_SERVER_NAME=dot.host\nGRADIO_SHARE=yes\n"
    env = {"GRADIO_SERVER_PORT": "7002", "IMAGEN_UI_MODEL": "env/model"}
    settings = load(["--port", "7003"], env, dotenv, tmp_path)
    assert settings.port == 7003  # flag beats environment and .env
    assert settings.model == "env/model"  # environment beats .env
    assert settings.host == "dot.host"  # .env beats the default
    assert settings.share is True
    assert settings.offline is False  # default


def test_flags_can_turn_off_what_the_environment_turns_on():
    settings = load(["--no-share", "--no-offline"], {"GRADIO_SHARE": "1", "IMAGEN_UI_OFFLINE": "true"})
    assert (settings.share, settings.offline) == (False, False)


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("1", True), ("YES", True), ("false", False), ("0", False), ("nope", False)])
def test_truthy_values(value, expected):
    assert load(env={"GRADIO_SHARE": value}).share is expected


def test_analytics_only_when_asked():
    assert load().analytics is False
    assert load(env={"GRADIO_ANALYTICS_ENABLED": "False"}).analytics is False
    assert load(env={"GRADIO_ANALYTICS_ENABLED": "true"}).analytics is True


def test_token_from_dotenv_when_environment_has_none(tmp_path):
    settings = load(dotenv='REPLICATE_API_TOKEN="r8_dot"\n', tmp_path=tmp_path)
    assert (settings.token, settings.token_source) == ("r8_dot", ".env")
    assert not settings.use_emulator


def test_environment_token_beats_dotenv(tmp_path):
    settings = load(env={"REPLICATE_API_TOKEN": "r8_env"}, dotenv="REPLICATE_API_TOKEN=r8_dot\n", tmp_path=tmp_path)
    assert (settings.token, settings.token_source) == ("r8_env", "environment")


@pytest.mark.parametrize("blank", ["", "   ", '""', "' '"])
def test_blank_token_counts_as_none(blank):
    settings = load(env={"REPLICATE_API_TOKEN": blank})
    assert (settings.token, settings.token_source) == (None, None)
    assert settings.use_emulator


def test_blank_environment_token_falls_through_to_dotenv(tmp_path):
    settings = load(env={"REPLICATE_API_TOKEN": ""}, dotenv="REPLICATE_API_TOKEN=r8_dot\n", tmp_path=tmp_path)
    assert (settings.token, settings.token_source) == ("r8_dot", ".env")


@pytest.mark.parametrize("raw", [" r8_abc ", '"r8_abc"', "'r8_abc'\n", ' " r8_abc " '])
def test_token_whitespace_and_quotes_stripped(raw):
    assert load(env={"REPLICATE_API_TOKEN": raw}).token == "r8_abc"


def test_token_with_inner_whitespace_refused_without_echoing_it():
    with pytest.raises(SettingsError) as caught:
        load(env={"REPLICATE_API_TOKEN": f"{CANARY} {CANARY}"})
    assert "REPLICATE_API_TOKEN in the environment" in str(caught.value)
    assert CANARY not in str(caught.value)


def test_repr_and_str_hide_the_token(tmp_path):
    settings = load(env={"REPLICATE_API_TOKEN": CANARY})
    assert settings.token == CANARY
    for text in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert CANARY not in text
        assert "token=set" in text
    assert "token=unset" in repr(load())


def test_use_emulator():
    assert Settings().use_emulator
    assert not Settings(token="t").use_emulator
    assert not Settings(api_base="http://127.0.0.1:8787").use_emulator
    assert Settings(token="t", offline=True).use_emulator


def test_dotenv_does_not_touch_os_environ(tmp_path, monkeypatch):
    monkeypatch.delenv("IMAGEN_UI_TEST_ONLY", raising=False)
    settings = load(dotenv="IMAGEN_UI_TEST_ONLY=1\nIMAGEN_UI_MODEL=dot/env\n", tmp_path=tmp_path)
    assert settings.model == "dot/env"
    assert "IMAGEN_UI_TEST_ONLY" not in os.environ


def test_dotenv_values_are_literal(tmp_path):
    settings = load(env={"REPLICATE_API_TOKEN": ""}, dotenv="REPLICATE_API_TOKEN=r8_${HOME}x\n", tmp_path=tmp_path)
    assert settings.token == "r8_${HOME}x"


def test_missing_dotenv_file_is_fine(tmp_path):
    assert load_settings([], {}, tmp_path / "absent.env") == Settings()


def test_default_dotenv_is_read_from_working_directory(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("GRADIO_SERVER_PORT=7123\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert load_settings([], {}).port == 7123


def test_argv_and_environ_default_to_the_process(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.argv", ["app.py", "--port", "7444"])
    monkeypatch.setenv("IMAGEN_UI_MODEL", "proc/env")
    settings = load_settings()
    assert (settings.port, settings.model) == (7444, "proc/env")


@pytest.mark.parametrize("port", ["0", "65536", "-1", "http", "80.5"])
def test_bad_port_flag(port, capsys):
    with pytest.raises(SystemExit) as caught:
        load(["--port", port])
    assert caught.value.code == 2
    assert f"argument --port: must be a whole number from 1 to 65535 (got '{port}')" in capsys.readouterr().err


def test_bad_port_in_environment():
    with pytest.raises(SettingsError, match=r"GRADIO_SERVER_PORT in the environment must be a whole number from 1 to 65535 \(got '99999'\)"):
        load(env={"GRADIO_SERVER_PORT": "99999"})


def test_bad_port_in_dotenv(tmp_path):
    with pytest.raises(SettingsError, match=r"GRADIO_SERVER_PORT in \.env must be"):
        load(dotenv="GRADIO_SERVER_PORT=abc\n", tmp_path=tmp_path)


@pytest.mark.parametrize("model", ["imagen-4-fast", "google/imagen/4", "google/", "/imagen", "../x/y", "a b/c"])
def test_bad_model(model, capsys):
    with pytest.raises(SystemExit):
        load(["--model", model])
    assert "argument --model: must look like owner/name, e.g. google/imagen-4-fast" in capsys.readouterr().err
    with pytest.raises(SettingsError, match="IMAGEN_UI_MODEL in the environment must look like owner/name"):
        load(env={"IMAGEN_UI_MODEL": model})


@pytest.mark.parametrize("url", ["ftp://example.com", "api.replicate.com", "https://", "http://host:notaport", "https://h/?q=1"])
def test_bad_api_base(url, capsys):
    with pytest.raises(SystemExit):
        load(["--api-base", url])
    assert "argument --api-base: must be an http:// or https:// URL with a host" in capsys.readouterr().err
    with pytest.raises(SettingsError, match="REPLICATE_BASE_URL in the environment must be an http"):
        load(env={"REPLICATE_BASE_URL": url})


def test_api_base_with_credentials_is_refused_without_echo():
    with pytest.raises(SettingsError) as caught:
        load(env={"REPLICATE_BASE_URL": f"https://user:{CANARY}@proxy.example.com"})
    assert "must not contain a user name or password" in str(caught.value)
    assert CANARY not in str(caught.value)


@pytest.mark.parametrize(("url", "base"), [("https://api.replicate.com/v1/", "https://api.replicate.com"), ("http://127.0.0.1:8787", "http://127.0.0.1:8787")])
def test_api_base_normalised(url, base):
    assert load(["--api-base", url]).api_base == base


def test_help_names_each_environment_variable():
    text = build_arg_parser().format_help()
    for flag, variable in [
        ("--host", "GRADIO_SERVER_NAME"),
        ("--port", "GRADIO_SERVER_PORT"),
        ("--share", "GRADIO_SHARE"),
        ("--offline", "IMAGEN_UI_OFFLINE"),
        ("--model", "IMAGEN_UI_MODEL"),
        ("--history-dir", "IMAGEN_UI_HISTORY_DIR"),
        ("--api-base", "REPLICATE_BASE_URL"),
    ]:
        assert flag in text and variable in " ".join(text.split()), (flag, variable)
    assert "REPLICATE_API_TOKEN" in text


def test_settings_is_frozen():
    with pytest.raises(AttributeError):
        Settings().port = 1  # type: ignore[misc]


# --- public mode, quotas, login, public URL ----------------------------------------------------------

PASSWORD_CANARY = "pw-CANARY-must-never-be-printed-4242"


def test_new_settings_defaults():
    settings = load()
    assert (settings.public, settings.on_spaces, settings.quotas_active) == (False, False, False)
    assert (settings.quota_images_per_hour, settings.quota_concurrent) == (20, 2)
    assert (settings.auth, settings.public_url) == ((), None)


@pytest.mark.parametrize(
    ("argv", "env", "public"),
    [
        (["--public"], {}, True),
        (["--share"], {}, True),
        ([], {"GRADIO_SHARE": "1"}, True),
        ([], {"IMAGEN_UI_PUBLIC": "true"}, True),
        (["--share", "--no-public"], {}, False),  # a host sharing with friends may opt out
        ([], {"GRADIO_SHARE": "1", "IMAGEN_UI_PUBLIC": "no"}, False),
        (["--public"], {"IMAGEN_UI_PUBLIC": "0"}, True),  # flag beats environment
        ([], {}, False),
    ],
)
def test_public_mode_sources(argv, env, public):
    assert load(argv, env).public is public


def test_public_from_dotenv(tmp_path):
    assert load(dotenv="IMAGEN_UI_PUBLIC=on\n", tmp_path=tmp_path).public is True
    assert load(env={"IMAGEN_UI_PUBLIC": "off"}, dotenv="IMAGEN_UI_PUBLIC=on\n", tmp_path=tmp_path).public is False


def test_a_space_is_always_public():
    for argv, env in [([], {}), (["--no-public"], {}), ([], {"IMAGEN_UI_PUBLIC": "false"})]:
        settings = load(argv, {"SYSTEM": "spaces", **env})
        assert (settings.on_spaces, settings.public) == (True, True), (argv, env)
    assert Settings(_on_spaces=True).public is True  # however it is built
    assert load(env={"SYSTEM": "linux"}).on_spaces is False


def test_system_spaces_in_dotenv_does_not_make_a_space(tmp_path):
    settings = load(dotenv="SYSTEM=spaces\n", tmp_path=tmp_path)
    assert (settings.on_spaces, settings.public) == (False, False)


def test_public_switch_is_strict_so_a_typo_cannot_turn_it_off():
    with pytest.raises(SettingsError, match=r"IMAGEN_UI_PUBLIC in the environment must be true or false \(got 'ture'\)"):
        load(env={"IMAGEN_UI_PUBLIC": "ture"})


def test_quota_precedence(tmp_path):
    dotenv = "IMAGEN_UI_QUOTA_IMAGES_PER_HOUR=5\nIMAGEN_UI_QUOTA_CONCURRENT=6\n"
    settings = load(dotenv=dotenv, tmp_path=tmp_path)
    assert (settings.quota_images_per_hour, settings.quota_concurrent) == (5, 6)
    settings = load(env={"IMAGEN_UI_QUOTA_IMAGES_PER_HOUR": "7"}, dotenv=dotenv, tmp_path=tmp_path)
    assert (settings.quota_images_per_hour, settings.quota_concurrent) == (7, 6)
    settings = load(["--quota-images-per-hour", "0", "--quota-concurrent", "1"],
                    {"IMAGEN_UI_QUOTA_IMAGES_PER_HOUR": "7", "IMAGEN_UI_QUOTA_CONCURRENT": "9"})
    assert (settings.quota_images_per_hour, settings.quota_concurrent) == (0, 1)


@pytest.mark.parametrize(("flag", "variable"), [("--quota-images-per-hour", "IMAGEN_UI_QUOTA_IMAGES_PER_HOUR"), ("--quota-concurrent", "IMAGEN_UI_QUOTA_CONCURRENT")])
@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_bad_quota(flag, variable, value, capsys):
    with pytest.raises(SystemExit):
        load([flag, value])
    assert f"argument {flag}: must be a whole number, 0 or more (0 means no limit)" in capsys.readouterr().err
    with pytest.raises(SettingsError, match=f"{variable} in the environment must be a whole number, 0 or more"):
        load(env={variable: value})


def test_quotas_apply_only_to_public_runs_on_the_hosts_token():
    assert load(["--public"], {"REPLICATE_API_TOKEN": "r8_x"}).quotas_active is True
    assert load(["--public", "--api-base", "http://127.0.0.1:8787"]).quotas_active is True
    assert load([], {"REPLICATE_API_TOKEN": "r8_x"}).quotas_active is False  # local run: whatever is set
    assert load(["--public"]).quotas_active is False  # offline emulator: nothing is paid
    assert load(["--public", "--offline"], {"REPLICATE_API_TOKEN": "r8_x"}).quotas_active is False


def test_auth_flags_repeat_and_split_on_the_first_colon():
    settings = load(["--auth", "alice:one", "--auth", f"bob:{PASSWORD_CANARY}:x"])
    assert settings.auth == (("alice", "one"), ("bob", f"{PASSWORD_CANARY}:x"))


def test_auth_from_environment_and_dotenv(tmp_path):
    assert load(env={"IMAGEN_UI_AUTH": "alice:one,bob:two"}).auth == (("alice", "one"), ("bob", "two"))
    assert load(dotenv="IMAGEN_UI_AUTH=carol:three\n", tmp_path=tmp_path).auth == (("carol", "three"),)
    # Flags beat the environment: its users are not added to the flags' ones.
    assert load(["--auth", "dave:four"], {"IMAGEN_UI_AUTH": "alice:one"}).auth == (("dave", "four"),)


def test_auth_file_from_flag_and_environment(tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("# team\nalice:one\n\nbob:two\n", encoding="utf-8")
    other = tmp_path / "other.txt"
    other.write_text("carol:three\n", encoding="utf-8")
    assert load(["--auth-file", str(users)]).auth == (("alice", "one"), ("bob", "two"))
    assert load(env={"IMAGEN_UI_AUTH_FILE": str(users)}).auth == (("alice", "one"), ("bob", "two"))
    assert load(["--auth-file", str(other)], {"IMAGEN_UI_AUTH_FILE": str(users)}).auth == (("carol", "three"),)
    # Inline users and the file's together.
    assert load(["--auth", "dave:four", "--auth-file", str(other)]).auth == (("dave", "four"), ("carol", "three"))


def test_auth_user_in_two_sources_is_refused(tmp_path):
    users = tmp_path / "users.txt"
    users.write_text(f"alice:{PASSWORD_CANARY}\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="the same user name is given twice") as caught:
        load(["--auth", "alice:one", "--auth-file", str(users)])
    assert PASSWORD_CANARY not in str(caught.value)


def test_bad_auth_flag_exits_without_echoing_it(capsys):
    with pytest.raises(SystemExit) as caught:
        load(["--auth", PASSWORD_CANARY])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert "argument --auth: must be user:password with neither part empty" in err
    assert PASSWORD_CANARY not in err


def test_bad_auth_variable_names_the_entry_without_echoing_it():
    with pytest.raises(SettingsError) as caught:
        load(env={"IMAGEN_UI_AUTH": f"alice:one,{PASSWORD_CANARY}"})
    assert str(caught.value).startswith("IMAGEN_UI_AUTH in the environment is not valid: entry 2 must be user:password")
    assert PASSWORD_CANARY not in str(caught.value)


def test_bad_auth_file_line_names_file_and_line_without_echoing_it(tmp_path):
    users = tmp_path / "users.txt"
    users.write_text(f"alice:one\n# comment\n\n{PASSWORD_CANARY}\n", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load(env={"IMAGEN_UI_AUTH_FILE": str(users)})
    assert str(caught.value) == f"The auth file {users}: line 4 must be user:password with neither part empty."
    assert PASSWORD_CANARY not in str(caught.value)


def test_missing_auth_file_is_an_error(tmp_path):
    with pytest.raises(SettingsError, match=r"The auth file .*absent\.txt cannot be read \(No such file or directory\)"):
        load(["--auth-file", str(tmp_path / "absent.txt")])


def test_repr_and_str_hide_login_passwords(tmp_path):
    users = tmp_path / "users.txt"
    users.write_text(f"alice:{PASSWORD_CANARY}\n", encoding="utf-8")
    settings = load(["--auth", f"bob:{PASSWORD_CANARY}2", "--auth-file", str(users)], {"REPLICATE_API_TOKEN": CANARY})
    assert settings.auth[1] == ("alice", PASSWORD_CANARY)
    for text in (repr(settings), str(settings), f"{settings}", f"{settings!r}"):
        assert PASSWORD_CANARY not in text and CANARY not in text
        assert "auth=2 users" in text
        assert "alice" not in text and "bob" not in text
    assert repr(Settings(auth=(("a", "b"),))).endswith("auth=1 user)")
    assert "auth=off" in repr(load())


def test_public_url_precedence_and_normalisation(tmp_path):
    dotenv = "IMAGEN_UI_PUBLIC_URL=https://dot.example.com/\n"
    assert load(dotenv=dotenv, tmp_path=tmp_path).public_url == "https://dot.example.com"
    assert load(env={"IMAGEN_UI_PUBLIC_URL": "https://env.example.com"}, dotenv=dotenv, tmp_path=tmp_path).public_url == "https://env.example.com"
    settings = load(["--public-url", "http://demo.example.com:8080/imagen/v1"], {"IMAGEN_UI_PUBLIC_URL": "https://env.example.com"})
    assert settings.public_url == "http://demo.example.com:8080/imagen/v1"  # kept whole: not an API base


@pytest.mark.parametrize("url", ["ftp://example.com", "demo.example.com", "https://", "https://h/?q=1", "https://bad host"])
def test_bad_public_url(url, capsys):
    with pytest.raises(SystemExit):
        load(["--public-url", url])
    assert "argument --public-url: must be an http:// or https:// URL with a host, e.g. https://you-imagen.hf.space" in capsys.readouterr().err
    with pytest.raises(SettingsError, match="IMAGEN_UI_PUBLIC_URL in the environment must be an http"):
        load(env={"IMAGEN_UI_PUBLIC_URL": url})


def test_public_url_with_credentials_is_refused_without_echo():
    with pytest.raises(SettingsError) as caught:
        load(env={"IMAGEN_UI_PUBLIC_URL": f"https://user:{PASSWORD_CANARY}@demo.example.com"})
    assert "must not contain a user name or password" in str(caught.value)
    assert PASSWORD_CANARY not in str(caught.value)


def test_public_url_defaults_to_the_spaces_address():
    env = {"SYSTEM": "spaces", "SPACE_HOST": "someone-imagen.hf.space,imagen.example.org"}
    assert load(env=env).public_url == "https://someone-imagen.hf.space"
    assert load(["--public-url", "https://imagen.example.org"], env).public_url == "https://imagen.example.org"
    assert load(env={"SPACE_HOST": "someone-imagen.hf.space"}).public_url is None  # not on a Space
    assert load(env={"SYSTEM": "spaces", "SPACE_HOST": "bad host"}).public_url is None


def test_help_names_the_new_flags_and_says_quotas_are_off_locally():
    text = " ".join(build_arg_parser().format_help().split())
    for flag, variable in [
        ("--public", "IMAGEN_UI_PUBLIC"),
        ("--quota-images-per-hour", "IMAGEN_UI_QUOTA_IMAGES_PER_HOUR"),
        ("--quota-concurrent", "IMAGEN_UI_QUOTA_CONCURRENT"),
        ("--auth", "IMAGEN_UI_AUTH"),
        ("--auth-file", "IMAGEN_UI_AUTH_FILE"),
        ("--public-url", "IMAGEN_UI_PUBLIC_URL"),
    ]:
        assert flag in text and variable in text, (flag, variable)
    assert text.count("off on a local run whatever is set") == 2
    assert "a local run has no quotas" in text


def test_offered_models_default_and_list():
    assert load().offered_models == (
        "google/imagen-4-fast", "google/imagen-4-ultra", "google/imagen-4", "google/nano-banana-pro",
        "google/nano-banana-2", "bytedance/seedream-4.5", "black-forest-labs/flux-2-pro",
        "black-forest-labs/flux-kontext-pro")
    env = {"IMAGEN_UI_MODELS": "google/imagen-4-ultra, black-forest-labs/flux-schnell,google/imagen-4-ultra"}
    assert load(env=env).offered_models == (
        "google/imagen-4-fast", "google/imagen-4-ultra", "black-forest-labs/flux-schnell")
    picked = load(["--model", "black-forest-labs/flux-schnell", "--models", "google/imagen-4"])
    assert picked.offered_models == ("black-forest-labs/flux-schnell", "google/imagen-4")


@pytest.mark.parametrize("bad", [",", "google", "google/imagen-4,not a model"])
def test_bad_model_lists_are_refused(bad):
    with pytest.raises(SettingsError, match="IMAGEN_UI_MODELS"):
        load(env={"IMAGEN_UI_MODELS": bad})


@pytest.mark.parametrize("which", ["auth file", ".env"])
def test_a_settings_file_is_read_with_a_bound(tmp_path, which):
    """An auth file or .env of endless bytes (a device, a huge file) is refused, not read into memory."""
    import time

    endless = "/dev/zero" if Path("/dev/zero").exists() else None
    big = tmp_path / "big"
    big.write_bytes(b"a:b\n" * (2**20 // 4 + 10))
    for path in filter(None, (endless, str(big))):
        started = time.monotonic()
        with pytest.raises(SettingsError, match="larger than 1 MiB"):
            if which == "auth file":
                load_settings(["--auth-file", path], {}, None)
            else:
                load_settings([], {}, path)
        assert time.monotonic() - started < 2.0


def test_the_new_settings_are_parsed_and_refused_clearly():
    settings = load_settings(["--daily-budget", "$12.50", "--trusted-proxies", "127.0.0.1, 10.0.0.0/8"], {}, None)
    assert settings.daily_budget == 12.5 and settings.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8")
    from_env = load_settings([], {"IMAGEN_UI_DAILY_BUDGET": "0", "IMAGEN_UI_TRUSTED_PROXIES": "*"}, None)
    assert from_env.daily_budget is None and from_env.trusted_proxies == ("*",)
    for bad in ({"IMAGEN_UI_DAILY_BUDGET": "lots"}, {"IMAGEN_UI_DAILY_BUDGET": "nan"},
                {"IMAGEN_UI_TRUSTED_PROXIES": "my-proxy"}):
        with pytest.raises(SettingsError):
            load_settings([], bad, None)
    assert not Settings(daily_budget=5.0, offline=True).budget_active  # placeholders cost nothing
    assert Settings(daily_budget=5.0, token="r8_x").budget_active


# --- declared once: the parser, the environment and the defaults all come from one declaration ------

# For every declared setting: three texts (flag, environment, .env) and the value each gives, so the
# precedence test below covers each one. A new setting must be added here too (the test says so).
SAMPLES: dict[str, tuple[tuple[str, str, str], tuple[object, object, object]]] = {
    "host": (("h.flag", "h.env", "h.dot"), ("h.flag", "h.env", "h.dot")),
    "port": (("7001", "7002", "7003"), (7001, 7002, 7003)),
    "share": (("--no-share", "1", "0"), (False, True, False)),
    "offline": (("--offline", "0", "yes"), (True, False, True)),
    "model": (("a/flag", "b/env", "c/dot"), ("a/flag", "b/env", "c/dot")),
    # --model (default google/imagen-4-fast) is added in front when missing.
    "models": (("a/f,b/f", "a/e", "a/d"), (("google/imagen-4-fast", "a/f", "b/f"),
                                            ("google/imagen-4-fast", "a/e"), ("google/imagen-4-fast", "a/d"))),
    "history_dir": (("/f", "/e", "/d"), (Path("/f"), Path("/e"), Path("/d"))),
    "api_base": (("http://f.example", "http://e.example", "http://d.example/v1"),
                 ("http://f.example", "http://e.example", "http://d.example")),
    "token": ((None, "r8_env", "r8_dot"), (None, "r8_env", "r8_dot")),  # never a flag
    "analytics": ((None, "true", "false"), (None, True, False)),
    "public": (("--no-public", "true", "on"), (False, True, True)),
    "quota_images_per_hour": (("5", "6", "7"), (5, 6, 7)),
    "quota_concurrent": (("0", "1", "2"), (0, 1, 2)),
    "public_url": (("https://f.example", "https://e.example", "https://d.example/"),
                   ("https://f.example", "https://e.example", "https://d.example")),
    "auth": (("fa:1", "ea:2,eb:3", "da:4"), ((("fa", "1"),), (("ea", "2"), ("eb", "3")), (("da", "4"),))),
    "auth_file": (("@flag", "@env", "@dot"), ((("file", "flag"),), (("file", "env"),), (("file", "dot"),))),
    "mcp": (("--no-mcp", "true", "on"), (False, True, True)),
    "daily_budget": (("5", "$2.50", "0"), (5.0, 2.5, None)),
    "trusted_proxies": (("127.0.0.1", "10.0.0.0/8,*", "::1"), (("127.0.0.1/32",), ("10.0.0.0/8", "*"), ("::1/128",))),
}


def _sample_text(name: str, text: str, tmp_path: Path) -> str:
    """An auth file's sample names a file to write: "@flag" -> a file with the user file:flag."""
    if name != "auth_file":
        return text
    path = tmp_path / f"{text[1:]}.txt"
    path.write_text(f"file:{text[1:]}\n", encoding="utf-8")
    return str(path)


def _attribute(settings: Settings, name: str) -> object:
    # Each input of its own folds into a setting: an auth file's users into `auth`.
    return settings.auth if name == AUTH_FILE.name else getattr(settings, name)


def test_every_declared_setting_has_a_sample():
    assert sorted(SAMPLES) == sorted(d.name for d in declarations()), "add the new setting to SAMPLES"


@pytest.mark.parametrize("declaration", declarations(), ids=lambda d: d.name)
def test_every_setting_follows_flag_over_environment_over_dotenv_over_default(declaration, tmp_path):
    (flag_text, env_text, dot_text), (from_flag, from_env, from_dot) = SAMPLES[declaration.name]
    name, variable = declaration.name, declaration.env
    env: dict[str, str] = {}
    dotenv = ""
    if variable is not None:
        env = {variable: _sample_text(name, env_text, tmp_path)}
        dotenv = f"{variable}={_sample_text(name, dot_text, tmp_path)}\n"
        assert _attribute(load(dotenv=dotenv, tmp_path=tmp_path), name) == from_dot
        assert _attribute(load(env=env, dotenv=dotenv, tmp_path=tmp_path), name) == from_env
        assert _attribute(load(env={variable: " "}, dotenv=dotenv, tmp_path=tmp_path), name) == from_dot  # blank is unset
    if declaration.flag is None:
        assert flag_text is None
        return
    argv = [flag_text] if declaration.switch else [declaration.flag, _sample_text(name, flag_text, tmp_path)]
    assert _attribute(load(argv, env, dotenv, tmp_path), name) == from_flag


@pytest.mark.parametrize("declaration", declarations(), ids=lambda d: d.name)
def test_every_setting_is_named_in_the_help(declaration):
    text = " ".join(build_arg_parser().format_help().split())
    if declaration.flag is not None:
        assert f"{declaration.flag} " in text
        assert declaration.env is None or f"env {declaration.env}" in text
    else:  # environment only: listed after the flags
        assert f"{declaration.env}, {declaration.help}" in text


@pytest.mark.parametrize("declaration", declarations(), ids=lambda d: d.name)
def test_every_settings_default_is_the_dataclass_default(declaration):
    if declaration in (AUTH_FILE,):
        return  # folded into `auth`, not a field of its own
    assert getattr(Settings(), declaration.name) == declaration.default == getattr(load(), declaration.name)


def test_the_token_has_no_flag(capsys):
    (token,) = [d for d in declarations() if d.env == "REPLICATE_API_TOKEN"]
    assert (token.flag, token.secret) == (None, True)
    with pytest.raises(SystemExit) as caught:
        load(["--token", CANARY])
    assert caught.value.code == 2
    assert "unrecognized arguments: --token" in capsys.readouterr().err
    with pytest.raises(TypeError, match="flags show up in ps"):
        Declared(flag="--token", env="REPLICATE_API_TOKEN", parse=str, secret=True)


def test_a_declaration_without_a_source_or_a_reader_is_refused():
    with pytest.raises(TypeError, match="neither a flag nor an environment variable"):
        Declared(parse=str)
    with pytest.raises(TypeError, match="needs `parse`"):
        Declared(flag="--x", env="IMAGEN_UI_X")
    Declared(flag="--x", switch=True)  # a flag-only switch reads no text


def test_the_same_bad_text_gives_the_same_reason_from_a_flag_and_a_variable(capsys):
    refused = 0
    for declaration in declarations():
        if declaration.flag is None or declaration.switch:
            continue  # switches take no text
        try:
            load(env={declaration.env: "\x00 bad"})
        except SettingsError as error:
            reason = str(error).removeprefix(f"{declaration.env} in the environment ")
        else:
            continue  # e.g. a directory: any text names one
        refused += 1
        with pytest.raises(SystemExit):
            load([declaration.flag, "\x00 bad"])
        err = capsys.readouterr().err
        reason = reason.removeprefix("is not valid: entry 1 ").removesuffix(" (entries are separated by commas)")
        assert f"argument {declaration.flag}: {reason}" in err, declaration.name
    assert refused >= 8
