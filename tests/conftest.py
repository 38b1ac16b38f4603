"""Shared fixtures: every test gets its own LLMDECK_HOME, and no test may reach the network."""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# set before any hub-aware library is imported by a test: offline means offline
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # chroma
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# PYTHONDONTWRITEBYTECODE keeps __pycache__ out of the tree; keep the bytecode out of the tree instead, under the temp
# dir: recompiling llmdeck and the tests from source cost every xdist worker ~5 s of CPU at collection (10.3 s -> 5.0 s)
# and every `llmdeck` subprocess (CLI, training worker) its compile time again
if os.environ.get("PYTHONDONTWRITEBYTECODE") and not sys.pycache_prefix:
    sys.pycache_prefix = os.environ["PYTHONPYCACHEPREFIX"] = str(
        Path(tempfile.gettempdir()) / f"llmdeck-pyc-{os.getuid()}"
    )
    sys.dont_write_bytecode = False
    del os.environ["PYTHONDONTWRITEBYTECODE"]


class NetworkBlocked(RuntimeError):
    pass


_real_connect = socket.socket.connect


def _guarded_connect(self, address):
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and self.family in (socket.AF_INET, socket.AF_INET6):
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            raise NetworkBlocked(f"test tried to reach the network: {address!r}")
    return _real_connect(self, address)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """A test that would download fails loudly instead (loopback stays open for local servers)."""
    monkeypatch.setattr(socket.socket, "connect", _guarded_connect)


@pytest.fixture(autouse=True)
def llmdeck_home(tmp_path, monkeypatch) -> Path:
    """A fresh LLMDECK_HOME for each test, and a fresh model cache."""
    home = tmp_path / "llmdeck-home"
    monkeypatch.setenv("LLMDECK_HOME", str(home))
    yield home
    import llmdeck.core.runtime as runtime

    if runtime._cache is not None:
        runtime._cache.close_all()


@pytest.fixture
def fake_model():
    """Every model the runtime loads is a scripted `FakeLlama` (enqueue replies on it); the store still resolves."""
    from llmdeck.testing.fake_model import FakeLlama, use_fake_model

    with use_fake_model(FakeLlama(n_ctx=2048)) as fake:
        yield fake


def run_cli(
    *args: str, input: str | None = None, env: dict | None = None, timeout: float = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """Run the real `llmdeck` entry point in a subprocess (LLMDECK_HOME from the test env), outside the repo."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "llmdeck.cli", *args],
        cwd=cwd or Path(os.environ["LLMDECK_HOME"]).parent,
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


# -- GGUF fixtures shared by store, runtime and CLI tests -----------------------------------
@pytest.fixture(scope="session")
def embedded_gguf() -> Path:
    from llmdeck.core.embedded import embedded_chat_model_path

    return embedded_chat_model_path()


@pytest.fixture
def truncated_gguf(tmp_path, embedded_gguf) -> Path:
    """The embedded model cut short by one byte: header intact, tensor data incomplete."""
    path = tmp_path / "truncated.gguf"
    with embedded_gguf.open("rb") as src, path.open("wb") as dst:
        dst.write(src.read(embedded_gguf.stat().st_size - 1))
    return path


@pytest.fixture
def copied_gguf(tmp_path, embedded_gguf) -> Path:
    path = tmp_path / "My Model.Q4_1.gguf"
    shutil.copyfile(embedded_gguf, path)
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random-init Llama with SmolLM2's real tokenizer, built once per session for the tuning and app tests
    (defined in each package's conftest, it was built twice in a session that runs both)."""
    from tests.tuning.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


TMPFS = Path("/dev/shm")


def pytest_configure(config):
    """The fast tier keeps its temp dirs on tmpfs when there is room: each test's fresh LLMDECK_HOME applies the
    SQLite migrations, a commit (an fsync on disk) each, ~0.1 s a test on disk and more on a busy one. The slow tier
    stays on disk (its checkpoints and exports are large); a PYTEST_DEBUG_TEMPROOT given by hand wins."""
    if config.option.markexpr.replace(" ", "") != "notslow" or "PYTEST_DEBUG_TEMPROOT" in os.environ:
        return
    try:
        stats = os.statvfs(TMPFS)
    except OSError:
        return
    if os.access(TMPFS, os.W_OK) and stats.f_bavail * stats.f_frsize >= 2 << 30:
        os.environ["PYTEST_DEBUG_TEMPROOT"] = str(TMPFS)


def pytest_collection_modifyitems(config, items):
    """`gpu` tests are skipped at collection when there is no NVIDIA device, before their fixtures build
    anything (a session fixture building a tiny model cost the fast tier ~17 s for a test it then skipped)."""
    if Path("/dev/nvidia0").exists() or shutil.which("nvidia-smi"):
        return
    no_gpu = pytest.mark.skip(reason="needs CUDA (no NVIDIA device)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(no_gpu)
