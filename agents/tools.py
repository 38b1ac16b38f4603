"""Agent tools by name: the built-ins below, plus custom LangChain `@tool` functions from Python files
(`--tools-file`, and every `$LLMDECK_HOME/tools/*.py`) or the `llmdeck.tools` entry-point group.

A custom tool that fails to load is a warning (`ToolCatalog.warnings`), never a crash; a name that
exists nowhere is refused with the list of known names. Custom tools run in-process (they are the user's
code); LLM-written code runs only in the sandbox (`python` tool).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import importlib.util
import re
import sys
import types
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from llmdeck.agents.calculator import ARITHMETIC_PATTERN
from llmdeck.agents.sandbox import SandboxLimits
from llmdeck.core import paths
from llmdeck.core.errors import BadInput
from llmdeck.core.validate import file_kind

ENTRY_POINT_GROUP = "llmdeck.tools"
DEFAULT_TOOLS = ("calculator", "files", "datetime", "python")  # + rag_search when a collection is given
MAX_OBSERVATION_CHARS = 1500
HTTP_MAX_BYTES = 64 * 1024
# Argument patterns (JSON-schema `pattern`, in the tool's schema only): the decoder's grammar enforces them, and
# ArgumentCheck refuses a call that breaks one (a free-text step, a custom caller) in one line. They are not
# pydantic constraints, so a tool invoked directly still reports its own error.
URL_PATTERN = r"^https?://[-A-Za-z0-9._~:/?#@!$&'()*+,;=%]+$"
MAX_PATH_CHOICES = 64  # a workspace with more entries gets no path pattern
SAFE_PATH_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_. -]*$")  # names a pattern spells as they are


@dataclass(frozen=True)
class ArgumentPattern:
    """A JSON-schema `pattern` on a string argument, in the schema only (see URL_PATTERN's comment); written as
    an annotation so it survives LangChain's copy of the argument model (`Field(json_schema_extra=...)` does not)."""

    pattern: str

    def __get_pydantic_json_schema__(self, core_schema, handler):
        schema = handler(core_schema)
        schema["pattern"] = self.pattern
        return schema


class CalculatorInput(BaseModel):
    expression: Annotated[str, ArgumentPattern(ARITHMETIC_PATTERN)] = Field(  # the grammar writes only arithmetic
        description="arithmetic to evaluate, e.g. 12 * (3 + 4)", min_length=1, max_length=200
    )


class FilesInput(BaseModel):
    operation: Literal["list", "read", "grep"] = Field(description="list a directory, read a file, or grep for text")
    path: str = Field(".", description="path inside the workspace", max_length=200)
    pattern: str = Field("", description="text to look for (grep only)", max_length=100)


class RagSearchInput(BaseModel):
    query: str = Field(description="what to look up in the documents", min_length=1, max_length=200)


class PythonInput(BaseModel):
    code: str = Field(description="a Python program; print the result", min_length=1, max_length=2000)


class DatetimeInput(BaseModel):
    pass


class HttpGetInput(BaseModel):
    url: Annotated[str, ArgumentPattern(URL_PATTERN)] = Field(
        description="an http:// or https:// address", min_length=8, max_length=300
    )


@dataclass
class ToolSettings:
    """What the built-in tools work on."""

    workspace: Path | None = None  # the `files` tool's directory (default: the current directory)
    collection: str | None = None  # the `rag_search` tool's collection
    sandbox: SandboxLimits = field(default_factory=SandboxLimits)  # the `python` tool's limits
    isolation: str = "auto"  # the `python` tool's sandbox tier
    http_timeout_s: float = 10.0


@dataclass
class ToolInfo:
    """One tool as `llmdeck tools list` shows it."""

    name: str
    description: str
    source: str  # "builtin", a file path, or "entry point NAME"
    default: bool  # enabled when --tools is not given
    parameters: dict  # JSON schema of the arguments
    status: str = "ok"  # loaded and offered (the MCP servers' own status: ToolCatalog.servers)

    def to_dict(self) -> dict:
        return asdict(self)


def clip(text: str, limit: int = MAX_OBSERVATION_CHARS) -> str:
    text = text if text.strip() else "(no output)"
    return text if len(text) <= limit else text[:limit] + f"\n... ({len(text) - limit} more characters)"


# -- the built-ins: each factory returns the tool's function, bound to the settings ---------------
def _calculator(settings: ToolSettings):
    from llmdeck.agents.calculator import calculate

    def calculator(expression: str) -> str:
        return calculate(expression)

    return calculator


def _files(settings: ToolSettings):
    from llmdeck.agents.workspace import Workspace

    workspace = Workspace(settings.workspace or Path.cwd())

    def files(operation: str, path: str = ".", pattern: str = "") -> str:
        if operation == "list":
            return clip(workspace.list(path))
        if operation == "read":
            return clip(workspace.read(path))
        return clip(workspace.grep(pattern, path))

    return files


def _rag_search(settings: ToolSettings):
    from llmdeck.rag import query as retrieval

    collection = settings.collection
    if not collection:
        raise BadInput("the rag_search tool needs a collection (--collection NAME)")
    retrieval.open_collection(collection)  # an unknown collection is refused before the run starts

    def rag_search(query: str) -> str:
        hits = retrieval.query(collection, query, k=3)
        if not hits:
            return "no matching passage"
        return clip(
            "\n".join(
                f"[{n}] {hit.metadata.get('source', '?')}: {' '.join(hit.text.split())[:400]}"
                for n, hit in enumerate(hits, start=1)
            )
        )

    return rag_search


def _python(settings: ToolSettings):
    from llmdeck.agents.sandbox import run_python

    def python(code: str) -> str:
        result = run_python(code, limits=settings.sandbox, isolation=settings.isolation)
        parts = [result.summary()]
        if result.stdout:
            parts.append(result.stdout.rstrip())
        if result.stderr:
            parts.append("stderr: " + result.stderr.rstrip()[-600:])
        return clip("\n".join(parts))

    return python


def _datetime(settings: ToolSettings):
    def datetime() -> str:
        now = dt.datetime.now().astimezone()
        return f"{now.isoformat(timespec='seconds')} ({now.strftime('%A')})"

    return datetime


def _http_get(settings: ToolSettings):
    def http_get(url: str) -> str:
        return clip(fetch_text(url, settings.http_timeout_s))

    return http_get


ToolFactory = Callable[[ToolSettings], Callable[..., str]]  # settings -> the tool's function
BUILTINS: dict[str, tuple[ToolFactory, str, type[BaseModel]]] = {  # name -> (factory, description, argument schema)
    "calculator": (_calculator, "Evaluate arithmetic: + - * / ** % and sqrt, round, min, max, log.", CalculatorInput),
    "files": (_files, "List a directory, read a file, or grep for text in the workspace's files.", FilesInput),
    "rag_search": (_rag_search, "Search the document collection for passages about a question.", RagSearchInput),
    "python": (
        _python,
        "Run a Python program in a sandbox (no network, no files outside); print results.",
        PythonInput,
    ),
    "datetime": (_datetime, "The current local date and time.", DatetimeInput),
    "http_get": (_http_get, "Fetch a web page over HTTP(S) and return its text (off unless enabled).", HttpGetInput),
}


def fetch_text(url: str, timeout_s: float) -> str:
    """GET `url` (http/https only, 64 KiB at most); HTML comes back as its visible text."""
    import urllib.request

    if not re.match(r"^https?://", url, re.IGNORECASE):
        raise ValueError(f"{url!r}: only http:// and https:// addresses")
    request = urllib.request.Request(url, headers={"User-Agent": "llmdeck-agent"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        body = response.read(HTTP_MAX_BYTES)
        charset = response.headers.get_content_charset() or "utf-8"
        kind = response.headers.get_content_type()
    text = body.decode(charset, errors="replace")
    if "html" in kind:
        text = re.sub(r"(?is)<(script|style)\b.*?</\1>", " ", text)
        text = html.unescape(re.sub(r"(?s)<[^>]+>", " ", text))
    return re.sub(r"\s+", " ", text).strip()


def _builtin_tool(name: str, settings: ToolSettings):
    from langchain_core.tools import StructuredTool

    factory, description, schema = BUILTINS[name]
    if name == "files":
        schema = files_input(settings.workspace or Path.cwd())
    return StructuredTool.from_function(factory(settings), name=name, description=description, args_schema=schema)


def workspace_paths(root: Path, limit: int = MAX_PATH_CHOICES) -> list[str] | None:
    """The workspace's relative paths: "." and every file and folder in it (hidden ones left out); None when
    there are more than `limit`, a name a pattern would not spell plainly, or a folder cannot be listed. Nothing
    is opened or followed (links and FIFOs are listed by name)."""
    import os

    found = ["."]
    folders = [(root, "")]
    try:
        while folders:
            folder, prefix = folders.pop(0)
            with os.scandir(folder) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if not SAFE_PATH_NAME.match(entry.name) or len(found) >= limit:
                        return None
                    found.append(prefix + entry.name)
                    if entry.is_dir(follow_symlinks=False):
                        folders.append((Path(entry.path), prefix + entry.name + "/"))
    except OSError:
        return None
    return sorted(found)


def paths_pattern(paths: list[str]) -> str:
    """A pattern admitting exactly `paths` (each a SAFE_PATH_NAME chain: only '.' needs spelling as a class)."""
    return "^(" + "|".join(path.replace(".", "[.]") for path in paths) + ")$"


def files_input(root: Path) -> type[BaseModel]:
    """The files tool's arguments with `path` limited to what the workspace holds (when it is small enough to
    list), so a model cannot ask for a file that is not there."""
    from pydantic import create_model

    paths = workspace_paths(root)
    if paths is None:
        return FilesInput
    path = Annotated[
        str, ArgumentPattern(paths_pattern(paths)), Field(description="path inside the workspace", max_length=200)
    ]
    return create_model("FilesInput", __base__=FilesInput, path=(path, "."))


# -- custom tools -------------------------------------------------------------------------------
def user_tools_dir() -> Path:
    """`$LLMDECK_HOME/tools`: every *.py there is loaded like a --tools-file."""
    return paths.home() / "tools"


class ToolCatalog:
    """Every tool available here: built-ins, tool files, entry points."""

    def __init__(
        self,
        tool_files: tuple[str | Path, ...] = (),
        settings: ToolSettings | None = None,
        mcp_servers: dict | None = None,  # name -> core.settings.McpServer; None: config.toml's
    ):
        self.settings = settings or ToolSettings()
        self.warnings: list[str] = []
        self.custom: dict[str, tuple[Any, str]] = {}  # name -> (BaseTool, source)
        self.mcp_defaults: list[str] = []  # the MCP servers' tools: on by default, like the built-ins
        self.servers: list = []  # agents.mcp_client.ServerListing, one per configured server
        named = [Path(f).expanduser() for f in tool_files]
        for file in named:
            _check_tools_file(file)
        directory = user_tools_dir()
        found = sorted(directory.glob("*.py")) if directory.is_dir() else []
        for file in [*named, *found]:
            self._add_from(self._load_file(file, named=file in named), str(file))
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            self._add_from(self._load_entry_point(entry_point), f"entry point {entry_point.name}")
        self._add_mcp(mcp_servers)

    def _add_mcp(self, mcp_servers: dict | None) -> None:
        """Every configured MCP server's tools (see agents.mcp_client); a server that fails is one warning."""
        if mcp_servers is None:
            from llmdeck.core.settings import load_settings

            mcp_servers = load_settings().mcp_servers
        if not mcp_servers:
            return
        from llmdeck.agents.mcp_client import langchain_tool, list_servers

        for listing in list_servers(mcp_servers):
            name, server = listing.name, mcp_servers[listing.name]
            self.servers.append(listing)
            if listing.problem:
                self.warnings.append(f"mcp server {name}: {listing.problem}; its tools are left out")
            before = set(self.custom)
            tools = []
            for tool in listing.tools:
                offered = tool.name
                if offered in BUILTINS or offered == "final_answer" or offered in self.custom:
                    offered = f"{name}_{tool.name}"  # an MCP tool whose name is taken gets its server's prefix
                    self.warnings.append(f"mcp:{name}: tool '{tool.name}' is offered as '{offered}' (name taken)")
                tools.append(langchain_tool(tool, server, offered))
            self._add_from(tools, f"mcp:{name}")
            self.mcp_defaults += [n for n in self.custom if n not in before]

    def _load_file(self, file: Path, named: bool = False) -> list:
        """The tools a file defines; a file that fails to import is a warning, one that exits while it is
        imported (`sys.exit`) is BadInput when named by --tools-file (a warning when found in the tools folder)."""
        module_name = f"llmdeck_user_tools_{hashlib.sha1(str(file.resolve()).encode()).hexdigest()[:12]}"
        try:
            spec = importlib.util.spec_from_file_location(module_name, file)
            if spec is None or spec.loader is None:
                raise ImportError("not a Python source file")
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module
            spec.loader.exec_module(module)
        except SystemExit as exc:  # not a tools file: it ends the process when imported
            sys.modules.pop(module_name, None)
            problem = f"{file}: exited while being imported (sys.exit({exc.code!r})); a tools file only defines tools"
            if named:
                raise BadInput(f"--tools-file {problem}") from None
            self.warnings.append(problem)
            return []
        except Exception as exc:  # a broken plugin is a warning
            sys.modules.pop(module_name, None)
            self.warnings.append(f"{file}: could not load ({type(exc).__name__}: {exc})")
            return []
        found = _tools_in(vars(module).values())
        if not found:
            self.warnings.append(f"{file}: no LangChain tools found (decorate functions with @tool)")
        return found

    def _load_entry_point(self, entry_point) -> list:
        try:
            loaded = entry_point.load()
        except Exception as exc:
            self.warnings.append(f"entry point {entry_point.name}: could not load ({type(exc).__name__}: {exc})")
            return []
        if isinstance(loaded, types.ModuleType):
            found = _tools_in(vars(loaded).values())
        else:
            found = _tools_in(loaded if isinstance(loaded, (list, tuple)) else [loaded])
        if not found:
            self.warnings.append(f"entry point {entry_point.name}: not a LangChain tool (or a list/module of them)")
        return found

    def _add_from(self, tools: list, source: str) -> None:
        for tool in tools:
            if tool.name in BUILTINS or tool.name == "final_answer":
                self.warnings.append(f"{source}: tool '{tool.name}' clashes with a built-in name; skipped")
            elif tool.name in self.custom:
                self.warnings.append(
                    f"{source}: tool '{tool.name}' already loaded from {self.custom[tool.name][1]}; skipped"
                )
            else:
                self.custom[tool.name] = (tool, source)

    def names(self) -> list[str]:
        return [*BUILTINS, *self.custom]

    def default_names(self) -> list[str]:
        return [*DEFAULT_TOOLS, *(("rag_search",) if self.settings.collection else ()), *self.mcp_defaults]

    def build(self, names: list[str] | None = None) -> list:
        """LangChain tools for `names` (None: the defaults), in that order; unknown names are refused."""
        chosen = list(dict.fromkeys(names if names is not None else self.default_names()))
        unknown = [n for n in chosen if n not in BUILTINS and n not in self.custom]
        if unknown:
            raise BadInput(
                f"--tools: unknown tool(s) {', '.join(unknown)} (known: {', '.join(self.names())};"
                " custom tools come from --tools-file or the llmdeck.tools entry points)"
            )
        return [self.custom[n][0] if n in self.custom else _builtin_tool(n, self.settings) for n in chosen]

    def info(self) -> list[ToolInfo]:
        defaults = set(self.default_names())
        rows = []
        for name in self.names():
            if name in BUILTINS:
                _, description, schema = BUILTINS[name]
                rows.append(
                    ToolInfo(name, description, "builtin", name in defaults, _strip_titles(schema.model_json_schema()))
                )
            else:
                tool, source = self.custom[name]
                rows.append(ToolInfo(name, tool.description, source, name in defaults, tool_parameters(tool)))
        return rows  # the MCP servers themselves (a failed or disabled one has no tools): self.servers


def _check_tools_file(file: Path) -> None:
    """BadInput unless `file` is a regular .py file (said as what it is: missing, a FIFO, a symlink loop, ...)."""
    kind = file_kind(file)
    if kind is not None:
        raise BadInput(f"--tools-file {file}: {kind} (expected a Python file of LangChain tools)")
    if file.suffix != ".py":
        raise BadInput(f"--tools-file {file}: not a .py file (expected a Python file of LangChain tools)")


def _tools_in(values) -> list:
    from langchain_core.tools import BaseTool

    return [value for value in values if isinstance(value, BaseTool)]


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title" or not isinstance(v, str)}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


def tool_parameters(tool) -> dict:
    """The JSON schema of a LangChain tool's arguments (no titles), as the model sees it."""
    from langchain_core.utils.function_calling import convert_to_openai_tool

    return convert_to_openai_tool(tool)["function"]["parameters"]
