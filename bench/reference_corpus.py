"""A library reference built from what is installed: one reST page per standard-library module, rendered from
its docstrings the way Sphinx's sources of the Python library reference look (`functools.rst`):

    :mod:`functools` --- Tools for working with functions and callable objects
    ==========================================================================

    <the module's docstring>

    .. function:: lru_cache(maxsize=128, typed=False)

       <its docstring>

    .. class:: partial(...)

       <its docstring>

       .. method:: ...

The Python documentation itself is not installed here and no doc site can be reached; the docstrings are the
nearest text that reads like a reference with many sections and object names as headings. The output is
deterministic for one Python version (modules in a fixed list, members sorted, capped per page).

    python bench/reference_corpus.py OUT_DIR          # writes OUT_DIR/<module>.rst, prints a summary
"""

from __future__ import annotations

import enum
import importlib
import inspect
import io
import re
import sys
import warnings
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

# Standard-library modules with docstrings worth reading (no GUI, no test packages, nothing with side effects
# on import). Fixed and sorted: the corpus is the same on every run of one Python version.
MODULES = tuple(
    sorted(
        """
abc argparse array ast asyncio atexit base64 bdb binascii bisect builtins bz2 calendar cmath cmd code codecs
codeop collections collections.abc colorsys compileall concurrent.futures configparser contextlib contextvars
copy copyreg cProfile csv ctypes dataclasses datetime dbm decimal difflib dis doctest email email.message
email.utils encodings enum errno faulthandler filecmp fileinput fnmatch fractions ftplib functools gc getopt
getpass gettext glob graphlib gzip hashlib heapq hmac html html.parser http http.client http.cookies
http.server imaplib importlib importlib.resources importlib.metadata inspect io ipaddress itertools json
keyword linecache locale logging logging.handlers lzma mailbox marshal math mimetypes mmap modulefinder
multiprocessing netrc numbers operator optparse os os.path pathlib pdb pickle pickletools pkgutil platform
plistlib poplib pprint profile pstats pty pwd py_compile pyclbr queue quopri random re reprlib rlcompleter
runpy sched secrets select selectors shelve shlex shutil signal site smtplib socket socketserver sqlite3 ssl
stat statistics string stringprep struct subprocess symtable sys sysconfig syslog tabnanny tarfile tempfile
termios textwrap threading time timeit token tokenize tomllib trace traceback tracemalloc tty types typing
unicodedata unittest unittest.mock urllib.parse urllib.request uuid venv warnings weakref webbrowser
wsgiref.simple_server xml.dom.minidom xml.etree.ElementTree xml.sax xmlrpc.client zipapp zipfile zipimport
zlib zoneinfo
""".split()
    )
)
MAX_OBJECTS = 80  # documented objects per module page, first by name
MAX_METHODS = 8  # documented methods per class
MAX_DOC = 2500  # characters of one docstring kept


def _doc(obj: object) -> str:
    """The object's own docstring (not one inherited from its class), cleaned and capped; "" if none."""
    raw = obj.__doc__ if isinstance(getattr(obj, "__doc__", None), str) else None
    if not raw or not raw.strip():
        return ""
    text = inspect.cleandoc(raw)
    if len(text) > MAX_DOC:
        cut = text.rfind("\n\n", 0, MAX_DOC)
        text = text[: cut if cut > MAX_DOC // 2 else MAX_DOC].rstrip()
    return text


def _signature(name: str, obj: object) -> str:
    if isinstance(obj, type) and issubclass(obj, enum.Enum):  # its signature is EnumType's call, not its own
        return name
    try:
        signature = f"{name}{inspect.signature(obj)}"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return name
    return re.sub(r" at 0x[0-9a-f]+", "", signature)  # a default's repr: <object object at 0x7f...>


def _indent(text: str, by: str) -> str:
    return "\n".join(by + line if line.strip() else "" for line in text.splitlines())


def _belongs(module_name: str, obj: object) -> bool:
    owner = getattr(obj, "__module__", None) or ""
    base = module_name.rsplit(".", 1)[-1]
    return owner == module_name or owner.startswith(module_name + ".") or owner.lstrip("_") == base


def _members(module) -> list[tuple[str, object]]:
    names = getattr(module, "__all__", None)
    explicit = isinstance(names, (list, tuple))
    if not explicit:
        names = [n for n in vars(module) if not n.startswith("_")]
    found = []
    for name in sorted(n for n in set(names) if not n.startswith("_")):
        obj = getattr(module, name, None)
        if obj is None or inspect.ismodule(obj) or not (inspect.isclass(obj) or callable(obj)):
            continue
        if not explicit and module.__name__ != "builtins" and not _belongs(module.__name__, obj):
            continue
        if _doc(obj):
            found.append((name, obj))
    found.sort(key=lambda item: inspect.isclass(item[1]))  # functions first, then classes (sort is stable)
    return found[:MAX_OBJECTS]


def _methods(cls: type) -> list[tuple[str, object]]:
    found = []
    for name, value in sorted(vars(cls).items()):
        if name.startswith("_") and name != "__init__":
            continue
        target = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
        if isinstance(value, property):
            target = value.fget
        if (callable(target) or isinstance(value, property)) and _doc(value if isinstance(value, property) else target):
            found.append((name, value))
    return found[:MAX_METHODS]


def render(module_name: str) -> str | None:
    """The module's page as reST, or None when it cannot be imported here or documents nothing."""
    try:
        with warnings.catch_warnings(), redirect_stdout(io.StringIO()), redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            module = importlib.import_module(module_name)
    except Exception:  # noqa: BLE001 - a module this build lacks (dbm.gnu, termios elsewhere) is left out
        return None
    doc = _doc(module)
    members = _members(module)
    if not (doc or members):
        return None
    summary = doc.splitlines()[0].strip().rstrip(".") if doc else ""
    title = f":mod:`{module_name}` --- {summary}" if summary else f":mod:`{module_name}`"
    lines = [title, "=" * len(title), "", f".. module:: {module_name}", ""] + ([doc, ""] if doc else [])
    for name, obj in members:
        kind = "class" if inspect.isclass(obj) else "function"
        if kind == "class" and issubclass(obj, BaseException):  # type: ignore[arg-type]
            kind = "exception"
        lines += [f".. {kind}:: {_signature(name, obj)}", "", _indent(_doc(obj), "   "), ""]
        if inspect.isclass(obj):
            for method_name, value in _methods(obj):
                if isinstance(value, property):
                    lines += [f"   .. attribute:: {method_name}", "", _indent(_doc(value), "      "), ""]
                    continue
                target = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
                directive = "classmethod" if isinstance(value, classmethod) else "method"
                directive = "staticmethod" if isinstance(value, staticmethod) else directive
                signature = _signature(method_name, target)
                lines += [f"   .. {directive}:: {signature}", "", _indent(_doc(target), "      "), ""]
    return "\n".join(lines).rstrip() + "\n"


def write_reference(root: Path, modules: tuple[str, ...] = MODULES) -> list[Path]:
    """One `<module>.rst` per module that renders here, in `root`; the files written, sorted."""
    root.mkdir(parents=True, exist_ok=True)
    written = []
    for name in modules:
        page = render(name)
        if page is None:
            continue
        path = root / f"{name}.rst"
        path.write_text(page, encoding="utf-8")
        written.append(path)
    return sorted(written)


def main() -> None:
    if len(sys.argv) != 2:
        print("usage: python bench/reference_corpus.py OUT_DIR", file=sys.stderr)
        raise SystemExit(2)
    files = write_reference(Path(sys.argv[1]))
    size = sum(p.stat().st_size for p in files)
    print(f"{len(files)} pages, {size / 1e6:.1f} MB, in {sys.argv[1]}")


if __name__ == "__main__":
    main()
