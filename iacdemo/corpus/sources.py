"""Reading raw documentation: the one loader for docs, used by the corpus builder, the schema and RAG.

Two input forms are accepted, because users who are online fetch docs as git checkouts while our
machines ship them packed: gzipped JSON Lines (`source`, `path`, `text` per record) and plain
directories of `.md`/`.markdown`/`.mdx` files.
"""
from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from iacdemo.errors import DataError

MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdx")
CDKTF_PREFIX = "website/docs/cdktf/"

_FRONT_MATTER = re.compile(r"\A\ufeff?---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)


@dataclass(frozen=True)
class Doc:
    source: str
    path: str
    text: str

    @property
    def front_matter(self) -> dict[str, str]:
        return split_front_matter(self.text)[0]

    @property
    def body(self) -> str:
        return split_front_matter(self.text)[1]

    @property
    def subcategory(self) -> str:
        return self.front_matter.get("subcategory", "")


def split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Return (simple key/value front matter, body).

    Only flat `key: value` pairs are read (plus `|-` blocks joined into one line): that is all the docs
    use, and it spares a YAML dependency.
    """
    match = _FRONT_MATTER.match(text)
    if not match:
        return {}, text
    fields: dict[str, str] = {}
    key = None
    for line in match.group(1).splitlines():
        kv = re.match(r"^([A-Za-z_][\w-]*)\s*:\s*(.*)$", line)
        if kv:
            key, value = kv.group(1), kv.group(2).strip()
            fields[key] = "" if value in {"|", "|-", ">", ">-"} else value.strip("\"'")
        elif key and line.startswith((" ", "\t")):
            fields[key] = (fields[key] + " " + line.strip()).strip()
    return fields, text[match.end():]


def _iter_jsonl_gz(path: Path) -> Iterator[Doc]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as fh:
            for line_no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                    yield Doc(source=str(rec.get("source") or path.name.split(".")[0]),
                              path=str(rec["path"]), text=str(rec["text"]))
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    raise DataError(f"{path}: line {line_no} is not a docs record "
                                    f"(need JSON with 'path' and 'text'): {exc}") from exc
    except (OSError, EOFError) as exc:
        raise DataError(f"Cannot read {path}: {exc}") from exc


def _iter_markdown_dir(root: Path) -> Iterator[Doc]:
    for file in sorted(p for p in root.rglob("*") if p.suffix.lower() in MARKDOWN_SUFFIXES and p.is_file()):
        yield Doc(source=root.name, path=file.relative_to(root).as_posix(),
                  text=file.read_text(encoding="utf-8", errors="replace"))


def iter_docs(paths: Iterable[str | Path], include_cdktf: bool = False) -> Iterator[Doc]:
    """Yield every documentation file under `paths` (JSONL(.gz) files, markdown files or directories).

    A directory that holds `*.jsonl.gz` files is read as packed docs; otherwise as markdown. The
    cdktf translations (Python/TypeScript re-renderings of the HCL pages) are skipped by default: they
    would triple the AWS pages and teach no HCL.
    """
    paths = list(paths)
    if not paths:
        raise DataError("No documentation source given.")
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise DataError(f"Documentation source not found: {path}")
        if path.is_dir():
            packed = sorted(path.glob("*.jsonl.gz")) + sorted(path.glob("*.jsonl"))
            docs: Iterable[Doc] = (d for p in packed for d in _iter_jsonl_gz(p)) if packed else _iter_markdown_dir(path)
        elif path.name.endswith((".jsonl.gz", ".jsonl")):
            docs = _iter_jsonl_gz(path)
        elif path.suffix.lower() in MARKDOWN_SUFFIXES:
            docs = [Doc(source=path.parent.name, path=path.name, text=path.read_text(encoding="utf-8", errors="replace"))]
        else:
            raise DataError(f"Not a docs source (want .jsonl.gz, .md/.markdown/.mdx or a directory): {path}")
        for doc in docs:
            if include_cdktf or not doc.path.startswith(CDKTF_PREFIX):
                yield doc


def provider_pages(paths: Iterable[str | Path], kind: str = "r") -> Iterator[tuple[str, Doc]]:
    """Yield (type name, doc) for AWS provider resource (`r`) or data-source (`d`) pages.

    The type name comes from the page's `# Resource: aws_x` / `# Data Source: aws_x` heading, falling
    back to `aws_` + file stem, because a few pages are named differently from their type.
    """
    heading = re.compile(r"^#\s*(?:Resource|Data Source):\s*`?([a-z0-9_]+)`?", re.M)
    for doc in iter_docs(paths):
        parts = doc.path.split("/")
        if len(parts) < 2 or parts[-2] != kind or "website/docs" not in doc.path:
            continue
        match = heading.search(doc.text)
        name = match.group(1) if match else "aws_" + parts[-1].split(".")[0]
        yield name, doc
