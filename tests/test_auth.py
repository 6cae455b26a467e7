"""imagen_ui.credentials: credentials for Gradio's login, parsed without ever echoing a password."""

from __future__ import annotations

import pytest

from imagen_ui.credentials import (
    CredentialsError,
    combine,
    parse_credential,
    parse_credential_list,
    read_auth_file,
)
from imagen_ui.settings import Settings, gradio_auth

CANARY = "pw-CANARY-must-never-be-printed-9876"


def test_parse_credential_splits_on_the_first_colon():
    assert parse_credential("alice:s3cret") == ("alice", "s3cret")
    assert parse_credential(f" bob : {CANARY}:with:colons ") == ("bob", f"{CANARY}:with:colons")


@pytest.mark.parametrize("text", ["alice", "alice:", ":secret", "  :  ", "", "ali\x00ce:pw", "alice:p\x07w"])
def test_malformed_credentials_are_refused(text):
    with pytest.raises(CredentialsError):
        parse_credential(text)


def test_credential_list_from_the_environment():
    assert parse_credential_list("alice:one, bob:two:2") == (("alice", "one"), ("bob", "two:2"))


def test_credential_list_errors_name_the_entry_not_the_password():
    with pytest.raises(CredentialsError) as caught:
        parse_credential_list(f"alice:one,{CANARY}")
    assert str(caught.value) == (
        "is not valid: entry 2 must be user:password with neither part empty (entries are separated by commas)"
    )
    with pytest.raises(CredentialsError, match="entry 3 repeats the user name of entry 1"):
        parse_credential_list(f"alice:one,bob:two,alice:{CANARY}")


def test_auth_file_with_comments_blank_lines_and_crlf(tmp_path):
    path = tmp_path / "users.txt"
    path.write_bytes(
        b"\xef\xbb\xbf# who may log in\r\n\r\nalice:one\r\n   # indented comment\r\n"
        b"bob:pass#word:with:colons\r\n\r\n"
    )
    assert read_auth_file(path) == (("alice", "one"), ("bob", "pass#word:with:colons"))


def test_auth_file_bad_line_is_named_by_number_without_echo(tmp_path):
    path = tmp_path / "users.txt"
    path.write_text(f"# users\nalice:one\n\n{CANARY}\n", encoding="utf-8")
    with pytest.raises(CredentialsError) as caught:
        read_auth_file(path)
    assert str(caught.value) == "line 4 must be user:password with neither part empty"
    assert CANARY not in str(caught.value)


def test_auth_file_duplicate_user_names_both_lines(tmp_path):
    path = tmp_path / "users.txt"
    path.write_text(f"alice:one\nbob:two\nalice:{CANARY}\n", encoding="utf-8")
    with pytest.raises(CredentialsError) as caught:
        read_auth_file(path)
    assert str(caught.value) == "line 3 repeats the user name of line 1"


def test_an_auth_file_without_users_is_an_error_not_an_open_door(tmp_path):
    path = tmp_path / "users.txt"
    path.write_text("# nobody yet\n\n", encoding="utf-8")
    with pytest.raises(CredentialsError, match="holds no user:password"):
        read_auth_file(path)


def test_combine_refuses_a_user_given_twice():
    assert combine([("a", "1")], [("b", "2")]) == (("a", "1"), ("b", "2"))
    with pytest.raises(CredentialsError, match="the same user name is given twice"):
        combine([("a", "1")], [("a", CANARY)])


def test_gradio_auth_is_a_list_or_none():
    assert gradio_auth(Settings()) is None
    pairs = (("alice", "one"), ("bob", "two"))
    assert gradio_auth(Settings(auth=pairs)) == [("alice", "one"), ("bob", "two")]


def test_gradio_login_accepts_exactly_these_credentials(tmp_path, monkeypatch):
    """The list really works as launch(auth=...): right password in, wrong one and unknown user out."""
    import gradio as gr
    import httpx

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    with gr.Blocks() as demo:
        gr.Markdown("private")
    settings = Settings(auth=(("alice", f"{CANARY}:x"), ("bob", "two")))
    demo.launch(auth=gradio_auth(settings), prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        with httpx.Client(base_url=demo.local_url) as client:
            assert client.get("/config").status_code == 401  # the page's data needs a login
            for user, password, ok in [
                ("alice", f"{CANARY}:x", True),
                ("alice", CANARY, False),
                ("bob", "two", True),
                ("carol", "two", False),
            ]:
                answer = client.post("/login", data={"username": user, "password": password})
                assert (answer.status_code == 200) is ok, (user, answer.status_code)
                assert CANARY not in answer.text
    finally:
        demo.close()
