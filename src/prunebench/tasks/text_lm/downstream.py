"""Downstream evaluation of a text-lm model that is not perplexity: a linear probe on frozen
features (Ankner et al. judge pruning by downstream accuracy, since upstream perplexity can
disagree with it).

:func:`sentiment_probe`: movie-review sentiment (Pang & Lee 2004, the NLTK ``movie_reviews``
archive: 1,000 ``pos/`` and 1,000 ``neg/`` reviews). Each review's first ``max_chars`` characters
are embedded by the model (mean-pooled final hidden state, :meth:`TextLM.embed`); a standardised
scikit-learn ``LogisticRegression`` is fitted on a seeded-hash ``train_fraction`` of the reviews and
scored on the rest. Returns the held-out accuracy with its binomial standard error
``sqrt(acc (1 - acc) / n_test)``.

Note: the reviews are also part of the pretraining mixture (domain ``reviews``, without labels), as
web text is in the paper's; the probe reads no label during pretraining.
"""

from __future__ import annotations

import math

import numpy as np

from prunebench.errors import PrunebenchError


def movie_review_documents(data_cfg: dict | None = None, *, max_chars: int = 1000, limit_per_class: int | None = None):
    """The reviews as :class:`~.corpus.TextDocuments` with domain 0 = neg, 1 = pos (``max_chars`` each;
    ``limit_per_class`` keeps the reviews of lowest id per class)."""
    from prunebench.tasks.text_lm.corpus import TextDocuments, archive_path, data_options, read_archive, stable_id

    opts = data_options(data_cfg)
    rows = {"neg": [], "pos": []}
    for file, text in read_archive("movie_reviews", archive_path("movie_reviews", opts)):
        label = file.split("/", 1)[0]
        if label in rows:
            rows[label].append((stable_id(f"movie_reviews/{file}/review"), " ".join(text.split())[:max_chars]))
    ids, labels, texts = [], [], []
    for code, label in enumerate(("neg", "pos")):
        chosen = sorted(rows[label])[:limit_per_class] if limit_per_class else sorted(rows[label])
        for rid, text in chosen:
            ids.append(rid)
            labels.append(code)
            texts.append(text)
    if not texts or len(set(labels)) < 2:
        raise PrunebenchError("movie_reviews.zip has no pos/ and neg/ reviews; restore the original NLTK archive")
    return TextDocuments(ids, labels, ("neg", "pos"), texts, "sentiment", dict(data_cfg or {}))


def sentiment_probe(model, data_cfg: dict | None = None, *, task=None, max_chars: int = 1000,
                    limit_per_class: int | None = None, train_fraction: float = 0.7, seed: int = 0, C: float = 1.0,
                    device="cpu", reviews=None) -> dict:
    """Linear-probe sentiment accuracy of ``model``'s frozen features (see the module docstring)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from prunebench.tasks import get_task
    from prunebench.tasks.text_lm.corpus import split_uniform

    task = task or get_task("text-lm")
    reviews = reviews if reviews is not None else movie_review_documents(data_cfg, max_chars=max_chars,
                                                                         limit_per_class=limit_per_class)
    features = task.embed(model, reviews, device=device)
    labels = np.asarray(reviews.domains)
    is_train = split_uniform(reviews.ids, f"sentiment-{seed}") < train_fraction
    if len(set(labels[is_train])) < 2 or (~is_train).sum() == 0:
        raise PrunebenchError("the sentiment probe's train or test part lacks a class; use more reviews")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    probe.fit(features[is_train], labels[is_train])
    correct = probe.predict(features[~is_train]) == labels[~is_train]
    accuracy = float(correct.mean())
    n_test = int((~is_train).sum())
    return {"task": "movie-review sentiment (linear probe)", "accuracy": accuracy,
            "se": math.sqrt(accuracy * (1 - accuracy) / n_test), "n_train": int(is_train.sum()), "n_test": n_test,
            "chance": float(max(labels[~is_train].mean(), 1 - labels[~is_train].mean()))}
