"""The text-lm task (perplexity-based data pruning, Ankner et al. 2024): the NLTK corpus reader on
the real zips, JSONL input and its errors, tokenizers, model sizes, training, evaluation, the
perplexity metric, the sentiment probe and the pipeline end to end at tiny scale (seconds)."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from prunebench.errors import PrunebenchError
from prunebench.tasks import get_task

torch.set_num_threads(1)
DATA = Path(os.environ.get("PRUNEBENCH_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")
needs_nltk = pytest.mark.skipif(not (DATA / "text-nltk" / "brown.zip").is_file(),
                                reason="the NLTK zips are not in $PRUNEBENCH_DATA/text-nltk")
TINY_DATA = {"root": str(DATA), "doc_chars": 300, "min_chars": 100, "max_docs_per_corpus": 24,
             "splits": {"reference": 0.3, "train": 0.5, "validation": 0.2, "test": 0.0}}


@pytest.fixture(scope="module")
def task():
    return get_task("text-lm")


@pytest.fixture
def tokenizer_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNEBENCH_TOKENIZER_DIR", str(tmp_path / "tokenizers"))
    return tmp_path / "tokenizers"


# ----------------------------------------------------------------------------------------------
# Corpus
# ----------------------------------------------------------------------------------------------

@needs_nltk
def test_nltk_corpus_ids_are_stable_unique_and_every_domain_is_present():
    from prunebench.tasks.text_lm.corpus import CORPORA, CORPUS_DOMAIN, read_corpus, stable_id

    grouped = read_corpus({"root": str(DATA)}, cache=False)
    by_corpus = read_corpus({"root": str(DATA), "domains": "corpus"}, cache=False)  # a second, independent read
    np.testing.assert_array_equal(grouped.ids, by_corpus.ids)
    assert grouped.texts == by_corpus.texts and grouped.checksum == by_corpus.checksum
    assert len(np.unique(grouped.ids)) == len(grouped.ids) > 20_000
    assert by_corpus.domain_names == CORPORA and set(np.unique(by_corpus.domains)) == set(range(len(CORPORA)))
    assert set(grouped.domain_names) == set(CORPUS_DOMAIN.values())
    assert set(np.unique(grouped.domains)) == set(range(len(grouped.domain_names)))
    assert all(len(t) <= 1000 for t in grouped.texts) and min(map(len, grouped.texts)) >= 200
    # Brown: POS tags stripped; the first document is the start of ca01
    brown = by_corpus.subset(np.flatnonzero(by_corpus.domains == CORPORA.index("brown")))
    first = brown.texts[list(brown.ids).index(stable_id("brown/ca01/0"))]
    assert first.startswith("The Fulton County Grand Jury said Friday an investigation of Atlanta's recent")
    tag = re.compile(r"^[\w'.,-]+/[a-z$*+-]+$")  # word/tag (tagged Brown has one on every token)
    tokens = [tok for t in brown.texts for tok in t.split()]
    assert sum(bool(tag.match(tok)) for tok in tokens) < 1e-4 * len(tokens)
    masc = by_corpus.subset(np.flatnonzero(by_corpus.domains == CORPORA.index("masc_tagged")))
    assert not any(re.search(r"\w_(NN|NNP|DT|VBZ|IN)\b", t) for t in masc.texts)
    chat = by_corpus.subset(np.flatnonzero(by_corpus.domains == CORPORA.index("nps_chat")))
    assert not any("<terminals>" in t or 'pos="' in t for t in chat.texts)


@needs_nltk
def test_nltk_splits_are_disjoint_seeded_and_sized_by_their_fractions(task):
    from prunebench.tasks.text_lm.corpus import SPLITS, read_corpus

    cfg = {"root": str(DATA)}
    corpus = read_corpus(cfg)
    splits = {name: task.load_split(cfg, name) for name in SPLITS}
    assert sum(len(s) for s in splits.values()) == len(corpus)
    assert len(set().union(*(set(s.ids) for s in splits.values()))) == len(corpus)
    assert abs(len(splits["reference"]) / len(corpus) - 0.2) < 0.02 and abs(len(splits["train"]) / len(corpus) - 0.6) < 0.02
    assert all(s.split == name for name, s in splits.items())
    np.testing.assert_array_equal(task.strata(splits["train"]), splits["train"].domains)
    other = task.load_split({**cfg, "split_seed": 1}, "reference")
    assert set(other.ids) != set(splits["reference"].ids)
    sub = splits["train"].subset([3, 1])
    assert type(sub) is type(splits["train"]) and list(sub.ids) == [splits["train"].ids[3], splits["train"].ids[1]]
    assert sub.texts == [splits["train"].texts[3], splits["train"].texts[1]] and sub.checksum != splits["train"].checksum


def test_corpus_errors_name_the_fix(tmp_path, task):
    with pytest.raises(PrunebenchError, match="unknown text corpus 'klingon'; data.corpora takes brown"):
        task.load_split({"root": str(DATA), "corpora": ["klingon"]}, "train")
    with pytest.raises(PrunebenchError, match=r"cannot read corpus archive .*nowhere/text-nltk/brown.zip.*set data.paths.brown"):
        task.load_split({"root": str(tmp_path / "nowhere"), "corpora": ["brown"]}, "train")
    with pytest.raises(PrunebenchError, match="cannot read corpus archive .*put abc.zip there"):
        task.load_split({"paths": {"abc": str(tmp_path / "abc.zip")}, "corpora": ["abc"]}, "train")
    with pytest.raises(PrunebenchError, match="text-lm data has no key"):
        task.load_split({"colour": "blue"}, "train")
    with pytest.raises(PrunebenchError, match="unknown split 'dev'"):
        task.load_split({"corpus": "jsonl", "path": "x"}, "dev")


def _write_jsonl(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def test_jsonl_corpus_reads_domains_chunks_and_stable_ids(tmp_path, task):
    rng = np.random.default_rng(0)
    rows = [{"text": " ".join(f"word{int(w)}" for w in rng.integers(0, 50, size=int(n))), "domain": d}
            for n, d in zip(rng.integers(30, 200, size=60), ["news", "chat", "code"] * 20)]
    rows.append({"text": "no domain given " * 10})
    path = _write_jsonl(tmp_path / "corpus.jsonl", rows)
    cfg = {"corpus": "jsonl", "path": str(path), "doc_chars": 300, "min_chars": 50,
           "splits": {"reference": 0.25, "train": 0.5, "validation": 0.25, "test": 0.0}}
    from prunebench.tasks.text_lm.corpus import read_corpus

    first, second = read_corpus(cfg, cache=False), read_corpus(cfg, cache=False)
    np.testing.assert_array_equal(first.ids, second.ids)
    assert first.checksum == second.checksum and len(np.unique(first.ids)) == len(first)
    assert first.domain_names == ("chat", "code", "default", "news")
    assert len(first) > len(rows)  # long lines are cut into several documents
    assert all(50 <= len(t) <= 300 for t in first.texts)
    parts = [task.load_split(cfg, s) for s in ("reference", "train", "validation")]
    assert sum(len(p) for p in parts) == len(first)
    # a relative path is read under the data root
    relative = task.load_split({**cfg, "root": str(tmp_path), "path": "corpus.jsonl"}, "train")
    np.testing.assert_array_equal(relative.ids, parts[1].ids)


def test_jsonl_bad_input_raises_one_line(tmp_path, task):
    def load(path, **more):
        return task.load_split({"corpus": "jsonl", "path": str(path), **more}, "train")

    cases = [
        (_write_jsonl(tmp_path / "empty.jsonl", []), "has no document of at least data.min_chars"),
        (_write_jsonl(tmp_path / "notext.jsonl", [{"text": "fine " * 60}, {"body": "no text key"}]),
         r"notext.jsonl:2 has no string 'text' field"),
        (_write_jsonl(tmp_path / "notjson.jsonl", ["{not json"]), r"notjson.jsonl:1 is not JSON"),
        (_write_jsonl(tmp_path / "dup.jsonl", [{"id": 1, "text": "a " * 200}, {"id": 1, "text": "b " * 200}]),
         "duplicate document ids"),
        (tmp_path / "missing.jsonl", "does not exist; set data.path"),
    ]
    for path, message in cases:
        with pytest.raises(PrunebenchError, match=message) as err:
            load(path)
        assert "\n" not in str(err.value)
    with pytest.raises(PrunebenchError, match="needs data.path"):
        task.load_split({"corpus": "jsonl"}, "train")
    with pytest.raises(PrunebenchError, match="unknown data.corpus 'pile'"):
        task.load_split({"corpus": "pile"}, "train")


# ----------------------------------------------------------------------------------------------
# Tokenizer and model
# ----------------------------------------------------------------------------------------------

SAMPLES = ["The Fulton County Grand Jury said Friday.", "Jumala näki, että valo oli hyvä. Ünïcödé ✓",
           "  leading and   repeated spaces\nand newlines\t", "lol :P <3 brb", ""]


def test_tokenizers_round_trip_and_the_bpe_is_cached(tokenizer_dir):
    from prunebench.tasks.text_lm.tokenizer import EOS, ByteTokenizer, build_tokenizer, fit_bpe

    byte = ByteTokenizer()
    for text in SAMPLES:
        assert byte.decode(byte.encode(text)) == text
    corpus = [s * 20 for s in SAMPLES[:4]] * 5
    bpe = fit_bpe(corpus, "abc123", vocab_size=300, directory=tokenizer_dir)
    assert bpe.path.is_file() and bpe.path.name == "bpe-300-abc123.json" and bpe.vocab_size <= 300
    assert bpe.eos_id is not None and bpe.encode(EOS) != []
    for text in SAMPLES + ["unseen words: zyxwvut 12345 ☃"]:
        assert bpe.decode(bpe.encode(text)) == text
    assert len(bpe.encode(SAMPLES[0] * 20)) < 0.75 * len(byte.encode(SAMPLES[0] * 20))  # it learned merges
    mtime = bpe.path.stat().st_mtime_ns
    again = fit_bpe(["entirely different text"], "abc123", vocab_size=300, directory=tokenizer_dir)
    assert again.path == bpe.path and again.path.stat().st_mtime_ns == mtime  # loaded, not retrained
    assert again.encode(SAMPLES[0]) == bpe.encode(SAMPLES[0])
    loaded = build_tokenizer({"kind": "bpe", "path": str(bpe.path)}, None)
    assert loaded.encode(SAMPLES[1]) == bpe.encode(SAMPLES[1])
    with pytest.raises(PrunebenchError, match="unknown tokenizer kind 'wordpiece'"):
        build_tokenizer("wordpiece", None)
    with pytest.raises(PrunebenchError, match="does not exist; drop tokenizer.path"):
        build_tokenizer({"path": str(tokenizer_dir / "none.json")}, None)


@needs_nltk
def test_bpe_is_fit_on_d_ref_whatever_split_the_model_is_built_for(task, tokenizer_dir):
    recipe = {"model": "nano", "tokenizer": {"kind": "bpe", "vocab_size": 400}, "context": 32}
    reference, pool = task.load_split(TINY_DATA, "reference"), task.load_split(TINY_DATA, "train")
    on_ref = task.build_model(recipe, reference, 0).tokenizer
    on_pool = task.build_model(recipe, pool.subset(np.arange(10)), 1).tokenizer
    assert on_ref.path == on_pool.path and reference.checksum in on_ref.path.name
    assert len(list(tokenizer_dir.glob("*.json"))) == 1


def test_final_model_has_at_least_four_times_the_reference_parameters(task):
    from prunebench.tasks.text_lm.model import PRESETS, check_size_ratio, count_parameters

    docs = task.synthetic_split(16, 0)
    sizes = {}
    for name in ("nano", "micro", "mini"):
        model = task.build_model({"model": name, "tokenizer": "byte", "context": 128}, docs, 0)
        sizes[name] = model.num_parameters()
        assert sizes[name] == count_parameters(257, 128, **PRESETS[name])
        assert model.head.weight.data_ptr() == model.tok.weight.data_ptr()  # tied
    for reference, final in (("micro", "mini"), ("mini", "small")):
        for vocab in (257, 512, 1024):
            ratio = check_size_ratio(count_parameters(vocab, 128, **PRESETS[reference]),
                                     count_parameters(vocab, 128, **PRESETS[final]))
            assert ratio >= 4
    assert sizes["mini"] / sizes["micro"] >= 4
    with pytest.raises(PrunebenchError, match="need >= 4x: pick a larger final preset"):
        check_size_ratio(sizes["micro"], sizes["micro"] * 2)
    with pytest.raises(PrunebenchError, match="unknown text-lm model 'huge'"):
        task.build_model({"model": "huge", "tokenizer": "byte"}, docs, 0)


# ----------------------------------------------------------------------------------------------
# Training and evaluation
# ----------------------------------------------------------------------------------------------

class Recorder:
    def __init__(self):
        self.started, self.epochs, self.result = False, [], None

    def on_train_start(self, model, train_set):
        self.started = True

    def on_epoch_end(self, epoch, stats, model):
        self.epochs.append(stats)

    def on_train_end(self, result):
        self.result = result


def test_training_lowers_held_out_loss_at_a_fixed_token_budget(task, tmp_path):
    train, held_out = task.synthetic_split(96, 0), task.synthetic_split(48, 1, split="validation")
    recipe = {"model": "micro", "tokenizer": "byte", "context": 64, "batch_size": 8, "tokens": 8 * 64 * 40,
              "lr": 3e-3, "eval_points": 4}
    model = task.build_model(recipe, train, seed=0)
    before = task.evaluate(task.predict(model, held_out, train_cfg=recipe), held_out)
    recorder = Recorder()
    result = task.train(model, train, recipe, seed=0, eval_set=held_out, callbacks=[recorder],
                        checkpoint_path=tmp_path / "lm.pt")
    after = task.evaluate(result.test_logits, held_out)
    assert result.steps == 40 and result.tokens == 8 * 64 * 40 and result.wall_time_s > 0
    assert [row["step"] for row in result.curve] == [10, 20, 30, 40]
    assert result.curve[-1]["val_nll"] == pytest.approx(after.error)
    assert after.error < before.error - 1.0  # byte NLL falls from ~log(257) = 5.5 nats
    assert after.error < result.curve[0]["val_nll"]
    # callbacks: every epoch's stats carry per-document losses of the documents it saw
    assert recorder.started and recorder.result is result and len(recorder.epochs) == result.epochs >= 2
    full_epoch = recorder.epochs[0]
    assert full_epoch.losses.shape == (len(train),) and full_epoch.seen.mean() > 0.9
    assert np.all(np.isfinite(full_epoch.losses[full_epoch.seen])) and np.all(np.isnan(full_epoch.losses[~full_epoch.seen]))
    assert sum(s.n_tokens.sum() for s in recorder.epochs) <= result.tokens
    assert torch.load(tmp_path / "lm.pt", weights_only=False)["tokens"] == result.tokens
    # a quarter of the data at the same budget: same tokens, more epochs
    small = task.train(task.build_model(recipe, train, seed=0), train.subset(np.arange(24)), recipe, seed=0)
    assert small.tokens == result.tokens and small.epochs > result.epochs
    # per-document sequences (no packing) count only real targets, and reach the budget too
    unpacked = task.train(task.build_model(recipe, train, 0), train, {**recipe, "packing": False}, seed=0)
    assert unpacked.tokens >= recipe["tokens"] and unpacked.tokens < recipe["tokens"] + 8 * 64


def test_outputs_predictions_and_the_direction_of_evaluate(task):
    train, test = task.synthetic_split(64, 0), task.synthetic_split(32, 1, split="test")
    recipe = task.smoke_recipe()
    result = task.train(task.build_model(recipe, train, 0), train, recipe, seed=0, eval_set=test)
    np.testing.assert_array_equal(task.predict(result.model, test, train_cfg=recipe), result.test_logits)
    outputs = task.example_outputs(result.model, train, ("loss", "embedding", "n_tokens"), train_cfg=recipe)
    assert outputs["loss"].shape == (64,) and outputs["embedding"].shape == (64, 32)
    lengths = np.array([len(t.encode()) for t in train.texts])
    np.testing.assert_array_equal(outputs["n_tokens"], lengths)  # byte tokens: one target per byte
    np.testing.assert_allclose(task.example_losses(result.model, train, train_cfg=recipe), outputs["loss"])
    np.testing.assert_allclose(task.embed(result.model, train, train_cfg=recipe), outputs["embedding"])
    # alignment: scoring a reordered subset gives the same per-document values
    sub = task.example_outputs(result.model, train.subset([5, 0, 63]), ("loss",), train_cfg=recipe)["loss"]
    np.testing.assert_allclose(sub, outputs["loss"][[5, 0, 63]], rtol=1e-5)
    # noise documents are harder (higher mean NLL) than the Markov prose even after 12 steps
    assert outputs["loss"][train.domains == 1].mean() > outputs["loss"][train.domains == 0].mean()
    evaluation = task.evaluate(result.test_logits, test)
    assert evaluation.metric == task.eval_metric == "perplexity" and evaluation.higher_is_better is False
    assert evaluation.value == pytest.approx(math.exp(evaluation.error)) and evaluation.value > 1
    # token-weighted: one long document counts more than one short one
    predictions = np.array([[10.0, 10.0], [300.0, 100.0]])
    assert task.evaluate(predictions, [0, 1]).error == pytest.approx(310 / 110)
    better = task.evaluate(predictions * [0.5, 1.0], [0, 1])
    assert better.value < task.evaluate(predictions, [0, 1]).value  # lower NLL = lower (better) perplexity
    with pytest.raises(PrunebenchError, match="records loss, embedding, probabilities, n_tokens, el2n, not logits"):
        task.example_outputs(result.model, train, ("logits",))


def test_steps_to_match_interpolates_between_checkpoints():
    from prunebench.tasks.text_lm.training import steps_to_match

    curve = [{"step": 10, "tokens": 100, "val_nll": 3.0}, {"step": 20, "tokens": 200, "val_nll": 2.0},
             {"step": 30, "tokens": 300, "val_nll": 1.5}]
    assert steps_to_match(curve, 2.5) == pytest.approx(15.0)
    assert steps_to_match(curve, 2.5, key="tokens") == pytest.approx(150.0)
    assert steps_to_match(curve, 3.5) == 10.0 and steps_to_match(curve, 1.0) == math.inf


# ----------------------------------------------------------------------------------------------
# The perplexity metric and the pipeline
# ----------------------------------------------------------------------------------------------

def test_perplexity_metric_is_registered_and_refuses_other_tasks():
    from prunebench.metrics.context import MetricContext
    from prunebench.metrics.registry import check_metric_serves, get_metric

    spec = get_metric("perplexity")
    assert spec.needs == ("loss",) and spec.needs_labels is False and "Ankner" in spec.reference
    check_metric_serves("text-lm", "perplexity")
    ctx = MetricContext(config={"task": "image-classification", "data": {}}, train_set=None)
    with pytest.raises(PrunebenchError, match="set task: text-lm or drop 'perplexity' from metrics.names"):
        spec.fn(ctx, spec.params())


@needs_nltk
def test_perplexity_metric_writes_a_score_table_aligned_to_the_pool(task, tmp_path):
    from prunebench.metrics.compute import compute_metric
    from prunebench.metrics.context import MetricContext
    from prunebench.metrics.storage import read_scores

    config = {"name": "text-tiny", "task": "text-lm", "seed": 0, "data": TINY_DATA,
              "probe": {"tokenizer": "byte", "context": 64, "batch_size": 8, "steps": 10},
              "metrics": {"perplexity": {"model": "nano"}}}
    pool = task.load_split(TINY_DATA, "train")
    ctx = MetricContext(config=config, train_set=pool, probe_root=tmp_path)
    path = compute_metric(config, "perplexity", out=tmp_path / "perplexity.parquet", ctx=ctx)
    table = read_scores(path, expected_ids=pool.ids)
    assert len(table.scores) == len(pool) and np.all(np.isfinite(table.scores))
    assert table.provenance["metric"] == "perplexity" and "reference-lm d32xL1,byte257@5120tok" == table.provenance["variant"]
    # the scores are the reference LM's mean token NLL: retrain it (same seed) and rescore two documents
    from prunebench.metrics.perplexity import train_reference
    from prunebench.metrics.registry import get_metric

    model, result, reference, recipe, _ = train_reference(task, config, get_metric("perplexity").params({"model": "nano"}))
    assert result.tokens == 5120 and not set(reference.ids) & set(pool.ids)
    again = task.example_outputs(model, pool.subset([7, 2]), ("loss",), train_cfg=recipe)["loss"]
    np.testing.assert_allclose(again, np.asarray(table.scores)[[7, 2]], rtol=1e-6)


@needs_nltk
def test_pruning_end_to_end_tiny(task):
    """Reference LM on D_ref -> perplexity scores -> low/medium/high windows -> domain composition
    -> a >= 4x final LM per selection at an equal token budget (seconds, byte tokenizer)."""
    from prunebench.selection import kept_count
    from prunebench.tasks.text_lm.pipeline import PRESETS, run_pruning

    spec = PRESETS["tiny"]
    out = run_pruning(TINY_DATA, reference_recipe=spec["reference"], final_recipe=spec["final"], fraction_kept=0.5)
    pool = task.load_split(TINY_DATA, "train")
    n_keep = kept_count(len(pool), 0.5)
    runs = out["runs"]
    assert set(runs) == {"low", "medium", "high", "random", "full"} and out["baseline"] == "full"
    assert all(runs[w]["documents"] == n_keep for w in ("low", "medium", "high", "random"))
    assert runs["full"]["documents"] == len(pool)
    assert len({run["tokens"] for run in runs.values()}) == 1  # equal token budget
    assert all(run["size_ratio"] >= 4 for run in runs.values())
    assert runs["low"]["mean_score_kept"] < runs["medium"]["mean_score_kept"] < runs["high"]["mean_score_kept"]
    assert all(math.isfinite(run["val_nll"]) and run["val_perplexity"] > 1 for run in runs.values())
    assert runs["full"]["steps_to_match_baseline"] == pytest.approx(runs["full"]["steps"])
    for name, composition in out["composition"].items():
        assert sum(d["doc_share"] for d in composition.values()) == pytest.approx(1.0), name
        assert sum(d["token_share"] for d in composition.values()) == pytest.approx(1.0), name
    before = out["composition"]["before"]
    assert all(before[d]["doc_share"] > 0 for d in out["domain_names"])
    # the windows move the mixture: the domain of highest mean NLL gains in high and loses in low
    hardest = max(out["score_mean_by_domain"], key=out["score_mean_by_domain"].get)
    assert out["composition"]["low"][hardest]["doc_share"] < before[hardest]["doc_share"]
    assert out["composition"]["high"][hardest]["doc_share"] > before[hardest]["doc_share"]


def test_window_selection_keeps_exact_counts_breaks_ties_by_id_and_nests():
    from prunebench.tasks.text_lm.pipeline import domain_composition, select_window

    scores = np.array([0.5, 0.1, 0.9, 0.1, 0.7, 0.3, 0.3, 0.8, 0.2, 0.6])
    ids = np.array([90, 80, 70, 60, 50, 40, 30, 20, 10, 0])
    low, medium, high = (select_window(scores, ids, 0.4, w) for w in ("low", "medium", "high"))
    assert len(low) == len(medium) == len(high) == 4
    assert list(low) == [1, 3, 6, 8] and list(high) == [2, 4, 7, 9]  # 0.3 tie: id 30 (pos 6) before id 40
    assert list(medium) == [0, 5, 6, 9]
    np.testing.assert_array_equal(select_window(scores, ids, 0.4, "low"), low)  # deterministic
    comp = domain_composition([0, 0, 1, 1], ("a", "b"), [10, 30, 20, 40], positions=[0, 2, 3])
    assert comp["a"] == {"doc_share": pytest.approx(1 / 3), "token_share": pytest.approx(10 / 70)}


@needs_nltk
def test_sentiment_probe_reads_the_movie_review_labels(task):
    from prunebench.tasks.text_lm.downstream import movie_review_documents, sentiment_probe

    reviews = movie_review_documents({"root": str(DATA)}, max_chars=200, limit_per_class=60)
    assert reviews.domain_names == ("neg", "pos") and reviews.domain_counts() == {"neg": 60, "pos": 60}
    model = task.build_model(task.smoke_recipe(), reviews, 0)
    result = sentiment_probe(model, reviews=reviews, task=task)
    assert result["n_train"] + result["n_test"] == 120 and 0.0 <= result["accuracy"] <= 1.0
    assert result["se"] == pytest.approx(math.sqrt(result["accuracy"] * (1 - result["accuracy"]) / result["n_test"]))
