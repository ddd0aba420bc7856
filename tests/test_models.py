"""Model registry, built-in probes, the timm fallback (offline) and embeddings."""

from __future__ import annotations

import pytest
import torch

from prunebench.errors import PrunebenchError
from prunebench.models import count_parameters, create_model, embed, list_models, register_model


def test_builtins_are_registered():
    assert {"airbench", "resnet18_cifar"} <= set(list_models())


@pytest.mark.parametrize("width, stem_stride", [("tiny", 1), ("tiny", 2), ("small", 1), ("base", 1), ([8, 16, 16], 2)])
def test_airbench_shapes(width, stem_stride):
    model = create_model("airbench", 7, width=width, stem_stride=stem_stride).eval()
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, 7)
    assert embed(model, x).shape == (2, model.num_features)


def test_airbench_base_matches_airbench94_size():
    assert 1.9e6 < count_parameters(create_model("airbench", 10, width="base")) < 2.1e6


def test_airbench_whitening_decorrelates_patches():
    torch.manual_seed(0)
    model = create_model("airbench", 10, width=[8, 16, 16])
    mixing = torch.tensor([[1.0, 0.8, 0.6], [0.0, 0.6, 0.5], [0.0, 0.0, 0.4]])
    images = torch.einsum("ij,njhw->nihw", mixing, torch.randn(64, 3, 16, 16))  # correlated channels
    model.init_whitening(images)
    with torch.no_grad():
        out = torch.nn.functional.conv2d(images, model.whiten.weight[:12])
    flat = out.permute(1, 0, 2, 3).reshape(12, -1)
    covariance = flat @ flat.T / flat.shape[1]
    torch.testing.assert_close(covariance, torch.eye(12), atol=0.05, rtol=0)


def test_airbench_whitening_does_not_depend_on_the_lapack_sign_choice(monkeypatch):
    """Another LAPACK build may return any eigenvector negated; the filters must not change."""
    torch.manual_seed(0)
    images = torch.randn(32, 3, 16, 16)
    reference = create_model("airbench", 10, width=[8, 16, 16])
    reference.init_whitening(images)
    eigh = torch.linalg.eigh

    def eigh_with_flipped_signs(matrix):
        values, vectors = eigh(matrix)
        flips = torch.tensor([(-1.0) ** k for k in range(vectors.shape[1])], dtype=vectors.dtype)
        return values, vectors * flips

    monkeypatch.setattr(torch.linalg, "eigh", eigh_with_flipped_signs)
    flipped = create_model("airbench", 10, width=[8, 16, 16])
    flipped.init_whitening(images)
    torch.testing.assert_close(flipped.whiten.weight, reference.whiten.weight, rtol=0, atol=1e-6)


def test_resnet18_cifar():
    model = create_model("resnet18_cifar", 10).eval()
    assert 11.0e6 < count_parameters(model) < 11.3e6
    x = torch.randn(2, 3, 32, 32)
    assert model(x).shape == (2, 10) and embed(model, x).shape == (2, 512)


def test_unknown_names_fail_clearly():
    with pytest.raises(PrunebenchError, match="unknown model 'no_such_net'.*airbench"):
        create_model("no_such_net", 10)
    with pytest.raises(PrunebenchError, match="unknown airbench width"):
        create_model("airbench", 10, width="huge")
    with pytest.raises(PrunebenchError, match="unknown airbench activation"):
        create_model("airbench", 10, activation="swish")


def test_airbench_activation_option():
    relu = create_model("airbench", 10, width="tiny", activation="relu")
    assert any(isinstance(m, torch.nn.ReLU) for m in relu.modules())
    assert not any(isinstance(m, torch.nn.GELU) for m in relu.modules())
    assert relu(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_register_model_adds_a_name():
    @register_model("test_linear_probe")
    def linear(num_classes, features=12):
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.LazyLinear(num_classes))

    assert "test_linear_probe" in list_models()
    assert create_model("test_linear_probe", 3)(torch.randn(2, 3, 4, 4)).shape == (2, 3)
    with pytest.raises(ValueError):
        register_model("test_linear_probe")(linear)


def test_timm_fallback_loads_a_local_checkpoint(tmp_path):
    torch.manual_seed(0)
    source = create_model("resnet10t", 5)
    path = tmp_path / "weights.pth"
    torch.save(source.state_dict(), path)
    loaded = create_model("resnet10t", 5, checkpoint=str(path)).eval()
    source.eval()
    x = torch.randn(2, 3, 32, 32)
    # timm keeps the backbone and re-initialises the classifier (its config says 1000 classes)
    torch.testing.assert_close(embed(loaded, x), embed(source, x))
    assert embed(loaded, x).shape == (2, loaded.num_features)
    with pytest.raises(PrunebenchError, match="not found"):
        create_model("resnet10t", 5, checkpoint=str(tmp_path / "missing.pth"))
