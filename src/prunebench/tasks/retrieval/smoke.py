"""A fine-tuning smoke measurement: NDCG@10 on SciFact test before and after a short fine-tuning run
on SciFact train (one seed). A measurement of the mechanism at CPU scale, not a result to cite.

``corpus_docs > 0`` restricts each split's corpus to its judged documents plus random others up to
that many (faster; the NDCG is then not comparable with the gate's full-corpus value)."""

from __future__ import annotations

import time


def finetune_smoke(*, steps: int = 50, batch_size: int = 16, lr: float = 2e-5, temperature: float = 0.05,
                   sampler: str = "basic", seed: int = 0, max_seq_length: int = 256, corpus_docs: int = 0,
                   hard_negatives: bool = True, threads: int | None = None, encoder: str = "minilm",
                   data_cfg: dict | None = None) -> dict:
    import torch

    from prunebench.provenance import cpu_model
    from prunebench.tasks import get_task

    if threads:
        torch.set_num_threads(int(threads))
    task = get_task("retrieval")
    data_cfg = {**(data_cfg or {}), **({"corpus_docs": int(corpus_docs)} if corpus_docs else {})}
    start = time.perf_counter()
    train, test = task.load_split(data_cfg, "train"), task.load_split(data_cfg, "test")
    recipe = {"encoder": encoder, "steps": int(steps), "batch_size": int(batch_size), "lr": float(lr),
              "temperature": float(temperature), "sampler": sampler, "max_seq_length": int(max_seq_length),
              "hard_negatives": bool(hard_negatives), "threads": threads}
    model = task.build_model(recipe, train, seed)
    t0 = time.perf_counter()
    before = task.evaluate_all(task.predict(model, test, train_cfg=recipe), test)
    eval_before_s = time.perf_counter() - t0
    result = task.train(model, train, recipe, seed=seed, eval_set=test)
    after = task.evaluate_all(result.test_logits, test)
    return {"kind": "smoke measurement (one seed, CPU scale), not a claim", "recipe": recipe,
            "corpus_docs": {"train": len(train.corpus), "test": len(test.corpus)}, "n_train_pairs": len(train),
            "n_test_queries": test.n_queries, "before": before, "after": after,
            "seconds": {"total": time.perf_counter() - start, "eval_before": eval_before_s,
                        "train_incl_mining_and_final_eval": result.wall_time_s, "mining": result.mining_s},
            "sampler_state": result.sampler_state, "step_losses": result.step_losses,
            "machine": {"cpu_model": cpu_model(), "torch_threads": int(torch.get_num_threads())}}
