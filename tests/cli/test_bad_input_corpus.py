"""The bad-input corpus: every command, fed the classes of bad input a new user produces (missing, binary,
non-UTF-8, empty, special and huge files; unknown names; out-of-range values; wrong formats), answers with one
`error:` line naming what is wrong and exit 2 — never a traceback — and leaves every piece of state as it was
(models, runs, collections, sessions, files under LLMDECK_HOME). In-process through click's CliRunner on the
scripted fake model; the cases that need file permissions run the real entry point without root's override."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from llmdeck.cli.main import cli
from llmdeck.core.validate import MAX_CTX, MAX_STEPS, MAX_TEMPERATURE, MAX_THREADS, MAX_TOKENS

NO_DAC = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search"]  # root, but bound by file permissions


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]  # "{name}" is replaced by the path of that fixture file
    phrase: str  # a phrase the error line must contain
    stdin: str | None = None
    report: bool = False  # the command prints its report on stdout before the error (data check)
    settings: str | None = None  # the text of $LLMDECK_HOME/config.toml for this case


def build_files(root: Path) -> dict[str, Path]:
    """One file (or folder) per class of trouble."""
    files = {
        "binary": root / "random.jsonl",
        "latin1": root / "latin1.jsonl",
        "empty": root / "empty.jsonl",
        "bom_alpaca": root / "bom.jsonl",
        "messages": root / "messages.jsonl",
        "notgguf": root / "readme.gguf",
        "list_yaml": root / "list.yaml",
        "unknown_yaml": root / "unknown.yaml",
        "binary_yaml": root / "binary.yaml",
        "zero_steps": root / "zero.yaml",
        "emptydir": root / "emptydir",
        "huge_line": root / "huge.jsonl",
        "notes": root / "notes.txt",
        "bad_script": root / "script.txt",
        "tools_py": root / "tools.py",
        "truncated": root / "cut.gguf",
        "parquet": root / "bad.parquet",
        "csv": root / "bad.csv",
        "hf_a": root / "hf-a",
        "hf_b": root / "hf-b",
        "tasks_bad_json": root / "bad_json_tasks.jsonl",
        "tasks_missing": root / "missing_field_tasks.jsonl",
        "tasks_unknown_check": root / "unknown_check_tasks.jsonl",
        "tasks_duplicate": root / "duplicate_tasks.jsonl",
        "tasks_code": root / "code_tasks.jsonl",
        "tasks_bad_tests": root / "bad_tests_tasks.jsonl",
        "tasks_no_workspace": root / "no_workspace_tasks.jsonl",
        "tasks_array": root / "array_tasks.jsonl",
        # hostile numbers and nesting (issue 21): every reader of the same kind of input gets the same answer
        "big_yaml": root / "big.yaml",
        "deep_yaml": root / "deep.yaml",
        "big_jsonl": root / "big.jsonl",
        "deep_jsonl": root / "deep.jsonl",
        "big_json": root / "big.json",
        "deep_json": root / "deep.json",
        "big_tasks": root / "big_tasks.jsonl",
        "deep_tasks": root / "deep_tasks.jsonl",
        "big_prompts": root / "big_prompts.jsonl",
        "deep_prompts": root / "deep_prompts.jsonl",
        # special files: each is named as what it is, none is opened (a FIFO would block)
        "fifo": root / "fifo.jsonl",
        "loop": root / "loop.jsonl",
        "dangling": root / "dangling.jsonl",
        "fifo_py": root / "fifo.py",
        "loop_py": root / "loop.py",
        "exit_py": root / "exits.py",
        "tools_txt": root / "tools.txt",
    }
    files["binary"].write_bytes(bytes(range(256)) * 16)
    files["latin1"].write_bytes('{"instruction": "caf\xe9", "output": "cr\xe8me"}\n'.encode("latin-1"))
    files["empty"].write_text("")
    files["bom_alpaca"].write_bytes(
        b"\xef\xbb\xbf" + b'{"instruction": "hi", "output": "hello"}\n{"instruction": "bye", "output": ""}\n'
    )
    files["messages"].write_text(
        json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}) + "\n"
    )
    files["notgguf"].write_text("not a model")
    files["list_yaml"].write_text("- a\n- b\n")
    files["unknown_yaml"].write_text("no_such_field: 3\n")
    files["binary_yaml"].write_bytes(b"\x00\x01\x02\xff")
    files["zero_steps"].write_text("max_steps: 0\n")
    files["emptydir"].mkdir()
    files["huge_line"].write_text('{"text": "' + "x" * 3_000_000)  # one 3 MB line, never closed
    files["notes"].write_text("plain notes\n")
    files["bad_script"].write_text("press\nwait_for 5 nonsense\n")
    files["tools_py"].write_text("this is not python(\n")
    files["truncated"].write_bytes(b"GGUF\x03\x00\x00\x00")
    files["parquet"].write_bytes(b"PAR1" + b"\x00" * 64)
    files["csv"].write_bytes(b"instruction,output\n\xff\xfe,\x00\n")
    for folder in (files["hf_a"], files["hf_b"]):  # look like HF model directories (config.json), hold no weights
        folder.mkdir()
        (folder / "config.json").write_text('{"model_type": "llama"}')
    agent_task = {
        "id": "a-1",
        "kind": "agent",
        "question": "What is 2 + 3?",
        "answers": ["5"],
        "tool": "calculator",
        "split": "train",
    }
    code_task = {"id": "c-1", "kind": "verify", "task": "Print 5.", "expect": "5", "split": "train"}

    def task_lines(*rows) -> str:
        return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)

    files["tasks_bad_json"].write_text(task_lines(agent_task, '{"id": "a-2", "kind": "agent", "question": '))
    files["tasks_missing"].write_text(task_lines(agent_task, {"id": "a-2", "kind": "agent", "question": "2 + 2?"}))
    files["tasks_unknown_check"].write_text(
        task_lines(code_task, {"id": "c-2", "kind": "verify", "task": "Print 1.", "check": "output == '1'"})
    )
    files["tasks_duplicate"].write_text(task_lines(agent_task, agent_task))
    files["tasks_code"].write_text(task_lines(code_task))
    files["tasks_bad_tests"].write_text(
        task_lines({"id": "c-3", "kind": "verify", "task": "Define f.", "tests": "assert f( == 1"})
    )
    files["tasks_no_workspace"].write_text(task_lines({**agent_task, "tool": "files", "workspace": "nowhere"}))
    files["tasks_array"].write_text(task_lines([agent_task]))
    row = '{"instruction": "hi", "output": "hello", "n": NUMBER}'
    files["big_yaml"].write_text(f"method: sft\nmax_steps: {BIG}\n")
    files["deep_yaml"].write_text("lora_target_modules: " + DEEP + "\n")
    files["big_jsonl"].write_text(row.replace("NUMBER", BIG) + "\n")
    files["deep_jsonl"].write_text(row.replace("NUMBER", DEEP) + "\n")
    files["big_json"].write_text("[" + row.replace("NUMBER", BIG) + "]")
    files["deep_json"].write_text("[" + row.replace("NUMBER", DEEP) + "]")
    files["big_tasks"].write_text(task_lines({**agent_task, "difficulty": "NUMBER"}).replace('"NUMBER"', BIG))
    files["deep_tasks"].write_text(task_lines({**agent_task, "answers": "NUMBER"}).replace('"NUMBER"', DEEP))
    files["big_prompts"].write_text('{"prompt": "hi", "reference": ' + BIG + "}\n")
    files["deep_prompts"].write_text('{"prompt": "hi", "reference": ' + DEEP + "}\n")
    os.mkfifo(files["fifo"])
    os.mkfifo(files["fifo_py"])
    for link in ("loop", "loop_py"):
        files[link].symlink_to(files[link])
    files["dangling"].symlink_to(root / "gone.jsonl")
    files["exit_py"].write_text("import sys\n\nsys.exit(0)\n")
    files["tools_txt"].write_text("from langchain_core.tools import tool\n")
    return files


BIG = "9" * 5000  # past Python's int string-conversion limit (4300 digits)
DEEP = "[" * 100_000 + "]" * 100_000  # past Python's recursion limit
HUGE = "a 5000-digit integer is out of range"
TOO_DEEP = "nested too deeply (at most 100 levels)"


CASES = [
    # models
    Case(("models", "import", "{missing}"), "no such file"),
    Case(("models", "import", "{notgguf}"), "not a GGUF"),
    Case(("models", "import", "{truncated}"), "truncated"),
    Case(("models", "import", "{emptydir}"), "not a file"),
    Case(("models", "import", "/dev/zero"), "not a"),
    Case(("models", "import", "{notgguf}", "--name", "bad name!"), "model name"),
    Case(("models", "show", "ghost"), "'ghost' is not in the store"),
    Case(("models", "rm", "ghost"), "'ghost' is not in the store"),
    Case(("models", "rm", "smollm2-135m-instruct"), "cannot be removed"),
    Case(("models", "default", "ghost"), "'ghost' is not in the store"),
    Case(("models", "quantize", "ghost", "--quant", "q8_0"), "'ghost' is not in the store"),
    Case(("models", "quantize", "smollm2-135m-instruct", "--quant", "q9_9"), "q9_9"),
    Case(("models", "modelfile", "ghost"), "'ghost' is not in the store"),
    Case(("models", "export-dir", "ghost", "{emptydir}"), "'ghost' is not in the store"),
    Case(("models", "check", "ghost"), "'ghost' is not in the store"),
    Case(("models", "check", "smollm2-135m-instruct", "--tokenizer", "{emptydir}"), "not a directory holding a"),
    Case(("models", "check", "smollm2-135m-instruct", "--modelfile", "{emptydir}"), "is a directory"),
    Case(("models", "check", "smollm2-135m-instruct", "--modelfile", "{binary}"), "UTF-8"),
    Case(("models", "check", "smollm2-135m-instruct", "--modelfile", "{notes}"), "no TEMPLATE line"),
    # chat and complete
    Case(("chat", "hi", "--max-tokens", "0"), "--max-tokens 0"),
    Case(("chat", "hi", "--top-p", "5"), "--top-p 5.0"),
    Case(("chat", "hi", "--ctx", "10"), "--ctx 10"),
    Case(("chat", "hi", "--threads", "-3"), "--threads -3"),
    Case(("chat", "hi", "--temperature", "-0.5"), "--temperature -0.5"),
    Case(("chat", "hi", "--model", "ghost"), "'ghost' is not in the store"),
    Case(("chat", "hi", "--model", "{truncated}"), "truncated"),
    Case(("chat", "hi", "--rag", "nope"), "collection 'nope' not found"),
    Case(("chat",), "no prompt given", stdin=""),
    Case(("chat", "hi", "--session", "bad id!"), "session id"),
    Case(("chat", "word " * 1500), "exceeds the context window"),
    Case(("chat", "hi", "--adapter", "ghost-run"), "ghost-run"),
    Case(("chat", "hi", "--max-tokens", "lots"), "'lots' is not a valid integer"),
    Case(("complete", "ghost", "once upon"), "'ghost' is not in the store"),
    Case(("complete", "smollm2-135m-instruct"), "no text given", stdin=""),
    # serve and the app
    Case(("serve", "--port", "70000"), "--port 70000: expected 1-65535"),
    Case(("serve", "--model", "ghost"), "'ghost' is not in the store"),
    Case(("serve", "--api-key-file", "{missing}"), "no such API key file"),
    Case(("serve", "--api-key-file", "{empty}"), "empty"),
    Case(("serve", "--rag", "nope"), "collection 'nope' not found"),
    Case(("serve", "--keep-alive", "5x"), "--keep-alive '5x': expected a duration like 5m"),
    Case(("serve", "--all", "--model", "smollm2-135m-instruct"), "give it or --model, not both"),
    Case(("serve", "--max-loaded", "0"), "--max-loaded 0: expected 1..64"),
    Case(("mcp", "serve", "--http", "--host", "0.0.0.0"), "--host 0.0.0.0: not a loopback address"),
    Case(("mcp", "serve", "--http", "--port", "0"), "--port 0: expected 1-65535"),
    Case(("mcp", "serve", "--api-key", "k"), "--api-key: applies to --http only"),
    Case(("tui", "--model", "ghost"), "'ghost' is not in the store"),
    Case(("tui", "--headless", "--script", "{missing}"), "missing"),
    Case(("tui", "--headless", "--script", "{bad_script}"), "script.txt"),
    # train
    Case(("train", "--dataset", "{missing}", "--dry-run"), "no such file"),
    Case(("train", "--dataset", "{binary}", "--dry-run"), "random.jsonl"),
    Case(("train", "--dataset", "{latin1}", "--dry-run"), "UTF-8"),
    Case(("train", "--dataset", "/dev/zero", "--dry-run"), "/dev/zero"),
    Case(("train", "--dataset", "{empty}", "--dry-run"), "empty.jsonl"),
    Case(("train", "--dataset", "{huge_line}", "--dry-run"), "huge.jsonl"),
    Case(("train", "--dataset", "{parquet}", "--dry-run"), "bad.parquet"),
    Case(("train", "--dataset", "{csv}", "--dry-run"), "bad.csv"),
    Case(("train", "--dataset", "{bom_alpaca}", "--dry-run"), "output: empty"),
    Case(("train", "--config", "{missing}"), "no such"),
    Case(("train", "--config", "{binary_yaml}"), "binary.yaml"),
    Case(("train", "--config", "{list_yaml}"), "expected a mapping"),
    Case(("train", "--config", "{unknown_yaml}"), "no_such_field"),
    Case(("train", "--config", "{zero_steps}"), "max_steps"),
    Case(("train", "--max-steps", "0", "--dry-run"), "max_steps"),
    Case(("train", "--learning-rate", "-1", "--dry-run"), "learning_rate"),
    Case(("train", "--lora-r", "0", "--dry-run"), "lora_r"),
    Case(("train", "--eval-split", "0.9", "--dry-run"), "eval_split"),
    Case(("train", "--method", "dpo", "--dataset", "{messages}", "--dry-run"), "preference"),
    Case(("train", "--base-model", "ghost", "--dry-run"), "ghost"),
    Case(("train", "--tuning", "qlora", "--dry-run"), "qlora"),
    Case(("train", "--var", "novalue", "--dry-run"), "--var"),
    # runs
    Case(("runs", "show", "ghost"), "run 'ghost' not found"),
    Case(("runs", "stop", "ghost"), "run 'ghost' not found"),
    Case(("runs", "resume", "ghost"), "run 'ghost' not found"),
    Case(("runs", "rm", "ghost"), "run 'ghost' not found"),
    Case(("runs", "logs", "ghost"), "run 'ghost' not found"),
    Case(("runs", "metrics", "ghost"), "run 'ghost' not found"),
    Case(("runs", "diff", "ghost", "ghost"), "run 'ghost' not found"),
    # data
    Case(("data", "check", "{missing}", "--no-tokens"), "no such file"),
    Case(("data", "check", "{binary}", "--no-tokens"), "random.jsonl"),
    Case(("data", "check", "{messages}", "--format", "alpaca", "--no-tokens"), "bad row", report=True),
    Case(("data", "check", "{empty}", "--no-tokens"), "empty.jsonl"),
    Case(("data", "check", "{emptydir}", "--no-tokens"), "emptydir"),
    # rag
    Case(("rag", "ingest", "{missing}", "--collection", "docs"), "no such file or directory"),
    Case(("rag", "ingest", "{emptydir}", "--collection", "docs"), "nothing to ingest into 'docs'"),
    Case(("rag", "ingest", "/dev/zero", "--collection", "docs"), "nothing to ingest into 'docs'"),
    Case(("rag", "ingest", "{notes}", "--collection", "Bad Name"), "collection name"),
    Case(("rag", "ingest", "{notes}", "--collection", "docs", "--chunk-size", "10"), "chunk size 10"),
    Case(("rag", "query", "--collection", "nope", "what?"), "collection 'nope' not found"),
    Case(("rag", "query", "--collection", "nope", " "), "empty"),
    Case(("rag", "query", "--collection", "nope", "what?", "-k", "0"), "-k 0"),
    Case(("rag", "rm", "nope"), "collection 'nope' not found"),
    Case(("rag", "synth", "nope", "--out", "{out}.jsonl"), "collection 'nope' not found"),
    Case(("rag", "synth", "nope", "--out", "{out}.jsonl", "--limit", "0"), "--limit 0: expected at least 1"),
    Case(("rag", "synth", "nope", "--out", "{out}/qa.jsonl"), "out does not exist"),
    Case(("rag", "synth", "nope", "--out", "{notes}/qa.jsonl"), "notes.txt is not a directory"),
    Case(("rag", "synth", "nope", "--out", "{emptydir}"), "is a directory"),
    Case(("rag", "synth", "nope", "--out", "{out}.jsonl", "--max-overlap", "7"), "--max-overlap 7.0"),
    # sessions
    Case(("sessions", "show", "ghost"), "session 'ghost' not found"),
    Case(("sessions", "rm", "ghost"), "session 'ghost' not found"),
    Case(("sessions", "export", "ghost"), "session 'ghost' not found"),
    Case(("sessions", "export", "ghost", "--format", "pdf"), "'pdf' is not one of"),
    # export and eval
    Case(("export", "ghost-run"), "ghost-run"),
    Case(("export", "ghost-run", "--quant", "q9_9"), "q9_9"),
    Case(("eval", "ghost"), "'ghost' is not in the store"),
    Case(("eval", "smollm2-135m-instruct", "--data", "{binary}"), "random.jsonl"),
    Case(("eval", "smollm2-135m-instruct", "--data", "{missing}"), "missing"),
    Case(("eval", "smollm2-135m-instruct", "--tasks", "{missing}"), "missing.jsonl: no such file"),
    Case(("eval", "smollm2-135m-instruct", "--tasks", "{latin1}"), "latin1.jsonl:1: not UTF-8 text (byte 0xe9"),
    Case(("eval", "smollm2-135m-instruct", "--tasks", "{empty}"), "empty.jsonl: no rows"),
    Case(("eval", "smollm2-135m-instruct", "--tasks", "/dev/zero"), "/dev/zero: is a device, not a regular file"),
    Case(("eval", "smollm2-135m-instruct", "--tasks", "{messages}"), "messages.jsonl:1: prompt: Field required"),
    Case(("eval", "smollm2-135m-instruct", "--tasks", "{messages}", "--run", "r"), "not both"),
    Case(("eval", "smollm2-135m-instruct", "--judge", "smollm2-135m-instruct"), "--judge goes with --tasks"),
    # agents, tools, verify
    Case(("agent", "What is 2+2?", "--tools", "no_such_tool"), "no_such_tool"),
    Case(("agent", "What is 2+2?", "--max-steps", "0"), "max_steps"),
    Case(("agent", "What is 2+2?", "--model", "ghost"), "'ghost' is not in the store"),
    Case(("agent", "runs", "show", "ghost"), "ghost"),
    Case(("tools", "list", "--tools-file", "{missing}"), "missing"),
    Case(("verify", "print 1", "--tests", "{missing}"), "missing"),
    Case(("verify", "print 1", "--tests", "{binary}"), "random.jsonl"),
    Case(("verify", "print 1", "--max-rounds", "0"), "max_rounds"),
    Case(("verify", "runs", "show", "ghost"), "ghost"),
    # reward models (runs registered by `prepare`: tuned-rm, halted-rm, tuned-sft, ...)
    Case(("reward", "score", "ghost", "--data", "{messages}"), "run 'ghost' not found"),
    Case(("reward", "score", "tuned-sft", "--data", "{messages}"), "expected a reward run"),
    Case(("reward", "score", "halted-rm", "--data", "{messages}"), "is stopped"),
    Case(("reward", "score", "tuned-rm", "--data", "{missing}"), "missing.jsonl: no such file"),
    Case(("reward", "score", "tuned-rm", "--data", "{binary}"), "random.jsonl"),
    Case(("reward", "score", "tuned-rm", "--data", "{latin1}"), "UTF-8"),
    Case(("reward", "score", "tuned-rm", "--data", "{empty}"), "empty.jsonl"),
    Case(("reward", "score", "tuned-rm", "--data", "/dev/zero"), "/dev/zero"),
    Case(("reward", "score", "tuned-rm", "--data", "{emptydir}"), "emptydir"),
    Case(("reward", "score", "tuned-rm", "--data", "{bom_alpaca}"), "bad row"),
    Case(("reward", "score", "tuned-rm", "--data", "{huge_line}"), "huge.jsonl"),
    Case(("reward", "score", "tuned-rm", "--data", "{messages}", "--batch-size", "0"), "--batch-size"),
    Case(("reward", "score", "tuned-rm"), "--data"),
    # predict
    Case(("predict", "ghost", "some text"), "run 'ghost' not found"),
    Case(("predict", "tuned-sft", "some text"), "expected a token-cls or extractive-qa or mlm or reward run"),
    Case(("predict", "halted-rm", "some text"), "is stopped"),
    Case(("predict", "tuned-qa", "When?"), "--context"),
    Case(("predict", "tuned-qa", "When?", "--context", " "), "--context"),
    Case(("predict", "tuned-qa", "When?", "--context", "@{missing}"), "missing.jsonl"),
    Case(("predict", "tuned-qa", "When?", "--context", "@{binary}"), "random.jsonl"),
    Case(("predict", "tuned-qa", "When?", "--context", "@/dev/zero"), "/dev/zero"),
    Case(("predict", "tuned-mlm", "no mask in this sentence"), "[MASK]"),
    Case(("predict", "tuned-mlm", "  "), "empty"),
    Case(("predict", "tuned-mlm", "a [MASK] here", "--top-k", "0"), "--top-k"),
    # merge
    Case(("merge", "--method", "linear", "--models", "ghost", "tuned-sft", "--out", "m"), "run 'ghost' not found"),
    Case(("merge", "--method", "linear", "--models", "tuned-sft", "--out", "m"), "at least two models"),
    Case(
        ("merge", "--method", "slerp", "--models", "tuned-sft", "tuned-sft-2", "tuned-sft", "--out", "m"), "exactly two"
    ),
    Case(
        ("merge", "--method", "linear", "--models", "tuned-sft", "tuned-sft-2", "--weights", "1", "--out", "m"),
        "1 weights for 2 models",
    ),
    Case(
        ("merge", "--method", "linear", "--models", "tuned-sft", "tuned-sft-2", "--weights", "x", "y", "--out", "m"),
        "--weights x y: expected numbers",
    ),
    Case(
        ("merge", "--method", "linear", "--models", "tuned-sft", "tuned-sft-2", "--weights", "-1", "1", "--out", "m"),
        "non-negative",
    ),
    Case(("merge", "--method", "linear", "--models", "tuned-sft", "tuned-sft-2", "--out", "bad name!"), "model name"),
    Case(
        ("merge", "--method", "linear", "--models", "tuned-sft", "tuned-sft-2", "--out", "tuned-rm"),
        "--out 'tuned-rm': a run with that name exists",
    ),
    Case(("merge", "--method", "linear", "--models", "{emptydir}", "tuned-sft", "--out", "m"), "no config.json"),
    Case(("merge", "--method", "frob", "--models", "tuned-sft", "tuned-sft-2", "--out", "m"), "'frob' is not one of"),
    Case(
        ("merge", "--method", "ties", "--models", "tuned-sft", "tuned-sft-2", "--density", "2", "--out", "m"),
        "--density 2",
    ),
    Case(("merge", "--method", "linear", "--models", "tuned-prompt", "tuned-sft", "--out", "m"), "HF-only adapter"),
    Case(("merge", "--method", "linear", "--models", "tuned-rm", "tuned-sft", "--out", "m"), "is a reward run"),
    Case(("merge", "--method", "linear", "--models", "tuned-sft", "halted-sft", "--out", "m"), "is stopped"),
    Case(("merge", "--method", "linear", "--models", "tuned-sft", "other-base-sft", "--out", "m"), "different bases"),
    Case(
        ("merge", "--method", "slerp", "--models", "tuned-sft", "tuned-sft-2", "--as-adapter", "--out", "m"),
        "--as-adapter",
    ),
    Case(("merge", "--method", "ties", "--models", "{hf_a}", "{hf_b}", "--out", "m"), "--base"),
    Case(
        ("merge", "--method", "linear", "--models", "tuned-sft", "tuned-sft-2", "--out", "m", "--export", "q9_9"),
        "q9_9",
    ),
    Case(
        ("merge", "--method", "linear", "--models", "tuned-sft", "tuned-sft-2", "--out", "m", "--export", "q8_0"),
        "m.q8_0 already in the store",
    ),
    Case(("merge", "--models", "tuned-sft", "tuned-sft-2", "--out", "m"), "--method"),
    Case(("doctor", "--fixx"), "no such option '--fixx'"),
    # task files (agent/verify --tasks, data from-runs --tasks, loop --tasks, bench agents --tasks)
    Case(("agent", "--tasks", "{tasks_bad_json}"), "bad_json_tasks.jsonl:2: not valid JSON"),
    Case(("agent", "--tasks", "{tasks_missing}"), "missing_field_tasks.jsonl:2: answers"),
    Case(("verify", "--tasks", "{tasks_unknown_check}"), "unknown_check_tasks.jsonl:2: check"),
    Case(("verify", "--tasks", "{tasks_unknown_check}"), "unknown field (a task has id, kind"),
    Case(("agent", "--tasks", "{tasks_duplicate}"), "duplicate_tasks.jsonl:2: id 'a-1' already used on line 1"),
    Case(("verify", "--tasks", "{tasks_bad_tests}"), "bad_tests_tasks.jsonl:1: tests: not valid Python"),
    Case(("agent", "--tasks", "{tasks_array}"), "array_tasks.jsonl:1: expected an object"),
    Case(("agent", "--tasks", "{tasks_no_workspace}"), "workspace"),
    Case(("agent", "--tasks", "{tasks_code}"), "no agent tasks"),
    Case(("agent", "--tasks", "{missing}"), "no such file"),
    Case(("agent", "--tasks", "{binary}"), "random.jsonl"),
    Case(("agent", "--tasks", "{latin1}"), "latin1.jsonl:1: not UTF-8 text (byte 0xe9 at column 21)"),
    Case(("agent", "--tasks", "{empty}"), "no tasks"),
    Case(("agent", "--tasks", "{huge_line}"), "huge.jsonl"),
    Case(("agent", "--tasks", "/dev/zero"), "/dev/zero: is a device, not a regular file"),
    Case(("verify", "--tasks", "{emptydir}"), "is a directory"),
    Case(("verify", "--tasks", "{tasks_code}", "--samples", "3"), "--temperature"),
    Case(("verify", "--tasks", "{tasks_code}", "--samples", "0"), "samples"),
    Case(("verify", "--tasks", "{tasks_code}", "--limit", "0"), "limit"),
    Case(("agent", "What is 2+2?", "--guide"), "--tasks"),
    Case(("agent", "--tasks", "{tasks_code}", "--tools", "calculator"), "come from the task file"),
    # data from-runs
    Case(("data", "from-runs", "--out", "{out}"), "nothing to build"),
    Case(("data", "from-runs", "--out", "{out}", "--agent", "--verify"), "--agent or --verify"),
    Case(("data", "from-runs", "--out", "{out}", "--since", "yesterday"), "--since 'yesterday'"),
    Case(("data", "from-runs", "--out", "{out}", "--max-per-task", "0"), "--max-per-task 0"),
    Case(("data", "from-runs", "--out", "{out}", "--tasks", "{tasks_missing}"), "missing_field_tasks.jsonl:2"),
    Case(("data", "from-runs", "--out", "{out}", "--tasks", "{binary}"), "random.jsonl"),
    Case(("data", "from-runs", "--out", "{notes}"), "notes.txt"),
    Case(("data", "from-runs", "--out", "{out}", "--sweep", "ghost"), "--sweep ghost: no such sweep"),
    Case(("data", "from-runs"), "--out"),
    Case(("data", "from-votes", "--out", "{out}"), "none of the 0 stored votes"),
    Case(("arena", "--prompts", "{binary}", "--model", "a", "--model", "b", "--judge", "a"), "cannot read it"),
    Case(("arena", "--prompts", "{empty}", "--model", "a", "--model", "b", "--judge", "a"), "no prompts in it"),
    Case(("arena", "--prompts", "{messages}", "--model", "a", "--model", "b", "--judge", "a"), ":1: prompt: expected"),
    Case(("arena", "--prompts", "{messages}", "--model", "a", "--judge", "a"), "--model: expected exactly two"),
    Case(
        ("arena", "--prompts", "{messages}", "--model", "a", "--model", "b", "--judge", "a", "--max-tokens", "0"),
        "--max-tokens",
    ),
    # loop
    Case(("loop", "--rounds", "0"), "rounds"),
    Case(("loop", "--name", "Bad Name!"), "--name 'Bad Name!'"),
    Case(("loop", "--tasks", "{missing}"), "no such file"),
    Case(("loop", "--tasks", "{tasks_bad_json}"), "bad_json_tasks.jsonl:2: not valid JSON"),
    Case(("loop", "--tasks", "{tasks_unknown_check}"), "unknown_check_tasks.jsonl:2: check"),
    Case(("loop", "--tasks", "{binary}"), "random.jsonl"),
    Case(("loop", "--base-model", "ghost"), "'ghost' is not in the store"),
    Case(("loop", "--quant", "q9_9"), "q9_9"),
    Case(("loop", "--samples", "0"), "samples"),
    Case(("loop", "--temperature", "0"), "temperature"),
    Case(("loop", "--samples", "lots"), "'lots' is not a valid integer"),
    Case(("loop", "--preference", "ppo"), "'ppo' is not one of"),
    Case(("loop", "show", "ghost"), "loop 'ghost' not found"),
    # bench
    Case(("bench", "agents", "--model", "ghost"), "'ghost' is not in the store"),
    Case(("bench", "agents"), "--model"),
    Case(("bench", "agents", "--model", "smollm2-135m-instruct", "--parts", "essays"), "--parts: unknown essays"),
    Case(("bench", "agents", "--model", "smollm2-135m-instruct", "--model", "smollm2-135m-instruct"), "twice"),
    Case(("bench", "agents", "--model", "smollm2-135m-instruct", "--limit", "0"), "limit"),
    Case(("bench", "agents", "--model", "smollm2-135m-instruct", "--max-steps", "0"), "max"),
    Case(
        ("bench", "agents", "--model", "smollm2-135m-instruct", "--tasks", "{tasks_missing}"),
        "missing_field_tasks.jsonl:2",
    ),
    Case(("bench", "agents", "--model", "smollm2-135m-instruct", "--tasks", "{missing}"), "no such file"),
    Case(("bench", "agents", "--model", "+ghost-run"), "ghost-run"),
    Case(("bench", "agents", "--model", "smollm2-135m-instruct", "--split", "test"), "'test' is not one of"),
    Case(("bench", "nosuch"), "No such command 'nosuch'"),
    # usage
    Case(("nosuch",), "No such command 'nosuch'"),
    Case(("models", "list", "--nope"), "No such option '--nope'"),
]

# issue 21, class 1: numbers. A 5,000-digit integer in every reader (YAML config, JSONL/JSON rows, task files,
# prompts, config.toml, flags), nan/inf, and values past a setting's finite range (stated in the error).
TOML_BIG = f"n_threads = {BIG}\n"
NUMBER_CASES = [
    Case(("train", "--config", "{big_yaml}"), f"big.yaml:2: max_steps: {HUGE} (at most 100 digits) (accepted: -1.."),
    Case(("train", "--dataset", "{big_jsonl}", "--dry-run"), f"big.jsonl:1: n: {HUGE}"),
    Case(("train", "--dataset", "{big_json}", "--dry-run"), f"big.json: [0].n: {HUGE}"),
    Case(("data", "check", "{big_jsonl}", "--no-tokens"), f"big.jsonl:1: n: {HUGE}"),
    Case(("eval", "smollm2-135m-instruct", "--data", "{big_jsonl}"), f"big.jsonl:1: n: {HUGE}"),
    Case(("reward", "score", "tuned-rm", "--data", "{big_jsonl}"), f"big.jsonl:1: n: {HUGE}"),
    Case(("agent", "--tasks", "{big_tasks}"), f"big_tasks.jsonl:1: difficulty: {HUGE}"),
    Case(("verify", "--tasks", "{big_tasks}"), f"big_tasks.jsonl:1: difficulty: {HUGE}"),
    Case(("loop", "--tasks", "{big_tasks}"), f"big_tasks.jsonl:1: difficulty: {HUGE}"),
    Case(("bench", "agents", "--model", "smollm2-135m-instruct", "--tasks", "{big_tasks}"), f"difficulty: {HUGE}"),
    Case(("data", "from-runs", "--out", "{out}", "--tasks", "{big_tasks}"), f"difficulty: {HUGE}"),
    Case(
        ("arena", "--prompts", "{big_prompts}", "--model", "a", "--model", "b", "--judge", "a"),
        f":1: reference: {HUGE}",
    ),
    Case(("chat", "hi"), f"config.toml:1: n_threads: {HUGE} (at most 100 digits) (accepted: 1..", settings=TOML_BIG),
    Case(("serve",), f"config.toml:1: n_threads: {HUGE}", settings=TOML_BIG),
    Case(("agent", "What is 2+2?"), f"config.toml:1: n_threads: {HUGE}", settings=TOML_BIG),
    Case(("chat", "hi"), "temperature: input should be a finite number", settings="temperature = inf\n"),
    Case(("chat", "hi"), "temperature: input should be a finite number", settings="temperature = nan\n"),
    Case(("chat", "hi"), f"n_ctx: input should be less than or equal to {MAX_CTX}", settings="n_ctx = 1000000000000\n"),
    Case(("chat", "hi", "--temperature", "inf"), "--temperature': 'inf' is not a finite number"),
    Case(("chat", "hi", "--temperature", "nan"), "--temperature': 'nan' is not a finite number"),
    Case(("chat", "hi", "--temperature", "1e400"), "is not a finite number"),
    Case(
        ("chat", "hi", "--temperature", "50"),
        f"--temperature 50.0: input should be less than or equal to 5 (accepted: 0.0..{MAX_TEMPERATURE})",
    ),
    Case(
        ("chat", "hi", "--max-tokens", BIG), f"--max-tokens': {HUGE} (at most 100 digits) (accepted: 1..{MAX_TOKENS})"
    ),
    Case(
        ("chat", "hi", "--threads", "100000"),
        f"--threads 100000: input should be less than or equal to {MAX_THREADS} (accepted: 1..{MAX_THREADS})",
    ),
    Case(("chat", "hi", "--threads", BIG), f"--threads': {HUGE}"),
    Case(("chat", "hi", "--seed", "-5"), "--seed': -5 is out of range (accepted: 0..4294967295)"),
    Case(
        ("eval", "smollm2-135m-instruct", "--threads", "100000"), f"100000 is out of range (accepted: 1..{MAX_THREADS})"
    ),
    Case(("eval", "smollm2-135m-instruct", "--max-examples", BIG), f"--max-examples': {HUGE}"),
    Case(("eval", "smollm2-135m-instruct", "--judge", ""), "empty value"),
    Case(
        ("chat", "hi", "--ctx", "1000000000000"),
        f"--ctx 1000000000000: input should be less than or equal to {MAX_CTX}",
    ),
    Case(
        ("chat", "hi", "--ctx", "100000"),
        "--ctx 100000: above the trained context of SmolLM2-135M-Instruct.Q4_1.gguf (accepted: 256..8192)",
    ),
    Case(("complete", "smollm2-135m-instruct", "once", "--temperature", "inf"), "'inf' is not a finite number"),
    Case(("agent", "What is 2+2?", "--threads", "100000"), f"accepted: 1..{MAX_THREADS}"),
    Case(("agent", "What is 2+2?", "--max-seconds", "inf"), "'inf' is not a finite number"),
    Case(("verify", "print 1", "--threads", "100000"), f"accepted: 1..{MAX_THREADS}"),
    Case(("verify", "print 1", "--timeout", "nan"), "'nan' is not a finite number"),
    Case(("bench", "agents", "--model", "smollm2-135m-instruct", "--threads", "100000"), f"accepted: 1..{MAX_THREADS}"),
    Case(
        ("train", "--threads", "100000", "--dry-run"),
        f"threads: Input should be less than or equal to {MAX_THREADS} (accepted: 1..{MAX_THREADS})",
    ),
    Case(
        ("train", "--max-steps", BIG, "--dry-run"),
        f"--max-steps': {HUGE} (at most 100 digits) (accepted: -1..{MAX_STEPS})",
    ),
    Case(("train", "--learning-rate", "inf", "--dry-run"), "'inf' is not a finite number"),
    Case(("train", "--batch-size", "10000000", "--dry-run"), "batch_size: Input should be less than or equal to"),
    Case(("loop", "--threads", "100000"), f"threads: Input should be less than or equal to {MAX_THREADS}"),
    Case(("loop", "--sft-learning-rate", "nan"), "'nan' is not a finite number"),
    Case(("export", "ghost-run", "--max-loss-delta", "nan"), "--max-loss-delta': 'nan' is not a finite number"),
    Case(("export", "ghost-run", "--max-loss-delta", "inf"), "--max-loss-delta': 'inf' is not a finite number"),
    Case(("export", "ghost-run", "--eval-examples", BIG), f"--eval-examples': {HUGE}"),
    Case(("export", "ghost-run", "--eval-examples", "1000000000"), "out of range (accepted: 1..100000)"),
    Case(("serve", "--port", BIG), f"--port': {HUGE}"),
    Case(("rag", "query", "--collection", "nope", "q", "-k", BIG), f"'-k': {HUGE}"),
    Case(("rag", "ingest", "{notes}", "--collection", "docs", "--chunk-size", BIG), f"--chunk-size': {HUGE}"),
    Case(("predict", "tuned-mlm", "a [MASK] here", "--top-k", BIG), f"--top-k': {HUGE}"),
    Case(
        ("merge", "--method", "ties", "--models", "tuned-sft", "tuned-sft-2", "--density", "nan", "--out", "m"),
        "'nan' is not a finite number",
    ),
]

# class 2: nesting 100,000 levels deep in every reader
NESTING_CASES = [
    Case(("train", "--config", "{deep_yaml}"), f"deep.yaml: {TOO_DEEP}"),
    Case(("train", "--dataset", "{deep_jsonl}", "--dry-run"), f"deep.jsonl:1: {TOO_DEEP}"),
    Case(("train", "--dataset", "{deep_json}", "--dry-run"), f"deep.json: {TOO_DEEP}"),
    Case(("data", "check", "{deep_jsonl}", "--no-tokens"), f"deep.jsonl:1: {TOO_DEEP}"),
    Case(("reward", "score", "tuned-rm", "--data", "{deep_jsonl}"), f"deep.jsonl:1: {TOO_DEEP}"),
    Case(("agent", "--tasks", "{deep_tasks}"), f"deep_tasks.jsonl:1: {TOO_DEEP}"),
    Case(("verify", "--tasks", "{deep_tasks}"), f"deep_tasks.jsonl:1: {TOO_DEEP}"),
    Case(("loop", "--tasks", "{deep_tasks}"), f"deep_tasks.jsonl:1: {TOO_DEEP}"),
    Case(("arena", "--prompts", "{deep_prompts}", "--model", "a", "--model", "b", "--judge", "a"), f":1: {TOO_DEEP}"),
    Case(("chat", "hi"), f"config.toml: {TOO_DEEP}", settings="a = " + DEEP + "\n"),
    Case(("models", "list"), f"config.toml: {TOO_DEEP}", settings="a = " + DEEP + "\n"),
]

# class 3: a FIFO, a device, a symlink loop or a dangling link passed as a file is named as what it is
FILE_CASES = [
    *(
        Case(args, phrase)
        for kind, phrase in (("{fifo}", "is a FIFO"), ("{loop}", "is a symlink loop"))
        for args in (
            ("train", "--dataset", kind, "--dry-run"),
            ("train", "--config", kind),
            ("data", "check", kind, "--no-tokens"),
            ("agent", "--tasks", kind),
            ("verify", "--tasks", kind),
            ("loop", "--tasks", kind),
            ("models", "import", kind),
            ("eval", "smollm2-135m-instruct", "--data", kind),
            ("reward", "score", "tuned-rm", "--data", kind),
            ("verify", "print 1", "--tests", kind),
            ("serve", "--api-key-file", kind),
            ("arena", "--prompts", kind, "--model", "a", "--model", "b", "--judge", "a"),
            ("predict", "tuned-qa", "When?", "--context", "@" + kind),
        )
    ),
    Case(("tui", "--headless", "--script", "{fifo}"), "fifo.jsonl: is a FIFO (named pipe) (expected a script file)"),
    Case(("tui", "--headless", "--script", "{loop}"), "loop.jsonl: is a symlink loop (expected a script file)"),
    Case(("train", "--chat-template", "{fifo}", "--dry-run"), "chat_template: "),
    Case(("train", "--method", "grpo", "--reward-fn", "{fifo_py}:score", "--dry-run"), "fifo.py: is a FIFO"),
    Case(("train", "--dataset", "{dangling}", "--dry-run"), "is a broken symlink"),
    Case(("agent", "--tasks", "{dangling}"), "dangling.jsonl: is a broken symlink (its target does not exist)"),
    Case(("models", "import", "/dev/null"), "/dev/null: is a device"),
    Case(("train", "--config", "/dev/null"), "/dev/null: is a device"),
    Case(("data", "check", "/dev/null", "--no-tokens"), "/dev/null: is a device"),
    Case(("rag", "ingest", "{fifo}", "--collection", "docs"), "is a FIFO (named pipe), not a regular file"),
    Case(("rag", "ingest", "{loop}", "--collection", "docs"), "is a symlink loop"),
    Case(
        ("tools", "list", "--tools-file", "{fifo_py}"),
        "fifo.py: is a FIFO (named pipe) (expected a Python file of LangChain tools)",
    ),
    Case(("tools", "list", "--tools-file", "{loop_py}"), "is a symlink loop"),
    Case(("tools", "list", "--tools-file", "{exit_py}"), "exited while being imported (sys.exit(0))"),
    Case(("tools", "list", "--tools-file", "{tools_txt}"), "tools.txt: not a .py file"),
    Case(("agent", "What is 2+2?", "--tools-file", "{exit_py}"), "exited while being imported"),
]

# class 4: an empty name never falls back to the default silently
EMPTY = "empty value (give a name, or leave the flag out for the default)"
NAME_CASES = [
    Case(args, f"{EMPTY}")
    for flag, args in (
        ("--model", ("chat", "hi", "--model", "")),
        ("--session", ("chat", "hi", "--session", "")),
        ("--rag", ("chat", "hi", "--rag", " ")),
        ("--adapter", ("chat", "hi", "--adapter", "")),
        ("--name", ("models", "import", "{notgguf}", "--name", "")),
        ("--name", ("models", "quantize", "smollm2-135m-instruct", "--quant", "q8_0", "--name", "")),
        ("--name", ("export", "ghost-run", "--name", "")),
        ("--name", ("train", "--name", "", "--dry-run")),
        ("--base-model", ("train", "--base-model", "", "--dry-run")),
        ("--name", ("loop", "--name", "")),
        ("--collection", ("rag", "ingest", "{notes}", "--collection", "")),
        ("--collection", ("rag", "query", "--collection", "", "q")),
        ("--model", ("serve", "--model", "")),
        ("--rag", ("serve", "--rag", "")),
        ("--model", ("agent", "What is 2+2?", "--model", "")),
        ("--collection", ("agent", "What is 2+2?", "--collection", "")),
        ("--model", ("verify", "print 1", "--model", "")),
        ("--model", ("bench", "agents", "--model", "")),
        ("--judge", ("arena", "--prompts", "{messages}", "--model", "a", "--model", "b", "--judge", "")),
        ("--model", ("tui", "--model", "")),
        ("--model", ("data", "check", "{messages}", "--model", "")),
        ("--out", ("merge", "--method", "linear", "--models", "tuned-sft", "tuned-sft-2", "--out", "")),
    )
] + [
    Case(args, "empty value (give a path, or leave the flag out for the default)")
    for args in (
        ("data", "from-runs", "--out", ""),
        ("tui", "--headless", "--script", ""),
        ("agent", "--tasks", ""),
        ("verify", "print 1", "--tests", ""),
        ("tools", "list", "--tools-file", ""),
        ("serve", "--api-key-file", ""),
    )
]
CASES += NUMBER_CASES + NESTING_CASES + FILE_CASES + NAME_CASES


def state(home: Path) -> dict:
    """Everything a bad command must leave alone."""
    from llmdeck.core.sessions import list_sessions
    from llmdeck.core.store import ModelStore
    from llmdeck.rag.query import list_collections
    from llmdeck.tuning.runs import list_runs

    ignored = ("llmdeck.db", "llmdeck.db-wal", "llmdeck.db-shm")
    files = {
        str(p.relative_to(home)): p.stat().st_size
        for p in home.rglob("*")
        if p.is_file() and p.name not in ignored and "locks" not in p.parts and "cache" not in p.parts
    }
    return {
        "models": [e.to_dict() for e in ModelStore().list()],
        "runs": [r.id for r in list_runs()],
        "collections": [c.name for c in list_collections()],
        "sessions": [s.id for s in list_sessions()],
        "files": files,
    }


def prepare(case: Case) -> None:
    """State only some commands read, kept out of the other cases' setup: finished and stopped run records (no
    weights: every case must fail before a model loads), and a store model named like a merge's export."""
    if case.args[0] in ("reward", "predict", "merge"):
        register_finished_runs()
    if "--export" in case.args:
        from llmdeck.core.embedded import embedded_chat_model_path
        from llmdeck.core.store import ModelStore

        ModelStore().register(embedded_chat_model_path(), name="m.q8_0")


def register_finished_runs() -> None:
    from llmdeck.core import db
    from llmdeck.tuning.registry import Registry

    registry = Registry()
    runs = (
        ("tuned-rm", "reward", "completed", {}),
        ("halted-rm", "reward", "stopped", {}),
        ("tuned-sft", "sft", "completed", {}),
        ("tuned-sft-2", "sft", "completed", {}),
        ("halted-sft", "sft", "stopped", {}),
        ("tuned-prompt", "sft", "completed", {"tuning": "prompt"}),
        ("other-base-sft", "sft", "completed", {"base_model": "/elsewhere/base"}),
        ("tuned-qa", "extractive-qa", "completed", {"tuning": "full"}),
        ("tuned-mlm", "mlm", "completed", {"tuning": "full"}),
    )
    with db.transaction(registry.conn):  # one commit, not eighteen
        for name, method, status, config in runs:
            config = {"name": name, "method": method, "tuning": "lora", "base_model": "smollm2-135m-instruct", **config}
            run = registry.create(name, method, config["base_model"], "-", config, "local")
            (run.path / "adapter").mkdir()
            registry.update(run.id, status=status, phase=None)


@pytest.fixture(scope="module")
def trouble_files(tmp_path_factory) -> dict[str, Path]:
    """Written once for the module: no command may change them (reading is all a bad command may do)."""
    return build_files(tmp_path_factory.mktemp("trouble"))


@pytest.fixture
def world(tmp_path, llmdeck_home, fake_model, trouble_files):
    """Files of every kind of trouble, and a home with some state in it (a session) to keep unchanged."""
    from llmdeck.core import sessions

    files = dict(trouble_files)
    files["missing"] = tmp_path / "missing.jsonl"
    files["out"] = tmp_path / "out"  # an output folder no bad command may create
    sessions.create_session("kept", title="a session to keep")
    sessions.add_message("kept", "user", "hello")
    return files


def fill(args: tuple[str, ...], files: dict[str, Path]) -> list[str]:
    return [arg.format(**{k: str(v) for k, v in files.items()}) if "{" in arg else arg for arg in args]


def assert_one_line_bad_input(code: int, stderr: str, phrase: str, label) -> None:
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("warning:")]
    assert "Traceback" not in stderr, (label, stderr)
    assert code == 2, (label, code, stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), (label, stderr)
    assert phrase.lower() in lines[0].lower(), (label, phrase, lines[0])


def test_the_corpus_is_large_and_reaches_every_command():
    assert len(CASES) >= 60
    covered = {case.args[0] for case in CASES}
    assert {name for name in cli.commands} <= covered


@pytest.mark.parametrize("case", CASES, ids=lambda case: " ".join(case.args)[:60])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(world, llmdeck_home, case):
    prepare(case)
    before = state(llmdeck_home)
    if case.settings is not None:  # after the state is read: reading it loads the settings too
        (llmdeck_home / "config.toml").write_text(case.settings)
    result = CliRunner().invoke(cli, fill(case.args, world), input=case.stdin)
    if case.settings is not None:
        (llmdeck_home / "config.toml").unlink()
    assert not (result.exception and not isinstance(result.exception, SystemExit)), repr(result.exception)
    assert_one_line_bad_input(result.exit_code, result.stderr, case.phrase, case.args)
    assert bool(result.stdout) == case.report, result.stdout
    assert state(llmdeck_home) == before
    assert not world["out"].exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "args, phrase",
    [
        (("train", "--dataset", "{locked}", "--dry-run"), "permission denied"),
        (("data", "check", "{locked}", "--no-tokens"), "permission denied"),
        (("verify", "--tasks", "{locked}"), "is not readable"),
        (("data", "check", "{closed}", "--no-tokens"), "closed"),
        (("train", "--config", "{locked_yaml}"), "permission denied"),
        (("models", "import", "{locked_gguf}"), "locked.gguf"),
        (("rag", "ingest", "{closed}", "--collection", "docs"), "nothing to ingest into 'docs'"),
    ],
)
def test_unreadable_files_without_roots_override(tmp_path, llmdeck_home, args, phrase):
    locked = tmp_path / "locked.jsonl"
    locked.write_text('{"text": "secret"}\n')
    locked_yaml = tmp_path / "locked.yaml"
    locked_yaml.write_text("max_steps: 3\n")
    locked_gguf = tmp_path / "locked.gguf"
    locked_gguf.write_bytes(b"GGUF" + b"\x00" * 64)
    closed = tmp_path / "closed"
    closed.mkdir()
    (closed / "inside.jsonl").write_text('{"text": "inside"}\n')
    for path in (locked, locked_yaml, locked_gguf, closed):
        path.chmod(0)
    files = {"locked": locked, "locked_yaml": locked_yaml, "locked_gguf": locked_gguf, "closed": closed}
    result = subprocess.run(
        [*NO_DAC, sys.executable, "-m", "llmdeck.cli", *fill(args, files)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env=dict(os.environ),
    )
    assert_one_line_bad_input(result.returncode, result.stderr, phrase, args)


@pytest.mark.parametrize(
    "args",
    [
        ("chat", "hi", "--rag", "nosuchcollection"),
        ("serve", "--rag", "nosuchcollection"),
        ("agent", "What is 2+2?", "--collection", "nosuchcollection"),
        ("rag", "query", "--collection", "nosuchcollection", "what?"),
        ("rag", "rm", "nosuchcollection"),
    ],
)
def test_an_unknown_collection_leaves_no_lock_file(world, llmdeck_home, args):
    result = CliRunner().invoke(cli, list(args))
    assert_one_line_bad_input(result.exit_code, result.stderr, "collection 'nosuchcollection' not found", args)
    assert not (llmdeck_home / "locks").exists() or list((llmdeck_home / "locks").iterdir()) == []
