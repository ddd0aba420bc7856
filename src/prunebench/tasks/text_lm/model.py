"""A small causal transformer in plain ``torch.nn`` (GPT-2 layout, after nanoGPT): learned token
and position embeddings, pre-LN blocks (causal self-attention + 4x GELU MLP), a final LayerNorm and
an output head tied to the token embedding. No dropout, no biases in the linear layers.

Size presets (``model:``), parameters with a 1,024-token vocabulary and context 128:

========  =======  ========  =======  ===========
preset    d_model  n_layers  n_heads  parameters
========  =======  ========  =======  ===========
nano      32       1         2        ~50k
micro     64       2         4        ~170k
mini      128      4         4        ~930k
small     256      6         8        ~5.0M
base      512      8         8        ~26M
medium    768      12        12       ~86M
========  =======  ========  =======  ===========

Each preset has >= 4x the parameters of the one before it except nano -> micro (3.4x), so a
reference/final pair one preset apart from micro up (micro -> mini 5.5x, mini -> small 5.4x) keeps
Ankner et al.'s final >= 4x reference; :func:`check_size_ratio` refuses a smaller pair.
"""

from __future__ import annotations

import math

from prunebench.errors import PrunebenchError

PRESETS = {
    "nano": {"d_model": 32, "n_layers": 1, "n_heads": 2},
    "micro": {"d_model": 64, "n_layers": 2, "n_heads": 4},
    "mini": {"d_model": 128, "n_layers": 4, "n_heads": 4},
    "small": {"d_model": 256, "n_layers": 6, "n_heads": 8},
    "base": {"d_model": 512, "n_layers": 8, "n_heads": 8},
    "medium": {"d_model": 768, "n_layers": 12, "n_heads": 12},
}
MIN_SIZE_RATIO = 4.0


def preset(name_or_dims) -> dict:
    """The dimensions of a preset name, or a mapping ``{d_model, n_layers, n_heads}`` as given."""
    if isinstance(name_or_dims, dict):
        dims = dict(name_or_dims)
        missing = sorted({"d_model", "n_layers", "n_heads"} - set(dims))
        if missing:
            raise PrunebenchError(f"model dimensions need {', '.join(missing)}; or name a preset: {', '.join(PRESETS)}")
        return dims
    if name_or_dims not in PRESETS:
        raise PrunebenchError(f"unknown text-lm model '{name_or_dims}'; presets: {', '.join(PRESETS)}")
    return dict(PRESETS[name_or_dims])


def count_parameters(vocab_size: int, context: int, d_model: int, n_layers: int, n_heads: int = 1) -> int:
    """Parameters of :class:`CausalLM` (tied head counted once), without building it."""
    block = 2 * 2 * d_model + 4 * d_model * d_model + 8 * d_model * d_model  # 2 LayerNorms, attention, MLP
    return vocab_size * d_model + context * d_model + n_layers * block + 2 * d_model


def check_size_ratio(reference_params: int, final_params: int, min_ratio: float = MIN_SIZE_RATIO) -> float:
    """``final / reference`` parameters; refuses a final model under ``min_ratio`` x the reference."""
    ratio = final_params / max(reference_params, 1)
    if ratio < min_ratio:
        raise PrunebenchError(f"the final LM has {final_params:,} parameters, {ratio:.2f}x the reference's "
                              f"{reference_params:,}; Ankner et al. need >= {min_ratio:g}x: pick a larger final preset")
    return ratio


def build_causal_lm(vocab_size: int, context: int, dims: dict, seed: int):
    """A :class:`CausalLM` with GPT-2 initialisation drawn from ``seed``."""
    import torch

    generator_state = torch.random.get_rng_state()
    torch.manual_seed(int(seed))
    try:
        model = _causal_lm_class()(vocab_size, context, **dims)
    finally:
        torch.random.set_rng_state(generator_state)
    return model


_CLASS = None


def _causal_lm_class():
    """Define the module classes on first use (torch is imported lazily)."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    import torch
    from torch import nn
    from torch.nn import functional as F

    class Block(nn.Module):
        def __init__(self, d_model: int, n_heads: int):
            super().__init__()
            if d_model % n_heads:
                raise PrunebenchError(f"d_model {d_model} is not a multiple of n_heads {n_heads}")
            self.n_heads = n_heads
            self.ln1 = nn.LayerNorm(d_model)
            self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
            self.proj = nn.Linear(d_model, d_model, bias=False)
            self.ln2 = nn.LayerNorm(d_model)
            self.fc = nn.Linear(d_model, 4 * d_model, bias=False)
            self.out = nn.Linear(4 * d_model, d_model, bias=False)

        def forward(self, x):
            b, t, d = x.shape
            q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
            shape = (b, t, self.n_heads, d // self.n_heads)
            q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
            return x + self.out(F.gelu(self.fc(self.ln2(x))))

    class CausalLM(nn.Module):
        """Decoder-only LM; ``forward(ids) -> logits``, ``hidden(ids)`` the final normalised states."""

        def __init__(self, vocab_size: int, context: int, d_model: int, n_layers: int, n_heads: int):
            super().__init__()
            self.vocab_size, self.context = int(vocab_size), int(context)
            self.dims = {"d_model": int(d_model), "n_layers": int(n_layers), "n_heads": int(n_heads)}
            self.tok = nn.Embedding(vocab_size, d_model)
            self.pos = nn.Embedding(context, d_model)
            self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
            self.ln_f = nn.LayerNorm(d_model)
            self.head = nn.Linear(d_model, vocab_size, bias=False)
            self.head.weight = self.tok.weight  # tied embeddings
            self.apply(self._init)
            for block in self.blocks:  # GPT-2: scale the residual projections by 1/sqrt(2 L)
                for layer in (block.proj, block.out):
                    nn.init.normal_(layer.weight, std=0.02 / math.sqrt(2 * n_layers))
            self.tokenizer = None  # set by the task: the tokenizer the model reads

        @staticmethod
        def _init(module):
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)

        def hidden(self, ids):
            t = ids.shape[1]
            if t > self.context:
                raise ValueError(f"sequence of {t} tokens exceeds the context {self.context}")
            x = self.tok(ids) + self.pos(torch.arange(t, device=ids.device))
            for block in self.blocks:
                x = block(x)
            return self.ln_f(x)

        def forward(self, ids):
            return self.head(self.hidden(ids))

        def num_parameters(self) -> int:
            return sum(p.numel() for p in self.parameters())

    _CLASS = CausalLM
    return CausalLM
