"""Shared foundation: settings, paths, state database, GGUF model store, llama.cpp runtime.

`core` imports nothing else of llmdeck's; everything else imports it.
"""
