"""The widgets the screens are made of, one per file: each keeps its own state and posts typed messages to
its screen."""
