"""Chunks that follow a document's structure: Markdown, reStructuredText and HTML split at their headings.

Each format is read into sections (a section path such as `functools > lru_cache`, and its blocks: paragraphs
and code blocks); `pack` then fills chunks up to the size limit, block by block, within one section. A code
block is never cut unless it alone is larger than the limit; a chunk's text starts with its section path, so
the path is embedded and keyword-indexed with the text. Sphinx object descriptions (`.. function:: lru_cache`,
and their HTML `<dl class="py function">`) are sections too, one level below the heading they sit under.
Pure Python: no parser library, nothing downloaded.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from html.parser import HTMLParser

PATH_SEPARATOR = " > "
MAX_NAME = 80  # characters of one heading kept in a section path


@dataclass
class Block:
    text: str
    code: bool = False


@dataclass
class Section:
    path: list[str]
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Piece:
    """One chunk before ids: its section path (" > "-joined, "" before the first heading) and its text."""

    section: str
    text: str


class _Outline:
    """The open headings as a stack of (level, name); a new heading closes those at its level and below."""

    def __init__(self) -> None:
        self.open: list[tuple[float, str]] = []
        self.sections: list[Section] = [Section([])]

    def heading(self, level: float, name: str) -> None:
        name = clean_heading(name)
        if not name:
            return
        while self.open and self.open[-1][0] >= level:
            self.open.pop()
        self.open.append((level, name))
        self.sections.append(Section([n for _, n in self.open]))

    def close_to(self, level: float) -> None:
        """Close the headings at `level` and below (the end of a Sphinx object description)."""
        if any(lv >= level for lv, _ in self.open):
            while self.open and self.open[-1][0] >= level:
                self.open.pop()
            self.sections.append(Section([n for _, n in self.open]))

    def add(self, text: str, code: bool = False) -> None:
        text = text.strip("\n") if code else text.strip()
        if text.strip():
            self.sections[-1].blocks.append(Block(text, code))

    def result(self) -> list[Section]:
        return [s for s in self.sections if s.blocks]


# -- heading text ------------------------------------------------------------------------------------
_ROLE = re.compile(r":[\w:.+-]+:`([^`]*)`")
_TARGET = re.compile(r"^(.*?)\s*<[^<>]*>$")
_IDENTIFIER_TITLE = re.compile(r"^([\w.]+)\s+(?:---|—|--|–)\s+\S")


def _role_text(match: re.Match) -> str:
    text = match.group(1).lstrip("!~")
    target = _TARGET.match(text)
    return target.group(1) if target and target.group(1) else text


def clean_heading(text: str) -> str:
    """A heading as plain words: RST roles and Markdown emphasis, links and code marks dropped; a module title
    such as ``:mod:`functools` --- Higher-order functions`` becomes `functools`."""
    text = _ROLE.sub(_role_text, text)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)  # images
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # links
    text = re.sub(r"`+([^`]*)`+_?", r"\1", text)
    text = re.sub(r"(\*{1,3}|_{2,3})(\S.*?)\1", r"\2", text)
    text = " ".join(text.replace("¶", "").split())
    short = _IDENTIFIER_TITLE.match(text)
    if short:
        text = short.group(1)
    return text[:MAX_NAME].strip()


# -- Markdown ----------------------------------------------------------------------------------------
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:\s+(.*?))?\s*$")
_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")


def markdown_sections(text: str) -> list[Section]:
    """Sections at ATX (`#`) and setext (`===`, `---`) headings; fenced code blocks are kept whole, and a `#`
    inside one is code, not a heading. A line of `~` right under a one-line paragraph (a reStructuredText
    title in a .md file, as package READMEs often are) is a heading, not the start of a fence."""
    outline = _Outline()
    lines = text.splitlines()
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            outline.add(textwrap.dedent("\n".join(paragraph)))
            paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence and not (fence.group(2)[0] == "`" and "`" in fence.group(3)):
            marker, info = fence.group(2), fence.group(3).strip()
            if len(paragraph) == 1 and not info and len(marker) >= len(paragraph[0].strip()):
                outline.heading(3, paragraph.pop())  # a reST underline of ~
                i += 1
                continue
            close = next(
                (
                    j
                    for j in range(i + 1, len(lines))
                    if lines[j].strip().startswith(marker[0] * len(marker)) and not lines[j].strip().strip(marker[0])
                ),
                None,
            )
            if close is not None:
                flush()
                outline.add("\n".join(lines[i : close + 1]), code=True)
                i = close + 1
                continue
        atx = _ATX.match(line)
        if atx:
            flush()
            outline.heading(len(atx.group(1)), atx.group(2) or "")
            i += 1
            continue
        setext = _SETEXT.match(line)
        if setext and len(paragraph) == 1 and (setext.group(1)[0] == "=" or len(setext.group(1)) >= 2):
            outline.heading(1 if setext.group(1)[0] == "=" else 2, paragraph.pop())
            i += 1
            continue
        if not line.strip():
            flush()
        elif setext and not paragraph:
            pass  # a thematic break
        else:
            paragraph.append(line)
        i += 1
    flush()
    return outline.result()


# -- reStructuredText --------------------------------------------------------------------------------
_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}\s*$")
_DIRECTIVE = re.compile(r"^(\s*)\.\.\s+([\w:-]+)::(.*)$")
OBJECT_DIRECTIVES = {
    "function",
    "class",
    "method",
    "decorator",
    "decoratormethod",
    "exception",
    "data",
    "attribute",
    "classmethod",
    "staticmethod",
    "abstractmethod",
    "coroutinefunction",
    "coroutinemethod",
    "property",
    "type",
    "envvar",
    "option",
    "cmdoption",
    "opcode",
    "describe",
    "object",
    "monitoring-event",
}
CODE_DIRECTIVES = {"code-block", "sourcecode", "code", "doctest", "testcode", "testoutput", "productionlist"}
DROPPED_DIRECTIVES = {
    "index",
    "module",
    "currentmodule",
    "moduleauthor",
    "sectionauthor",
    "highlight",
    "testsetup",
    "testcleanup",
    "toctree",
    "include",
    "literalinclude",
    "image",
    "figure",
    "raw",
    "only",
    "tabularcolumns",
    "audit-event",
    "availability",
}
OBJECT_LEVEL = 100  # Sphinx object descriptions sit below every heading level


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _object_name(signature: str) -> str:
    name = re.split(r"[\s(\[]", signature.strip(), maxsplit=1)[0]
    return name.rstrip(":,") or signature.strip()[:MAX_NAME]


def _indented_block(lines: list[str], start: int, indent: int) -> int:
    """The index after the lines from `start` that are blank or indented deeper than `indent`
    (trailing blank lines excluded)."""
    end = start
    j = start
    while j < len(lines) and (not lines[j].strip() or _indent(lines[j]) > indent):
        j += 1
        if lines[j - 1].strip():
            end = j
    return end


def rst_sections(text: str) -> list[Section]:
    """Sections at reST titles (underlined, optionally overlined; levels in order of first appearance) and at
    Sphinx object directives; literal blocks (after `::`), code directives and doctest blocks kept whole.
    Index entries, targets, comments and module/author directives are left out."""
    outline = _Outline()
    lines = text.expandtabs(8).splitlines()
    styles: list[tuple[str, bool]] = []
    objects: list[int] = []  # indents of the open object directives
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            block = textwrap.dedent("\n".join(paragraph))
            outline.add(block, code=block.lstrip().startswith(">>>"))
            paragraph.clear()

    def level(char: str, over: bool) -> int:
        if (char, over) not in styles:
            styles.append((char, over))
        return styles.index((char, over)) + 1

    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped and objects and _indent(line) <= objects[-1] and not paragraph:
            while objects and _indent(line) <= objects[-1]:
                objects.pop()
            outline.close_to(OBJECT_LEVEL + len(objects))
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        # an overlined title: adornment, title, same adornment
        if (
            _ADORNMENT.match(line)
            and not paragraph
            and i + 2 < len(lines)
            and lines[i + 2].strip() == stripped
            and lines[i + 1].strip()
        ):
            objects.clear()
            outline.heading(level(stripped[0], True), lines[i + 1].strip())
            i += 3
            continue
        if (
            stripped
            and not paragraph
            and _indent(line) == 0
            and _ADORNMENT.match(nxt)
            and len(nxt.rstrip()) >= min(len(stripped), 3)
            and not _ADORNMENT.match(line)
        ):
            objects.clear()
            outline.heading(level(nxt.strip()[0], False), stripped)
            i += 2
            continue
        directive = _DIRECTIVE.match(line)
        if directive and not paragraph:
            indent, name, argument = len(directive.group(1)), directive.group(2).split(":")[-1], directive.group(3)
            if name in OBJECT_DIRECTIVES:
                while objects and objects[-1] >= indent:
                    objects.pop()
                outline.heading(OBJECT_LEVEL + len(objects), _object_name(argument))
                objects.append(indent)
                header = [line.strip()]
                i += 1
                while i < len(lines) and lines[i].strip() and _indent(lines[i]) > indent:
                    header.append(lines[i].strip())  # more signatures and :options:
                    i += 1
                outline.add("\n".join(header))
                continue
            end = _indented_block(lines, i + 1, indent)
            if name in CODE_DIRECTIVES:
                body = textwrap.dedent("\n".join(lines[i + 1 : end]))
                outline.add(line.strip() + "\n" + body, code=True)
            elif name not in DROPPED_DIRECTIVES:
                outline.add(line.strip())
                i += 1
                continue  # an admonition, versionadded...: its body is read as paragraphs
            i = max(end, i + 1)
            continue
        if stripped.startswith("..") and not paragraph and not directive:  # a comment, a target, a footnote
            i = max(_indented_block(lines, i + 1, _indent(line)), i + 1)
            continue
        if not stripped:
            flush()
            i += 1
            continue
        if _ADORNMENT.match(line) and not paragraph:  # a transition
            i += 1
            continue
        paragraph.append(line)
        i += 1
        if stripped.endswith("::") and (i >= len(lines) or not lines[i].strip()):
            base = _indent(paragraph[0])
            text_part = textwrap.dedent("\n".join(paragraph))
            paragraph.clear()
            kept = "" if text_part.strip() == "::" else text_part.rstrip()[:-1]  # "Example::" -> "Example:"
            outline.add(kept[:-2] if kept.endswith(" :") else kept)
            end = _indented_block(lines, i, base)
            if end > i:
                outline.add(textwrap.dedent("\n".join(lines[i:end])), code=True)
                i = end
    flush()
    return outline.result()


# -- HTML --------------------------------------------------------------------------------------------
_SKIPPED_TAGS = {"script", "style", "nav", "footer", "header", "noscript", "template", "svg", "head"}
_SKIPPED_CLASSES = ("sphinxsidebar", "related", "headerlink", "footer", "toctree-wrapper", "navigation")
_OBJECT_DOMAINS = {"py", "c", "cpp", "js", "std", "rst"}  # Sphinx: <dl class="py function">
_BLOCK_TAGS = {
    "p",
    "div",
    "li",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "table",
    "tr",
    "blockquote",
    "section",
    "article",
    "main",
    "br",
    "hr",
    "body",
    "figure",
    "figcaption",
    "caption",
}
_VOID_TAGS = {"br", "hr", "img", "input", "meta", "link", "area", "base", "col", "embed", "source", "track", "wbr"}


class _HtmlSections(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.outline = _Outline()
        self.skip: list[str] = []  # the tag of each skipped element open (nested same tags counted)
        self.text: list[str] = []
        self.heading_level = 0
        self.pre_depth = 0
        self.dls: list[bool] = []  # for each open <dl>: whether it describes a Sphinx object
        self.title = ""
        self.in_title = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "title":
            self.in_title = True
        classes = (attributes.get("class") or "").split()
        if self.skip:
            if tag == self.skip[0] and tag not in _VOID_TAGS:
                self.skip.append(tag)
            return
        navigation = attributes.get("role") == "navigation" or any(c in _SKIPPED_CLASSES for c in classes)
        if tag in _SKIPPED_TAGS or navigation:
            if tag not in _VOID_TAGS:
                self.skip.append(tag)
            return
        if tag == "pre":
            self._flush()
            self.pre_depth += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self.heading_level = int(tag[1])
        elif tag == "dl":
            self._flush()
            self.dls.append(len(classes) > 1 and classes[0] in _OBJECT_DOMAINS)
        elif tag == "dt" and self.dls and self.dls[-1] and attributes.get("id"):
            self._flush()
            depth = sum(1 for d in self.dls if d) - 1
            identifier = str(attributes["id"])
            self.outline.heading(OBJECT_LEVEL + depth, identifier.split(".", 1)[-1])  # functools.lru_cache
        elif tag in _BLOCK_TAGS and not self.pre_depth:
            self._flush()

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        if self.skip:
            if tag == self.skip[-1]:
                self.skip.pop()
            return
        if tag == "pre" and self.pre_depth:
            self.pre_depth -= 1
            if not self.pre_depth:
                self.outline.add("".join(self.text), code=True)
                self.text = []
        elif re.fullmatch(r"h[1-6]", tag) and self.heading_level:
            self.outline.heading(self.heading_level, "".join(self.text))
            self.text, self.heading_level = [], 0
        elif tag == "dl" and self.dls:
            self._flush()
            if self.dls.pop():
                self.outline.close_to(OBJECT_LEVEL + sum(1 for d in self.dls if d))
        elif tag in _BLOCK_TAGS and not self.pre_depth:
            self._flush()

    def handle_data(self, data):
        if self.in_title:
            self.title += data
        if self.skip:
            return
        self.text.append(data)

    def _flush(self) -> None:
        if self.heading_level or self.pre_depth:
            return
        self.outline.add(" ".join("".join(self.text).split()))
        self.text = []


def html_sections(text: str) -> list[Section]:
    """Sections at <h1>..<h6> and at Sphinx object descriptions (`<dl class="py function">` with its
    `<dt id=...>`); <pre> blocks kept whole; scripts, styles, navigation and sidebars left out. Text before the
    first heading goes under the page's <title>."""
    parser = _HtmlSections()
    parser.feed(text)
    parser.close()
    parser._flush()
    sections = parser.outline.result()
    title = clean_heading(parser.title)
    if sections and not sections[0].path and title:
        sections[0].path = [title]
    return sections


# -- chunks ------------------------------------------------------------------------------------------
def pack(sections: list[Section], chunk_size: int, chunk_overlap: int) -> list[Piece]:
    """Chunks of at most `chunk_size` characters (the section-path line included), filled block by block within
    a section; only a block larger than the room left alone is split (by the recursive splitter, with
    `chunk_overlap`)."""
    pieces: list[Piece] = []
    for section in sections:
        path = PATH_SEPARATOR.join(section.path)
        prefix = f"{path}\n\n" if path else ""
        room = max(chunk_size - len(prefix), chunk_size // 2)
        current: list[str] = []
        size = 0

        def emit() -> None:
            if current:
                pieces.append(Piece(path, prefix + "\n\n".join(current)))
                current.clear()

        for block in section.blocks:
            for part in _fit(block, room, chunk_overlap):
                added = len(part) + (2 if current else 0)
                if current and size + added > room:
                    emit()
                    added = len(part)
                    size = 0
                current.append(part)
                size += added
        emit()
    return pieces


def _fit(block: Block, room: int, overlap: int) -> list[str]:
    if len(block.text) <= room:
        return [block.text]
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    separators = ["\n\n", "\n", " ", ""] if block.code else ["\n\n", "\n", ". ", " ", ""]
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=room, chunk_overlap=min(overlap, room // 2), separators=separators, keep_separator=False
    )
    return [part for part in splitter.split_text(block.text) if part.strip()]


STRUCTURED_SUFFIXES = {
    ".md": markdown_sections,
    ".markdown": markdown_sections,
    ".rst": rst_sections,
    ".html": html_sections,
    ".htm": html_sections,
}


def structured_kind(name: str) -> str | None:
    """The structured format of a file name: .md/.rst/.html, and Sphinx's copies of sources (`x.rst.txt`)."""
    lowered = name.lower()
    for suffix in STRUCTURED_SUFFIXES:
        if lowered.endswith(suffix) or lowered.endswith(suffix + ".txt"):
            return suffix
    return None


def split_structured(text: str, kind: str, chunk_size: int, chunk_overlap: int) -> list[Piece]:
    return pack(STRUCTURED_SUFFIXES[kind](text), chunk_size, chunk_overlap)
