"""`llmdeck models`: the GGUF model store (list, show, import, rm, default)."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import click

from llmdeck.cli.options import NAME, UserPath
from llmdeck.cli.output import emit_json, emit_result, info, table
from llmdeck.core.units import human_count, human_size


def _store():
    from llmdeck.core.store import ModelStore

    return ModelStore()


@click.group("models")
def command() -> None:
    """Manage the GGUF model store.

    Example: llmdeck models list
    """


@command.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def list_models(as_json: bool) -> None:
    """List registered models (the default is marked with *).

    Example: llmdeck models list --json
    """
    store = _store()
    entries = store.list()
    problem = store.missing_default()
    if problem:
        info(f"warning: {problem}")
    if as_json:
        emit_json([entry.to_dict() for entry in entries])
        return
    rows = [
        {
            "": "*" if e.is_default else "",
            "name": e.name,
            "arch": e.architecture,
            "params": human_count(e.parameter_count),
            "quant": e.file_type,
            "ctx": e.context_length,
            "size": human_size(e.size_bytes),
            "source": "embedded" if e.embedded else ("copied" if e.copied else "reference"),
        }
        for e in entries
    ]
    click.echo(table(rows, ["", "name", "arch", "params", "quant", "ctx", "size", "source"]))


@command.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def show_model(name: str, as_json: bool) -> None:
    """Show one model's metadata and lineage.

    Example: llmdeck models show smollm2-135m-instruct --json
    """
    entry = _store().get(name)
    if as_json:
        emit_json(entry.to_dict())
        return
    for key, value in entry.to_dict().items():
        if key == "size_bytes":
            value = f"{human_size(value)} ({value} bytes)"
        click.echo(f"{key:18} {value if value is not None else '-'}")


@command.command("import")
@click.argument("path")
@click.option("--name", type=NAME, help="Store name (default: derived from the file name).")
@click.option("--copy", is_flag=True, help="Copy the file into the store instead of referencing it.")
@click.option("--json", "as_json", is_flag=True, help="Print the new entry as JSON on stdout.")
def import_model(path: str, name: str | None, copy: bool, as_json: bool) -> None:
    """Register a local GGUF file (validated before anything is written), or download one into the store:
    owner/repo (its one .gguf), owner/repo:FILE.gguf, or an http(s) URL (progress on stderr, resumable).

    Example: llmdeck models import ~/Downloads/model.Q4_K_M.gguf --name my-model --copy

    Example: llmdeck models import owner/repo:model.Q4_K_M.gguf
    """
    from llmdeck.core.store import parse_remote

    remote = parse_remote(path)
    store = _store()
    entry = store.pull(remote, name=name) if remote else store.register(Path(path), name=name, copy=copy)
    emit_result(
        as_json,
        entry.to_dict(),
        f"imported {entry.name} ({entry.architecture}, {human_count(entry.parameter_count)} params, {entry.file_type})",
    )


@command.command("rm")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the removed entry as JSON on stdout.")
def remove_model(name: str, as_json: bool) -> None:
    """Unregister a model (a copied file is deleted; a referenced file stays where it is).

    Example: llmdeck models rm my-model
    """
    entry = _store().remove(name)
    emit_result(as_json, entry.to_dict(), f"removed {entry.name}")


@command.command("default")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the new default entry as JSON on stdout.")
def default_model(name: str, as_json: bool) -> None:
    """Make NAME the default model for chat, RAG and agents.

    Example: llmdeck models default smollm2-135m-instruct
    """
    entry = _store().set_default(name)
    emit_result(as_json, entry.to_dict(), f"default model: {entry.name}")


@command.command("quantize")
@click.argument("name")
@click.option("--quant", required=True, help="Target type: f16, q8_0, q6_k, q5_k_m, q4_k_m, q4_0, ...")
@click.option("--name", "new_name", type=NAME, help="Store name of the result (default: NAME with the quant suffix).")
@click.option(
    "--allow-requantize", is_flag=True, help="Quantize an already-quantized model (loses more than from f16)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the new entry as JSON on stdout.")
def quantize(name: str, quant: str, new_name: str | None, allow_requantize: bool, as_json: bool) -> None:
    """Quantize a store model with llama.cpp into a new store model.

    Example: llmdeck models quantize my-run.f16 --quant q4_k_m
    """
    from llmdeck.cli.export import StagePrinter
    from llmdeck.core.quantize import quantize_model
    from llmdeck.tuning.export import ExportEvent

    with closing(StagePrinter()) as printer:  # ends a redrawn progress line
        entry = quantize_model(
            name,
            quant,
            new_name,
            allow_requantize,
            on_progress=lambda done, total: printer(ExportEvent("quantize", "tensors", done, total)),
        )
    emit_result(
        as_json,
        entry.to_dict(),
        f"quantized {name} -> {entry.name} ({entry.file_type}, {human_size(entry.size_bytes)})",
    )


@command.command("modelfile")
@click.argument("name")
@click.option("--out", "out_file", type=UserPath(path_type=Path), help="Write the Modelfile here (default: stdout).")
@click.option("--system", help="A SYSTEM prompt to include.")
def modelfile(name: str, out_file: Path | None, system: str | None) -> None:
    """An Ollama Modelfile for NAME: FROM the GGUF, TEMPLATE from its chat template, its stop tokens.

    Example: llmdeck models modelfile my-run.q4_k_m --out Modelfile && ollama create my-run -f Modelfile
    """
    from llmdeck.core.atomic import atomic_write_text
    from llmdeck.core.interop import modelfile as build

    text = build(_store().get(name), system=system)
    if out_file:
        atomic_write_text(out_file, text)
        info(f"wrote {out_file}")
    else:
        click.echo(text, nl=False)


@command.command("check")
@click.argument("name")
@click.option(
    "--tokenizer",
    "tokenizer_dir",
    type=UserPath(),
    help="The training tokenizer's directory (default: the run it was exported from, else the GGUF's own).",
)
@click.option(
    "--modelfile", type=UserPath(), help="Check this Modelfile's TEMPLATE (default: what `modelfile` writes)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
def check(name: str, tokenizer_dir: str | None, modelfile: str | None, as_json: bool) -> None:
    """Check that training, llama.cpp and Ollama render a conversation to the same tokens.

    One conversation (system, user, assistant, user, and the generation prompt) is rendered by the training
    tokenizer's chat template (transformers), by the GGUF's chat template as llama.cpp applies it, and by the
    Ollama Modelfile's TEMPLATE; a difference is shown token by token. Exit 0 when they agree, 1 on a mismatch
    (or when fewer than two renderings could be made), 2 on bad input.

    Example: llmdeck models check my-run.q4_k_m --json
    """
    from llmdeck.core.errors import LlmdeckError
    from llmdeck.tuning.template_check import check_model

    result = check_model(name, tokenizer_dir=tokenizer_dir, modelfile=modelfile)
    if as_json:
        emit_json(result.to_dict())
    else:
        for line in result.lines():
            click.echo(line)
    if result.consistent is not True:
        raise LlmdeckError(result.summary())


@command.command("export-dir")
@click.argument("name")
@click.argument("directory", type=UserPath(path_type=Path))
@click.option(
    "--layout",
    type=click.Choice(["lmstudio"]),
    default="lmstudio",
    show_default=True,
    help="Folder layout: lmstudio = DIR/publisher/MODEL-GGUF/NAME.gguf.",
)
@click.option("--publisher", default="llmdeck", show_default=True, help="Publisher folder name.")
@click.option("--link", is_flag=True, help="Hard-link instead of copying (same filesystem only).")
@click.option("--json", "as_json", is_flag=True, help="Print {name, path} as JSON on stdout.")
def export_dir(name: str, directory: Path, layout: str, publisher: str, link: bool, as_json: bool) -> None:
    """Place a store model in another app's models folder (LM Studio), as a copy or a hard link.

    Example: llmdeck models export-dir my-run.q4_k_m ~/.lmstudio/models --link
    """
    from llmdeck.core.interop import export_to_dir

    target = export_to_dir(_store().get(name), directory, layout=layout, link=link, publisher=publisher)
    emit_result(
        as_json,
        {"name": name, "path": str(target), "linked": link},
        f"{'linked' if link else 'copied'} {name} -> {target}",
    )


@command.command("converter")
@click.option("--install", is_flag=True, help="Fetch llama-cpp-python's source with pip and install its converter.")
@click.option(
    "--from-sdist",
    "sdist",
    type=UserPath(path_type=Path),
    help="Install from this llama-cpp-python .tar.gz (offline).",
)
@click.option("--json", "as_json", is_flag=True, help="Print {root, runtime_version} as JSON on stdout.")
def converter(install: bool, sdist: Path | None, as_json: bool) -> None:
    """Where llama.cpp's converter scripts (HF -> GGUF, LoRA -> GGUF) are, matching the installed llama.cpp.

    Example: llmdeck models converter --install
    """
    from llmdeck.tuning.converter import find_converter, install_converter

    found = install_converter(sdist, on_progress=info) if (install or sdist) else find_converter()
    emit_result(
        as_json,
        found.to_dict(),
        f"llama.cpp converter for llama-cpp-python {found.runtime_version or '(user checkout)'}: {found.root}",
    )
