"""Downloading GGUF files into the store: from the Hugging Face hub (huggingface_hub, resumable, with progress)
or from any http(s) URL (resumable through Range requests). Every failure is one line.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from llmdeck.core.errors import BadInput, LlmdeckError, OfflineError


def _failure(what: str, exc: Exception) -> LlmdeckError:
    """A library exception as one line: unreachable -> OfflineError, missing -> BadInput, else LlmdeckError."""
    import httpx
    from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError, RepositoryNotFoundError

    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, (RepositoryNotFoundError, EntryNotFoundError)):
        return BadInput(f"{what}: not found on the hub ({reason})")
    if isinstance(exc, (httpx.ConnectError, httpx.TimeoutException, LocalEntryNotFoundError, OSError)):
        return OfflineError(f"{what}: cannot download ({type(exc).__name__}: {reason}); offline, use a local .gguf")
    return LlmdeckError(f"{what}: download failed ({type(exc).__name__}: {reason})")


def _quiet_retries() -> None:
    """huggingface_hub retries dropped transfers itself (resuming with Range): keep its retry warnings off stderr."""
    from huggingface_hub.utils import logging

    logging.set_verbosity_error()


def _progress_bar():
    """A tqdm class for the download bar on stderr. `llmdeck` turns huggingface_hub's own bars off
    (`core.quiet`), and a class of our own is shown regardless of that; like the hub's, it hides itself when
    stderr is not a terminal unless TQDM_POSITION=-1 asks for bars anyway."""
    from tqdm import tqdm

    forced = os.environ.get("TQDM_POSITION") == "-1"

    class DownloadBar(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.setdefault("disable", False if forced else None)
            kwargs.setdefault("file", sys.stderr)
            super().__init__(*args, **kwargs)

    return DownloadBar


def pick_gguf(repo_id: str, endpoint: str) -> str:
    """The repo's one .gguf file; BadInput listing them when there are several (pick with owner/repo:FILE)."""
    from huggingface_hub import HfApi

    try:
        files = [f for f in HfApi(endpoint=endpoint).list_repo_files(repo_id) if f.endswith(".gguf")]
    except Exception as exc:
        raise _failure(repo_id, exc) from None
    if not files:
        raise BadInput(f"{repo_id}: the repository has no .gguf file")
    if len(files) > 1:
        shown = ", ".join(sorted(files)[:8]) + (" ..." if len(files) > 8 else "")
        raise BadInput(f"{repo_id} has {len(files)} GGUF files; pick one as {repo_id}:FILE ({shown})")
    return files[0]


def download_hub_file(repo_id: str, filename: str, revision: str | None, folder: Path, endpoint: str) -> Path:
    """hf_hub_download into `folder` (an interrupted download resumes from its `.incomplete` part)."""
    from huggingface_hub import hf_hub_download

    _quiet_retries()
    try:
        return Path(
            hf_hub_download(
                repo_id, filename, revision=revision, local_dir=folder, endpoint=endpoint, tqdm_class=_progress_bar()
            )
        ).resolve()
    except Exception as exc:
        raise _failure(f"{repo_id}:{filename}", exc) from None


def download_url(url: str, target: Path) -> Path:
    """GET `url` into `target` through `target.part` (resumed with a Range request when present), then rename."""
    from huggingface_hub.file_download import http_get

    if not target.name.endswith(".gguf"):
        raise BadInput(f"{url}: expected the URL of a .gguf file")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    _quiet_retries()
    try:
        with partial.open("ab") as handle:
            http_get(
                url,
                handle,
                resume_size=handle.tell(),
                displayed_filename=target.name,
                _nb_retries=2,
                tqdm_class=_progress_bar(),
            )
    except Exception as exc:
        raise _failure(url, exc) from None
    partial.replace(target)
    return target
