"""What a reader needs from every figure, checked on figures drawn from small synthetic tables:
one distinct line per fitted family listed, legend text from the label map, shared axes across
compared panels, titles inside the figure, error bars with the stated standard error; and a
caption file for every figure the Snakemake report shows."""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

from prunebench.figures.empirical import empirical_figures
from prunebench.figures.style import FAMILY_STYLES, LABELS
from prunebench.figures.uncertainty import error_bar_note, with_standard_errors
from prunebench.theory.plots import theory_figures

matplotlib.use("Agg")
ROOT = Path(__file__).resolve().parents[1]
RAW_IDENTIFIERS = re.compile(r"\b(power_law|power_law_floor|exponential_floor|fixed_epochs|fixed_compute)\b")
SIZES = (100, 200, 400, 800, 1600, 3200)
N_TEST = 1000


def synthetic_sweep(seeds=(0,)) -> pd.DataFrame:
    """Two protocols, random + one metric kept easy/hard, f ∈ {0.5, 0.8, 1}, six sizes, ε ≈ power laws."""
    rng = np.random.default_rng(0)
    rows = []

    def add(protocol, metric, keep, n, f, seed, scale):
        error = float(np.clip(scale * (f * n) ** -0.3 + rng.normal(0, 0.005), 0.01, 0.99))
        rows.append({"protocol": protocol, "initial_size": n, "fraction_kept": f, "n_kept": round(f * n),
                     "metric": metric, "keep": keep, "seed": seed, "test_error": error,
                     "test_accuracy": 1 - error, "n_test": N_TEST})

    for n in SIZES:
        for seed in seeds:
            add("fixed_epochs", "none", "all", n, 1.0, seed, 3.0)
            for protocol in ("fixed_epochs", "fixed_compute"):
                for f in (0.5, 0.8):
                    add(protocol, "random", "random", n, f, seed, 3.1)
                    add(protocol, "el2n", "hard", n, f, seed, 3.3)
                    add(protocol, "el2n", "easy", n, f, seed, 2.9)
    return pd.DataFrame(rows)


def _fit(family: str, params: dict | None, bic: float | None) -> dict:
    names = {"power_law": ("a", "nu"), "power_law_floor": ("a", "nu", "c"), "exponential": ("a", "lam"),
             "exponential_floor": ("a", "lam", "c")}[family]
    return {"family": family, "params": params or {k: None for k in names}, "rss": None if params is None else 0.01,
            "bic": bic, "ok": params is not None}


def synthetic_scaling() -> dict:
    """f = 1: three usable fits, one failed, no family selected; frontier: four fits, one selected
    (the floors chosen so that two curves coincide with the plain families)."""
    full = {"n_points": 6, "best": None, "weights": {}, "reason": "3 distinct sizes (fewer than 5): point estimates only",
            "fits": {"power_law": _fit("power_law", {"a": 3.0, "nu": 0.3}, None),
                     "power_law_floor": _fit("power_law_floor", None, None),
                     "exponential": _fit("exponential", {"a": 0.9, "lam": 4000.0}, None),
                     "exponential_floor": _fit("exponential_floor", {"a": 0.5, "lam": 900.0, "c": 0.3}, None)}}
    frontier = {"metric": "el2n", "keep": "hard", "n_points": 6, "best": "exponential",
                "weights": {"power_law": 0.2, "power_law_floor": 0.1, "exponential": 0.6, "exponential_floor": 0.1},
                "fits": {"power_law": _fit("power_law", {"a": 3.2, "nu": 0.3}, 1.0),
                         "power_law_floor": _fit("power_law_floor", {"a": 3.2, "nu": 0.3, "c": 0.0}, 2.0),
                         "exponential": _fit("exponential", {"a": 0.9, "lam": 3000.0}, 0.5),
                         "exponential_floor": _fit("exponential_floor", {"a": 0.9, "lam": 3000.0, "c": 0.0}, 2.5)}}
    return {"criterion": "bic", "full_data": full, "protocols": {"fixed_epochs": {"frontiers": [frontier]}}}


def ci_config() -> dict:
    from prunebench.config import load_config

    config = load_config("ci")
    config["sweep"] = {**config["sweep"], "metrics": ["random", "el2n"], "panel_metric": "el2n",
                       "protocols": ["fixed_epochs", "fixed_compute"]}
    return config


@pytest.fixture(scope="module")
def empirical():
    figures = empirical_figures(ci_config(), synthetic_sweep(), synthetic_scaling())
    for figure in figures.values():
        figure.canvas.draw()
    yield figures
    import matplotlib.pyplot as plt

    plt.close("all")


def panels(figure) -> list:
    """The figure's data axes (not colour bars)."""
    return [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]


def legend_texts(figure) -> list[str]:
    texts = []
    for ax in figure.axes:
        legend = ax.get_legend()
        if legend is not None:
            texts += [t.get_text() for t in legend.get_texts()] + [legend.get_title().get_text()]
    return texts


def test_scaling_fits_draw_one_distinct_line_per_listed_fit(empirical):
    figure = empirical["scaling_fits.png"]
    summaries = [synthetic_scaling()["full_data"], synthetic_scaling()["protocols"]["fixed_epochs"]["frontiers"][0]]
    for ax, summary in zip(panels(figure), summaries):
        fitted = [f for f, fit in summary["fits"].items() if fit["ok"]]
        lines = [line for line in ax.get_lines() if str(line.get_gid()).startswith("fit:")]
        assert sorted(line.get_gid() for line in lines) == sorted(f"fit:{f}" for f in fitted)
        styles = {(matplotlib.colors.to_hex(line.get_color()), str(line.get_linestyle()), line.get_marker())
                  for line in lines}
        assert len(styles) == len(lines)  # coinciding fits still look different
        legend = [t.get_text() for t in ax.get_legend().get_texts()]
        for family in fitted:  # each drawn family is named in the legend with its map label
            assert sum(text.startswith(LABELS[family] + ":") for text in legend) == 1
        widths = {line.get_gid(): line.get_linewidth() for line in lines}
        if summary["best"]:
            assert widths[f"fit:{summary['best']}"] > max(w for g, w in widths.items() if g != f"fit:{summary['best']}")
            assert any("selected" in text and text.startswith(LABELS[summary["best"]]) for text in legend)
        else:
            assert "no family selected" in ax.get_legend().get_title().get_text()
            assert "not fitted: " + LABELS["power_law_floor"] in ax.get_legend().get_title().get_text()
    assert len(FAMILY_STYLES) == 4


def test_f1_panel_shows_its_fitted_power_law(empirical):
    f1_panel = panels(empirical["scaling_fits.png"])[0]
    assert "fit:power_law" in {line.get_gid() for line in f1_panel.get_lines()}


@pytest.mark.parametrize("name", ["fig1_keep_hard_minus_easy.png", "fig3_error_vs_pruned_size.png",
                                  "fig3_pareto_frontier.png", "fig5_metric_benchmark.png", "scaling_fits.png",
                                  "fixed_compute_vs_fixed_epochs.png"])
def test_empirical_figures_read_well(empirical, name):
    figure = empirical[name]
    assert not [t for t in legend_texts(figure) if RAW_IDENTIFIERS.search(t)], "raw identifiers in a legend"
    assert_titles_inside(figure)
    axes = panels(figure)
    assert len({tuple(np.round(ax.get_ylim(), 9)) for ax in axes}) == 1, "compared panels must share y limits"
    assert len({tuple(np.round(ax.get_xlim(), 9)) for ax in axes}) == 1, "compared panels must share x limits"
    if name != "fig1_keep_hard_minus_easy.png":
        for ax in axes:
            assert error_bar_lengths(ax).size and (error_bar_lengths(ax) > 0).all(), f"{name}: no error bars"
    assert "binomial standard error" in _all_text(figure)


def assert_titles_inside(figure) -> None:
    renderer = figure.canvas.get_renderer()
    box = figure.bbox
    titles = [figure._suptitle] if figure._suptitle is not None else []
    titles += [t for ax in figure.axes for t in (ax.title, ax._left_title, ax._right_title) if t.get_text()]
    for title in titles:
        extent = title.get_window_extent(renderer)
        assert extent.x0 >= box.x0 - 1 and extent.x1 <= box.x1 + 1 and extent.y1 <= box.y1 + 1, \
            f"title {title.get_text()!r} is cut off ({extent} outside {box})"


def error_bar_lengths(ax) -> np.ndarray:
    """Half-lengths of every vertical error bar drawn on ``ax``."""
    lengths = []
    for container in ax.containers:
        if isinstance(container, ErrorbarContainer) and container.has_yerr:
            for collection in container.lines[2]:
                lengths += [abs(seg[1, 1] - seg[0, 1]) / 2 for seg in collection.get_segments()]
    return np.asarray(lengths)


def _all_text(figure) -> str:
    texts = [figure._suptitle.get_text()] if figure._suptitle is not None else []
    return " ".join(texts + [ax.get_title() for ax in figure.axes])


def test_one_seed_error_bar_is_the_binomial_standard_error(empirical):
    ax = panels(empirical["fig5_metric_benchmark.png"])[0]
    runs = synthetic_sweep()
    largest = runs[(runs["initial_size"] == max(SIZES)) & (runs["metric"] == "random") & (runs["protocol"] == "fixed_epochs")]
    expected = sorted(np.sqrt(largest["test_error"] * (1 - largest["test_error"]) / N_TEST))
    drawn = error_bar_lengths(ax)
    for value in expected:
        assert np.isclose(drawn, value, rtol=1e-9).any()


def test_standard_errors_over_seeds_and_binomial():
    runs = synthetic_sweep(seeds=(0, 1, 2))
    means = with_standard_errors(runs[runs["metric"] == "none"])
    point = runs[(runs["metric"] == "none") & (runs["initial_size"] == 400)]["test_error"]
    row = means[means["initial_size"] == 400].iloc[0]
    assert row["se_kind"] == "seeds" and row["test_error_se"] == pytest.approx(point.std(ddof=1) / math.sqrt(3))
    one = with_standard_errors(runs[(runs["metric"] == "none") & (runs["seed"] == 0)])
    p = one["test_error"]
    assert (one["se_kind"] == "binomial").all()
    assert np.allclose(one["test_error_se"], np.sqrt(p * (1 - p) / N_TEST))
    assert "over seeds (k = 3)" in error_bar_note(means) and "n_test = 1000" in error_bar_note(one)


# ---------------------------------------------------------------------------------------------- theory


def synthetic_theory() -> dict:
    """Small theory tables of the shapes the theory stage writes (closed-form stand-ins for ε)."""
    alphas = np.geomspace(0.5, 20, 12)
    curves = []
    for study, theta, keeps, fractions in (("fixed_f", 0.0, ("easy", "hard"), (0.2, 0.6, 1.0)),
                                           ("frontier", 0.0, ("hard",), (0.01, 0.1, 0.5, 1.0)),
                                           ("imperfect", 0.1, ("hard",), (0.05, 0.3, 1.0)),
                                           ("imperfect", 0.3, ("hard",), (0.05, 0.3, 1.0))):
        for keep in keeps:
            for f in fractions:
                eps = 0.4 / (1 + alphas) * (f ** 0.3 if keep == "hard" else f ** 0.1)
                curves += [{"study": study, "theta": theta, "keep": keep, "f": f, "alpha_tot": a / f,
                            "alpha_prune": a, "eps": e} for a, e in zip(alphas, eps)]
    curves = pd.DataFrame(curves)
    crossover = pd.DataFrame({"f": [0.2, 0.6], "alpha_tot_star": [12.0, 5.0]})
    sims = pd.DataFrame([{"study": "fixed_f", "theta": 0.0, "keep": k, "f": 0.6, "alpha_tot": 2 / 0.6, "alpha_prune": 2.0,
                          "n_dim": 50, "eps": 0.1 + 0.01 * s, "kappa": 0.5} for k in ("easy", "hard") for s in range(3)])
    where = ["f=1"] * 3 + ["interior"] * 5 + ["f_floor"] * 4
    frontier = pd.DataFrame({"study": "frontier", "theta": 0.0, "alpha_prune": alphas, "method": "continuous",
                             "f_opt": [1.0] * 3 + list(np.geomspace(0.9, 0.2, 5)) + [1e-4] * 4,
                             "eps_opt": 0.3 * np.exp(-alphas / 3), "eps_grid_opt": 0.31 * np.exp(-alphas / 3),
                             "optimum_at": where, "eps_f1": 0.4 / (1 + alphas)})
    imperfect = pd.concat([frontier.assign(study="imperfect", theta=t, method="grid", optimum_at="interior",
                                           eps_opt=frontier["eps_f1"] * 0.5) for t in (0.1, 0.3)])
    fits = pd.DataFrame([
        {"study": "frontier", "theta": 0.0, "target": "f=1", "law": "power_law", "a": 0.4, "rate": 0.8,
         "rms_log": 0.05, "alpha_min": 1.0, "alpha_max": 20.0, "n_points": 8},
        {"study": "frontier", "theta": 0.0, "target": "frontier", "law": "exponential", "a": 0.3, "rate": 0.33,
         "rms_log": 0.01, "alpha_min": alphas[3], "alpha_max": alphas[7], "n_points": 5},
        {"study": "frontier", "theta": 0.0, "target": "frontier", "law": "power_law", "a": 0.3, "rate": 1.0,
         "rms_log": 0.04, "alpha_min": alphas[3], "alpha_max": alphas[7], "n_points": 5}])
    return {"curves": curves, "crossover": crossover, "sims": sims, "frontier": pd.concat([frontier, imperfect]),
            "fits": fits}


@pytest.fixture(scope="module")
def theory():
    figures = theory_figures(**synthetic_theory())
    for figure in figures.values():
        figure.canvas.draw()
    yield figures
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.mark.parametrize("name", ["theory_crossover.png", "theory_frontier.png", "theory_imperfect.png"])
def test_theory_titles_fit_inside(theory, name):
    assert_titles_inside(theory[name])


def test_theory_compared_panels_share_axes_and_show_simulation_error_bars(theory):
    crossover = panels(theory["theory_crossover.png"])
    assert crossover[0].get_ylim() == crossover[1].get_ylim() and crossover[0].get_xlim() == crossover[1].get_xlim()
    assert error_bar_lengths(crossover[0]).size and (error_bar_lengths(crossover[0]) > 0).all()
    frontier = panels(theory["theory_frontier.png"])
    assert frontier[0].get_ylim() == frontier[1].get_ylim()
    imperfect = panels(theory["theory_imperfect.png"])
    assert imperfect[0].get_ylim() == imperfect[1].get_ylim() and imperfect[0].get_xlim() == imperfect[1].get_xlim()


def test_theory_frontier_marks_the_pinned_part_and_draws_the_interior_fits(theory):
    ax_log, _, zoom = panels(theory["theory_frontier.png"])
    labels = [line.get_label() for line in ax_log.get_lines()]
    assert any("pinned at lowest f" in text for text in labels)
    zoom_labels = [line.get_label() for line in zoom.get_lines()]
    assert sum(text.startswith("frontier fit") for text in zoom_labels) == 2
    assert "lower envelope of the f grid" in zoom_labels


# ---------------------------------------------------------------------------------------------- report


def test_every_report_output_has_a_caption_file():
    """Every output the Snakemake report shows names a caption RST under workflow/report/ that
    exists, and every PNG a rule writes is in the report (metric_correlations.png included)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings()) as api:
        workflow_api = api.workflow(resource_settings=ResourceSettings(cores=1), snakefile=ROOT / "Snakefile",
                                    config_settings=ConfigSettings(configfiles=[ROOT / "workflow/config/ci.yaml"]),
                                    workdir=ROOT)
        rules = list(workflow_api._workflow.rules)
    pngs = [(rule.name, out) for rule in rules for out in rule.output if str(out).endswith(".png")]
    assert {Path(str(out)).name for _, out in pngs} >= {"metric_correlations.png", "scaling_fits.png", "theory_frontier.png"}
    for rule, out in pngs:
        flag = out.flags.get("report")
        assert flag is not None, f"{rule}: {out} is not in the report"
        assert flag.caption is not None, f"{rule}: {out} has no caption"
        caption = Path(flag.caption.get_path_or_uri(secret_free=True)).resolve()
        assert caption.is_file() and caption.parent == ROOT / "workflow" / "report", caption
        assert caption.stem == Path(str(out)).stem and len(caption.read_text().split()) > 30


def test_benchmark_figure_leaves_out_an_unreliable_estimator_and_says_why(tmp_path):
    """A metric whose score table is noise (too few models) is not drawn in Fig. 5; a line says why."""
    import matplotlib.pyplot as plt
    import numpy as np

    from prunebench.cli.figures import unreliable_metrics
    from prunebench.figures.empirical import plot_metric_benchmark
    from prunebench.metrics.storage import write_scores

    sweep = synthetic_sweep()
    ids = np.arange(200)
    write_scores(tmp_path / "el2n.parquet", ids, np.random.default_rng(0).random(200),
                 {"metric": "memorization", "score_name": "el2n", "variant": "", "config_hash": "x", "seed": 0,
                  "code_version": "test", "n_models": 2})  # an estimator with 2 models (memorization needs more)
    left_out = unreliable_metrics(sweep, tmp_path)
    assert set(left_out) == {"el2n"} and "left out" in left_out["el2n"]
    figure = plot_metric_benchmark(sweep, "fixed_epochs", "toy", left_out=left_out)
    assert "el2n" not in legend_texts(figure)
    assert left_out["el2n"] in figure.get_supxlabel()
    plt.close(figure)


def test_metric_benchmark_has_a_panel_per_keep_label_of_the_selection_rule():
    """Top-k sweeps get keep hard | keep easy; percentile-window sweeps (text) low | medium | high."""
    import pandas as pd

    from prunebench.figures.empirical import benchmark_keeps

    topk = pd.DataFrame({"keep": ["easy", "hard", "random", "all"]})
    window = pd.DataFrame({"keep": ["high", "low", "medium", "random", "all"]})
    assert benchmark_keeps(topk) == ["hard", "easy"]
    assert benchmark_keeps(window) == ["low", "medium", "high"]
    assert benchmark_keeps(pd.DataFrame({"keep": ["random", "all"]})) == ["hard", "easy"]


def test_hard_minus_easy_compares_the_two_ends_of_the_selection_rule():
    import pandas as pd

    from prunebench.figures.empirical import extreme_keeps

    assert extreme_keeps(pd.DataFrame({"keep": ["easy", "hard", "random"]})) == ("hard", "easy")
    assert extreme_keeps(pd.DataFrame({"keep": ["low", "medium", "high", "random"]})) == ("high", "low")


def test_class_balance_figure_pairs_seeds_of_the_same_point():
    from prunebench.figures.balance import paired_balance_differences, plot_class_balance

    sweep = synthetic_sweep(seeds=(0, 1, 2)).assign(worst_class_accuracy=lambda t: t["test_accuracy"] - 0.2)
    hard = sweep[(sweep["keep"] == "hard") & (sweep["protocol"] == "fixed_epochs")].copy()
    hard["protocol"] = "unbalanced"
    hard["test_accuracy"] -= 0.03 * hard["seed"]  # seed s loses 3s points without balancing
    table = paired_balance_differences(pd.concat([sweep, hard]), "test_accuracy")
    assert set(table["metric"]) == {"el2n"} and (table["n_seeds"] == 3).all()
    assert np.allclose(table["delta_mean"], 0.03) and np.allclose(table["delta_se"], 0.03 / np.sqrt(3))
    fig = plot_class_balance(pd.concat([sweep, hard]), tag="test")
    assert [ax.get_title() for ax in fig.axes][:2] == ["mean top-1 accuracy: balanced − unbalanced",
                                                       "worst-class accuracy: balanced − unbalanced"]
    assert "paired over 3 seeds" in fig._suptitle.get_text()


def test_metrics_whose_kept_sets_never_change_are_named_not_drawn():
    from prunebench.figures.balance import plot_class_balance, unbound_metrics

    sweep = synthetic_sweep(seeds=(0, 1)).assign(worst_class_accuracy=0.5, kept_ids_hash="same")
    extra = sweep[(sweep["metric"] == "el2n") & (sweep["protocol"] == "fixed_epochs")].assign(metric="forgetting")
    sweep = pd.concat([sweep, extra], ignore_index=True)
    hard = sweep[(sweep["keep"] == "hard") & (sweep["protocol"] == "fixed_epochs")].copy()
    hard["protocol"] = "unbalanced"
    hard.loc[hard["metric"] == "el2n", "kept_ids_hash"] = "other"  # el2n's floor binds somewhere
    both = pd.concat([sweep, hard], ignore_index=True)
    assert unbound_metrics(both) == ["forgetting"]
    fig = plot_class_balance(both, tag="test")
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["el2n (keep hard)"]
    assert "forgetting" in fig._supxlabel.get_text()
