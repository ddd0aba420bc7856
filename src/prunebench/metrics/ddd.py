"""``ddd``: dichotomous data difficulty (Meding, Buschoff, Geirhos & Wichmann, ICLR 2022)."""

from __future__ import annotations

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.metrics.common import member_se, softmax
from prunebench.metrics.context import run_costs
from prunebench.metrics.registry import MetricResult, register_metric


def fold_masks(n: int, folds: int, seed: int) -> np.ndarray:
    """folds×n boolean: row f marks the *training* examples of fold f's model (all but fold f)."""
    if folds < 2:
        raise PrunebenchError(f"ddd needs folds >= 2, got {folds}")
    assignment = np.random.default_rng(seed).permutation(n) % folds
    return np.stack([assignment != f for f in range(folds)])


def heldout_error_fraction(masks: np.ndarray, wrong: np.ndarray) -> np.ndarray:
    """Mean over models of ``wrong[m, i]`` restricted to the models that did not train on i."""
    held = ~np.asarray(masks, dtype=bool)
    counts = held.sum(axis=0)
    if np.any(counts == 0):
        raise PrunebenchError("an example is held out by no ddd model; check ddd.folds")
    return (held * wrong).sum(axis=0) / counts


@register_metric("ddd", needs=("correct",), defaults={"models": None, "seeds": 2, "folds": 2, "epochs": None, "estimator": "error"},
                 reference="Meding, Buschoff, Geirhos, Wichmann 2022, Trivial or Impossible — dichotomous data difficulty masks model differences (ICLR)")
def ddd(ctx, params):
    """Dichotomous data difficulty: fraction of a diverse set of models that get the image wrong.

    Meding et al. evaluate many ImageNet models on *held-out* images and call an image trivial if
    all get it right and impossible if all get it wrong. For a score on the *training* set we use
    cross-fitting so no model is scored on an image it was trained on: for each model in ``models``
    (list of ``{name, kwargs}``; default the probe's architecture) and each of ``seeds`` seeds, the
    training set is split into ``folds`` folds and one model is trained on all but each fold; then
    ``DDD_i = (1/|M|) Σ_{m∈M} 1[h_m(x_i) ≠ y_i]`` over the |M| = len(models)·seeds models that held i out.
    ``estimator: probability`` uses ``1 − p_y`` instead of the 0/1 error (fewer ties; not the paper's).
    The diversity here is architectures × seeds of CIFAR-size probes, far narrower than the paper's
    zoo of ImageNet models (a documented deviation). ``score_se``: standard error of the mean over
    the ``len(models)·seeds`` held-out models (NaN for one).
    """
    model_list = params["models"] or [{"name": ctx.probe_model[0], "kwargs": ctx.probe_model[1]}]
    epochs = int(params["epochs"] or ctx.ensemble_epochs)
    folds, errors, runs_all = int(params["folds"]), [], []
    for mi, model in enumerate(model_list):
        for s in range(int(params["seeds"])):
            masks = fold_masks(len(ctx.train_set), folds, ctx.derive("ddd", "folds", mi, s))
            runs = ctx.subset_runs(f"ddd/{mi}", masks, epochs=epochs, model=model["name"],
                                   model_kwargs=model.get("kwargs") or {}, seed_offset=s * folds)
            wrong = np.stack([_wrongness(ctx.logits(r, "train", epochs), ctx.labels, params["estimator"]) for r in runs])
            errors.append(heldout_error_fraction(masks, wrong))
            runs_all.extend(runs)
    names = "+".join(m["name"] for m in model_list)
    return MetricResult(scores=np.mean(errors, axis=0), probe_epochs=epochs, score_se=member_se(errors),
                        n_models=len(errors),
                        variant=f"heldout-{params['estimator']},models={names},seeds={params['seeds']},folds={folds}",
                        **run_costs(runs_all, len(ctx.train_set)))


def _wrongness(logits: np.ndarray, labels: np.ndarray, estimator: str) -> np.ndarray:
    if estimator == "error":
        return (logits.argmax(axis=1) != labels).astype(np.float64)
    if estimator == "probability":
        return 1.0 - softmax(logits)[np.arange(len(labels)), labels]
    raise PrunebenchError(f"ddd estimator must be error or probability, got '{estimator}'")
