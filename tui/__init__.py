"""The Textual app, llmdeck's terminal workbench (bare `llmdeck`, or `llmdeck tui`): `app.py` holds the App, its
global keys and the registry of mode screens; `screens/` one screen per file, each with its own stylesheet;
`widgets/` the widgets the screens are made of. Only the CLI imports it (to open the app), and nothing outside
it imports Textual."""
