"""Selection rules: exact counts, the class-balance floor, keep-easy vs keep-hard, ties, CCS coverage."""

import math

import numpy as np
import pytest

from prunebench.errors import PrunebenchError
from prunebench.selection import ccs, kept_count, select


def _data(n=1000, classes=10, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=n), rng.integers(0, classes, size=n)


@pytest.mark.parametrize("rule", ["topk", "ccs"])
@pytest.mark.parametrize("fraction", [0.001, 0.1, 0.33, 0.5, 0.9, 1.0])
def test_exact_kept_count(rule, fraction):
    scores, labels = _data()
    kept = select(scores, labels, fraction, keep="hard", seed=1, rule=rule)
    assert len(kept) == kept_count(1000, fraction) == max(1, round(fraction * 1000))
    assert np.all(np.diff(kept) > 0)  # sorted, unique positions


def test_keep_hard_keeps_highest_without_balance():
    scores, labels = _data()
    kept = select(scores, labels, 0.2, keep="hard", seed=0, class_balance=0.0)
    assert set(kept) == set(np.argsort(-scores)[:200])
    easy = select(scores, labels, 0.2, keep="easy", seed=0, class_balance=0.0)
    assert set(easy) == set(np.argsort(scores)[:200])


@pytest.mark.parametrize("class_balance", [0.0, 1.0])
def test_keep_easy_and_keep_hard_disjoint_at_half(class_balance):
    scores, labels = _data(n=1000)
    labels = np.repeat(np.arange(10), 100)  # even class sizes so f·N_c is an integer
    hard = select(scores, labels, 0.5, keep="hard", seed=3, class_balance=class_balance)
    easy = select(scores, labels, 0.5, keep="easy", seed=3, class_balance=class_balance)
    assert len(np.intersect1d(hard, easy)) == 0
    assert len(np.union1d(hard, easy)) == 1000


@pytest.mark.parametrize("class_balance", [0.25, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.7])
def test_class_balance_floor_holds(class_balance, fraction):
    rng = np.random.default_rng(5)
    labels = np.repeat(np.arange(5), [400, 300, 150, 100, 50])
    scores = labels * 10.0 + rng.normal(size=len(labels))  # class 4 is hardest, class 0 easiest
    counts = np.bincount(labels)
    for keep in ("hard", "easy"):
        kept = select(scores, labels, fraction, keep=keep, seed=0, class_balance=class_balance)
        got = np.bincount(labels[kept], minlength=5)
        floor = np.minimum(counts, np.ceil(class_balance * fraction * counts - 1e-9))
        assert np.all(got >= floor), (keep, got, floor)
        assert got.sum() == round(fraction * len(labels))


def test_without_balance_the_imbalance_is_extreme():
    labels = np.repeat(np.arange(5), 200)
    scores = labels.astype(float)
    kept = select(scores, labels, 0.2, keep="hard", seed=0, class_balance=0.0)
    assert set(labels[kept]) == {4}


def test_ties_broken_by_seed_reproducibly():
    scores = np.zeros(500)
    labels = np.zeros(500, dtype=int)
    a = select(scores, labels, 0.3, keep="hard", seed=11, class_balance=0)
    b = select(scores, labels, 0.3, keep="hard", seed=11, class_balance=0)
    c = select(scores, labels, 0.3, keep="hard", seed=12, class_balance=0)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    # unbiased between tied examples: inclusion frequency ≈ f for every example
    freq = np.zeros(500)
    for seed in range(200):
        freq[select(scores, labels, 0.3, keep="hard", seed=seed, class_balance=0)] += 1
    assert abs(freq.mean() / 200 - 0.3) < 1e-9 and freq.std() / 200 < 0.06


def test_ties_only_among_equal_scores():
    scores = np.array([3.0, 1.0, 1.0, 1.0, 0.0])
    kept = select(scores, np.zeros(5, int), 0.4, keep="hard", seed=0, class_balance=0)
    assert 0 in kept and 4 not in kept


def test_ccs_covers_all_strata_and_drops_hardest():
    rng = np.random.default_rng(0)
    scores = rng.uniform(size=2000)
    strata, beta = 20, 0.1
    kept = ccs(scores, fraction_kept=0.05, seed=0, hard_cutoff=beta, strata=strata)
    assert len(kept) == 100
    cutoff = np.sort(scores)[::-1][int(beta * 2000) - 1]
    assert scores[kept].max() < cutoff  # the hardest β fraction is pruned
    pool = scores[scores < cutoff]
    edges = np.linspace(pool.min(), pool.max(), strata + 1)
    covered = np.unique(np.clip(np.digitize(scores[kept], edges[1:-1]), 0, strata - 1))
    assert len(covered) == strata


def test_ccs_skewed_scores_small_strata_fully_kept():
    rng = np.random.default_rng(1)
    scores = np.concatenate([rng.normal(0, 0.01, 1900), np.linspace(1, 2, 100)])
    kept = ccs(scores, fraction_kept=0.2, seed=0, hard_cutoff=0.0, strata=10)
    assert len(kept) == 400
    # the sparse high-score tail (small strata) is kept far above its 5% share
    assert np.mean(scores[kept] >= 1) > 0.15


def test_ccs_deterministic_by_seed():
    scores, labels = _data()
    a = select(scores, labels, 0.3, seed=4, rule="ccs")
    assert np.array_equal(a, select(scores, labels, 0.3, seed=4, rule="ccs"))
    assert not np.array_equal(a, select(scores, labels, 0.3, seed=5, rule="ccs"))


@pytest.mark.parametrize("kwargs", [dict(fraction_kept=0.0), dict(fraction_kept=1.5), dict(keep="medium"),
                                    dict(rule="nope"), dict(class_balance=2.0)])
def test_bad_arguments_raise_user_errors(kwargs):
    scores, labels = _data(100)
    args = dict(fraction_kept=0.5, keep="hard", seed=0)
    args.update(kwargs)
    with pytest.raises(PrunebenchError):
        select(scores, labels, **args)


def test_nan_scores_rejected():
    scores, labels = _data(10)
    scores[3] = math.nan
    with pytest.raises(PrunebenchError):
        select(scores, labels, 0.5)


# ---- the selection-rule registry (one module + one decorator per rule) and the window rule ----

from prunebench.selection import get_rule, list_rules, percentile_window  # noqa: E402


def _schema(name):
    import yaml

    from prunebench.config import SCHEMA_DIR

    return yaml.safe_load((SCHEMA_DIR / f"{name}.schema.yaml").read_text())


def test_schema_enums_and_cli_choices_come_from_the_rule_registry():
    assert sorted(_schema("selection")["properties"]["rule"]["enum"]) == list_rules()
    sweep = _schema("sweep")["properties"]
    assert sorted(r for r in sweep["selection_rule"]["enum"] if r) == list_rules()
    rule_keeps = {keep for name in list_rules() for keep in get_rule(name).keeps} - {"ccs"}
    assert set(sweep["keep"]["items"]["enum"]) == rule_keeps
    from prunebench.cli import build_parser

    select_parser = build_parser()._subparsers._group_actions[0].choices["select"]
    choices = {a.dest: a.choices for a in select_parser._actions}
    assert sorted(choices["rule"]) == list_rules() and rule_keeps <= set(choices["keep"])


@pytest.mark.parametrize("rule", sorted(["ccs", "topk", "window"]))
@pytest.mark.parametrize("fraction", [0.001, 0.3, 0.5, 1.0])
def test_every_registered_rule_keeps_exactly_kept_count(rule, fraction):
    assert rule in list_rules()
    scores, labels = _data(n=501)
    for keep in get_rule(rule).keeps:
        kept = select(scores, labels, fraction, keep=keep, seed=2, rule=rule, ids=np.arange(501) * 7)
        assert len(kept) == kept_count(501, fraction) and np.all(np.diff(kept) > 0), (rule, keep)


def test_unknown_rule_keep_or_parameter_is_one_line():
    scores, labels = _data(n=10)
    with pytest.raises(PrunebenchError, match="unknown selection rule 'nope'; use one of ccs, topk, window"):
        select(scores, labels, 0.5, rule="nope")
    with pytest.raises(PrunebenchError, match="keeps low or medium or high, got keep 'hard'"):
        select(scores, labels, 0.5, keep="hard", rule="window")
    with pytest.raises(PrunebenchError, match="has no parameter"):
        select(scores, labels, 0.5, keep="low", rule="window", params={"width": 3})


def test_window_low_high_are_keep_easy_hard_and_medium_is_centred():
    rng = np.random.default_rng(5)
    scores = rng.permutation(1000).astype(float)  # distinct scores: no ties
    labels = np.zeros(1000, int)
    ids = np.arange(1000)
    assert np.array_equal(select(scores, labels, 0.3, keep="low", rule="window", ids=ids),
                          select(scores, labels, 0.3, keep="easy", rule="topk", seed=0))
    assert np.array_equal(select(scores, labels, 0.3, keep="high", rule="window", ids=ids),
                          select(scores, labels, 0.3, keep="hard", rule="topk", seed=0))
    medium = percentile_window(scores, ids, 0.5, "medium")  # the 25th-75th percentile at r = 0.5
    assert scores[medium].min() == 250 and scores[medium].max() == 749


def test_window_breaks_ties_by_id_and_ignores_table_order():
    scores = np.array([1.0, 0.0, 1.0, 1.0, 2.0, 1.0])
    ids = np.array([50, 10, 20, 40, 60, 30])
    kept = percentile_window(scores, ids, 0.5, "low")  # ranks: id10 (0.0), then ties at 1.0 by id: 20, 30
    assert sorted(ids[kept]) == [10, 20, 30]
    order = np.random.default_rng(0).permutation(6)
    again = percentile_window(scores[order], ids[order], 0.5, "low")
    assert sorted(ids[order][again]) == [10, 20, 30]


def test_windows_nest_as_the_rate_grows():
    scores, _ = _data(n=400)
    ids = np.arange(400)
    for window in ("low", "medium", "high"):
        small = set(percentile_window(scores, ids, 0.25, window))
        assert small <= set(percentile_window(scores, ids, 0.5, window)), window
