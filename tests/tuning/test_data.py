"""Formats: detection and conversion for every format, bad rows with their line, files of every kind."""

from __future__ import annotations

import json

import pytest

from llmdeck.core.errors import BadInput
from llmdeck.tuning import data
from tests.tuning.conftest import write_jsonl


def test_alpaca_becomes_prompt_and_completion(tmp_path):
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [
            {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
            {"instruction": "Say hi.", "input": "", "output": "Hi!", "system": "Be brief."},
        ],
    )
    prepared = data.prepare(path)
    assert prepared.report.format == "alpaca"
    first, second = prepared.examples
    assert first == {
        "prompt": [{"role": "user", "content": "Add the numbers.\n\n2 and 3"}],
        "completion": [{"role": "assistant", "content": "5"}],
    }
    assert second["prompt"][0] == {"role": "system", "content": "Be brief."}


def test_sharegpt_roles_including_tool_use(tmp_path):
    row = {
        "conversations": [
            {"from": "system", "value": "You can call tools."},
            {"from": "human", "value": "Weather in Oslo?"},
            {"from": "function_call", "value": '{"name": "weather", "arguments": {"city": "Oslo"}}'},
            {"from": "observation", "value": '{"temp": 3}'},
            {"from": "gpt", "value": "It is 3 degrees in Oslo."},
        ]
    }
    prepared = data.prepare(write_jsonl(tmp_path / "s.jsonl", [row]))
    assert prepared.report.format == "sharegpt"
    example = prepared.examples[0]
    assert [m["role"] for m in example["prompt"]] == ["system", "user", "assistant", "tool"]
    assert example["completion"] == [{"role": "assistant", "content": "It is 3 degrees in Oslo."}]


def test_messages_and_text_formats(tmp_path):
    messages = write_jsonl(
        tmp_path / "m.jsonl", [{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}]
    )
    assert data.prepare(messages).examples[0]["completion"][0]["content"] == "b"
    text = write_jsonl(tmp_path / "t.jsonl", [{"text": "Once upon a time."}])
    prepared = data.prepare(text)
    assert prepared.report.format == "text" and prepared.examples == [{"text": "Once upon a time."}]
    plain = tmp_path / "book.txt"
    plain.write_text("First paragraph.\n\nSecond paragraph.\n")
    assert [e["text"] for e in data.prepare(plain).examples] == ["First paragraph.", "Second paragraph."]


@pytest.mark.parametrize(
    "row, expected_prompt, expected_chosen",
    [
        ({"prompt": "Q?", "chosen": "good", "rejected": "bad"}, [{"role": "user", "content": "Q?"}], "good"),
        (
            {
                "prompt": [{"role": "user", "content": "Q?"}],
                "chosen": [{"role": "assistant", "content": "good"}],
                "rejected": [{"role": "assistant", "content": "bad"}],
            },
            [{"role": "user", "content": "Q?"}],
            "good",
        ),
        (
            {
                "chosen": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "good"}],
                "rejected": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "bad"}],
            },
            [{"role": "user", "content": "Q?"}],
            "good",
        ),
        (
            {
                "conversations": [{"from": "human", "value": "Q?"}],
                "chosen": {"from": "gpt", "value": "good"},
                "rejected": {"from": "gpt", "value": "bad"},
            },
            [{"role": "user", "content": "Q?"}],
            "good",
        ),
    ],
)
def test_preference_variants(tmp_path, row, expected_prompt, expected_chosen):
    prepared = data.prepare(write_jsonl(tmp_path / "p.jsonl", [row]), method="dpo")
    example = prepared.examples[0]
    assert prepared.report.format == "preference"
    assert example["prompt"] == expected_prompt
    assert example["chosen"] == [{"role": "assistant", "content": expected_chosen}]
    assert example["rejected"][0]["content"] == "bad"


def test_every_bad_row_is_reported_with_its_line(tmp_path):
    path = write_jsonl(
        tmp_path / "bad.jsonl",
        [
            {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
            "{not json",
            {"messages": [{"role": "user", "content": "a"}]},
            {"messages": [{"role": "wizard", "content": "a"}, {"role": "assistant", "content": "b"}]},
            {"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "b"}]},
        ],
    )
    report = data.check(path)
    problems = {bad.location: bad.problem for bad in report.bad_rows}
    assert report.rows == 5 and report.valid == 1 and report.bad_count == 4
    assert "not valid JSON" in problems["bad.jsonl:2"]
    assert "expected the assistant's reply last" in problems["bad.jsonl:3"]
    assert "'wizard' is not one of" in problems["bad.jsonl:4"]
    assert "messages[0].content: empty" in problems["bad.jsonl:5"]
    with pytest.raises(BadInput, match=r"4 bad row\(s\), first at bad.jsonl:2"):
        data.prepare(path)
    assert len(data.prepare(path, skip_bad=True).examples) == 1


def test_ambiguous_or_unknown_format_asks_for_format(tmp_path):
    mixed = write_jsonl(tmp_path / "mixed.jsonl", [{"text": "x"}] * 3 + [{"instruction": "i", "output": "o"}] * 3)
    with pytest.raises(BadInput, match="several formats.*--format"):
        data.prepare(mixed)
    assert data.prepare(mixed, fmt="text", skip_bad=True).report.bad_count == 3
    unknown = write_jsonl(tmp_path / "unknown.jsonl", [{"question": "q", "answer": "a"}])
    with pytest.raises(BadInput, match=r"cannot tell the data format.*\['answer', 'question'\].*--format"):
        data.prepare(unknown)


def test_method_and_format_must_match(tmp_path):
    with pytest.raises(BadInput, match="needs preference data"):
        data.prepare(data.bundled_sample("sft"), method="dpo")
    with pytest.raises(BadInput, match="dpo, orpo, kto or reward"):
        data.prepare(data.bundled_sample("dpo"), method="sft")


def test_csv_parquet_json_and_directories(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = tmp_path / "set"
    folder.mkdir()
    (folder / "a.csv").write_text("instruction,input,output\nSay hi,,Hi\nAdd,1 and 1,2\n")
    pq.write_table(
        pa.Table.from_pylist([{"instruction": "Name a color", "input": "", "output": "Red"}]), folder / "b.parquet"
    )
    (folder / "c.json").write_text(json.dumps({"data": [{"instruction": "Opposite of up", "output": "Down"}]}))
    prepared = data.prepare(folder)
    assert prepared.report.format == "alpaca" and prepared.report.valid == 4
    bad_json = tmp_path / "broken.json"
    bad_json.write_text('[{"instruction": 1,\n')
    with pytest.raises(BadInput, match="broken.json:2: not valid JSON"):
        data.prepare(bad_json)


def test_hub_dataset_offline_fails_fast():
    from llmdeck.core.errors import OfflineError

    with pytest.raises(OfflineError, match="HF_HUB_OFFLINE"):
        data.prepare("someone/some-dataset")


def test_bundled_samples_are_clean():
    for method in ("sft", "dpo"):
        report = data.check(data.bundled_sample(method))
        assert report.bad_count == 0 and report.valid >= 16


def test_eval_split_is_deterministic():
    examples = [{"text": str(i)} for i in range(20)]
    train, held = data.split_eval(examples, 0.2, seed=1)
    assert len(held) == 4 and len(train) == 16
    assert data.split_eval(examples, 0.2, seed=1) == (train, held)


@pytest.mark.slow
def test_data_check_cli(cli, tmp_path, tiny_model_dir):
    path = write_jsonl(
        tmp_path / "d.jsonl",
        [
            {
                "messages": [
                    {"role": "user", "content": "Hello there"},
                    {"role": "assistant", "content": "Hi, how can I help?"},
                ]
            },
            {"messages": [{"role": "user", "content": "x"}]},
        ],
    )
    result = cli("data", "check", str(path), "--model", str(tiny_model_dir), "--max-length", "8", "--json")
    assert result.returncode == 2, result.stderr
    report = json.loads(result.stdout)
    assert report["format"] == "messages" and report["valid"] == 1
    assert report["bad_rows"] == [
        {
            "location": "d.jsonl:2",
            "problem": "messages: the last turn is from 'user'; expected the assistant's reply last",
        }
    ]
    assert report["tokens"]["count"] == 1 and report["tokens"]["min"] > 10 and report["tokens"]["over_max_length"] == 1
    clean = cli("data", "check", "--no-tokens")
    assert clean.returncode == 0 and "messages" in clean.stdout
    missing = cli("data", "check", str(tmp_path / "nope.jsonl"), "--no-tokens")
    assert missing.returncode == 2 and missing.stderr.startswith("error: ") and "Traceback" not in missing.stderr


def test_txt_documents_whatever_the_line_layout(tmp_path):
    articles = tmp_path / "articles.txt"
    articles.write_text(
        "\n".join(f"Article {i} " + "word " * 300 for i in range(20)) + "\n"
    )  # one per line, no blank line
    assert [e["text"][:10] for e in data.prepare(articles).examples] == [f"Article {i} "[:10] for i in range(20)]
    paragraphs = tmp_path / "book.txt"
    paragraphs.write_text("Line one\nstill paragraph one.\r\n\r\nParagraph two.\n\n\n")
    assert [e["text"] for e in data.prepare(paragraphs).examples] == [
        "Line one\nstill paragraph one.",
        "Paragraph two.",
    ]


WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def test_sharegpt_and_messages_keep_their_tools(tmp_path):
    turns = [
        {"from": "human", "value": "Weather in Oslo?"},
        {"from": "function_call", "value": '{"name": "get_weather", "arguments": {"city": "Oslo"}}'},
        {"from": "observation", "value": '{"temp": 3}'},
        {"from": "gpt", "value": "3 degrees."},
    ]
    path = write_jsonl(
        tmp_path / "tools.jsonl",
        [
            {"conversations": turns, "tools": json.dumps([WEATHER_TOOL])},  # LLaMA-Factory writes a JSON string
            {"conversations": turns, "tools": [WEATHER_TOOL]},
            {"conversations": turns},
            {"conversations": turns, "tools": "not json"},
        ],
    )
    report = data.check(path)
    assert report.valid == 3 and report.with_tools == 2 and report.bad_count == 1
    assert report.bad_rows[0].problem.startswith("tools: expected a JSON list")
    examples = data.prepare(path, skip_bad=True).examples
    assert (
        examples[0]["tools"] == [WEATHER_TOOL] and examples[1]["tools"] == [WEATHER_TOOL] and "tools" not in examples[2]
    )
    messages = write_jsonl(
        tmp_path / "m.jsonl",
        [
            {
                "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}],
                "tools": [WEATHER_TOOL],
            }
        ],
    )
    assert data.prepare(messages).examples[0]["tools"] == [WEATHER_TOOL]


def test_tools_go_in_the_system_turn_when_the_template_cannot_render_them():
    from llmdeck.tuning import render

    placed = render.place_tools(
        [
            {
                "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q"}],
                "completion": [{"role": "assistant", "content": "a"}],
                "tools": [WEATHER_TOOL],
            }
        ],
        tokenizer=None,
        template_tools=False,
    )[0]
    system = placed["prompt"][0]["content"]
    assert "tools" not in placed and system.startswith("Be brief.\n\n" + render.TOOLS_PREAMBLE)
    assert json.loads(system.splitlines()[-1]) == WEATHER_TOOL
    kept = render.place_tools([{"prompt": [{"role": "user", "content": "q"}], "tools": [WEATHER_TOOL]}], None, True)[0]
    assert json.loads(kept["tools"]) == [WEATHER_TOOL] and kept["prompt"] == [{"role": "user", "content": "q"}]


def test_placeholders_are_reported_and_substituted(tmp_path):
    path = write_jsonl(
        tmp_path / "identity.jsonl",
        [
            {"instruction": "Who are you?", "output": "I am {{name}}, made by {{ author }}."},
            {"instruction": "Your name?", "output": "{{name}}."},
            {"instruction": "Hi", "output": "Hello {not a placeholder}"},
        ],
    )
    report = data.check(path)
    assert report.placeholders == {"name": 2, "author": 1}
    prepared = data.prepare(path, variables={"name": "Deckbot", "author": "llmdeck"})
    assert prepared.examples[0]["completion"][0]["content"] == "I am Deckbot, made by llmdeck."
    assert prepared.report.placeholders == {}
    partly = data.prepare(path, variables={"name": "Deckbot"})
    assert partly.report.placeholders == {"author": 1}
    from click.testing import CliRunner

    from llmdeck.cli.main import cli

    warned = CliRunner().invoke(cli, ["data", "check", str(path), "--no-tokens"])
    assert (
        warned.exit_code == 0
        and "warning: {{name}} placeholder in 2 rows" in warned.output
        and "--var name=" in warned.output
    )
    clean = CliRunner().invoke(
        cli, ["data", "check", str(path), "--no-tokens", "--var", "name=Deckbot", "--var", "author=me", "--json"]
    )
    assert clean.exit_code == 0 and json.loads(clean.stdout)["placeholders"] == {}


@pytest.mark.parametrize("kind", ["fifo", "loop", "dangling"])
def test_a_special_file_named_like_data_in_a_folder_is_named_not_skipped(tmp_path, kind):
    import os

    folder = tmp_path / "data"
    folder.mkdir()
    write_jsonl(folder / "good.jsonl", [{"instruction": "Say hi.", "output": "hi"}])
    odd = folder / "more.jsonl"
    if kind == "fifo":
        os.mkfifo(odd)
    elif kind == "loop":
        odd.symlink_to(odd)
    else:
        odd.symlink_to(tmp_path / "gone.jsonl")
    expected = {"fifo": "is a FIFO", "loop": "is a symlink loop", "dangling": "is a broken symlink"}[kind]
    with pytest.raises(BadInput, match=f"more.jsonl: {expected}.*not a regular file"):
        data.read_rows(folder)
