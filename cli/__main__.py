"""`python -m llmdeck.cli` and the `llmdeck` console script. Bare `llmdeck` opens the app without loading
the headless commands (the first frame comes ~150 ms sooner); anything else is the CLI in cli/main.py."""

from __future__ import annotations

import sys


def main() -> None:
    if len(sys.argv) == 1:
        from llmdeck.cli.tui import run_app
        from llmdeck.core.quiet import quiet_libraries

        quiet_libraries()
        run_app()
        return
    from llmdeck.cli.main import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
