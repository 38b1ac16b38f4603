"""RAG fixtures: a small corpus on distinct topics (one file per format), questions with their expected source."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CORPUS = {
    "volcanoes.md": (
        "# Volcanoes\n\nA volcano is a rupture in the crust of a planet.\n\n"
        "## Vesuvius\n\nMount Vesuvius erupted in 79 AD and buried the Roman city of Pompeii under ash and pumice.\n\n"
        "## Lava\n\nBasaltic lava is runny and flows far; rhyolitic lava is viscous and explosive.\n"
    ),
    "coffee.txt": (
        "Brewing coffee\n\nAn espresso machine forces hot water through finely ground coffee "
        "at about 9 bar of pressure. A pour-over uses gravity and a paper filter. "
        "Cold brew steeps coarse grounds in cold water for 12 to 24 hours.\n"
    ),
    "penguins.html": (
        "<html><head><title>Penguins</title></head><body><h1>Penguins</h1>"
        "<p>Emperor penguins breed during the Antarctic winter. The male incubates the single egg on his feet "
        "for about two months while the female hunts at sea.</p>"
        "<h2>Diet</h2><p>Penguins eat krill, squid and fish caught while diving.</p></body></html>"
    ),
    "sourdough.rst": (
        "Sourdough\n=========\n\nA sourdough starter is a culture of wild yeast and lactic acid bacteria. "
        "Feed the starter flour and water daily; bake when it doubles in size after feeding.\n"
    ),
    "lru_cache.py": (
        '"""A small least-recently-used cache."""\n\n\nclass LRUCache:\n'
        '    """Evicts the least recently used key when the capacity is exceeded."""\n\n'
        "    def __init__(self, capacity):\n        self.capacity = capacity\n        self.items = {}\n\n"
        "    def get(self, key):\n        value = self.items.pop(key)\n"
        "        self.items[key] = value\n        return value\n"
    ),
    "satellites.json": (
        '{"satellites": [{"name": "Hubble Space Telescope", "orbit": "low Earth orbit", "launched": 1990,'
        ' "purpose": "optical astronomy above the atmosphere"}]}\n'
    ),
}

PDF_TEXT = "The lighthouse on Skerry Point was automated in 1998 and its keepers left the island."
CORPUS_FILES = [*CORPUS, "lighthouse.pdf"]

QUESTIONS = [
    ("When was the Skerry Point lighthouse automated?", "lighthouse.pdf"),
    ("Which city was buried when Vesuvius erupted?", "volcanoes.md"),
    ("How much pressure does an espresso machine use?", "coffee.txt"),
    ("Who incubates the emperor penguin egg?", "penguins.html"),
    ("How often should I feed a sourdough starter?", "sourdough.rst"),
    ("Which cache entry gets evicted when capacity is exceeded?", "lru_cache.py"),
    ("When was the Hubble Space Telescope launched?", "satellites.json"),
]


def minimal_pdf(text: str) -> bytes:
    """A one-page PDF with one line of Helvetica text (hand-written objects, correct xref offsets)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def write_corpus(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in CORPUS.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "lighthouse.pdf").write_bytes(minimal_pdf(PDF_TEXT))
    (root / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))  # unsupported type
    (root / "dump.txt").write_bytes(b"text\x00\x01\x02binary")  # binary content
    return root


@pytest.fixture
def corpus(tmp_path) -> Path:
    return write_corpus(tmp_path / "corpus")


@pytest.fixture(scope="session")
def embeddings():
    """One loaded embedding model for the whole run (the process-wide cache keeps it)."""
    from llmdeck.rag.embeddings import load_embeddings

    return load_embeddings()


def source_name(hit) -> str:
    return Path(hit.metadata["source"]).name


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """A real `chroma run` server on loopback for the session."""
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    chroma = Path(sys.executable).with_name("chroma")
    if not chroma.exists():
        chroma = shutil.which("chroma")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    data = tmp_path_factory.mktemp("chroma-server")
    log = (data / "server.log").open("w")
    process = subprocess.Popen(
        [str(chroma), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(data / "db")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1)
            break
        except OSError:
            if process.poll() is not None or time.time() > deadline:
                process.kill()
                raise RuntimeError(
                    f"chroma server did not start: {(data / 'server.log').read_text()[-2000:]}"
                ) from None
            time.sleep(0.3)
    yield url
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture
def pinecone_emulator(monkeypatch):
    from llmdeck.testing.pinecone_emulator import PineconeEmulator

    emulator = PineconeEmulator().start()
    monkeypatch.setenv("PINECONE_API_KEY", "test-key")
    yield emulator
    emulator.stop()
