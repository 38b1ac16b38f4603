"""Test doubles shipped with llmdeck, not product code: a scripted fake llama.cpp model and a local
Pinecone API emulator. Used by llmdeck's own tests and by users scripting theirs; nothing in the
product imports this package."""
