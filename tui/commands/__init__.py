"""CLI subcommand groups, one module each, mirroring the TUI's screens.

Each module defines click commands and imports only light modules at top level: heavy
libraries are imported inside the functions they call, so `llmdeck --help` stays fast.
To add a group: write `tui/commands/NAME.py` exposing `command`, then add NAME to COMMAND_MODULES.
"""

COMMAND_MODULES = ["models", "chat", "serve", "tui_cmd", "train", "runs", "data", "rag", "sessions"]
