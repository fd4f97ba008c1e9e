"""What docs and built corpora are available: the choices the Data and Train tabs offer.

Reading the three packed doc files takes a fraction of a second, but the UI asks on every change of
the source selection, so results are cached per (file, modification time, size): a rebuilt or
replaced file is read again, an unchanged one never is.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from iacdemo.corpus.sources import iter_docs
from iacdemo.safe_json import as_int, read_json_or

NO_SERVICE = "(none)"


@dataclass(frozen=True)
class SourceFile:
    """One input of the corpus builder: a packed JSONL(.gz) file or a markdown folder."""

    name: str  # file or folder name, what the UI shows and sends back
    path: Path
    sources: tuple[tuple[str, int], ...]  # (record `source`, docs) pairs, most docs first
    docs: int

    @property
    def label(self) -> str:
        names = ", ".join(s for s, _ in self.sources) or "no docs"
        return f"{names} ({self.docs:,} docs, {self.name})"


@dataclass(frozen=True)
class CorpusInfo:
    """A corpus built earlier with `build_corpus(out_dir=...)`, as listed for picking."""

    name: str
    path: Path
    rows: int | None
    tokens: int | None
    services: tuple[str, ...]

    @property
    def label(self) -> str:
        if self.rows is None:
            return f"{self.name} (no stats)"
        scope = ", ".join(self.services) if self.services else "all services"
        return f"{self.name}: {self.rows:,} rows, {self.tokens:,} tokens ({scope})"


def _fingerprint(path: Path) -> tuple[str, int, int]:
    stat = path.stat()
    return str(path.resolve()), stat.st_mtime_ns, stat.st_size


def _is_packed(path: Path) -> bool:
    return path.name.endswith((".jsonl.gz", ".jsonl"))


def list_source_files(corpus_dir: str | Path) -> list[SourceFile]:
    """The packed doc files (and markdown sub-folders) in `corpus_dir`, with their doc counts.

    Loose markdown files there (SOURCE.md, README.md) describe the data; they are not docs to train on.
    """
    root = Path(corpus_dir)
    if not root.is_dir():
        return []
    candidates = sorted(p for p in root.iterdir()
                        if (p.is_file() and _is_packed(p)) or (p.is_dir() and not p.name.startswith(".")))
    files = []
    for path in candidates:
        sources = _source_counts(*_fingerprint(path))
        if sources:
            files.append(SourceFile(name=path.name, path=path, sources=sources,
                                    docs=sum(n for _, n in sources)))
    return files


@lru_cache(maxsize=64)
def _source_counts(resolved: str, _mtime_ns: int, _size: int) -> tuple[tuple[str, int], ...]:
    counts = Counter(doc.source for doc in iter_docs([resolved]))
    return tuple(counts.most_common())


def service_counts(paths: Sequence[str | Path], include_cdktf: bool = False) -> list[tuple[str, int]]:
    """(subcategory, docs) over `paths`, most docs first; pages without one count as "(none)"."""
    total: Counter[str] = Counter()
    for path in paths:
        for name, n in _service_counts(*_fingerprint(Path(path)), include_cdktf):
            total[name] += n
    return sorted(total.items(), key=lambda kv: (kv[0] == NO_SERVICE, -kv[1], kv[0].lower()))


@lru_cache(maxsize=64)
def _service_counts(resolved: str, _mtime_ns: int, _size: int, include_cdktf: bool) -> tuple[tuple[str, int], ...]:
    counts = Counter(doc.subcategory or NO_SERVICE for doc in iter_docs([resolved], include_cdktf=include_cdktf))
    return tuple(counts.items())


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def list_corpora(datasets_dir: str | Path) -> list[CorpusInfo]:
    """Corpora saved under `datasets_dir` (folders with a `datasets` state file), newest first."""
    root = Path(datasets_dir)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        if path.name.startswith(".") or path.is_symlink() \
                or not path.is_dir() or not (path / "state.json").is_file():
            continue
        stats, _ = read_json_or(path / "stats.json", {})  # a broken stats.json lists as "(no stats)"
        filters = stats.get("filters") if isinstance(stats.get("filters"), dict) else {}
        services = filters.get("services") if isinstance(filters.get("services"), list) else []
        rows, tokens = as_int(stats.get("rows")), as_int(stats.get("tokens"))
        found.append((_mtime(path), CorpusInfo(name=path.name, path=path, rows=rows if tokens is not None else None,
                                              tokens=tokens, services=tuple(str(s) for s in services))))
    return [info for _, info in sorted(found, key=lambda pair: -pair[0])]
