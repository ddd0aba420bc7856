"""Next-token training and per-document scoring of the text-lm task.

**Sequences.** Every document is ``[eos] + tokens``: the end-of-text id doubles as the context the
first token is predicted from, so a document of n tokens has n scored targets. With ``packing:
true`` (default) an epoch concatenates the documents in a seeded random order into one stream and
cuts it into full windows of ``context`` inputs (stride ``context``; the last partial window of an
epoch is dropped), so every step trains on exactly ``batch_size * context`` targets. With
``packing: false`` each document is windowed on its own (windows never cross documents; the last
window of a document is shorter and padded, its pads are not counted).

**Token budget.** ``tokens`` (or ``steps``, or ``steps=`` of :func:`train_lm`, which wins) fixes
how much is trained, whatever the size of the training set: a pruned pool repeats data where the
full pool does not. Tokens are the scored targets actually trained on. With packing,
``steps = ceil(tokens / (batch_size * context))``. With neither key, the run is ``epochs`` passes.

**Optimiser.** AdamW (betas 0.9/0.95, weight decay on matrices only), linear warm-up over
``warmup_frac`` of the steps, cosine decay to ``min_lr_frac * lr``, gradient clipping.

**Checkpoints.** The validation set is scored ``eval_points`` times at evenly spaced steps (the
last one included): ``curve`` rows ``{step, tokens, val_nll}`` with ``val_nll`` the token-weighted
mean NLL (nats/token), what :func:`steps_to_match` reads.

**Scoring** (:func:`score_documents`, eval mode, no packing): per document the summed NLL of its
n targets, n, and the mean-pooled final hidden state over its input positions.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from prunebench.config import check_known_keys
from prunebench.errors import PrunebenchError

TRAIN_DEFAULTS = {
    "model": "mini", "tokenizer": {"kind": "bpe", "vocab_size": 1024}, "context": 128, "batch_size": 16,
    "lr": 3e-3, "weight_decay": 0.1, "betas": [0.9, 0.95], "warmup_frac": 0.05, "min_lr_frac": 0.1, "grad_clip": 1.0,
    "tokens": None, "steps": None, "epochs": 1, "packing": True, "eval_points": 8, "eval_batch_size": 64,
    "threads": None, "progress": False, "label_smoothing": 0.0, "model_kwargs": None, "downstream": None,
}
# keys the probe machinery passes to every task (metrics.label_smoothing, an empty model_kwargs) and
# the sweep's downstream evaluations (prunebench.tasks.text_lm.task.TextLM.extra_evaluation): the
# training loop reads none of them


def train_options(train_cfg) -> dict:
    cfg = dict(train_cfg or {})
    check_known_keys(cfg, TRAIN_DEFAULTS, where="text-lm recipe")
    if float(cfg.get("label_smoothing") or 0.0) != 0.0:
        raise PrunebenchError(f"text-lm trains without label smoothing, got label_smoothing {cfg['label_smoothing']}; "
                              "set metrics.label_smoothing: 0")
    if cfg.get("model_kwargs"):
        raise PrunebenchError(f"text-lm models take no model_kwargs ({cfg['model_kwargs']}); give model a preset name "
                              "or {d_model, n_layers, n_heads}")
    return {**TRAIN_DEFAULTS, **cfg}


@dataclass
class TextEpochStats:
    """What the training forward passes of one epoch saw, per document (aligned to the train set).

    ``losses``: mean NLL of the document's targets trained on this epoch (train mode, before that
    batch's update; the end-of-text targets are not counted); NaN where ``seen`` is False.
    ``n_tokens``: how many of its targets were trained on. ``labels`` are the domain codes.
    """

    epoch: int
    ids: np.ndarray
    labels: np.ndarray
    losses: np.ndarray
    n_tokens: np.ndarray
    seen: np.ndarray
    steps: int = 0
    tokens: int = 0


@dataclass
class TextTrainResult:
    """A finished text-lm run. ``test_logits`` are :func:`predict_array` of the eval set (per
    document summed NLL and token count), what ``evaluate`` scores; ``curve`` the checkpoints."""

    model: object
    steps: int
    tokens: int
    wall_time_s: float
    epochs: int
    curve: list = field(default_factory=list)
    test_logits: np.ndarray | None = None
    final_val_nll: float = float("nan")

    @property
    def train_steps(self) -> int:
        """The optimizer steps taken (the name the sweep rows and protocols read)."""
        return self.steps


def encode_documents(tokenizer, texts) -> list[np.ndarray]:
    """``[eos] + tokens`` of every text (int64 arrays)."""
    eos = tokenizer.eos_id
    return [np.asarray([eos, *ids], dtype=np.int64) for ids in tokenizer.encode_batch(texts)]


def _windows(seqs, owners, context: int, drop_partial: bool):
    """Inputs / targets / owner-of-target windows (stride ``context``) of each sequence in ``seqs``."""
    inputs, targets, owner = [], [], []
    for seq, own in zip(seqs, owners):
        n_targets = len(seq) - 1
        for start in range(0, n_targets, context):
            stop = min(start + context, n_targets)
            if drop_partial and stop - start < context:
                break
            inputs.append(seq[start:stop])
            targets.append(seq[start + 1:stop + 1])
            owner.append(own[start + 1:stop + 1])
    return inputs, targets, owner


def epoch_windows(seqs, context: int, packing: bool, rng: np.random.Generator):
    """One epoch's training windows, shuffled (see the module docstring)."""
    order = rng.permutation(len(seqs))
    owners = [np.full(len(seqs[p]), p, dtype=np.int64) for p in order]
    if packing:
        stream = np.concatenate([seqs[p] for p in order]) if len(order) else np.zeros(0, np.int64)
        owner = np.concatenate(owners) if owners else np.zeros(0, np.int64)
        inputs, targets, own = _windows([stream], [owner], context, drop_partial=True)
    else:
        inputs, targets, own = _windows([seqs[p] for p in order], owners, context, drop_partial=False)
    perm = rng.permutation(len(inputs))
    return [inputs[i] for i in perm], [targets[i] for i in perm], [own[i] for i in perm]


def _pad(rows, value: int) -> np.ndarray:
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), value, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, :len(r)] = r
    return out


def lr_at(step: int, total: int, cfg: dict) -> float:
    """Linear warm-up then cosine to ``min_lr_frac * lr`` (``step`` counts from 0)."""
    warmup = max(1, int(round(cfg["warmup_frac"] * total)))
    if step < warmup:
        return cfg["lr"] * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    floor = cfg["min_lr_frac"] * cfg["lr"]
    return floor + (cfg["lr"] - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def planned_steps(cfg: dict, seqs, steps: int | None) -> tuple[int, int | None]:
    """``(total steps, token budget or None)`` of a run."""
    per_step = cfg["batch_size"] * cfg["context"]
    if steps is not None or cfg["steps"] is not None:
        return int(steps if steps is not None else cfg["steps"]), None
    targets = sum(len(s) - 1 for s in seqs)
    if cfg["tokens"] is not None:
        budget = int(cfg["tokens"])
    else:
        budget = int(cfg["epochs"] * targets)
    if cfg["packing"]:
        return max(1, math.ceil(budget / per_step)), budget
    windows = sum(math.ceil((len(s) - 1) / cfg["context"]) for s in seqs)
    fill = targets / max(1, windows * cfg["context"])
    return max(1, math.ceil(budget / (per_step * fill))), budget


def train_lm(model, examples, train_cfg, *, seed: int, device="cpu", eval_set=None, steps=None, callbacks=(),
             checkpoint_path=None) -> TextTrainResult:
    """Train ``model`` (a :class:`~prunebench.tasks.text_lm.model.CausalLM` with its tokenizer) on
    ``examples`` for the recipe's token budget; see the module docstring."""
    import torch
    from torch.nn import functional as F

    cfg = train_options(train_cfg)
    if cfg["threads"]:
        torch.set_num_threads(int(cfg["threads"]))
    if model.context < cfg["context"]:
        raise PrunebenchError(f"recipe context {cfg['context']} exceeds the model's {model.context}; build the model "
                              f"with the same recipe")
    start_time = time.perf_counter()
    seqs = encode_documents(model.tokenizer, examples.texts)
    if sum(len(s) - 1 for s in seqs) == 0:
        raise PrunebenchError("the training documents have no tokens; check the corpus and data.min_chars")
    total_steps, budget = planned_steps(cfg, seqs, steps)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model.to(device).train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg["weight_decay"]},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg["lr"],
                                  betas=tuple(cfg["betas"]))
    eval_steps = sorted({max(1, round(total_steps * (k + 1) / max(1, cfg["eval_points"])))
                         for k in range(max(1, cfg["eval_points"]))}) if eval_set is not None else []
    for cb in callbacks:
        cb.on_train_start(model, examples)
    n, eos = len(examples), model.tokenizer.eos_id
    ids = np.asarray(examples.ids)
    labels = np.asarray(getattr(examples, "domains", np.zeros(n, dtype=np.int64)))

    def new_stats(epoch):
        return TextEpochStats(epoch, ids, labels, np.zeros(n), np.zeros(n, dtype=np.int64), np.zeros(n, dtype=bool))

    def close_stats(stats, step, tokens):
        with np.errstate(invalid="ignore", divide="ignore"):
            stats.losses = np.where(stats.n_tokens > 0, stats.losses / np.maximum(stats.n_tokens, 1), np.nan)
        stats.seen = stats.n_tokens > 0
        stats.steps, stats.tokens = step, tokens
        for cb in callbacks:
            cb.on_epoch_end(stats.epoch, stats, model)

    queue, curve, open_stats, next_epoch, epochs_touched = ([], [], [], []), [], {}, 0, 0
    step, tokens, test_predictions, batch_size = 0, 0, None, cfg["batch_size"]
    # a token budget runs until it is met (per-document windows: the planned steps are an estimate,
    # after them the learning rate stays at its floor); a step budget runs exactly its steps
    while (step < total_steps) if budget is None else (tokens < budget):
        while len(queue[0]) < batch_size:  # a new epoch's windows join the queue (FIFO)
            fresh = epoch_windows(seqs, cfg["context"], cfg["packing"], rng)
            if not fresh[0]:
                raise PrunebenchError(f"the training set has fewer than context={cfg['context']} tokens; lower the "
                                      f"recipe's context or add documents")
            queue = tuple(q + f for q, f in zip(queue, (*fresh, [next_epoch] * len(fresh[0]))))
            next_epoch += 1
        batch = [q[:batch_size] for q in queue]
        queue = tuple(q[batch_size:] for q in queue)
        x = torch.from_numpy(_pad(batch[0], eos)).to(device)
        y = torch.from_numpy(_pad(batch[1], -100)).to(device)
        owner = _pad(batch[2], -1)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, total_steps, cfg)
        logits = model(x)
        token_loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), y.reshape(-1), ignore_index=-100,
                                     reduction="none")
        mask = y.reshape(-1) != -100
        loss = token_loss[mask].mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg["grad_clip"]:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
        optimizer.step()
        step += 1
        tokens += int(mask.sum())
        # per-document training losses of each window's epoch (end-of-text targets belong to no text)
        values = token_loss.detach().cpu().numpy().reshape(owner.shape)
        targets_np = y.cpu().numpy()
        epochs_touched = max(epochs_touched, batch[3][-1] + 1)
        for row, row_epoch in enumerate(batch[3]):
            stats = open_stats.setdefault(row_epoch, new_stats(row_epoch))
            counted = (owner[row] >= 0) & (targets_np[row] != eos)
            np.add.at(stats.losses, owner[row][counted], values[row][counted])
            np.add.at(stats.n_tokens, owner[row][counted], 1)
        running = queue[3][0] if queue[3] else next_epoch
        for finished in sorted(e for e in open_stats if e < running):
            close_stats(open_stats.pop(finished), step, tokens)
        if step in eval_steps:
            test_predictions = predict_array(model, eval_set, batch_size=cfg["eval_batch_size"], device=device)
            curve.append({"step": step, "tokens": tokens, "val_nll": token_weighted_nll(test_predictions)})
            model.train()
            if cfg["progress"]:
                print(f"step {step}/{total_steps} tokens {tokens} val_nll {curve[-1]['val_nll']:.4f}", flush=True)
    for unfinished in sorted(open_stats):  # the last epoch, cut short by the budget
        close_stats(open_stats.pop(unfinished), step, tokens)
    model.eval()
    if eval_set is not None and (not curve or curve[-1]["step"] != step):
        test_predictions = predict_array(model, eval_set, batch_size=cfg["eval_batch_size"], device=device)
        curve.append({"step": step, "tokens": tokens, "val_nll": token_weighted_nll(test_predictions)})
    result = TextTrainResult(model=model, steps=step, tokens=tokens, wall_time_s=time.perf_counter() - start_time,
                             epochs=epochs_touched, curve=curve, test_logits=test_predictions,
                             final_val_nll=curve[-1]["val_nll"] if curve else float("nan"))
    if checkpoint_path is not None:
        torch.save({"state_dict": model.state_dict(), "dims": model.dims, "vocab_size": model.vocab_size,
                    "context": model.context, "tokenizer": model.tokenizer, "curve": curve, "steps": step,
                    "tokens": tokens}, checkpoint_path)
    for cb in callbacks:
        cb.on_train_end(result)
    return result


def score_documents(model, examples, *, batch_size: int = 64, device="cpu", embedding: bool = False,
                    el2n: bool = False) -> dict:
    """Per document: ``nll_sum`` (summed NLL of its targets), ``n_tokens`` and, if asked, the
    mean-pooled final hidden state ``embedding`` and (``el2n``) ``el2n_sum``, the summed per-token
    error norm ``||softmax(z_t) - onehot(y_t)||_2``, and ``p_target_sum``, the summed probability of
    the target tokens (eval mode, each document windowed on its own)."""
    import torch
    from torch.nn import functional as F

    seqs = encode_documents(model.tokenizer, examples.texts)
    context, eos = model.context, model.tokenizer.eos_id
    inputs, targets, owners = [], [], []  # per window, all of the window's input length
    for p, seq in enumerate(seqs):
        n_targets = len(seq) - 1
        for start in range(0, max(n_targets, 1), context):
            stop = max(min(start + context, n_targets), start + 1)
            window = seq[start:stop]
            target = np.full(len(window), -100, dtype=np.int64)
            got = seq[start + 1:stop + 1]
            target[:len(got)] = got
            inputs.append(window)
            targets.append(target)
            owners.append(np.full(len(window), p, dtype=np.int64))
    order = np.argsort([-len(r) for r in inputs], kind="stable")  # batch windows of similar length
    n = len(seqs)
    nll = np.zeros(n, dtype=np.float64)
    count = np.zeros(n, dtype=np.int64)
    width = model.dims["d_model"]
    pooled = np.zeros((n, width), dtype=np.float64) if embedding else None
    pooled_n = np.zeros(n, dtype=np.int64)
    error_norm = np.zeros(n, dtype=np.float64) if el2n else None
    p_target = np.zeros(n, dtype=np.float64) if el2n else None
    was_training = model.training
    model.to(device).eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            x = torch.from_numpy(_pad([inputs[r] for r in rows], eos)).to(device)
            y = _pad([targets[r] for r in rows], -100).reshape(-1)
            own = _pad([owners[r] for r in rows], -1).reshape(-1)
            hidden = model.hidden(x)
            logits = model.head(hidden)
            token_loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), torch.from_numpy(y).to(device),
                                         ignore_index=-100, reduction="none").cpu().numpy().astype(np.float64)
            scored = y != -100
            np.add.at(nll, own[scored], token_loss[scored])
            np.add.at(count, own[scored], 1)
            if el2n:  # ||p - e_y||^2 = sum p^2 - 2 p_y + 1
                probs = torch.softmax(logits.reshape(-1, logits.shape[-1]).float(), dim=-1)
                mask = torch.from_numpy(scored).to(device)
                target = torch.from_numpy(np.where(scored, y, 0)).to(device)
                p_y = probs.gather(1, target[:, None])[:, 0]
                norm = torch.sqrt(torch.clamp(probs.pow(2).sum(1) - 2 * p_y + 1, min=0.0))
                np.add.at(error_norm, own[scored], norm[mask].cpu().numpy().astype(np.float64))
                np.add.at(p_target, own[scored], p_y[mask].cpu().numpy().astype(np.float64))
            if embedding:
                h = hidden.reshape(-1, width).double().cpu().numpy()
                valid = own >= 0
                np.add.at(pooled, own[valid], h[valid])
                np.add.at(pooled_n, own[valid], 1)
    if was_training:
        model.train()
    out = {"nll_sum": nll, "n_tokens": count}
    if el2n:
        out["el2n_sum"] = error_norm
        out["p_target_sum"] = p_target
    if embedding:
        out["embedding"] = (pooled / np.maximum(pooled_n, 1)[:, None]).astype(np.float32)
    return out


def predict_array(model, examples, *, batch_size: int = 64, device="cpu") -> np.ndarray:
    """``(N, 2)`` float64: per document summed NLL and token count (what ``evaluate`` reads)."""
    scored = score_documents(model, examples, batch_size=batch_size, device=device)
    return np.stack([scored["nll_sum"], scored["n_tokens"].astype(np.float64)], axis=1)


def token_weighted_nll(predictions: np.ndarray) -> float:
    """Mean NLL per token over all documents: ``sum(nll) / sum(tokens)``."""
    predictions = np.asarray(predictions, dtype=np.float64)
    if predictions.ndim != 2 or predictions.shape[1] != 2:
        raise PrunebenchError("text-lm predictions are (documents x 2): summed NLL and token count; use task.predict")
    total = predictions[:, 1].sum()
    if total <= 0:
        raise PrunebenchError("the evaluation documents have no tokens; check the validation split")
    return float(predictions[:, 0].sum() / total)


def steps_to_match(curve, target_nll: float, key: str = "step") -> float:
    """Steps (or ``key="tokens"``) at which ``curve`` first reaches ``target_nll``, linearly
    interpolated between checkpoints (from (0, first checkpoint) when the first already reaches it);
    ``inf`` when it never does. Ankner et al.'s "1.45x fewer steps" is baseline steps / this."""
    previous = None
    for row in curve:
        if row["val_nll"] <= target_nll:
            if previous is None:
                return float(row[key])
            (s0, v0), (s1, v1) = (previous[key], previous["val_nll"]), (row[key], row["val_nll"])
            if v0 == v1:
                return float(s1)
            return float(s0 + (s1 - s0) * (v0 - target_nll) / (v0 - v1))
        previous = row
    return float("inf")
