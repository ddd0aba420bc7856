"""``perplexity``: the mean token NLL of each pool document under a small reference LM trained on a
disjoint random split D_ref (Ankner et al. 2024, "Perplexed by Perplexity", arXiv 2405.20541, §3).

Steps: load the config task's ``reference`` split (D_ref; the ``text-lm`` task only), build the
reference model of the recipe (``probe`` block of the config, then this metric's parameters), train
it for its token budget, and score every document of ``ctx.train_set``:
``score_i = (1/n_i) sum_t -log p_ref(t_i,t | t_i,<t)`` in nats (log-perplexity: ranking by it is
ranking by perplexity, without the overflow). Higher score = harder (high perplexity), the suite's
convention; the low / medium / high windows of the selection rule ``window`` pick from it.
``extra`` carries ``n_tokens`` (per document, for token-weighted compositions), the domains, the
reference model's parameter count and its training tokens / steps / validation curve; the score
table (``metrics compute``) stores ``n_tokens`` and ``domain`` as columns beside ``score``.
"""

from __future__ import annotations

import time

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.metrics.registry import MetricResult, register_metric
from prunebench.seeding import derive_seed

TEXT_TASK = "text-lm"
RECIPE_KEYS = ("model", "tokens", "steps", "batch_size", "lr", "context", "tokenizer")
DEFAULTS = {"model": "micro", "tokens": None, "steps": None, "batch_size": None, "lr": None, "context": None,
            "tokenizer": None, "eval_batch_size": 64}


def reference_recipe(config: dict, params: dict) -> dict:
    """The reference LM's recipe: the text-lm defaults < the config's ``probe`` block < the metric's
    non-null parameters (``model`` defaults to the ``micro`` preset)."""
    recipe = dict(config.get("probe") or {})
    recipe.update({key: params[key] for key in RECIPE_KEYS if params.get(key) is not None})
    recipe["eval_batch_size"] = params.get("eval_batch_size") or recipe.get("eval_batch_size") or 64
    if recipe.get("tokens") is None and recipe.get("steps") is None:
        recipe["epochs"] = recipe.get("epochs", 1)
    return recipe


def train_reference(task, config: dict, params: dict, *, device="cpu"):
    """``(model, train result, D_ref, recipe, seed)``: the reference LM trained on D_ref."""
    reference = task.load_split(config["data"], "reference")
    validation = None
    try:
        validation = task.load_split(config["data"], "validation")
    except PrunebenchError:
        validation = None  # a corpus without a validation split still scores
    recipe = reference_recipe(config, params)
    seed = derive_seed(int(config.get("seed", 0)), "perplexity", "reference")
    model = task.build_model(recipe, reference, seed)
    result = task.train(model, reference, recipe, seed=seed, device=device, eval_set=validation)
    return model, result, reference, recipe, seed


def language_task(ctx, metric: str, why: str):
    """The config's task if it is ``text-lm``; else one line: ``metric`` ``why`` (``{task}``: its name)."""
    from prunebench.tasks import task_of_config

    task = task_of_config(ctx.config)
    if task.name != TEXT_TASK:
        raise PrunebenchError(f"metric '{metric}' {why.format(task=task.name)}; set task: {TEXT_TASK} or drop "
                              f"'{metric}' from metrics.names")
    return task


@register_metric("perplexity", needs=("loss",), needs_labels=False, defaults=DEFAULTS,
                 reference="Ankner et al. 2024, Perplexed by Perplexity: Perplexity-Based Data Pruning With Small "
                           "Reference Models (arXiv 2405.20541)")
def perplexity(ctx, params):
    """Mean token NLL (log-perplexity) of each document under a reference LM trained on D_ref (higher = harder)."""
    task = language_task(ctx, "perplexity", "needs a reference LM, which task '{task}' does not train")
    start = time.perf_counter()
    model, result, reference, recipe, seed = train_reference(task, ctx.config, params, device=ctx.device)
    trained_s = time.perf_counter() - start
    ctx.probe_seconds += trained_s  # the reference LM is this metric's probe
    outputs = task.example_outputs(model, ctx.train_set, ("loss", "n_tokens"), device=ctx.device, train_cfg=recipe)
    scores = np.asarray(outputs["loss"], dtype=np.float64)
    if not np.all(np.isfinite(scores)):
        raise PrunebenchError("some pool documents have no tokens to score; raise data.min_chars")
    n_tokens = np.asarray(outputs["n_tokens"], dtype=np.int64)
    pool_tokens = int(n_tokens.sum())
    extra = {"n_tokens": n_tokens, "domain": np.asarray(getattr(ctx.train_set, "domains", np.zeros(len(scores)))),
             "domain_names": list(getattr(ctx.train_set, "domain_names", ())),
             "reference_parameters": int(model.num_parameters()), "reference_tokens": int(result.tokens),
             "reference_steps": int(result.steps), "reference_documents": len(reference),
             "reference_checksum": reference.checksum, "reference_curve": result.curve,
             "tokenizer": model.tokenizer.describe()}
    # stored as columns of the score table (prunebench.metrics.storage.write_scores): token-weighted
    # domain compositions read them (prunebench.figures.composition)
    extra["columns"] = {"n_tokens": n_tokens, "domain": extra["domain"].astype(np.int64)}
    dims = model.dims
    variant = (f"reference-lm d{dims['d_model']}xL{dims['n_layers']},{model.tokenizer.kind}{model.tokenizer.vocab_size}"
               f"@{result.tokens}tok")
    return MetricResult(scores=scores, variant=variant, probe_epochs=float(result.epochs),
                        cost_probe_epochs=result.tokens / max(1, pool_tokens), probe_wall_time_s=trained_s,
                        seeds=[seed], extra=extra, score_se=None, n_models=1)
