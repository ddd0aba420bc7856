"""The ``text-lm`` task: causal language modelling on a domain-labelled text mixture, for
perplexity-based data pruning (Ankner et al. 2024, "Perplexed by Perplexity", arXiv 2405.20541).

- splits (:mod:`.corpus`): ``reference`` (D_ref, trains the reference LM), ``train`` (the pool the
  metric scores and the selection prunes), ``validation`` (the checkpoints' loss curve), ``test``;
- tokenizer (:mod:`.tokenizer`): byte-level BPE trained on D_ref (cached) or bytes;
- model (:mod:`.model`): a pre-LN causal transformer of a size preset;
- training (:mod:`.training`): packed next-token training at a fixed token budget;
- outputs: ``loss`` (per-document mean token NLL), ``embedding`` (mean-pooled final hidden state),
  and ``n_tokens`` (scored tokens per document) from :meth:`TextLM.example_outputs`;
- evaluation: perplexity ``exp(sum NLL / sum tokens)`` (token-weighted); the scaling fits read
  ``error`` = the mean NLL per token (lower is better).
"""

from __future__ import annotations

import math

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.tasks.base import Evaluation, Task
from prunebench.tasks.registry import register_task

OUTPUT_NAMES = ("loss", "embedding", "n_tokens")
SMOKE_RECIPE = {"model": "nano", "tokenizer": "byte", "context": 32, "batch_size": 8, "steps": 12, "lr": 3e-3,
                "eval_points": 2, "eval_batch_size": 64}
_SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ze", "pa", "do", "fe")


def synthetic_documents(size: int, seed: int, split: str = "train"):
    """``size`` generated documents of two domains (no disk): ``prose`` (a fixed first-order Markov
    language over 40 pseudo-words, each with 3 allowed successors) and ``noise`` (random letters)."""
    from prunebench.tasks.text_lm.corpus import TextDocuments, stable_id

    language = np.random.default_rng(12345)  # the same language for every seed
    words = ["".join(language.choice(_SYLLABLES, size=language.integers(1, 4))) for _ in range(40)]
    successors = language.integers(0, len(words), size=(len(words), 3))
    rng = np.random.default_rng(seed)
    texts, domains = [], []
    for i in range(size):
        length = int(rng.integers(15, 40))
        if i % 4 == 3:  # a quarter noise
            letters = rng.choice(list("abcdefghijklmnopqrstuvwxyz "), size=length * 4)
            texts.append("".join(letters).strip() or "x")
            domains.append(1)
        else:
            w = int(rng.integers(len(words)))
            out = []
            for _ in range(length):
                out.append(words[w])
                w = int(successors[w, rng.integers(3)])
            texts.append(" ".join(out) + ".")
            domains.append(0)
    ids = [stable_id(f"synthetic/{seed}/{split}/{i}") for i in range(size)]
    return TextDocuments(ids, domains, ("prose", "noise"), texts, split, None)


@register_task("text-lm")
class TextLM(Task):
    """Causal LM pretraining on a text mixture; perplexity (lower is better)."""

    outputs = frozenset({"loss", "embedding"})
    eval_metric = "perplexity"
    higher_is_better = False
    summary = "causal LM on NLTK / JSONL text (domains, D_ref split), token-weighted perplexity"

    def load_split(self, data_cfg: dict, split: str):
        from prunebench.tasks.text_lm.corpus import load_documents

        return load_documents(data_cfg, split)

    def strata(self, examples) -> np.ndarray:
        return np.asarray(examples.domains)

    def build_model(self, train_cfg, examples, seed: int):
        """A :class:`~.model.CausalLM` of ``train_cfg['model']`` with its tokenizer (``.tokenizer``)."""
        from prunebench.tasks.text_lm.model import build_causal_lm, preset
        from prunebench.tasks.text_lm.tokenizer import build_tokenizer
        from prunebench.tasks.text_lm.training import train_options

        cfg = train_options(train_cfg)
        tokenizer = build_tokenizer(cfg["tokenizer"], examples)
        model = build_causal_lm(tokenizer.vocab_size, cfg["context"], preset(cfg["model"]), seed)
        model.tokenizer = tokenizer
        return model

    def train(self, model, examples, train_cfg, *, seed: int, device="cpu", eval_set=None, steps=None,
              callbacks=(), checkpoint_path=None):
        from prunebench.tasks.text_lm.training import train_lm

        return train_lm(model, examples, train_cfg, seed=seed, device=device, eval_set=eval_set, steps=steps,
                        callbacks=callbacks, checkpoint_path=checkpoint_path)

    def predict(self, model, examples, *, device="cpu", train_cfg=None) -> np.ndarray:
        """``(N, 2)``: per document summed NLL (nats) and scored tokens."""
        from prunebench.tasks.text_lm.training import predict_array, train_options

        return predict_array(model, examples, batch_size=train_options(train_cfg)["eval_batch_size"], device=device)

    def example_outputs(self, model, examples, names, *, device="cpu", train_cfg=None) -> dict[str, np.ndarray]:
        """``loss`` (mean token NLL per document), ``embedding`` (mean-pooled final hidden state),
        ``n_tokens`` (scored tokens per document), aligned to ``examples``."""
        from prunebench.tasks.text_lm.training import score_documents, train_options

        names = tuple(names)
        unknown = [n for n in names if n not in OUTPUT_NAMES]
        if unknown:
            raise PrunebenchError(f"task text-lm records {', '.join(OUTPUT_NAMES)}, not {', '.join(unknown)}")
        scored = score_documents(model, examples, batch_size=train_options(train_cfg)["eval_batch_size"],
                                 device=device, embedding="embedding" in names)
        with np.errstate(invalid="ignore", divide="ignore"):
            loss = np.where(scored["n_tokens"] > 0, scored["nll_sum"] / np.maximum(scored["n_tokens"], 1), np.nan)
        every = {"loss": loss, "n_tokens": scored["n_tokens"], "embedding": scored.get("embedding")}
        return {name: every[name] for name in names}

    def evaluate(self, predictions: np.ndarray, examples) -> Evaluation:
        """Perplexity ``exp(sum NLL / sum tokens)``; ``error`` = mean NLL per token (what the fits read)."""
        from prunebench.tasks.text_lm.training import token_weighted_nll

        if len(predictions) != len(examples):
            raise PrunebenchError(f"{len(predictions)} predictions for {len(examples)} documents; predict the same set")
        nll = token_weighted_nll(predictions)
        return Evaluation("perplexity", math.exp(nll), nll, False)

    def synthetic_split(self, size: int, seed: int, split: str = "train"):
        return synthetic_documents(size, seed, split)

    def smoke_recipe(self) -> dict:
        return dict(SMOKE_RECIPE)
