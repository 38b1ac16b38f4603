"""Is what was trained what is served? One conversation rendered three ways must give the same tokens.

1. training: transformers' `apply_chat_template` on the tokenizer training used (the run's saved tokenizer, or the
   base's), which is how `tuning/render.py` renders training rows;
2. gguf: the GGUF's `tokenizer.chat_template` as llama-cpp-python applies it in chat (`create_chat_completion`:
   the Jinja formatter, or the built-in format it guesses from the metadata), tokenized by the GGUF's own vocabulary
   (`vocab_only`: no weights load);
3. modelfile: the Ollama Modelfile's TEMPLATE (the one `models modelfile` writes, or a given file) rendered the way
   Ollama fills it (`core.go_template`), tokenized as Ollama does (the GGUF's vocabulary, its BOS rule).

A difference is reported token by token: the first position where two renderings part, with a few tokens of each
around it. Renderings that cannot be made (no template, no Ollama translation) say why and are left out.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmdeck.core.errors import BadInput, LlmdeckError

CONVERSATION: tuple[dict[str, str], ...] = (
    {"role": "system", "content": "You are a careful assistant. Answer in one short sentence."},
    {"role": "user", "content": "What is the capital of France?"},
    {"role": "assistant", "content": "The capital of France is Paris."},
    {"role": "user", "content": "And of Italy?"},
)
SOURCES = ("training", "gguf", "modelfile")
WINDOW_BEFORE, WINDOW_AFTER = 3, 5


@dataclass(frozen=True)
class Rendering:
    """One rendering of the conversation: its tokens (ids and their text), or why there is none."""

    source: str  # training | gguf | modelfile
    origin: str  # what rendered it, for a person
    token_ids: tuple[int, ...] = ()
    pieces: tuple[str, ...] = ()
    unavailable: str | None = None  # could not be made here (no template, no translation): not a mismatch
    error: str | None = None  # the template failed to render the conversation: a mismatch

    @property
    def available(self) -> bool:
        return self.unavailable is None and self.error is None


@dataclass(frozen=True)
class Divergence:
    """Where two renderings part: the first differing position and a window of tokens from each side."""

    first: str
    second: str
    position: int
    first_length: int
    second_length: int
    first_window: list[dict] = field(default_factory=list)  # {"position", "id", "text"}
    second_window: list[dict] = field(default_factory=list)


@dataclass
class TemplateCheck:
    model: str
    renderings: list[Rendering]
    divergences: list[Divergence]

    @property
    def consistent(self) -> bool | None:
        """True: every available rendering gave the same tokens; False: one differs or failed; None: fewer than
        two renderings could be made, so nothing was compared."""
        if self.divergences or any(r.error for r in self.renderings):
            return False
        return True if sum(r.available for r in self.renderings) >= 2 else None

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "consistent": self.consistent,
            "summary": self.summary(),
            "available": [r.source for r in self.renderings if r.available],
            "renderings": [
                {
                    "source": r.source,
                    "origin": r.origin,
                    "tokens": len(r.token_ids) if r.available else None,
                    "unavailable": r.unavailable,
                    "error": r.error,
                }
                for r in self.renderings
            ],
            "divergences": [asdict(d) for d in self.divergences],
        }

    def summary(self) -> str:
        """One line: the verdict and which renderings it rests on."""
        available = [r.source for r in self.renderings if r.available]
        if self.consistent:
            n = len(self.renderings[[r.source for r in self.renderings].index(available[0])].token_ids)
            return f"template check: {', '.join(available)} give the same {n} tokens"
        if self.consistent is None:
            missing = "; ".join(f"{r.source}: {r.unavailable or r.error}" for r in self.renderings if not r.available)
            return f"template check: not checked, fewer than two renderings ({missing})"
        failed = [f"{r.source} failed ({r.error})" for r in self.renderings if r.error]
        parted = [f"{d.first} and {d.second} differ at token {d.position}" for d in self.divergences]
        return "template check: MISMATCH: " + "; ".join(failed + parted)

    def lines(self) -> list[str]:
        """The verdict, each rendering's origin (or why it is missing), then each divergence token by token."""
        out = [self.summary()]
        for r in self.renderings:
            state = f"{len(r.token_ids)} tokens" if r.available else f"not available: {r.unavailable}"
            if r.error:
                state = f"FAILED: {r.error}"
            out.append(f"  {r.source:9} {state}  ({r.origin})")
        for d in self.divergences:
            out.append(f"  {d.first} vs {d.second}: first difference at token {d.position}")
            for name, window in ((d.first, d.first_window), (d.second, d.second_window)):
                shown = " ".join(f"{t['position']}:{t['id']}={t['text']!r}" for t in window) or "(ends here)"
                out.append(f"    {name:9} {shown}")
        return out


# -- comparing ----------------------------------------------------------------------------------------------
def _window(rendering: Rendering, position: int) -> list[dict]:
    start, stop = max(0, position - WINDOW_BEFORE), min(len(rendering.token_ids), position + WINDOW_AFTER)
    return [
        {"position": i, "id": rendering.token_ids[i], "text": rendering.pieces[i] if i < len(rendering.pieces) else ""}
        for i in range(start, stop)
    ]


def divergence(first: Rendering, second: Rendering) -> Divergence | None:
    """Where `first` and `second` part (one being a prefix of the other counts), or None when equal."""
    if first.token_ids == second.token_ids:
        return None
    position = next(
        (i for i, (a, b) in enumerate(zip(first.token_ids, second.token_ids)) if a != b),
        min(len(first.token_ids), len(second.token_ids)),
    )
    return Divergence(
        first.source,
        second.source,
        position,
        len(first.token_ids),
        len(second.token_ids),
        _window(first, position),
        _window(second, position),
    )


def compare(model: str, renderings: Sequence[Rendering]) -> TemplateCheck:
    """Every pair of available renderings compared token by token."""
    available = [r for r in renderings if r.available]
    found = [d for a, b in itertools.combinations(available, 2) if (d := divergence(a, b)) is not None]
    return TemplateCheck(model, list(renderings), found)


# -- the three renderings -----------------------------------------------------------------------------------
class Vocab:
    """A GGUF's tokenizer through llama.cpp with `vocab_only=True` (no weights): what both servers tokenize with."""

    def __init__(self, gguf_path: Path):
        from llama_cpp import Llama

        from llmdeck.core.llama_backend import prepare_llama_cpp

        prepare_llama_cpp()
        try:
            with _stderr_silenced():  # llama.cpp warns that a vocab-only context exceeds n_ctx_train (0)
                self.llama = Llama(model_path=str(gguf_path), vocab_only=True, verbose=False, n_ctx=8)
        except (ValueError, RuntimeError) as exc:
            raise BadInput(f"{gguf_path}: llama.cpp could not read the vocabulary ({exc})") from None
        self.path = Path(gguf_path)

    def encode(self, text: str, add_special: bool) -> list[int]:
        """Special tokens written in the text are parsed as such; `add_special` adds BOS where the vocab asks."""
        return list(self.llama.tokenize(text.encode("utf-8"), add_bos=add_special, special=True))

    def piece(self, token_id: int) -> str:
        return self.llama.detokenize([token_id], special=True).decode("utf-8", errors="replace")

    def close(self) -> None:
        self.llama.close()


@contextmanager
def _stderr_silenced() -> Iterator[None]:
    """File descriptor 2 pointed at /dev/null for the block (llama.cpp's C code writes there directly)."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _tokens(source: str, origin: str, ids: Sequence[int], piece: Callable[[int], str]) -> Rendering:
    return Rendering(source, origin, tuple(int(i) for i in ids), tuple(piece(int(i)) for i in ids))


def training_rendering(tokenizer: Any, origin: str, conversation: Sequence[dict] = CONVERSATION) -> Rendering:
    """transformers' `apply_chat_template(..., add_generation_prompt=True, tokenize=True)` on `tokenizer`."""
    if not getattr(tokenizer, "chat_template", None):
        return Rendering("training", origin, unavailable="the training tokenizer has no chat template")
    try:
        result = tokenizer.apply_chat_template(list(conversation), add_generation_prompt=True, tokenize=True)
    except Exception as exc:  # a template's raise_exception or a Jinja error: the template is broken
        return Rendering("training", origin, error=f"{type(exc).__name__}: {exc}")
    ids = result["input_ids"] if hasattr(result, "keys") else result
    return _tokens("training", origin, ids, lambda i: tokenizer.decode([i]))


def gguf_rendering(vocab: Vocab, conversation: Sequence[dict] = CONVERSATION) -> Rendering:
    """The prompt llama-cpp-python's `create_chat_completion` builds from the GGUF's metadata, and its tokens."""
    from llama_cpp import llama_chat_format

    llama = vocab.llama
    template = llama.metadata.get("tokenizer.chat_template")
    origin = f"llama.cpp chat format {llama.chat_format!r} of {vocab.path.name}"
    if not template:
        return Rendering("gguf", origin, unavailable="the GGUF has no tokenizer.chat_template")
    builtin = {
        "chatml": "format_chatml",
        "llama-3": "format_llama3",
        "mistral-instruct": "format_mistral_instruct",
    }
    if llama.chat_format == "chat_template.default":
        eos, bos = llama.token_eos(), llama.token_bos()
        formatter: Any = llama_chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )
    elif llama.chat_format in builtin:  # the template is one llama-cpp-python knows: it uses its own format
        formatter = getattr(llama_chat_format, builtin[llama.chat_format])
    else:
        return Rendering("gguf", origin, unavailable=f"llama.cpp chat format {llama.chat_format!r} is not checked")
    try:
        result = formatter(messages=list(conversation))
    except Exception as exc:
        return Rendering("gguf", origin, error=f"{type(exc).__name__}: {exc}")
    ids = vocab.encode(result.prompt, add_special=not result.added_special)
    return _tokens("gguf", origin, ids, vocab.piece)


def modelfile_rendering(
    template: str,
    origin: str,
    encode: Callable[[str], list[int]],
    piece: Callable[[int], str],
    conversation: Sequence[dict] = CONVERSATION,
) -> Rendering:
    """The Go TEMPLATE filled as Ollama fills it for a chat request, then `encode`d (Ollama: BOS per the vocab)."""
    from llmdeck.core.go_template import GoTemplateError, GoTemplateUnsupported, parse

    try:
        text = parse(template).render_chat(conversation)
    except GoTemplateUnsupported as exc:
        return Rendering("modelfile", origin, unavailable=str(exc))
    except GoTemplateError as exc:
        return Rendering("modelfile", origin, error=str(exc))
    return _tokens("modelfile", origin, encode(text), piece)


# -- what a store model is checked against ------------------------------------------------------------------
def training_tokenizer(entry: Any, tokenizer_dir: str | Path | None = None) -> tuple[Any, str]:
    """(transformers tokenizer, where it came from) for a store model: `tokenizer_dir` when given, else the saved
    tokenizer of the run it was exported from, else the GGUF's own as training on it as a base loads it
    (`tuning.models.load_tokenizer`). LlmdeckError when it cannot be loaded."""
    from llmdeck.tuning.merge import TOKENIZER_FILES
    from llmdeck.tuning.models import ModelSource, load_tokenizer

    folder: Path | None = None
    if tokenizer_dir:
        folder = Path(tokenizer_dir).expanduser()
        if not folder.is_dir() or not any((folder / name).exists() for name in TOKENIZER_FILES):
            raise BadInput(
                f"--tokenizer {tokenizer_dir}: not a directory holding a tokenizer ({', '.join(TOKENIZER_FILES)})"
            )
        origin = f"transformers tokenizer {folder}"
    elif entry.run_id and (folder := _run_adapter_dir(entry.run_id)) is not None:
        origin = f"transformers tokenizer of run {entry.run_id} ({folder})"
    if folder is not None:
        saved = folder
        return _load_tokenizer(lambda auto: auto.from_pretrained(str(saved)), origin), origin
    path = Path(entry.path)
    base = ModelSource("gguf", str(path.parent), gguf_file=path.name, display=path.name)
    return load_tokenizer(base), f"transformers tokenizer read from {path.name} (as training on it as a base does)"


def _run_adapter_dir(run_id: str) -> Path | None:
    from llmdeck.core.errors import NotFound
    from llmdeck.tuning.merge import TOKENIZER_FILES
    from llmdeck.tuning.registry import Registry

    try:
        run = Registry().get(run_id)
    except NotFound:
        return None
    adapter = run.path / "adapter"
    return adapter if any((adapter / name).exists() for name in TOKENIZER_FILES) else None


def _load_tokenizer(load: Callable[[Any], Any], origin: str) -> Any:
    from transformers import AutoTokenizer

    try:
        return load(AutoTokenizer)
    except Exception as exc:
        raise LlmdeckError(f"{origin}: could not load ({type(exc).__name__}: {exc})") from None


def ollama_template_for(gguf_path: Path, model: str) -> tuple[str | None, str]:
    """(the TEMPLATE `models modelfile` writes for this GGUF, origin), or (None, why there is none)."""
    from llmdeck.core.gguf_meta import read_gguf_info
    from llmdeck.core.interop import ollama_template, template_family

    chat_template = read_gguf_info(gguf_path).chat_template
    try:
        family = template_family(chat_template, model)
    except BadInput as exc:
        return None, str(exc)
    return ollama_template(
        family, chat_template or ""
    ), f"Ollama TEMPLATE ({family.name}) that `models modelfile` writes"


def check_gguf(
    gguf_path: Path,
    model: str,
    tokenizer: Any | None,
    tokenizer_origin: str,
    modelfile_template: str | None = None,
    modelfile_origin: str = "Modelfile",
    conversation: Sequence[dict] = CONVERSATION,
) -> TemplateCheck:
    """The three renderings of `conversation` for one GGUF, compared. `tokenizer` None: `tokenizer_origin` says
    why the training rendering is missing. `modelfile_template` (a Modelfile's TEMPLATE) overrides the one
    `models modelfile` would write."""
    vocab = Vocab(gguf_path)
    try:
        training = (
            training_rendering(tokenizer, tokenizer_origin, conversation)
            if tokenizer is not None
            else Rendering("training", "transformers", unavailable=tokenizer_origin)
        )
        gguf = gguf_rendering(vocab, conversation)
        if modelfile_template is not None:
            template: str | None = modelfile_template
            origin = f"TEMPLATE of {modelfile_origin}"
        else:
            template, origin = ollama_template_for(gguf_path, model)
        modelfile = (
            modelfile_rendering(
                template, origin, lambda text: vocab.encode(text, add_special=True), vocab.piece, conversation
            )
            if template is not None
            else Rendering("modelfile", "Ollama TEMPLATE", unavailable=origin)
        )
    finally:
        vocab.close()
    return compare(model, [training, gguf, modelfile])


def check_model(
    name: str, tokenizer_dir: str | Path | None = None, modelfile: str | Path | None = None
) -> TemplateCheck:
    """`llmdeck models check NAME`: a store model's three renderings compared (see the module doc)."""
    from llmdeck.core.go_template import modelfile_template
    from llmdeck.core.store import ModelStore
    from llmdeck.core.textfiles import check_regular_file

    entry = ModelStore().resolve(name, pull=False)
    template = None
    if modelfile is not None:
        modelfile_path = Path(modelfile).expanduser()
        if not modelfile_path.exists():
            raise BadInput(f"--modelfile {modelfile}: no such file")
        check_regular_file(modelfile_path, "Modelfile")
        try:
            modelfile_text = modelfile_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"--modelfile {modelfile}: cannot read it as UTF-8 text ({exc})") from None
        template = modelfile_template(modelfile_text, f"--modelfile {modelfile}")  # before anything loads
    try:
        tokenizer, origin = training_tokenizer(entry, tokenizer_dir)
    except BadInput:
        raise
    except LlmdeckError as exc:
        tokenizer, origin = None, str(exc)
    return check_gguf(Path(entry.path), entry.name, tokenizer, origin, template, str(modelfile or "Modelfile"))


def check_exported(gguf_path: Path, model: str, tokenizer_dir: Path) -> dict:
    """The end of an export: the new GGUF against the run's saved tokenizer, as a report field. Never raises (the
    quants are registered by now): what stops the check is its `summary`, with `consistent` None."""
    from llmdeck.tuning.merge import TOKENIZER_FILES

    origin = f"transformers tokenizer {tokenizer_dir}"
    tokenizer = None
    try:
        if not any((Path(tokenizer_dir) / name).exists() for name in TOKENIZER_FILES):
            origin = f"{tokenizer_dir} holds no tokenizer ({', '.join(TOKENIZER_FILES)})"
        else:
            tokenizer = _load_tokenizer(lambda auto: auto.from_pretrained(str(tokenizer_dir)), origin)
    except LlmdeckError as exc:
        origin = str(exc)
    try:
        check = check_gguf(Path(gguf_path), model, tokenizer, origin)
    except Exception as exc:  # the quants are registered: a check that cannot run is reported, not raised
        summary = f"template check: not checked ({type(exc).__name__}: {exc})"
        return {
            "model": model,
            "consistent": None,
            "summary": summary,
            "available": [],
            "renderings": [],
            "divergences": [],
        }
    return check.to_dict()
