"""The headless CLI `llmdeck`, one module per command group (each exposing `command`), registered by
static imports in `main.py`. Modules import only light code at top level: heavy libraries are imported
inside the functions that call them, so `llmdeck --help` stays fast."""
