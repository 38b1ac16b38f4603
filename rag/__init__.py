"""Retrieval-augmented chat: ingest documents into a vector store, query them, chat with citations.

Plain functions used by both the CLI (`llmdeck rag ...`, `llmdeck chat --rag`) and the TUI.
Heavy libraries (langchain, chromadb, sentence-transformers, pinecone) are imported inside functions.
"""
