"""Retrieval data: a BEIR directory or the shipped SciFact zip, read into one set of structures.

- :class:`Corpus`: document ids, titles and texts (BEIR ``corpus.jsonl``: ``_id``, ``title``, ``text``);
  :meth:`Corpus.document` is ``(title + " " + text).strip()``, the text BEIR's SentenceBERT wrapper
  and MTEB's exact search embed.
- :class:`RetrievalSplit`: the corpus, the split's queries (``query id → text``) and its qrels
  (``query id → {doc id: relevance}``); queries with no positive (relevance ≥ 1) are dropped and
  counted in ``dropped_queries`` (never silently).
- :class:`PairExamples`: the task's **example set**, one example per (query, positive document)
  pair, with stable int64 ``ids`` (the pair's rank in the split's sorted (query, doc) list),
  ``query_ids`` (int64 strata: the query's rank in the split's sorted query list), ``checksum``,
  ``__len__`` and ``subset(positions)``.

Readers:

- :func:`read_beir_dir`: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv`` (header
  ``query-id corpus-id score``; ``split`` is ``train``, ``test`` or ``dev``).
- :func:`read_scifact_zip`: the shipped ``scifact.zip`` straight from the zip.
  ``corpus_train.csv``'s ``abstract`` is a NumPy repr of the sentence list (parsed with
  :mod:`tokenize`, never ``eval``); the document text is the sentences joined by one space (BEIR's
  SciFact ``text``). ``train`` = ``claims_train.csv`` (809 claims), ``test`` =
  ``claims_validation.csv`` (300 claims, BEIR's SciFact test). Relevant documents, rule ``beir``
  (default): the union of a claim's ``evidence_doc_id`` values and its ``cited_doc_ids``, which
  reproduces BEIR's qrels counts exactly (train 809 queries / 919 qrels, test 300 / 339). The data
  README's wording, "``evidence_doc_id`` where present, else ``cited_doc_ids``", is rule
  ``evidence-else-cited`` and gives 894 / 322 pairs, i.e. not BEIR's qrels; it is kept as an option.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import logging
import os
import tokenize
import zipfile
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from prunebench.errors import PrunebenchError

log = logging.getLogger(__name__)

SCIFACT_FILES = {"train": "claims_train.csv", "test": "claims_validation.csv"}
QRELS_RULES = ("beir", "evidence-else-cited")
BEIR_SPLITS = ("train", "test", "dev")


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(json.dumps(part, sort_keys=True, ensure_ascii=True).encode())
        h.update(b"\x00")
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class Corpus:
    """Documents: ids (strings), titles and texts, in a fixed order (sorted by id as read)."""

    doc_ids: tuple
    titles: tuple
    texts: tuple

    def __len__(self) -> int:
        return len(self.doc_ids)

    @cached_property
    def index(self) -> dict:
        """doc id → position."""
        return {doc: i for i, doc in enumerate(self.doc_ids)}

    def document(self, position: int, sep: str = " ") -> str:
        """The text a dense retriever embeds: ``(title + sep + text).strip()`` (BEIR / MTEB convention)."""
        return (self.titles[position] + sep + self.texts[position]).strip()

    def documents(self, positions=None, sep: str = " ") -> list[str]:
        positions = range(len(self)) if positions is None else positions
        return [self.document(int(p), sep) for p in positions]

    @cached_property
    def checksum(self) -> str:
        return _digest(list(self.doc_ids), list(self.titles), list(self.texts))

    def subset(self, positions) -> "Corpus":
        positions = [int(p) for p in positions]
        return Corpus(tuple(self.doc_ids[p] for p in positions), tuple(self.titles[p] for p in positions),
                      tuple(self.texts[p] for p in positions))


@dataclass(frozen=True, eq=False)
class RetrievalSplit:
    """One split: the corpus, its queries (id → text) and qrels (query id → {doc id: relevance})."""

    name: str
    split: str
    corpus: Corpus
    queries: dict
    qrels: dict
    dropped_queries: int = 0
    source: str = ""

    @cached_property
    def checksum(self) -> str:
        return _digest(self.name, self.split, self.corpus.checksum, sorted(self.queries.items()),
                       sorted((q, sorted(d.items())) for q, d in self.qrels.items()))

    def positives(self, query: str) -> list[str]:
        return sorted(doc for doc, rel in self.qrels[query].items() if rel >= 1)


def build_split(name: str, split: str, corpus: Corpus, queries: dict, qrels: dict, source: str = "") -> RetrievalSplit:
    """Check and assemble a split: unknown documents or queries are errors, queries with no
    positive are dropped and counted (logged)."""
    index = corpus.index
    clean, dropped = {}, 0
    for query in sorted(qrels):
        if query not in queries:
            raise PrunebenchError(f"{source or name}: qrels name query '{query}', which is not in the queries; "
                                  f"fix the qrels file or add the query to queries.jsonl")
        for doc in qrels[query]:
            if doc not in index:
                raise PrunebenchError(f"{source or name}: qrels line ({query}, {doc}) names document '{doc}', which is "
                                      f"not in the corpus; fix the qrels file or use the matching corpus.jsonl")
        if any(rel >= 1 for rel in qrels[query].values()):
            clean[query] = {doc: int(rel) for doc, rel in qrels[query].items()}
        else:
            dropped += 1
    if dropped:
        log.warning("%s/%s: dropped %d queries with no positive document (relevance >= 1)", name, split, dropped)
    if not clean:
        raise PrunebenchError(f"{source or name}: split '{split}' has no query with a positive document; "
                              f"check the qrels file of that split")
    return RetrievalSplit(name, split, corpus, {q: queries[q] for q in clean}, clean, dropped, source)


# -- BEIR directories -------------------------------------------------------------------------------
def _jsonl(path: Path):
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as err:
                    raise PrunebenchError(f"{path}:{number}: not valid JSON ({err.msg}); fix or re-download the file") from None


def read_beir_corpus(directory) -> Corpus:
    path = Path(directory) / "corpus.jsonl"
    if not path.is_file():
        raise PrunebenchError(f"BEIR folder {directory} has no corpus.jsonl; point data.path at a BEIR dataset folder "
                              f"(corpus.jsonl, queries.jsonl, qrels/<split>.tsv)")
    rows = {}
    for row in _jsonl(path):
        if "_id" not in row:
            raise PrunebenchError(f"{path}: a line has no '_id'; each corpus line needs _id, title and text")
        rows[str(row["_id"])] = (str(row.get("title") or ""), str(row.get("text") or ""))
    ids = tuple(sorted(rows))
    return Corpus(ids, tuple(rows[i][0] for i in ids), tuple(rows[i][1] for i in ids))


def read_beir_dir(directory, split: str, corpus: Corpus | None = None) -> RetrievalSplit:
    """A BEIR dataset folder's ``split`` (``train``, ``test``, ``dev``)."""
    directory = Path(directory)
    if split not in BEIR_SPLITS:
        raise PrunebenchError(f"unknown BEIR split '{split}'; use one of {', '.join(BEIR_SPLITS)}")
    corpus = corpus or read_beir_corpus(directory)
    queries_path, qrels_path = directory / "queries.jsonl", directory / "qrels" / f"{split}.tsv"
    if not queries_path.is_file():
        raise PrunebenchError(f"BEIR folder {directory} has no queries.jsonl; point data.path at a BEIR dataset folder")
    if not qrels_path.is_file():
        raise PrunebenchError(f"BEIR folder {directory} has no qrels/{split}.tsv; choose a split it has "
                              f"({', '.join(p.stem for p in sorted((directory / 'qrels').glob('*.tsv'))) or 'none'})")
    queries = {str(row["_id"]): str(row.get("text") or "") for row in _jsonl(queries_path)}
    qrels: dict = {}
    with open(qrels_path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            parts = line.rstrip("\n").split("\t")
            if number == 1 and parts[0] in ("query-id", "query_id", "qid"):
                continue
            if not line.strip():
                continue
            if len(parts) < 3:
                raise PrunebenchError(f"{qrels_path}:{number}: expected 'query-id<TAB>corpus-id<TAB>score'; fix the line")
            try:
                rel = int(float(parts[-1]))
            except ValueError:
                raise PrunebenchError(f"{qrels_path}:{number}: score '{parts[-1]}' is not a number; fix the line") from None
            qrels.setdefault(parts[0], {})[parts[-2]] = rel
    return build_split(directory.name, split, corpus, queries, qrels, source=str(qrels_path))


# -- the SciFact zip --------------------------------------------------------------------------------
def parse_string_list(text: str) -> list[str]:
    """The strings of a Python/NumPy list repr (``['a' 'b']`` or ``['a', 'b']``), without eval."""
    try:
        return [ast.literal_eval(tok.string) for tok in tokenize.generate_tokens(io.StringIO(text).readline)
                if tok.type == tokenize.STRING]
    except (tokenize.TokenError, SyntaxError, ValueError) as err:
        raise PrunebenchError(f"cannot parse a sentence list in scifact.zip ({err}); re-copy the shipped zip") from None


def parse_int_list(text) -> list[int]:
    """The integers of a list repr such as ``[ 5152028 11705328]`` or ``[123, 456]``."""
    if not isinstance(text, str):
        return []
    inner = text.strip()
    if not (inner.startswith("[") and inner.endswith("]")) or "..." in inner:
        raise PrunebenchError(f"cannot parse the id list {text!r} in scifact.zip; re-copy the shipped zip")
    return [int(float(x)) for x in inner[1:-1].replace(",", " ").split()]


def _open_zip(path) -> zipfile.ZipFile:
    path = Path(path)
    if not path.is_file():
        raise PrunebenchError(f"SciFact zip {path} not found; set data.path or $PRUNEBENCH_DATA (the folder holding "
                              f"scifact/scifact.zip)")
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        raise PrunebenchError(f"{path} is not a valid zip; re-copy scifact.zip") from None


def read_scifact_corpus(path) -> Corpus:
    import pandas as pd

    with _open_zip(path) as archive:
        if "corpus_train.csv" not in archive.namelist():
            raise PrunebenchError(f"{path} has no corpus_train.csv; re-copy the shipped scifact.zip")
        frame = pd.read_csv(archive.open("corpus_train.csv"), dtype={"doc_id": str}, keep_default_na=False)
    order = np.argsort(frame["doc_id"].to_numpy(dtype=str), kind="stable")
    ids = tuple(str(frame["doc_id"].iloc[i]) for i in order)
    titles = tuple(str(frame["title"].iloc[i]) for i in order)
    texts = tuple(" ".join(parse_string_list(frame["abstract"].iloc[i])) for i in order)
    return Corpus(ids, titles, texts)


def read_scifact_zip(path, split: str, corpus: Corpus | None = None, qrels_rule: str = "beir") -> RetrievalSplit:
    """SciFact ``split`` (``train`` = claims_train, ``test`` = claims_validation) from the shipped zip."""
    import pandas as pd

    if split not in SCIFACT_FILES:
        raise PrunebenchError(f"unknown SciFact split '{split}'; use 'train' (claims_train) or 'test' "
                              f"(claims_validation = BEIR test); claims_test.csv has no labels")
    if qrels_rule not in QRELS_RULES:
        raise PrunebenchError(f"unknown data.qrels_rule '{qrels_rule}'; use one of {', '.join(QRELS_RULES)}")
    corpus = corpus or read_scifact_corpus(path)
    with _open_zip(path) as archive:
        frame = pd.read_csv(archive.open(SCIFACT_FILES[split]))
    queries, evidence, cited = {}, {}, {}
    for row in frame.itertuples(index=False):
        query = str(row.id)
        queries[query] = str(row.claim)
        cited.setdefault(query, set()).update(str(d) for d in parse_int_list(row.cited_doc_ids))
        evidence.setdefault(query, set())
        if not pd.isna(row.evidence_doc_id):
            evidence[query].add(str(int(row.evidence_doc_id)))
    qrels = {}
    for query in queries:
        docs = (evidence[query] | cited[query]) if qrels_rule == "beir" else (evidence[query] or cited[query])
        qrels[query] = {doc: 1 for doc in docs}
    return build_split("scifact", split, corpus, queries, qrels, source=f"{path}:{SCIFACT_FILES[split]}")


# -- the example set --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class PairExamples:
    """One example per (query, positive document) pair of a :class:`RetrievalSplit`."""

    data: RetrievalSplit
    query_keys: np.ndarray  # str query id per pair
    doc_keys: np.ndarray  # str doc id per pair
    query_ids: np.ndarray  # int64: the query's rank in the split's sorted query ids (strata)
    doc_index: np.ndarray  # int64: the document's position in the corpus
    ids: np.ndarray  # int64: the pair's rank in the split's sorted (query, doc) pairs
    base_checksum: str = ""
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def labels(self) -> np.ndarray:
        """The strata (query ids) under the name the sweep's subsampling reads (one "class" per query)."""
        return self.query_ids

    @property
    def corpus(self) -> Corpus:
        return self.data.corpus

    @cached_property
    def checksum(self) -> str:
        return _digest(self.base_checksum, self.ids.tolist())

    def subset(self, positions) -> "PairExamples":
        positions = np.asarray(positions, dtype=np.int64)
        return replace(self, query_keys=self.query_keys[positions], doc_keys=self.doc_keys[positions],
                       query_ids=self.query_ids[positions], doc_index=self.doc_index[positions],
                       ids=self.ids[positions])

    def query_texts(self, positions=None) -> list[str]:
        keys = self.query_keys if positions is None else self.query_keys[np.asarray(positions, dtype=np.int64)]
        return [self.data.queries[k] for k in keys]

    def doc_texts(self, positions=None) -> list[str]:
        index = self.doc_index if positions is None else self.doc_index[np.asarray(positions, dtype=np.int64)]
        return self.corpus.documents(index)

    @property
    def unique_queries(self) -> list[str]:
        """The distinct query ids of the set, in the order of their first pair."""
        seen = {}
        for key in self.query_keys:
            seen.setdefault(str(key), None)
        return list(seen)

    @property
    def n_queries(self) -> int:
        return len(set(self.query_keys.tolist()))

    def qrels(self) -> dict:
        """The split's qrels restricted to this set's queries (all their judged documents)."""
        return {q: self.data.qrels[q] for q in self.unique_queries}


def pair_examples(data: RetrievalSplit) -> PairExamples:
    """The example set of ``data``: every (query, positive doc) pair, sorted by (query id, doc id)."""
    queries = sorted(data.qrels)
    rank = {q: i for i, q in enumerate(queries)}
    pairs = [(q, d) for q in queries for d in data.positives(q)]
    index = data.corpus.index
    return PairExamples(
        data=data,
        query_keys=np.array([q for q, _ in pairs], dtype=object),
        doc_keys=np.array([d for _, d in pairs], dtype=object),
        query_ids=np.array([rank[q] for q, _ in pairs], dtype=np.int64),
        doc_index=np.array([index[d] for _, d in pairs], dtype=np.int64),
        ids=np.arange(len(pairs), dtype=np.int64),
        base_checksum=data.checksum,
        extra={"dropped_queries": int(data.dropped_queries)},
    )


# -- config → split ---------------------------------------------------------------------------------
def data_root(data_cfg: dict) -> Path:
    from prunebench.provenance import REPO_ROOT

    return Path(data_cfg.get("root") or os.environ.get("PRUNEBENCH_DATA") or REPO_ROOT.parent / "shared" / "data")


_CORPUS_CACHE: dict = {}


def load_retrieval_split(data_cfg: dict, split: str) -> RetrievalSplit:
    """``data.source``: ``scifact`` (default; ``data.path`` or ``<data root>/scifact/scifact.zip``) or
    ``beir`` (``data.path`` = a BEIR folder). ``data.qrels_rule`` (SciFact): ``beir`` (default) or
    ``evidence-else-cited``. The corpus is read once per process and path."""
    data_cfg = dict(data_cfg or {})
    source = data_cfg.get("source", "scifact")
    if source == "scifact":
        path = Path(data_cfg.get("path") or data_root(data_cfg) / "scifact" / "scifact.zip")
        key = ("scifact", str(path), path.stat().st_mtime if path.exists() else None)
        if key not in _CORPUS_CACHE:
            _CORPUS_CACHE[key] = read_scifact_corpus(path)
        return read_scifact_zip(path, split, corpus=_CORPUS_CACHE[key], qrels_rule=data_cfg.get("qrels_rule", "beir"))
    if source == "beir":
        if not data_cfg.get("path"):
            raise PrunebenchError("data.source 'beir' needs data.path, the BEIR dataset folder (corpus.jsonl, "
                                  "queries.jsonl, qrels/<split>.tsv)")
        path = Path(data_cfg["path"])
        key = ("beir", str(path))
        if key not in _CORPUS_CACHE:
            _CORPUS_CACHE[key] = read_beir_corpus(path)
        return read_beir_dir(path, split, corpus=_CORPUS_CACHE[key])
    raise PrunebenchError(f"unknown data.source '{source}' for the retrieval task; use 'scifact' or 'beir'")


def restrict_queries(data: RetrievalSplit, n_queries: int, seed: int = 0) -> RetrievalSplit:
    """``data`` with a seeded random ``n_queries`` of its queries (each with all its positives); the
    corpus is unchanged (a shortened training split for small scales)."""
    queries = sorted(data.qrels)
    if not 0 < int(n_queries) <= len(queries):
        raise PrunebenchError(f"data.train_queries {n_queries} must be between 1 and the split's {len(queries)} "
                              f"queries with a positive; lower it")
    chosen = sorted(np.random.default_rng([int(seed), 41]).choice(queries, size=int(n_queries), replace=False))
    return RetrievalSplit(data.name, data.split, data.corpus, {q: data.queries[q] for q in chosen},
                          {q: data.qrels[q] for q in chosen}, data.dropped_queries,
                          data.source + f" ({n_queries} of {len(queries)} queries, seed {seed})")


EMBEDDING_BYTES = 384 * 4  # one float32 MiniLM embedding


def corpus_memory_mb(corpus: Corpus, dim_bytes: int = EMBEDDING_BYTES) -> float:
    """About what holding ``corpus`` costs in this process, in MB: its texts (twice their characters,
    for the read strings and the tokenizer's copies) plus one float32 embedding per document."""
    text = sum(len(t) + len(x) for t, x in zip(corpus.titles, corpus.texts))
    return (2 * text + len(corpus) * dim_bytes) / 2 ** 20


def check_corpus_memory(corpus: Corpus, memory_mb, where: str = "data") -> None:
    """Refuse, in one line, a corpus whose texts and embeddings exceed ``data.memory_mb``."""
    if memory_mb is None:
        return
    need = corpus_memory_mb(corpus)
    if need > float(memory_mb):
        raise PrunebenchError(f"{where}: the corpus ({len(corpus):,} documents) needs about {need:,.0f} MB for its texts "
                              f"and embeddings, more than data.memory_mb = {float(memory_mb):g}; raise data.memory_mb "
                              f"or shorten the corpus with data.corpus_docs")


def restrict_corpus(data: RetrievalSplit, n_docs: int, seed: int = 0, keep=()) -> RetrievalSplit:
    """``data`` over a smaller corpus: every document judged in its qrels (and ``keep``), plus random
    others up to ``n_docs`` in total (for tests and smoke runs; metrics then differ from the full corpus)."""
    judged = {d for docs in data.qrels.values() for d in docs} | set(keep)
    index = data.corpus.index
    wanted = sorted(index[d] for d in judged)
    others = np.setdiff1d(np.arange(len(data.corpus)), wanted)
    extra = max(0, int(n_docs) - len(wanted))
    picked = np.random.default_rng(seed).choice(others, size=min(extra, len(others)), replace=False) if extra else []
    positions = sorted(set(wanted) | {int(p) for p in picked})
    corpus = data.corpus.subset(positions)
    return RetrievalSplit(data.name, data.split, corpus, data.queries, data.qrels, data.dropped_queries,
                          data.source + f" (corpus restricted to {len(positions)} docs, seed {seed})")
