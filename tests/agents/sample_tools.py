"""Custom tools for the tests, exposed as an entry point (`tests.agents.sample_tools:shout`)."""

from langchain_core.tools import tool


@tool
def shout(text: str) -> str:
    """Repeat the text in capital letters."""
    return text.upper()
