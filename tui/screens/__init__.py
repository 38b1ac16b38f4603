"""The app's screens, one per file: the five mode screens (chat, models, train, agents, verify), the screens
pushed over them (loop, the dialogs) and the bases they share."""
