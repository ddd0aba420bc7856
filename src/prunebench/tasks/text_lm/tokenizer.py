"""Tokenizers of the text-lm task: a byte-level BPE trained offline on D_ref with the ``tokenizers``
package (saved as JSON, cached by the training set's checksum and the vocabulary size), and a
byte fallback (``tokenizer: byte``, 256 byte ids + end-of-text) that needs nothing.

Both are lossless: ``decode(encode(text)) == text`` for any string. Id ``eos_id`` separates
documents in packed training and is the context every document is scored from.
"""

from __future__ import annotations

import os
from pathlib import Path

from prunebench.config import check_known_keys
from prunebench.errors import PrunebenchError

EOS = "<|endoftext|>"
TOKENIZER_DEFAULTS = {"kind": "bpe", "vocab_size": 1024, "path": None, "fit_on": "reference", "cache_dir": None}


class ByteTokenizer:
    """UTF-8 bytes as ids 0..255, end-of-text 256."""

    kind = "byte"
    vocab_size = 257
    eos_id = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def encode_batch(self, texts) -> list[list[int]]:
        return [self.encode(t) for t in texts]

    def decode(self, ids) -> str:
        return bytes(i for i in ids if i < 256).decode("utf-8", errors="replace")

    def describe(self) -> dict:
        return {"kind": "byte", "vocab_size": self.vocab_size}


class BPETokenizer:
    """A ``tokenizers`` byte-level BPE (ByteLevel pre-tokenizer and decoder, no normaliser)."""

    kind = "bpe"

    def __init__(self, tokenizer, path: Path | None = None):
        self._tok = tokenizer
        self.path = path
        self.eos_id = tokenizer.token_to_id(EOS)
        if self.eos_id is None:
            raise PrunebenchError(f"tokenizer {path} has no {EOS} token; train it with fit_bpe or use tokenizer: byte")

    @property
    def vocab_size(self) -> int:
        return self._tok.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text).ids

    def encode_batch(self, texts) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch(list(texts))]

    def decode(self, ids) -> str:
        return self._tok.decode([int(i) for i in ids if int(i) != self.eos_id])

    def describe(self) -> dict:
        return {"kind": "bpe", "vocab_size": self.vocab_size, "path": str(self.path) if self.path else None}

    def __getstate__(self):  # picklable (torch.save of a model carrying its tokenizer)
        return {"json": self._tok.to_str(), "path": self.path}

    def __setstate__(self, state):
        from tokenizers import Tokenizer

        self.__init__(Tokenizer.from_str(state["json"]), state["path"])


def tokenizer_options(spec) -> dict:
    """``tokenizer: byte`` / ``bpe`` / a mapping over :data:`TOKENIZER_DEFAULTS`."""
    if spec is None:
        spec = {}
    if isinstance(spec, str):
        spec = {"kind": spec}
    check_known_keys(spec, TOKENIZER_DEFAULTS, where="tokenizer")
    opts = {**TOKENIZER_DEFAULTS, **spec}
    if opts["kind"] not in ("bpe", "byte"):
        raise PrunebenchError(f"unknown tokenizer kind '{opts['kind']}'; use bpe or byte")
    if opts["fit_on"] not in ("reference", "self"):
        raise PrunebenchError(f"tokenizer.fit_on must be reference (D_ref) or self, got '{opts['fit_on']}'")
    return opts


def cache_dir(opts: dict) -> Path:
    """``tokenizer.cache_dir`` > ``$PRUNEBENCH_TOKENIZER_DIR`` > ``~/.cache/prunebench/tokenizers``."""
    path = opts.get("cache_dir") or os.environ.get("PRUNEBENCH_TOKENIZER_DIR") or "~/.cache/prunebench/tokenizers"
    return Path(os.path.expanduser(str(path)))


def fit_bpe(texts, checksum: str, vocab_size: int = 1024, directory: Path | None = None) -> BPETokenizer:
    """Train (or load the cached) byte-level BPE of ``vocab_size`` on ``texts`` (digest ``checksum``)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if int(vocab_size) < 257 + 1:
        raise PrunebenchError(f"tokenizer.vocab_size must exceed 257 (256 bytes + {EOS}), got {vocab_size}")
    directory = Path(directory) if directory else cache_dir({})
    path = directory / f"bpe-{int(vocab_size)}-{checksum}.json"
    if path.is_file():
        return BPETokenizer(Tokenizer.from_file(str(path)), path)
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=int(vocab_size), special_tokens=[EOS], show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(list(texts), trainer=trainer)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tokenizer.save(str(tmp))
    os.replace(tmp, path)
    return BPETokenizer(tokenizer, path)


def load_tokenizer(path) -> BPETokenizer:
    from tokenizers import Tokenizer

    path = Path(os.path.expanduser(str(path)))
    if not path.is_file():
        raise PrunebenchError(f"tokenizer file {path} does not exist; drop tokenizer.path to train one on D_ref")
    return BPETokenizer(Tokenizer.from_file(str(path)), path)


def build_tokenizer(spec, examples):
    """The tokenizer ``spec`` asks for. A BPE without a ``path`` is trained on the ``reference``
    split (D_ref) of the data config ``examples`` was read with (``fit_on: reference``; a set with
    no data config, e.g. a synthetic one, trains on itself) or on ``examples`` (``fit_on: self``)."""
    opts = tokenizer_options(spec)
    if opts["kind"] == "byte":
        return ByteTokenizer()
    if opts["path"]:
        return load_tokenizer(opts["path"])
    corpus = examples
    if opts["fit_on"] == "reference" and getattr(examples, "data_cfg", None) is not None \
            and getattr(examples, "split", None) != "reference":
        from prunebench.tasks.text_lm.corpus import load_documents

        corpus = load_documents(examples.data_cfg, "reference")
    return fit_bpe(corpus.texts, corpus.checksum, opts["vocab_size"], cache_dir(opts))
