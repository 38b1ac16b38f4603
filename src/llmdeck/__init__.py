"""llmdeck: a terminal workbench for local LLMs (fine-tune, manage GGUF models, chat with RAG and agents).

Its subpackages are the repository's top-level folders: src/llmdeck/core links to core/, and so on."""
