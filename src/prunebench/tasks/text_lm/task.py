"""The ``text-lm`` task: causal language modelling on a domain-labelled text mixture, for
perplexity-based data pruning (Ankner et al. 2024, "Perplexed by Perplexity", arXiv 2405.20541).

- splits (:mod:`.corpus`): ``reference`` (D_ref, trains the reference LM), ``train`` (the pool the
  metric scores and the selection prunes), ``validation`` (the checkpoints' loss curve), ``test``;
- tokenizer (:mod:`.tokenizer`): byte-level BPE trained on D_ref (cached) or bytes;
- model (:mod:`.model`): a pre-LN causal transformer of a size preset;
- training (:mod:`.training`): packed next-token training at a fixed token budget;
- outputs: ``loss`` (per-document mean token NLL), ``embedding`` (mean-pooled final hidden state),
  ``probabilities`` (the per-token next-token distributions, served to metric ``el2n`` as the
  sequence EL2N, the mean over a document's tokens of ``||softmax(z_t) - onehot(y_t)||_2``; Marion
  et al. 2023) and ``n_tokens`` (scored tokens per document) from :meth:`TextLM.example_outputs`;
- evaluation: perplexity ``exp(sum NLL / sum tokens)`` (token-weighted); the scaling fits read
  ``error`` = the mean NLL per token (lower is better).
"""

from __future__ import annotations

import math

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.tasks.base import Evaluation, Task
from prunebench.tasks.registry import register_task

OUTPUT_NAMES = ("loss", "embedding", "probabilities", "n_tokens", "el2n")
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


_REVIEWS: dict = {}  # (data config, max_chars, limit) -> the movie reviews, read once per process (a sweep shard)


def _sentiment_reviews(data_cfg: dict, max_chars: int, limit_per_class):
    import json

    from prunebench.tasks.text_lm.downstream import movie_review_documents

    key = (json.dumps(data_cfg or {}, sort_keys=True, default=str), max_chars, limit_per_class)
    if key not in _REVIEWS:
        _REVIEWS[key] = movie_review_documents(data_cfg, max_chars=max_chars, limit_per_class=limit_per_class)
    return _REVIEWS[key]


def _recipe_parameters(recipe: dict) -> int:
    """Parameters of the recipe's model (:func:`~.model.count_parameters`; the BPE's configured
    vocabulary size, or 257 for bytes), without building it."""
    from prunebench.tasks.text_lm.model import count_parameters, preset
    from prunebench.tasks.text_lm.training import train_options

    cfg = train_options(recipe)
    tokenizer = cfg["tokenizer"]
    vocab = int(tokenizer.get("vocab_size", 1024)) if isinstance(tokenizer, dict) else 257
    return count_parameters(vocab, int(cfg["context"]), **preset(cfg["model"]))


def check_reference_size(config: dict) -> float | None:
    """``final / reference`` parameters of a text-lm config that scores by ``perplexity`` and sweeps
    (the reference: the ``probe`` recipe with the metric's parameters; the final LM: the sweep
    recipe); one line refusing a final model under 4x the reference (Ankner et al.). None when
    the config has no such pair."""
    from prunebench.metrics.compute import metric_params
    from prunebench.metrics.perplexity import reference_recipe
    from prunebench.tasks.text_lm.model import check_size_ratio

    if config.get("task") != "text-lm" or "perplexity" not in ((config.get("metrics") or {}).get("names") or []):
        return None
    if not config.get("sweep"):
        return None
    reference = {k: v for k, v in reference_recipe(config, metric_params(config, "perplexity")).items()
                 if k != "eval_batch_size" or v is not None}
    final = {**(config.get("probe") or {}), **((config.get("sweep") or {}).get("train") or {})}
    try:
        return check_size_ratio(_recipe_parameters(reference), _recipe_parameters(final))
    except PrunebenchError as err:
        raise PrunebenchError(f"{err} (sweep.train.model vs metrics.perplexity.model)") from None


@register_task("text-lm")
class TextLM(Task):
    """Causal LM pretraining on a text mixture; perplexity (lower is better)."""

    outputs = frozenset({"loss", "embedding", "probabilities"})
    splits = ("reference", "train", "validation", "test")
    sequence_el2n = True  # metric el2n reads probe_outputs(..., "el2n"), not N x C class logits
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

    def recipe(self, train_cfg) -> dict:
        """The whole recipe with the text-lm defaults filled in (:data:`~.training.TRAIN_DEFAULTS`)."""
        from prunebench.tasks.text_lm.training import train_options

        return train_options(train_cfg)

    def predict(self, model, examples, *, device="cpu", train_cfg=None) -> np.ndarray:
        """``(N, 2)``: per document summed NLL (nats) and scored tokens."""
        from prunebench.tasks.text_lm.training import predict_array, train_options

        return predict_array(model, examples, batch_size=train_options(train_cfg)["eval_batch_size"], device=device)

    def example_outputs(self, model, examples, names, *, device="cpu", train_cfg=None) -> dict[str, np.ndarray]:
        """``loss`` (mean token NLL per document), ``embedding`` (mean-pooled final hidden state),
        ``probabilities`` (the mean probability of the target tokens: the per-document summary of the
        next-token distributions), ``el2n`` (the mean per-token error norm ||softmax - onehot||_2) and
        ``n_tokens`` (scored tokens per document), aligned to ``examples``."""
        from prunebench.tasks.text_lm.training import score_documents, train_options

        names = tuple(names)
        unknown = [n for n in names if n not in OUTPUT_NAMES]
        if unknown:
            raise PrunebenchError(f"task text-lm records {', '.join(OUTPUT_NAMES)}, not {', '.join(unknown)}")
        scored = score_documents(model, examples, batch_size=train_options(train_cfg)["eval_batch_size"],
                                 device=device, embedding="embedding" in names,
                                 el2n="el2n" in names or "probabilities" in names)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_token = np.maximum(scored["n_tokens"], 1)
            loss = np.where(scored["n_tokens"] > 0, scored["nll_sum"] / per_token, np.nan)
            el2n = np.where(scored["n_tokens"] > 0, scored["el2n_sum"] / per_token, np.nan) if "el2n_sum" in scored \
                else None
            p_target = np.where(scored["n_tokens"] > 0, scored["p_target_sum"] / per_token, np.nan) \
                if "p_target_sum" in scored else None
        every = {"loss": loss, "n_tokens": scored["n_tokens"], "embedding": scored.get("embedding"), "el2n": el2n,
                 "probabilities": p_target}
        return {name: every[name] for name in names}

    def evaluate(self, predictions: np.ndarray, examples) -> Evaluation:
        """Perplexity ``exp(sum NLL / sum tokens)``; ``error`` = mean NLL per token (what the fits read)."""
        from prunebench.tasks.text_lm.training import token_weighted_nll

        if len(predictions) != len(examples):
            raise PrunebenchError(f"{len(predictions)} predictions for {len(examples)} documents; predict the same set")
        nll = token_weighted_nll(predictions)
        return Evaluation("perplexity", math.exp(nll), nll, False)

    def checkpoint_model(self, model_name, model_kwargs: dict, examples):
        """A bare model needs the recipe's tokenizer and context: :meth:`probe_model` (what the metric
        context calls for a task that has it)."""
        raise PrunebenchError("a text-lm checkpoint is rebuilt from its whole recipe; call probe_model(recipe, examples)")

    def probe_model(self, recipe: dict, examples):
        """A bare model of a probe's ``recipe`` (same preset, context and tokenizer, fitted on the same
        D_ref and read from its cache), for loading a saved checkpoint into."""
        return self.build_model(recipe, examples, 0)

    def probe_outputs(self, model, examples, what: str, *, device="cpu", batch_size: int = 512) -> np.ndarray:
        """``loss`` (mean token NLL), ``embed`` (mean-pooled hidden state) or ``el2n`` (sequence EL2N) per
        document; class ``logits`` do not exist for a language model (one line naming the metrics that work)."""
        names = {"loss": "loss", "embed": "embedding", "el2n": "el2n"}
        if what not in names:
            raise PrunebenchError(f"task text-lm has no per-document class {what}: a metric reading them (margin, "
                                  "entropy, aum, forgetting, ...) does not apply to a language model; use perplexity, "
                                  "loss, el2n or random")
        return self.example_outputs(model, examples, (names[what],), device=device,
                                    train_cfg={"eval_batch_size": min(int(batch_size), 64)})[names[what]]

    def extra_evaluation(self, model, eval_set, predictions, train_cfg, data_cfg, *, device="cpu",
                         seed: int = 0, result=None) -> dict:
        """Sweep-row columns beyond ``eval_*`` (recipe key ``downstream``): ``eval_nll_<domain>`` /
        ``eval_perplexity_<domain>`` on the held-out documents of ``clean_domain`` (read from the
        predictions already made, no extra pass), and ``sentiment_accuracy`` / ``sentiment_se`` /
        ``sentiment_n_test`` of the movie-review linear probe on the frozen model; with the train
        ``result``, ``eval_curve``: its checkpoints ``[[step, tokens, val_nll], ...]`` as JSON (what
        :func:`~.training.steps_to_match` reads)."""
        import json

        from prunebench.tasks.text_lm.training import token_weighted_nll, train_options

        wanted = train_options(train_cfg)["downstream"] or {}
        out = {}
        if result is not None and getattr(result, "curve", None):
            out["eval_curve"] = json.dumps([[int(r["step"]), int(r["tokens"]), round(float(r["val_nll"]), 6)]
                                            for r in result.curve])
        domain = wanted.get("clean_domain")
        if domain:
            names = list(getattr(eval_set, "domain_names", ()))
            if domain not in names:
                raise PrunebenchError(f"downstream.clean_domain '{domain}' is not a domain of the evaluation set "
                                      f"({', '.join(names)})")
            rows = np.asarray(eval_set.domains) == names.index(domain)
            nll = token_weighted_nll(np.asarray(predictions)[rows]) if rows.any() else float("nan")
            out.update({f"eval_nll_{domain}": nll, f"eval_perplexity_{domain}": math.exp(nll),
                        f"n_test_{domain}": int(rows.sum())})
        sentiment = wanted.get("sentiment")
        if sentiment is not None:
            from prunebench.tasks.text_lm.downstream import sentiment_probe

            reviews = _sentiment_reviews(data_cfg, int(sentiment.get("max_chars") or 1000),
                                         sentiment.get("limit_per_class"))
            probe = sentiment_probe(model, data_cfg, task=self, device=device, seed=seed, reviews=reviews,
                                    train_fraction=float(sentiment.get("train_fraction") or 0.7))
            out.update({"sentiment_accuracy": probe["accuracy"], "sentiment_se": probe["se"],
                        "sentiment_n_test": probe["n_test"], "sentiment_chance": probe["chance"]})
        return out

    def synthetic_split(self, size: int, seed: int, split: str = "train"):
        return synthetic_documents(size, seed, split)

    def smoke_recipe(self) -> dict:
        return dict(SMOKE_RECIPE)
