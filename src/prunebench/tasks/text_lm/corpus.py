"""The text-lm corpus: a domain-labelled mixture read straight from the NLTK zip archives (or a
user's JSONL file), cut into documents with stable ids, split by a seeded hash of the id.

Corpora (``data.corpora``, default all ten) and the domain group each belongs to:

==================  =========  ===========================================================
corpus              domain     what is read
==================  =========  ===========================================================
brown               clean      the 500 ``c??##`` files, ``word/tag`` POS tags stripped
abc                 clean      rural.txt, science.txt
state_union         clean      every address
inaugural           clean      every address
webtext             web        the forum / overheard / ads / script / wine files
nps_chat            web        the text of every ``<Post>`` of the XML sessions
problem_reports     web        bug-report titles, ``word/TAG`` tags stripped
genesis             foreign    the non-English translations (finnish, french, german,
                               portuguese, swedish; not the two English ones nor lolcat)
movie_reviews       reviews    the 2,000 reviews (pos/ and neg/)
masc_tagged         masc       spoken/ and written/, ``word_TAG`` tags stripped
==================  =========  ===========================================================

Each source file is whitespace-normalised and cut at word boundaries into documents of at most
``doc_chars`` characters (or ``doc_words`` words when that key is set); a tail shorter than
``min_chars`` is dropped. A document's id is the first 63 bits of
``sha256("<corpus>/<file>/<chunk index>")``, so ids do not depend on which corpora are read, on
the split fractions or on the order of the archive. The split of a document is decided by
``sha256("<split_seed>/<id>")`` mapped to [0, 1) against the cumulative ``splits`` fractions
(``reference`` = D_ref, ``train`` = the pool to prune, ``validation``, ``test``).

``data.corpus: jsonl`` with ``data.path`` reads ``{"text": ..., "domain": ... (optional),
"id": ... (optional)}`` lines with the same chunker and splitter; the id hashes
``"jsonl/<id or line number>/<chunk index>"``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from prunebench.config import check_known_keys
from prunebench.errors import PrunebenchError

SPLITS = ("reference", "train", "validation", "test")
DEFAULT_SPLITS = {"reference": 0.2, "train": 0.6, "validation": 0.1, "test": 0.1}
CORPUS_DOMAIN = {
    "brown": "clean", "abc": "clean", "state_union": "clean", "inaugural": "clean",
    "webtext": "web", "nps_chat": "web", "problem_reports": "web",
    "genesis": "foreign", "movie_reviews": "reviews", "masc_tagged": "masc",
}
CORPORA = tuple(CORPUS_DOMAIN)
DATA_DEFAULTS = {"corpus": "nltk", "root": None, "nltk_dir": "text-nltk", "paths": None, "corpora": None, "doc_chars": 1000, "doc_words": None,
                 "min_chars": 200, "splits": None, "split_seed": 0, "domains": "group", "max_docs_per_corpus": None,
                 "path": None}
GENESIS_FOREIGN = ("finnish.txt", "french.txt", "german.txt", "portuguese.txt", "swedish.txt")
_BROWN_FILE = re.compile(r"^brown/c[a-r]\d\d$")
_PTB_TAG = re.compile(r"^(.+)/([A-Z][A-Z$]*|[.,:()`'#$]+|-[A-Z]+-)$")  # problem_reports (Stanford tagger tags)
_SPACE_BEFORE = re.compile(r" ([.,;:!?%)\]}]|n't|'s|'re|'ve|'ll|'d|'m)(?= |$)")
_SPACE_AFTER = re.compile(r"([(\[{$]) ")


@dataclass(eq=False)
class TextDocuments:
    """An example set of the text-lm task: documents with stable int64 ids and a domain code.

    ``domains[i]`` indexes ``domain_names``; ``labels`` is the same array (the generic code reads
    strata as labels). ``checksum`` digests ids and texts (not the domain names).
    """

    ids: np.ndarray
    domains: np.ndarray
    domain_names: tuple
    texts: list
    split: str = "train"
    data_cfg: dict | None = None  # the config the set was read with (to fit the tokenizer on its D_ref)

    def __post_init__(self):
        self.ids = np.asarray(self.ids, dtype=np.int64)
        self.domains = np.asarray(self.domains, dtype=np.int64)
        self.texts = list(self.texts)
        if not (len(self.ids) == len(self.domains) == len(self.texts)):
            raise ValueError("ids, domains and texts must have the same length")

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def labels(self) -> np.ndarray:
        return self.domains

    @property
    def num_classes(self) -> int:
        return len(self.domain_names)

    @cached_property
    def checksum(self) -> str:
        digest = hashlib.sha256(np.ascontiguousarray(self.ids).tobytes())
        for text in self.texts:
            digest.update(text.encode("utf-8"))
            digest.update(b"\x00")
        return digest.hexdigest()[:32]

    def subset(self, positions) -> "TextDocuments":
        positions = np.asarray(positions, dtype=np.int64)
        return TextDocuments(self.ids[positions], self.domains[positions], self.domain_names,
                             [self.texts[p] for p in positions], self.split, self.data_cfg)

    def domain_counts(self) -> dict:
        counts = np.bincount(self.domains, minlength=len(self.domain_names))
        return {name: int(c) for name, c in zip(self.domain_names, counts)}


# ----------------------------------------------------------------------------------------------
# Text clean-up
# ----------------------------------------------------------------------------------------------

def decode(raw: bytes) -> str:
    """UTF-8, else Latin-1 (several NLTK files are Latin-1)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def detokenize(tokens) -> str:
    """Join word tokens with spaces, without the space before closing punctuation and clitics."""
    text = " ".join(t for t in tokens if t)
    text = text.replace("``", '"').replace("''", '"')
    text = _SPACE_BEFORE.sub(r"\1", text)
    return _SPACE_AFTER.sub(r"\1", text)


def strip_brown_tags(text: str) -> str:
    """Brown's ``word/tag`` tokens to words (the tag is after the last slash)."""
    return detokenize(tok.rsplit("/", 1)[0] if "/" in tok else tok for tok in text.split())


def strip_underscore_tags(text: str) -> str:
    """MASC's ``word_TAG`` tokens to words (line breaks kept as sentence breaks)."""
    lines = []
    for line in text.splitlines():
        lines.append(detokenize(tok.rsplit("_", 1)[0] if "_" in tok else tok for tok in line.split()))
    return "\n".join(line for line in lines if line)


def strip_ptb_slash_tags(text: str) -> str:
    """problem_reports' ``word/TAG`` tokens to words (an untagged token is kept as it is)."""
    lines = []
    for line in text.splitlines():
        words = []
        for tok in line.split():
            match = _PTB_TAG.match(tok)
            words.append(match.group(1) if match else tok)
        lines.append(detokenize(words))
    return "\n".join(line for line in lines if line)


def nps_posts(raw: bytes) -> str:
    """The text of every ``<Post>`` of an NPS chat session, one per line."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(raw)
    except ET.ParseError as err:
        raise PrunebenchError(f"cannot parse an nps_chat XML session ({err}); restore the original nps_chat.zip") from None
    return "\n".join((post.text or "").strip() for post in root.iter("Post") if (post.text or "").strip())


# ----------------------------------------------------------------------------------------------
# Archive readers: (file name, text) per source file
# ----------------------------------------------------------------------------------------------

def _members(archive: zipfile.ZipFile):
    return sorted(n for n in archive.namelist() if not n.endswith("/"))


def read_archive(corpus: str, path: Path):
    """``(file, text)`` pairs of one NLTK archive, tags stripped, in file-name order."""
    try:
        archive = zipfile.ZipFile(path)
    except (FileNotFoundError, zipfile.BadZipFile, IsADirectoryError) as err:
        raise PrunebenchError(f"cannot read corpus archive {path} ({type(err).__name__}); put {corpus}.zip there or "
                              f"set data.paths.{corpus}, data.nltk_dir or data.root / $PRUNEBENCH_DATA") from None
    with archive:
        names = _members(archive)
        base = lambda name: name.rsplit("/", 1)[-1]  # noqa: E731
        if corpus == "brown":
            for name in (n for n in names if _BROWN_FILE.match(n)):
                yield base(name), strip_brown_tags(decode(archive.read(name)))
        elif corpus == "masc_tagged":
            for name in (n for n in names if n.endswith(".txt") and ("/spoken/" in n or "/written/" in n)):
                yield name.split("/", 1)[1], strip_underscore_tags(decode(archive.read(name)))
        elif corpus == "problem_reports":
            for name in (n for n in names if base(n) != "README"):
                yield base(name), strip_ptb_slash_tags(decode(archive.read(name)))
        elif corpus == "nps_chat":
            for name in (n for n in names if n.endswith(".xml")):
                yield base(name), nps_posts(archive.read(name))
        elif corpus == "genesis":
            for name in (n for n in names if base(n) in GENESIS_FOREIGN):
                yield base(name), decode(archive.read(name))
        elif corpus == "movie_reviews":
            for name in (n for n in names if n.endswith(".txt") and ("/pos/" in n or "/neg/" in n)):
                yield name.split("/", 1)[1], decode(archive.read(name))
        elif corpus in ("abc", "state_union", "inaugural", "webtext"):
            for name in (n for n in names if n.endswith(".txt")):
                yield base(name), decode(archive.read(name))
        else:  # pragma: no cover - guarded by check_corpora
            raise PrunebenchError(f"unknown corpus '{corpus}'")


# ----------------------------------------------------------------------------------------------
# Chunking, ids, splits
# ----------------------------------------------------------------------------------------------

def chunk_text(text: str, doc_chars: int = 1000, min_chars: int = 200, doc_words: int | None = None) -> list[str]:
    """Whitespace-normalised ``text`` cut at word boundaries into pieces of at most ``doc_chars``
    characters (or exactly ``doc_words`` words); a tail shorter than ``min_chars`` is dropped."""
    words = text.split()
    if doc_words:
        pieces = [" ".join(words[i:i + int(doc_words)]) for i in range(0, len(words), int(doc_words))]
    else:
        pieces, current, size = [], [], 0
        for word in words:
            word = word[:doc_chars]
            if current and size + 1 + len(word) > doc_chars:
                pieces.append(" ".join(current))
                current, size = [], 0
            size += len(word) + (1 if current else 0)
            current.append(word)
        if current:
            pieces.append(" ".join(current))
    return [p for p in pieces if len(p) >= min_chars]


def stable_id(key: str) -> int:
    """First 63 bits of ``sha256(key)`` as a non-negative int64."""
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little") & 0x7FFFFFFFFFFFFFFF


def split_uniform(ids: np.ndarray, split_seed) -> np.ndarray:
    """``sha256("<split_seed>/<id>")`` mapped to [0, 1), one per id."""
    return np.array([int.from_bytes(hashlib.sha256(f"{split_seed}/{int(i)}".encode()).digest()[:8], "little") / 2**64
                     for i in ids], dtype=np.float64)


def split_fractions(data_cfg: dict) -> dict:
    fractions = {**DEFAULT_SPLITS, **(data_cfg.get("splits") or {})}
    check_known_keys(fractions, SPLITS, where="data.splits", noun="split", fix=f"splits are {', '.join(SPLITS)}")
    if any(f < 0 for f in fractions.values()) or sum(fractions.values()) > 1 + 1e-9:
        raise PrunebenchError(f"data.splits fractions must be >= 0 and sum to at most 1, got {fractions}")
    return fractions


def split_mask(ids: np.ndarray, data_cfg: dict, split: str) -> np.ndarray:
    """Which of ``ids`` fall in ``split`` (cumulative intervals of the fractions in SPLITS order)."""
    if split not in SPLITS:
        raise PrunebenchError(f"unknown split '{split}' for task text-lm; splits are {', '.join(SPLITS)}")
    fractions = split_fractions(data_cfg)
    low = sum(fractions[s] for s in SPLITS[:SPLITS.index(split)])
    u = split_uniform(ids, data_cfg.get("split_seed", 0))
    return (u >= low) & (u < low + fractions[split])


# ----------------------------------------------------------------------------------------------
# Whole corpus
# ----------------------------------------------------------------------------------------------

def data_options(data_cfg: dict | None) -> dict:
    data_cfg = dict(data_cfg or {})
    check_known_keys(data_cfg, {*DATA_DEFAULTS, "name", "seed"}, where="text-lm data",
                     fix=f"known: {', '.join(sorted(DATA_DEFAULTS))}")
    return {**DATA_DEFAULTS, **data_cfg}


def data_root(opts: dict) -> Path:
    """``data.root`` > ``$PRUNEBENCH_DATA`` > ``<repo>/../shared/data`` (as the image task)."""
    from prunebench.provenance import REPO_ROOT

    root = opts.get("root") or os.environ.get("PRUNEBENCH_DATA") or REPO_ROOT.parent / "shared" / "data"
    return Path(os.path.expandvars(os.path.expanduser(str(root))))


def _under_root(path, opts: dict) -> Path:
    path = Path(os.path.expandvars(os.path.expanduser(str(path))))
    return path if path.is_absolute() else data_root(opts) / path


def nltk_root(opts: dict) -> Path:
    """The folder of the NLTK zips: ``data.nltk_dir`` (default ``text-nltk``) under the data root, or absolute."""
    return _under_root(opts.get("nltk_dir") or "text-nltk", opts)


def archive_path(corpus: str, opts: dict) -> Path:
    paths = opts.get("paths") or {}
    if corpus in paths:
        return _under_root(paths[corpus], opts)
    return nltk_root(opts) / f"{corpus}.zip"


def check_corpora(names) -> list[str]:
    names = list(names)
    unknown = [n for n in names if n not in CORPUS_DOMAIN]
    if unknown:
        raise PrunebenchError(f"unknown text corpus {', '.join(map(repr, unknown))}; data.corpora takes {', '.join(CORPORA)}")
    if not names:
        raise PrunebenchError(f"data.corpora is empty; name at least one of {', '.join(CORPORA)}")
    return names


def _keep_first_by_hash(keys: list, ids: list, cap: int | None):
    """Positions of at most ``cap`` documents: those of lowest id (a stable pseudo-random sample)."""
    if not cap or len(ids) <= cap:
        return range(len(ids))
    return sorted(np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")[:int(cap)].tolist())


def _documents_nltk(opts: dict):
    corpora = check_corpora(opts.get("corpora") or CORPORA)
    by_corpus = opts.get("domains", "group") == "corpus"
    domain_names = tuple(corpora) if by_corpus else tuple(dict.fromkeys(CORPUS_DOMAIN[c] for c in corpora))
    ids, domains, texts = [], [], []
    for corpus in corpora:
        cids, ctexts = [], []
        for file, text in read_archive(corpus, archive_path(corpus, opts)):
            for k, piece in enumerate(chunk_text(text, int(opts["doc_chars"]), int(opts["min_chars"]), opts["doc_words"])):
                cids.append(stable_id(f"{corpus}/{file}/{k}"))
                ctexts.append(piece)
        code = domain_names.index(corpus if by_corpus else CORPUS_DOMAIN[corpus])
        for p in _keep_first_by_hash(ctexts, cids, opts.get("max_docs_per_corpus")):
            ids.append(cids[p])
            texts.append(ctexts[p])
            domains.append(code)
    return ids, domains, domain_names, texts


def _documents_jsonl(opts: dict):
    if not opts.get("path"):
        raise PrunebenchError("data.corpus jsonl needs data.path (a file of {\"text\": ..., \"domain\": ...} lines)")
    path = _under_root(opts["path"], opts)
    if not path.is_file():
        raise PrunebenchError(f"JSONL corpus {path} does not exist; set data.path to a file of {{\"text\": ...}} lines")
    ids, domain_labels, texts = [], [], []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise PrunebenchError(f"{path}:{number} is not JSON ({err.msg}); write one JSON object per line") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise PrunebenchError(f"{path}:{number} has no string 'text' field; every line needs {{\"text\": ...}}")
            key = row.get("id", number)
            domain = str(row.get("domain", "default"))
            for k, piece in enumerate(chunk_text(row["text"], int(opts["doc_chars"]), int(opts["min_chars"]),
                                                 opts["doc_words"])):
                ids.append(stable_id(f"jsonl/{key}/{k}"))
                domain_labels.append(domain)
                texts.append(piece)
    if not texts:
        raise PrunebenchError(f"JSONL corpus {path} has no document of at least data.min_chars={opts['min_chars']} "
                              f"characters; add lines with a 'text' field or lower data.min_chars")
    domain_names = tuple(sorted(set(domain_labels)))
    return ids, [domain_names.index(d) for d in domain_labels], domain_names, texts


_CACHE: dict = {}


def _cache_key(opts: dict):
    opts = {k: v for k, v in opts.items() if k not in ("splits", "split_seed", "name", "seed")}
    files = []
    if opts["corpus"] == "jsonl":
        files = [_under_root(opts["path"], opts) if opts.get("path") else None]
    else:
        files = [archive_path(c, opts) for c in (opts.get("corpora") or CORPORA) if c in CORPUS_DOMAIN]
    stamps = []
    for f in files:
        try:
            st = os.stat(f)
            stamps.append((str(f), st.st_size, st.st_mtime_ns))
        except (OSError, TypeError):
            stamps.append((str(f), None, None))
    return json.dumps(opts, sort_keys=True, default=str), tuple(stamps)


def read_corpus(data_cfg: dict | None, *, cache: bool = True) -> TextDocuments:
    """Every document of the configured corpus (all splits), in reading order."""
    opts = data_options(data_cfg)
    key = _cache_key(opts) if cache else None
    if cache and key in _CACHE:
        return _CACHE[key]
    if opts["corpus"] == "nltk":
        ids, domains, domain_names, texts = _documents_nltk(opts)
    elif opts["corpus"] == "jsonl":
        ids, domains, domain_names, texts = _documents_jsonl(opts)
    else:
        raise PrunebenchError(f"unknown data.corpus '{opts['corpus']}' for task text-lm; use nltk or jsonl")
    ids = np.asarray(ids, dtype=np.int64)
    if len(np.unique(ids)) != len(ids):
        raise PrunebenchError("duplicate document ids in the text corpus (a repeated JSONL 'id'?); give each line a unique id")
    docs = TextDocuments(ids, domains, domain_names, texts, "all", dict(data_cfg or {}))
    if cache:
        _CACHE.clear()  # keep one corpus in memory
        _CACHE[key] = docs
    return docs


def load_documents(data_cfg: dict | None, split: str, *, cache: bool = True) -> TextDocuments:
    """The ``split`` of the configured corpus (see the module docstring)."""
    opts = data_options(data_cfg)
    if split not in SPLITS:
        raise PrunebenchError(f"unknown split '{split}' for task text-lm; splits are {', '.join(SPLITS)}")
    corpus = read_corpus(data_cfg, cache=cache)
    subset = corpus.subset(np.flatnonzero(split_mask(corpus.ids, opts, split)))
    subset.split = split
    if len(subset) == 0:
        raise PrunebenchError(f"split '{split}' of the text corpus is empty; raise data.splits.{split} or add documents")
    return subset
