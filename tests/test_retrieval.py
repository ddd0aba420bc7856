"""The retrieval task (OPERA): data readers, evaluation, samplers (reference §2.8's deterministic
tests), static pruning, the task and the pretrained-similarity metric. Small data only: the tiny
random encoder or a handful of MiniLM encodings; the full-corpus gate is a command, not a test."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from prunebench.errors import PrunebenchError
from prunebench.provenance import REPO_ROOT
from prunebench.tasks.retrieval import beir
from prunebench.tasks.retrieval.evaluation import evaluate_rankings, exact_search, opera_ndcg, standard_metrics, summarize
from prunebench.tasks.retrieval.samplers import (BasicSampler, OperaSampler, RS2Sampler, cosine_schedule, cutoff_ratio,
                                                 document_probabilities, pass_length, select_pass, static_prune)

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
SCIFACT = beir.data_root({}) / "scifact" / "scifact.zip"
needs_scifact = pytest.mark.skipif(not SCIFACT.is_file(), reason="scifact.zip not in $PRUNEBENCH_DATA")


@pytest.fixture(autouse=True)
def one_thread():
    import torch

    torch.set_num_threads(1)


# -- data ------------------------------------------------------------------------------------------
def write_beir(root, qrels_lines, corpus=True):
    root.mkdir(parents=True, exist_ok=True)
    if corpus:
        (root / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": f"d{i}", "title": f"T{i}", "text": f"text {i}"})
                                                     for i in range(4)) + "\n")
    (root / "queries.jsonl").write_text("\n".join(json.dumps({"_id": f"q{i}", "text": f"query {i}"}) for i in range(3)))
    (root / "qrels").mkdir(exist_ok=True)
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"{line}\n" for line in qrels_lines))
    return root


def test_beir_reader_round_trip_and_drops_queries_without_positives(tmp_path):
    root = write_beir(tmp_path / "toy", ["q0\td1\t1", "q0\td2\t2", "q1\td3\t1", "q2\td0\t0"])
    data = beir.read_beir_dir(root, "test")
    assert data.corpus.doc_ids == ("d0", "d1", "d2", "d3") and data.corpus.document(1) == "T1 text 1"
    assert data.qrels == {"q0": {"d1": 1, "d2": 2}, "q1": {"d3": 1}} and data.dropped_queries == 1
    examples = beir.pair_examples(data)
    assert len(examples) == 3 and examples.ids.dtype == np.int64 and list(examples.ids) == [0, 1, 2]
    assert list(examples.query_ids) == [0, 0, 1] and list(examples.doc_keys) == ["d1", "d2", "d3"]
    sub = examples.subset([2, 0])
    assert list(sub.ids) == [2, 0] and sub.query_texts() == ["query 1", "query 0"] and sub.checksum != examples.checksum
    assert beir.pair_examples(beir.read_beir_dir(root, "test")).checksum == examples.checksum


@pytest.mark.parametrize("case,match", [("unknown_doc", "names document 'd9', which is not in the corpus"),
                                        ("no_corpus", "has no corpus.jsonl"),
                                        ("unknown_query", "query 'q7', which is not in the queries")])
def test_beir_reader_refuses_bad_input_in_one_line(tmp_path, case, match):
    lines = {"unknown_doc": ["q0\td9\t1"], "no_corpus": ["q0\td1\t1"], "unknown_query": ["q7\td1\t1"]}[case]
    root = write_beir(tmp_path / case, lines, corpus=case != "no_corpus")
    with pytest.raises(PrunebenchError, match=match) as err:
        beir.read_beir_dir(root, "test")
    assert "\n" not in str(err.value)


def test_list_parsers_read_numpy_reprs():
    assert beir.parse_string_list("['A b.'\n 'It\\'s \"c\".']") == ["A b.", "It's \"c\"."]
    assert beir.parse_int_list("[ 5152028 11705328]") == [5152028, 11705328] and beir.parse_int_list("[]") == []
    with pytest.raises(PrunebenchError, match="re-copy"):
        beir.parse_int_list("[1 2 ... 9]")


@needs_scifact
def test_scifact_zip_matches_beir_qrels_counts():
    train = beir.load_retrieval_split({}, "train")
    test = beir.load_retrieval_split({}, "test")
    assert len(train.corpus) == 5183 and (len(train.queries), sum(map(len, train.qrels.values()))) == (809, 919)
    assert (len(test.queries), sum(map(len, test.qrels.values()))) == (300, 339)
    assert train.dropped_queries == test.dropped_queries == 0
    strict = beir.load_retrieval_split({"qrels_rule": "evidence-else-cited"}, "test")
    assert sum(map(len, strict.qrels.values())) == 322  # the data README's wording: not BEIR's qrels
    examples = beir.pair_examples(train)
    assert len(examples) == 919 and len(np.unique(examples.query_ids)) == 809
    assert examples.corpus.document(0).startswith(examples.corpus.titles[0] + " ")
    with pytest.raises(PrunebenchError, match="claims_test.csv has no labels"):
        beir.load_retrieval_split({}, "claims_test")


# -- evaluation ------------------------------------------------------------------------------------
def test_standard_metrics_against_a_hand_worked_example():
    qrels = {"a": {"x": 1, "z": 1}, "b": {"y": 1}}
    run = {"a": {"x": 0.9, "y": 0.8, "w": 0.7}, "b": {"x": 0.9, "y": 0.5}}  # z never retrieved
    m = standard_metrics(qrels, run, ["a", "b"])
    ideal = 1 + 1 / math.log2(3)
    assert m["ndcg@10"] == pytest.approx([1 / ideal, (1 / math.log2(3)) / 1.0])
    assert m["recall@10"] == pytest.approx([0.5, 1.0]) and m["recall@100"] == pytest.approx([0.5, 1.0])
    # OPERA's sklearn variant normalises over the retrieved relevant documents only: query a scores 1
    doc_keys = ["x", "y", "w"]
    opera = opera_ndcg(qrels, ["a"], doc_keys, np.array([[0, 1, 2]]), np.array([[0.9, 0.8, 0.7]]))
    assert opera == pytest.approx([1.0]) and m["ndcg@10"][0] < 1.0
    s = summarize({"v": np.array([0.0, 1.0])})["v"]
    assert s["mean"] == 0.5 and s["se"] == pytest.approx(0.5) and s["n"] == 2


def test_exact_search_orders_by_score_with_ties_by_position():
    q = np.array([[1.0, 0.0]], dtype=np.float32)
    d = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    idx, sc = exact_search(q, d, k=3)
    assert idx.tolist() == [[1, 2, 3]] and sc[0].tolist() == pytest.approx([1.0, 1.0, 0.6])
    per_query = evaluate_rankings({"q": {"d": 1}}, ["q"], ["a", "b", "c", "d"], idx, sc)
    assert per_query["ndcg@10"][0] == pytest.approx(1 / math.log2(4))
    # pytrec_eval (trec_eval) re-sorts the run itself and breaks score ties by doc id, not by our order
    tied = evaluate_rankings({"q": {"c": 1}}, ["q"], ["a", "b", "c", "d"], idx, sc)
    assert tied["ndcg@10"][0] == pytest.approx(1.0)


# -- samplers (reference §2.8) ---------------------------------------------------------------------
def test_pass_length_and_cutoff_inversion():
    assert pass_length(800, 0.25, 2.0) == 500 and pass_length(809) == 505  # n0 = n(1-r0)/x0 + r0 n
    n, n0 = 1000, 625
    for x in (2.0, 3.0, 4.5, 5.0):
        r = cutoff_ratio(x, n0, n)
        assert n * (1 - r) / x + r * n == pytest.approx(n0)  # r(x) keeps the pass length fixed
    assert cutoff_ratio(2.0, n0, n) == pytest.approx(0.25) and cutoff_ratio(5.0, n0, n) == pytest.approx(0.53125)


def test_cosine_schedule_endpoints_and_fixed_wrap_quirk():
    assert cosine_schedule(2, 5, 0, 100) == 2 and cosine_schedule(2, 5, 50, 100) == pytest.approx(3.5)
    assert cosine_schedule(2, 5, 100, 100) == 5 and cosine_schedule(2, 5, 250, 100) == 5  # holds the end value
    assert cosine_schedule(2, 5, 100, 100, wrap=True) == 2  # the official code's wrap, reproduced only on request
    assert cosine_schedule(0.25, 0.5, 60, 100, delta=0.5) == 0.5


@pytest.mark.parametrize("x", [2.0, 5.0])
def test_below_threshold_queries_are_seen_with_probability_one_over_x(x):
    n = 1000
    n0 = pass_length(n)
    scores = np.random.default_rng(0).random(n)
    r = cutoff_ratio(x, n0, n)
    trials, hits, protected = 300, np.zeros(n), None
    for t in range(trials):
        chosen, protected = select_pass(scores, n0, r, np.random.default_rng([1, t]))
        assert len(chosen) == n0 and len(np.unique(chosen)) == n0
        hits[chosen] += 1
    assert np.all(hits[protected] == trials)  # the top r(t) are always in the pass
    below = ~protected
    p = (n0 - protected.sum()) / below.sum()
    assert abs(p - 1 / x) < 0.005
    rate, sd = hits[below].sum() / (trials * below.sum()), math.sqrt(p * (1 - p) / (trials * below.sum()))
    assert abs(rate - p) < 4 * sd


def test_document_level_probabilities():
    probs = document_probabilities(np.array([0.9, 0.1, 0.8, 0.2, 0.3]), threshold=0.5, x_d=5.0)
    a, b = 2, 3
    assert probs[[0, 2]] == pytest.approx([5 / (5 * a + b)] * 2) and probs[[1, 3, 4]] == pytest.approx([1 / (5 * a + b)] * 3)
    # the sampler draws with them: query 0 has positives at pairs 0 (high score) and 1 (low)
    sampler = OperaSampler([0, 0, 1, 2, 3, 4, 5, 6], scores=[0.9, 0.1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5], batch_size=1,
                           total_steps=100, seed=0, level="document")
    sampler.reset(0)
    draws = [sampler.choose_positive(0, np.random.default_rng([3, i])) for i in range(4000)]
    assert np.mean(np.array(draws) == 0) == pytest.approx(5 / 6, abs=4 * math.sqrt(5 / 36 / 4000))


def test_opera_sampler_refreshes_scores_and_keeps_unit_weights():
    rng = np.random.default_rng(0)
    query_ids = np.repeat(np.arange(40), 2)
    sampler = OperaSampler(query_ids, scores=rng.random(80), batch_size=8, total_steps=50, seed=3)
    assert sampler.n0 == pass_length(40)
    seen = []
    for step in range(10):
        positions = sampler.batch(step)
        assert len(set(query_ids[positions])) == len(positions) == 8  # one pair per query, none twice
        assert np.all(sampler.weights(positions) == 1.0)  # DP: no loss rescaling
        sampler.observe(step, positions, np.full(8, -1.0), np.zeros(8))
        assert np.all(sampler.scores[positions] == -1.0)
        seen.append(positions)
    again = OperaSampler(query_ids, scores=np.random.default_rng(0).random(80), batch_size=8, total_steps=50, seed=3)
    for step in range(10):
        np.testing.assert_array_equal(again.batch(step), seen[step])
        again.observe(step, seen[step], np.full(8, -1.0), np.zeros(8))
    assert sampler.state()["resets"] >= 2 and sampler.state()["x"] > 2.0


def test_basic_and_rs2_epochs():
    query_ids = np.repeat(np.arange(20), [1, 2] * 10)
    basic = BasicSampler(query_ids, batch_size=5, total_steps=8, seed=0)
    epoch = np.concatenate([basic.batch(s) for s in range(4)])
    assert sorted(set(query_ids[epoch])) == list(range(20))  # every query once per epoch
    rs2 = RS2Sampler(query_ids, batch_size=5, total_steps=8, seed=0, fraction=0.5)
    first = set(query_ids[np.concatenate([rs2.batch(s) for s in range(2)])])
    second = set(query_ids[np.concatenate([rs2.batch(s) for s in range(2, 4)])])
    assert len(first) == len(second) == 10 and first != second  # a fresh subset every epoch


def test_static_pruning_keeps_the_highest_similarity_pairs_and_reports_coverage():
    sim = np.array([0.9, 0.2, 0.5, 0.5, 0.1, 0.8, 0.3])
    query_ids = np.array([0, 0, 1, 1, 2, 3, 3])
    result = static_prune(sim, query_ids, 0.5)
    assert len(result.positions) == math.floor(0.5 * 7) == 3
    assert result.positions.tolist() == [0, 2, 5]  # 0.9, 0.8, then the 0.5 tie broken by the lower id
    assert result.n_queries_kept == 3 and result.coverage == pytest.approx(3 / 4)
    assert static_prune(sim, query_ids, 0.5, mode="hp").positions.tolist() == [1, 4, 6]
    assert len(static_prune(sim, query_ids, 0.3, mode="ran", seed=1).positions) == 2


# -- task and metric ------------------------------------------------------------------------------
def test_task_trains_with_every_sampler_and_calls_back():
    from prunebench.tasks import get_task

    task = get_task("retrieval")
    train, test = task.synthetic_split(48, 0), task.synthetic_split(24, 1, split="test")
    assert task.strata(train).tolist() == train.query_ids.tolist()

    class Recorder:
        def __init__(self):
            self.events = []

        def on_train_start(self, model, examples):
            self.events.append(("start", len(examples)))

        def on_epoch_end(self, epoch, stats, model):
            assert len(stats.losses) == len(train) and np.all(np.isfinite(stats.losses[stats.seen]))
            self.events.append(("epoch", epoch, int(stats.seen.sum())))

        def on_train_end(self, result):
            self.events.append(("end", result.train_steps))

    for sampler in ("basic", "rs2", "opera"):
        recipe = {**task.smoke_recipe(), "sampler": sampler, "steps": 6}
        recorder = Recorder()
        result = task.train(task.build_model(recipe, train, 0), train, recipe, seed=0, eval_set=test, callbacks=[recorder])
        assert recorder.events[0] == ("start", 48) and recorder.events[-1] == ("end", 6)
        assert [e[0] for e in recorder.events[1:-1]] == ["epoch"] * result.epochs and result.epochs >= 1
        evaluation = task.evaluate(result.test_logits, test)
        assert evaluation.metric == "ndcg@10" and 0 <= evaluation.value <= 1
        assert np.all(np.isfinite(result.step_losses)) and result.pair_forwards == 6 * 8


def test_pretrained_similarity_metric_is_negated_pair_cosine():
    from prunebench.metrics.context import MetricContext
    from prunebench.metrics.registry import get_metric
    from prunebench.tasks import get_task
    from prunebench.tasks.retrieval.training import pair_similarity

    task = get_task("retrieval")
    train = task.synthetic_split(24, 0)
    spec = get_metric("pretrained-similarity")
    assert spec.needs == ("embedding",) and not spec.needs_labels
    config = {"task": "retrieval", "seed": 0, "probe": {"encoder": "tiny", "max_seq_length": 32}}
    result = spec.fn(MetricContext(config=config, train_set=train), spec.params())
    expected = pair_similarity(task.build_model(config["probe"], train, 0), train)
    np.testing.assert_allclose(result.scores, -expected, atol=1e-5)
    with pytest.raises(PrunebenchError, match="set task: retrieval"):
        spec.fn(MetricContext(config={"seed": 0}, train_set=train), spec.params())


# -- the encoder -----------------------------------------------------------------------------------
def test_encoder_refuses_missing_or_corrupt_model_dirs(tmp_path):
    from prunebench.tasks.retrieval.encoder import load_encoder

    with pytest.raises(PrunebenchError, match="missing or incomplete"):
        load_encoder({"model_dir": str(tmp_path / "nope")})
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("config.json", "modules.json"):
        (broken / name).write_text("{not json")
    (broken / "model.safetensors").write_bytes(b"garbage")
    with pytest.raises(PrunebenchError, match="cannot load the encoder") as err:
        load_encoder({"model_dir": str(broken)})
    assert "\n" not in str(err.value)


def test_minilm_loads_offline_with_the_model_card_length_and_ranks_sensibly():
    from prunebench.tasks.retrieval.encoder import encode, load_encoder

    model = load_encoder({})
    assert model.max_seq_length == 256
    emb = encode(model, ["a cat sat on the mat", "a kitten sits on a rug", "stock markets fell sharply"])
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert emb[0] @ emb[1] > emb[0] @ emb[2]


def test_committed_gate_record_is_complete():
    path = REPO_ROOT / "results" / "retrieval" / "zero_shot_gate.json"
    if not path.is_file():
        pytest.skip("no gate record yet (python -m prunebench retrieval gate)")
    record = json.loads(path.read_text())
    from prunebench.tasks.retrieval.gate import PUBLISHED, TOLERANCE

    assert record["published"] == PUBLISHED and record["data"]["n_queries"] == 300
    for name, check in record["checks"].items():
        assert check["pass"] == (abs(check["measured"] - PUBLISHED[name]) <= TOLERANCE)
        assert check["se"] > 0 and check["measured"] == record["measured"][name]["mean"]
    assert record["pass"] == all(c["pass"] for c in record["checks"].values())
    assert {"cpu_model", "torch_threads"} <= set(record["machine"]) and record["versions"]["sentence-transformers"]


def test_retrieval_cli_is_registered(capsys):
    from prunebench.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["retrieval", "gate", "--help"])
    assert exit_info.value.code == 0 and "--save-embeddings" in capsys.readouterr().out
