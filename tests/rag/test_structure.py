"""Structure-aware chunks: Markdown, reStructuredText (and Sphinx's .rst.txt) and HTML split at headings, each
chunk with its section path, code blocks whole; the citation names the file and the section."""

from __future__ import annotations

from llmdeck.rag.documents import citation, split_file
from llmdeck.rag.structure import html_sections, markdown_sections, pack, rst_sections

FUNCTOOLS_RST = """\
:mod:`!functools` --- Higher-order functions and operations on callable objects
==============================================================================

.. module:: functools
   :synopsis: Higher-order functions and operations on callable objects.

.. index:: single: functools

--------------

The :mod:`functools` module is for higher-order functions: functions that act on
or return other functions.

.. decorator:: cache(user_function)

   Simple lightweight unbounded function cache.  Sometimes called "memoize".

   For example::

        @cache
        def factorial(n):
            return n * factorial(n-1) if n else 1

   .. versionadded:: 3.9

.. decorator:: lru_cache(user_function)
               lru_cache(maxsize=128, typed=False)

   Decorator to wrap a function with a memoizing callable that saves up to the
   *maxsize* most recent calls.  It can save time when an expensive or I/O bound
   function is periodically called with the same arguments.

   .. code-block:: python

      @lru_cache(maxsize=32)
      def get_pep(num):
          'Retrieve text of a Python Enhancement Proposal'

          resource = f'https://peps.python.org/pep-{num:04d}'
          return resource

.. class:: partial(func, /, *args, **keywords)

   Return a new partial object.

   .. attribute:: func

      A callable object or function.

Partial Objects
---------------

:class:`partial` objects are callable objects created by :func:`partial`.
"""

JOBLIB_MD = """\
# joblib

Joblib is a set of tools to provide lightweight pipelining in Python.

## Memory

Transparent disk-caching of functions and lazy re-evaluation.

```python
# a comment inside a fence is code, not a heading
from joblib import Memory

memory = Memory("cachedir")
```

Parallel helpers
----------------

Easy simple parallel computing.

Backends
~~~~~~~~

Loky by default.
"""

FUNCTOOLS_HTML = """<html><head><title>functools — Higher-order functions</title><script>var x = 1;</script></head>
<body><div class="sphinxsidebar"><h3>Navigation</h3><p>index modules next</p></div>
<section><h1>functools — Higher-order functions<a class="headerlink" href="#">¶</a></h1>
<p>The functools module is for higher-order functions.</p>
<dl class="py function"><dt class="sig sig-object py" id="functools.lru_cache">
<span class="sig-prename descclassname">@functools.</span>
<span class="sig-name descname">lru_cache</span>(maxsize=128)</dt>
<dd><p>Decorator to wrap a function with a memoizing callable.</p><pre>@lru_cache(maxsize=32)
def get_pep(num):

    return num</pre></dd></dl>
<h2>Partial Objects</h2><p>partial objects are callable objects.</p></section></body></html>"""


def paths(sections) -> list[str]:
    return [" > ".join(s.path) for s in sections]


def test_rst_titles_and_sphinx_objects_are_sections_with_code_whole():
    sections = rst_sections(FUNCTOOLS_RST)
    assert paths(sections) == [
        "functools",
        "functools > cache",
        "functools > lru_cache",
        "functools > partial",
        "functools > partial > func",
        "functools > Partial Objects",
    ]
    intro = " ".join(b.text for b in sections[0].blocks)
    assert "synopsis" not in intro and "index::" not in intro and "higher-order functions" in intro
    lru = sections[2].blocks
    assert lru[0].text == ".. decorator:: lru_cache(user_function)\nlru_cache(maxsize=128, typed=False)"
    [code] = [b for b in lru if b.code]
    assert code.text.startswith(".. code-block:: python\n\n@lru_cache(maxsize=32)\ndef get_pep(num):")
    assert "\n\n    resource = " in code.text and code.text.endswith("return resource")  # the blank line inside kept
    [literal] = [b for b in sections[1].blocks if b.code]
    assert literal.text.startswith("@cache\ndef factorial(n):")
    assert "For example:" in [b.text for b in sections[1].blocks]


def test_markdown_headings_fences_and_rst_style_underlines():
    sections = markdown_sections(JOBLIB_MD)
    assert paths(sections) == [
        "joblib",
        "joblib > Memory",
        "joblib > Parallel helpers",
        "joblib > Parallel helpers > Backends",
    ]
    [fence] = [b for b in sections[1].blocks if b.code]
    assert fence.text.startswith("```python\n# a comment inside a fence") and fence.text.endswith("```")


def test_html_headings_and_sphinx_object_descriptions_without_navigation():
    sections = html_sections(FUNCTOOLS_HTML)
    assert paths(sections) == ["functools", "functools > lru_cache", "functools > Partial Objects"]
    text = " ".join(b.text for s in sections for b in s.blocks)
    assert "Navigation" not in text and "var x" not in text and "¶" not in text
    [pre] = [b for b in sections[1].blocks if b.code]
    assert pre.text == "@lru_cache(maxsize=32)\ndef get_pep(num):\n\n    return num"


def test_chunks_start_with_their_path_fit_the_limit_and_keep_a_code_block_whole():
    sections = rst_sections(FUNCTOOLS_RST)
    pieces = pack(sections, 250, 0)
    assert all(len(p.text) <= 250 for p in pieces)
    assert all(p.text.startswith(p.section + "\n\n") for p in pieces)
    code = [p for p in pieces if ".. code-block:: python" in p.text]
    assert len(code) == 1 and "return resource" in code[0].text and code[0].section == "functools > lru_cache"
    small = pack(sections, 120, 20)  # the code block alone is larger than the limit: only then it is cut
    assert len([p for p in small if "get_pep" in p.text or "resource" in p.text]) >= 2
    assert all(len(p.text) <= 120 for p in small)


def test_split_file_stores_the_section_and_cites_it(tmp_path):
    rst = tmp_path / "functools.rst.txt"  # Sphinx's copy of a source: reST all the same
    rst.write_text(FUNCTOOLS_RST, encoding="utf-8")
    chunks = split_file(rst, 1000, 150)
    lru = next(c for c in chunks if "memoizing callable" in c.text)
    assert lru.metadata["section"] == "functools > lru_cache" and lru.text.startswith("functools > lru_cache\n\n")
    assert citation(lru.metadata) == "functools.rst.txt § lru_cache"
    assert citation({"source": str(rst), "section": "functools"}) == "functools.rst.txt § functools"
    assert citation({"source": str(rst), "chunk": 0}) == "functools.rst.txt"  # a chunk from before sections
    assert [c.id for c in split_file(rst, 1000, 150)] == [c.id for c in chunks]  # deterministic: re-ingest skips
    assert len({c.id for c in chunks}) == len(chunks)
    page = tmp_path / "functools.html"
    page.write_text(FUNCTOOLS_HTML, encoding="utf-8")
    assert [c.metadata.get("section") for c in split_file(page)] == [
        "functools",
        "functools > lru_cache",
        "functools > Partial Objects",
    ]
