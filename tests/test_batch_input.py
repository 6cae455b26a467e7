"""Batch input: pasted lines and dropped .txt/.csv files, checked against the model's schema by line."""

from __future__ import annotations

import time

import pytest

from imagen_ui.schema import MAX_PROMPT_CHARS, InvalidRequest, bundled_model_json, parse_model
from imagen_ui.service.batch_input import MAX_FILE_BYTES, MAX_PROBLEMS, parse_batch

SCHEMA = parse_model(bundled_model_json("google/imagen-4-fast"))
FLUX = parse_model(bundled_model_json("black-forest-labs/flux-schnell"))
SETTINGS = {"aspect_ratio": "16:9", "output_format": "png", "safety_filter_level": "block_only_high"}


def refused(**kwargs) -> str:
    with pytest.raises(InvalidRequest) as error:
        parse_batch(kwargs.pop("schema", SCHEMA), kwargs.pop("settings", SETTINGS), **kwargs)
    return str(error.value)


def test_pasted_lines_are_prompts_and_empty_lines_are_skipped():
    rows = parse_batch(SCHEMA, SETTINGS, text="a fox\n\n   \r\n  a heron at dawn  \r\nan owl\n")
    assert [(r.line, r.prompt) for r in rows] == [(1, "a fox"), (4, "a heron at dawn"), (5, "an owl")]
    assert all(r.inputs["aspect_ratio"] == "16:9" and r.inputs["output_format"] == "png" for r in rows)


def test_a_line_over_the_prompt_limit_is_reported_by_its_number_and_nothing_is_kept():
    text = "fine\n\n" + "x" * (MAX_PROMPT_CHARS + 1) + "\nalso fine\n" + "y" * (MAX_PROMPT_CHARS + 5)
    message = refused(text=text)
    assert f"Line 3: The prompt is {MAX_PROMPT_CHARS + 1:,} characters long" in message
    assert "Line 5:" in message and "Line 1" not in message and "Line 4" not in message
    assert "Nothing was sent" in message


def test_a_bad_setting_is_said_once_not_on_every_line():
    message = refused(text="a\nb\nc", settings={**SETTINGS, "aspect_ratio": "7:5"})
    assert message.count("Aspect ratio must be one of") == 1 and message.startswith("Settings:")


def test_a_txt_file_is_read_like_pasted_text_with_a_bom():
    rows = parse_batch(SCHEMA, SETTINGS, file_name="prompts.txt",
                       file_data="\ufeffa fox\n\nan owl\n".encode())
    assert [(r.line, r.prompt) for r in rows] == [(1, "a fox"), (3, "an owl")]


def test_a_csv_file_gives_prompts_and_per_row_inputs_over_the_settings():
    data = ('Prompt,Aspect Ratio,output_format\n'
            'a fox,1:1,\n'
            '\n'
            '"a quoted, comma prompt\nover two lines",,jpg\n'
            'an owl,9:16,png\n').encode()
    rows = parse_batch(SCHEMA, SETTINGS, file_name="batch.CSV", file_data=data)
    assert [r.line for r in rows] == [2, 4, 6]
    assert rows[0].inputs == {**SETTINGS, "prompt": "a fox", "aspect_ratio": "1:1"}
    assert rows[1].prompt == "a quoted, comma prompt\nover two lines"
    assert rows[1].inputs["aspect_ratio"] == "16:9" and rows[1].inputs["output_format"] == "jpg"
    assert rows[2].inputs["aspect_ratio"] == "9:16"


def test_csv_cells_are_typed_by_the_schema():
    data = b"prompt,num_outputs,go_fast,seed\na,2,yes,42\nb,1,false,\n"
    rows = parse_batch(FLUX, {}, file_name="b.csv", file_data=data)
    assert rows[0].inputs["num_outputs"] == 2 and rows[0].inputs["go_fast"] is True
    assert rows[0].inputs["seed"] == 42 and rows[1].inputs["go_fast"] is False


def test_a_csv_cell_that_fails_the_schema_is_reported_by_line():
    data = b"prompt,aspect_ratio\na fox,1:1\nan owl,2:7\n,4:3\nbad,3:4,extra\n"
    message = refused(file_name="b.csv", file_data=data)
    assert "Line 3: Aspect ratio must be one of" in message and "2:7" in message
    assert "Line 4: Please enter a prompt." in message
    assert "Line 5: it has 3 cells but the header has 2 columns." in message
    assert "Line 2" not in message


def test_csv_columns_must_be_the_models_inputs_and_include_the_prompt():
    assert "'colour' are not inputs of google/imagen-4-fast" in refused(
        file_name="b.csv", file_data=b"prompt,colour\na,red\n")
    assert "no prompt column" in refused(file_name="b.csv", file_data=b"aspect_ratio\n1:1\n")
    assert "more than one prompt column" in refused(file_name="b.csv", file_data=b"prompt,Prompt\na,b\n")
    assert "header but no prompts" in refused(file_name="b.csv", file_data=b"prompt\n\n\n")


@pytest.mark.parametrize("name,data,words", [
    ("photo.png", b"\x89PNG\r\n\x1a\n....", "not a .txt or .csv file"),
    ("sneaky.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a text file"),
    ("latin1.csv", "prompt\ncaf\xe9\n".encode("latin-1"), "not UTF-8 text (byte 11"),
    ("big.txt", b"a\n" * (MAX_FILE_BYTES // 2 + 1), "may be at most 1 MB"),
])
def test_a_file_that_is_not_text_is_refused(name, data, words):
    assert words in refused(file_name=name, file_data=data)


def test_nothing_to_run_and_both_inputs_at_once_are_refused_clearly():
    assert "every line is empty" in refused(file_name="a.txt", file_data=b"\n \n")
    assert "Paste some prompts" in refused(text="   ")
    assert "not both" in refused(text="a fox", file_name="a.txt", file_data=b"an owl")


def test_too_many_rows_and_too_many_problems_are_bounded():
    assert "at most 5" in refused(text="\n".join(f"p{i}" for i in range(6)), max_rows=5)
    lines = "\n".join("z" * (MAX_PROMPT_CHARS + 1) for _ in range(40))
    message = refused(text=lines)
    assert message.count("Line ") == MAX_PROBLEMS and f"and {40 - MAX_PROBLEMS} more lines" in message


def test_parsing_is_linear_on_hostile_input():
    # A megabyte of one unclosed quote, and of many tiny lines: both answered quickly.
    started = time.monotonic()
    refused(file_name="q.csv", file_data=b'prompt\n"' + b"a" * (MAX_FILE_BYTES - 10))
    refused(file_name="n.txt", file_data=b"a\n" * (MAX_FILE_BYTES // 2 - 1))
    assert time.monotonic() - started < 5.0
