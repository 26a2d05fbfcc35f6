"""MkDocs hook: render rgeom's NumPy-style docstrings faithfully with mkdocstrings/griffe.

rgeom's docstrings follow the NumPy convention with Sphinx cross-reference roles. griffe reads
them well, with three exceptions that this hook corrects when the docs are built:

* **Type specs.** griffe parses the type of a parameter as a Python expression so that names
  become links. Free-text specs such as ``array, shape (d,)``, ``None, str or Backend`` or
  ``{"geomstats", "finite_difference"}`` then come out mangled (``(array, shape(d))``, quotes
  dropped). Plain dotted names (``Metric``, ``rgeom.maps.Map``) are still parsed, which keeps
  their links; every other spec is shown exactly as written.
* **Sphinx roles.** ``:class:`~rgeom.metrics.Metric``` would be printed literally; it is shown
  as inline code, ``Metric`` (the last component when the target starts with ``~``).
* **reST simple tables** (``=====  =====`` borders) would run together into one paragraph; they
  become Markdown tables.

The hook patches private griffe modules and does nothing if they change: the docs still build,
with griffe's default rendering. It never touches the source files.
"""

import re

_PLAIN_NAME = re.compile(r"^[A-Za-z_][\w.]*$")
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|data|mod|exc|obj|const):`([^`]+)`")


def _role_to_code(match):
    target = match.group(1).strip()
    if "<" in target and target.endswith(">"):  # :func:`text <target>`
        return f"`{target.split('<', 1)[0].strip()}`"
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


_BORDER = re.compile(r"^(\s*)(=+)((?: +=+)+)\s*$")


def _escape_cell(text):
    """Escape ``|`` outside inline code so that it does not split a Markdown table cell."""
    parts = re.split(r"(``.*?``|`[^`]*`)", text)
    return "".join(p if p.startswith("`") else p.replace("|", "\\|") for p in parts)


def _rst_tables_to_markdown(text):
    """Convert reST simple tables (``===  ===`` borders) to Markdown pipe tables."""
    lines = text.split("\n")
    out, i = [], 0
    while i < len(lines):
        m = _BORDER.match(lines[i])
        if not m:
            out.append(lines[i])
            i += 1
            continue
        indent, border = m.group(1), lines[i].rstrip()
        spans = [(a.start(), a.end()) for a in re.finditer(r"=+", border)]  # column extents
        j = i + 1
        borders, rows = [i], []
        while j < len(lines) and lines[j].strip() and len(borders) < 3:
            if lines[j].rstrip() == border:
                borders.append(j)
            else:
                rows.append((len(borders), lines[j]))
            j += 1
        if len(borders) < 2 or (j < len(lines) and len(borders) == 2 and lines[j].strip()):
            out.append(lines[i])  # not a table we understand: leave it alone
            i += 1
            continue

        def cells(line):
            overrun = any(0 < a < len(line) and line[a - 1] != " " and line[a] != " " for a, _ in spans[1:])
            if overrun:  # text runs past a column edge: fall back to splitting at 2+ spaces
                parts = re.split(r"\s{2,}", line.strip())
                if len(parts) == len(spans):
                    return parts
            cols = []
            for k, (a, _) in enumerate(spans):
                end = spans[k + 1][0] if k + 1 < len(spans) else len(line)
                cols.append(line[a:end].strip())
            return cols

        header, body = [], []
        for section, line in rows:
            target = header if (len(borders) == 3 and section == 1) else body
            row = cells(line)
            if target and not row[0]:  # continuation line: join with the row above
                target[-1] = [f"{x} {y}".strip() for x, y in zip(target[-1], row)]
            else:
                target.append(row)
        if not header:
            header = [[""] * len(spans)]
        md = [indent + "| " + " | ".join(_escape_cell(c) for c in header[0]) + " |",
              indent + "|" + "---|" * len(spans)]
        md += [indent + "| " + " | ".join(_escape_cell(c) for c in r) + " |" for r in header[1:] + body]
        out += [""] + md + [""]
        i = j
    return "\n".join(out)


def _install():
    try:
        from griffe import Parser
        from griffe._internal.docstrings import numpy as numpy_parser
        from griffe._internal.docstrings import parsers as parser_registry
    except ImportError:  # another griffe layout: keep its default behaviour
        return

    original_annotation = getattr(numpy_parser, "parse_docstring_annotation", None)
    if original_annotation is not None and not getattr(original_annotation, "_rgeom", False):

        def parse_docstring_annotation(annotation, docstring, *args, **kwargs):
            if isinstance(annotation, str) and _PLAIN_NAME.match(annotation.strip()):
                return original_annotation(annotation, docstring, *args, **kwargs)
            return annotation.replace("``", "") if isinstance(annotation, str) else annotation

        parse_docstring_annotation._rgeom = True
        numpy_parser.parse_docstring_annotation = parse_docstring_annotation

    registry = getattr(parser_registry, "parsers", None)
    original_parse = registry.get(Parser.numpy) if isinstance(registry, dict) else None
    if original_parse is not None and not getattr(original_parse, "_rgeom", False):

        def parse_numpy(docstring, *args, **kwargs):
            if isinstance(docstring.value, str):
                value = _rst_tables_to_markdown(docstring.value)  # first: roles change widths
                docstring.value = _ROLE.sub(_role_to_code, value)
            return original_parse(docstring, *args, **kwargs)

        parse_numpy._rgeom = True
        registry[Parser.numpy] = parse_numpy


def on_config(config):
    _install()
    return config
