"""What the app's train screen is built on: the config as form fields, metrics followed incrementally,
smoothing, alerts, the log tail, run comparison."""

from __future__ import annotations

import json
import math
import shlex

from llmdeck.tuning.config import TrainConfig
from llmdeck.tuning.config_fields import as_command, check_form, field_specs, parse_form, save_config
from llmdeck.tuning.monitor import MetricsFollower, alerts, log_tail, series, smoothed


def test_every_config_field_is_a_form_field_with_its_help():
    specs = {s.name: s for s in field_specs()}
    assert list(specs) == list(TrainConfig.model_fields)
    assert all(s.description for s in specs.values())
    assert specs["method"].kind == "choice" and specs["method"].choices[:4] == ("sft", "dpo", "orpo", "kto")
    assert specs["packing"].choices == ("", "true", "false")  # optional bool: auto / on / off
    assert (
        specs["skip_bad"].kind == "bool"
        and specs["lora_r"].kind == "int"
        and specs["lora_target_modules"].kind == "list"
    )


def test_form_text_becomes_values_and_every_problem_is_named_by_field():
    values = parse_form({"max_samples": "", "lora_r": "8", "lora_target_modules": "q_proj, v_proj", "seed": ""})
    assert values == {"max_samples": None, "lora_r": "8", "lora_target_modules": ["q_proj", "v_proj"]}
    config, problems = check_form({"lora_r": "eight", "method": "dpo", "dataset_format": "alpaca", "eval_split": "0.9"})
    assert config is None and set(problems) == {"lora_r", "eval_split", "dataset_format"}
    assert "preference" in problems["dataset_format"]
    config, problems = check_form({"lora_r": "8", "packing": "false"})
    assert problems == {} and config.lora_r == 8 and config.packing is False


def test_every_field_shows_its_default_in_the_form_and_reads_back_unchanged():
    """A field with a default factory (a dict) shows as its value, not as pydantic's placeholder, so an
    untouched form is valid and equal to the defaults."""
    from llmdeck.tuning.config_fields import display

    specs = field_specs()
    config, problems = check_form({s.name: display(s.default) for s in specs if s.default is not None})
    assert problems == {} and config == TrainConfig()
    assert {s.name: s.kind for s in specs}["variables"] == "map"
    config, problems = check_form({"variables": "name=Ada Lovelace, place = London"})
    assert problems == {} and config.variables == {"name": "Ada Lovelace", "place": "London"}
    assert display(config.variables) == "name=Ada Lovelace, place=London"
    config, problems = check_form({"variables": "just text"})
    assert config is None and "NAME=VALUE" in problems["variables"]


def test_the_equivalent_command_rebuilds_the_same_config(tmp_path):

    config, _ = check_form(
        {
            "base_model": "/models/a b",
            "max_steps": "10",
            "gradient_checkpointing": False,
            "lora_target_modules": "q_proj,v_proj",
            "packing": "true",
        }
    )
    config = config.model_copy(update={"variables": {"name": "Ada Lovelace"}})
    command = as_command(config)
    assert command.startswith("llmdeck train ") and "'/models/a b'" in command
    # the command's flags parse back to the same config (a dry run would need the model: check the parser)
    from llmdeck.cli import train as train_cli

    context = train_cli.command.make_context("train", shlex.split(command)[2:])
    given = {k: v for k, v in context.params.items() if k in TrainConfig.model_fields and v is not None}
    given["variables"] = train_cli.parse_vars(given.get("variables", ()))  # --var NAME=VALUE pairs, as the command does
    assert TrainConfig(**given) == config
    saved = save_config(config, tmp_path / "run.yaml")
    from llmdeck.tuning.config import load_config

    assert load_config(saved) == config


def test_metrics_are_read_incrementally_and_a_torn_line_waits(tmp_path):
    follower = MetricsFollower(tmp_path)
    assert follower.read_new() == ([], False)
    path = tmp_path / "metrics.jsonl"
    with path.open("w") as handle:
        handle.write(json.dumps({"step": 1, "loss": 2.0}) + "\n" + '{"step": 2, "lo')
    assert follower.read_new() == ([{"step": 1, "loss": 2.0}], False)
    with path.open("a") as handle:
        handle.write('ss": 1.5}\n')
    assert follower.read_new() == ([{"step": 2, "loss": 1.5}], False)
    assert follower.read_new() == ([], False)
    path.write_text(json.dumps({"step": 1, "loss": 2.0}) + "\n")  # a resume truncated the file
    assert follower.read_new() == ([{"step": 1, "loss": 2.0}], True)


def test_smoothing_alerts_and_series():
    assert smoothed([1.0, 1.0, 1.0]) == [1.0, 1.0, 1.0]
    ema = smoothed([4.0, 2.0])
    assert ema[0] == 4.0 and 2.0 < ema[1] < 4.0
    rows = [{"step": i, "loss": 1.0} for i in range(1, 7)] + [{"step": 7, "loss": 5.0}, {"step": 8, "loss": math.nan}]
    found = [a.message for a in alerts(rows)]
    assert found == ["step 7: loss spiked to 5 (smoothed 1)", "step 8: loss is nan"]
    assert alerts(rows[:6]) == []
    loss = series(rows + [{"step": 9, "eval_loss": 0.5}], "eval_loss")
    assert (loss.steps, loss.values) == ([9], [0.5])


def test_log_tail_keeps_the_last_state_of_progress_lines(tmp_path):
    log = tmp_path / "train.log"
    log.write_text("start\n 10%\r 50%\r100%\nend\n")
    assert log_tail(log) == ["start", "100%", "end"]
    assert log_tail(tmp_path / "none.log") == []


def test_the_worker_keeps_library_future_and_deprecation_warnings_out_of_the_log():
    """train.log (the monitor's log pane) gets a UserWarning but no FutureWarning/DeprecationWarning (the libraries'
    own imports are blocked here: the filters are set before them)."""
    import subprocess
    import sys

    script = (
        "import sys; sys.modules['datasets'] = None\n"
        "from llmdeck.tuning.worker import quiet_libraries; quiet_libraries()\n"
        "import warnings\n"
        "warnings.warn('future api', FutureWarning); warnings.warn('old api', DeprecationWarning)\n"
        "warnings.warn('kept', UserWarning)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "UserWarning: kept" in result.stderr
    assert "future api" not in result.stderr and "old api" not in result.stderr


def test_the_log_is_followed_from_its_tail_then_by_new_lines(tmp_path):
    from llmdeck.tuning.monitor import LOG_TAIL_BYTES, LogFollower

    log = tmp_path / "train.log"
    follower = LogFollower(log)
    assert follower.read_new() == ([], False)  # no log yet
    log.write_text("x" * LOG_TAIL_BYTES + "\nfirst\nbar 10%\rbar 100%\nhalf")
    assert follower.read_new() == (["first", "bar 100%"], True)  # the tail, from its first whole line
    assert follower.read_new() == ([], False)
    with log.open("a") as handle:
        handle.write(" a line\nnext\n")
    assert follower.read_new() == (["half a line", "next"], False)
    log.write_text("restarted\n")  # shorter: a new log
    assert follower.read_new() == (["restarted"], True)


def test_alerts_scanned_as_rows_arrive_match_one_scan_of_them_all():
    from llmdeck.tuning.monitor import AlertScanner

    rows = [{"step": s, "loss": 1.0} for s in range(1, 7)] + [{"step": 7, "loss": 9.0}, {"step": 8, "loss": math.inf}]
    rows.append({"step": 9, "grad_norm": math.nan})
    scanner = AlertScanner()
    fed = [alert for start in range(0, len(rows), 2) for alert in scanner.feed(rows[start : start + 2])]
    assert fed == alerts(rows) and len(fed) == 3
