"""Front ends: the Textual app and the headless CLI `llmdeck`. Nothing imports `tui`."""
