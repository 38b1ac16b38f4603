"""`python -m llmdeck.cli` and the `llmdeck` console script. Bare `llmdeck` opens the app without loading
the headless commands or click (the first frame comes ~200 ms sooner); anything else is the CLI in cli/main.py."""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) == 1:
        import gc

        gc.disable()  # until the first frame is painted: llmdeck.tui.app.resume_gc
        from llmdeck.core.quiet import quiet_libraries
        from llmdeck.tui.app import LlmdeckApp  # named in the import contracts, like cli/tui.py's

        quiet_libraries()
        LlmdeckApp().run()
        return
    from llmdeck.cli.main import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
