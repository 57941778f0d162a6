"""Building blocks shared by HRM and TRM, as their papers' reference code builds them.

- Linear layers without biases, truncated LeCun-normal init.
- RMSNorm without a learned scale, applied *after* the residual add (post-norm).
- Rotary position embeddings in attention; non-causal attention over the whole puzzle.
- SwiGLU feed-forward with hidden width ``expansion * 2/3 * dim`` rounded up to a multiple.
- TRM's MLP-mixer form: a token-mixing SwiGLU across positions in place of self-attention,
  its residual sum normalised over channels (``mixer_norm="channels"``) or, as the TRM code's
  ``mlp_t`` does, over positions (``"positions"``).
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from learner.model_config import MIXER_NORMS

RMS_NORM_EPS = 1e-5
ROPE_THETA = 10000.0
# Std of a standard normal truncated to [-2, 2]; dividing by it makes the truncated init have the intended std.
_TRUNCATED_STD = 0.8796256610342398


def trunc_normal_(tensor: Tensor, std: float) -> Tensor:
    """In-place truncated normal at two standard deviations, rescaled so its std is really ``std``."""
    if std == 0:
        return nn.init.zeros_(tensor)
    scaled = std / _TRUNCATED_STD
    return nn.init.trunc_normal_(tensor, mean=0.0, std=scaled, a=-2 * scaled, b=2 * scaled)


def rms_norm(x: Tensor) -> Tensor:
    """Parameter-free RMSNorm over the last dimension (the papers' layers have no learned norm scale)."""
    return F.rms_norm(x, (x.shape[-1],), eps=RMS_NORM_EPS)


class Linear(nn.Linear):
    """A linear layer with truncated LeCun-normal weights and, when it has one, a zero bias."""

    def __init__(self, in_features: int, out_features: int, bias: bool = False) -> None:
        super().__init__(in_features, out_features, bias=bias)

    def reset_parameters(self) -> None:
        trunc_normal_(self.weight, std=1.0 / math.sqrt(self.in_features))
        if self.bias is not None:
            nn.init.zeros_(self.bias)


class RotaryEmbedding(nn.Module):
    """Cos/sin tables of rotary position embeddings, grown on demand for longer sequences."""

    def __init__(self, head_dim: int, max_positions: int) -> None:
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary embeddings need an even head dimension, got {head_dim}")
        inv_freq = 1.0 / (ROPE_THETA ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self._build(max_positions)

    def _build(self, positions: int) -> None:
        freqs = torch.outer(torch.arange(positions, dtype=torch.float32), self.inv_freq)
        angles = torch.cat((freqs, freqs), dim=-1)  # [positions, head_dim], halves rotated together
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, seq_len: int) -> tuple[Tensor, Tensor]:
        if seq_len > self.cos.shape[0]:
            self._build(seq_len)
        return self.cos[:seq_len], self.sin[:seq_len]


def _rotate_half(x: Tensor) -> Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """``x [B, heads, S, head_dim]`` rotated by position; ``cos, sin [S, head_dim]``."""
    return x * cos + _rotate_half(x) * sin


class Attention(nn.Module):
    """Non-causal multi-head self-attention with rotary positions and no biases."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"hidden size {dim} is not divisible by {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = Linear(dim, 3 * dim)
        self.out = Linear(dim, dim)

    def forward(self, x: Tensor, cos_sin: tuple[Tensor, Tensor], key_mask: Tensor | None) -> Tensor:
        batch, seq_len, dim = x.shape
        q, k, v = self.qkv(x).view(batch, seq_len, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        cos, sin = cos_sin
        q, k = apply_rotary(q, cos, sin), apply_rotary(k, cos, sin)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask)
        return self.out(attended.transpose(1, 2).reshape(batch, seq_len, dim))


def swiglu_width(dim: int, expansion: float, multiple_of: int) -> int:
    """SwiGLU hidden width: 2/3 of ``expansion * dim`` (same parameters as a plain MLP), rounded up."""
    width = round(expansion * dim * 2 / 3)
    return -(-width // multiple_of) * multiple_of


class SwiGLU(nn.Module):
    def __init__(self, dim: int, expansion: float, multiple_of: int) -> None:
        super().__init__()
        width = swiglu_width(dim, expansion, multiple_of)
        self.gate_up = Linear(dim, 2 * width)
        self.down = Linear(width, dim)

    def forward(self, x: Tensor) -> Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class Block(nn.Module):
    """One post-norm transformer block: ``h = norm(h + mix(h)); h = norm(h + mlp(h))`` on ``h [B, S, D]``.

    ``mix`` is self-attention, or with ``mixer_length`` (TRM's MLP form) a SwiGLU
    across the ``mixer_length`` = S positions, applied to each channel. Its post-norm
    is over channels (each position's D values, like the other sublayers) or, with
    ``mixer_norm="positions"``, over positions (each channel's S values), which is
    the TRM code's ``mlp_t`` block: transpose to ``[B, D, S]``, ``rms_norm(h + mlp_t(h))``
    over the last (position) axis, transpose back.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        expansion: float,
        multiple_of: int,
        mixer_length: int | None = None,
        mixer_norm: str = "channels",
    ) -> None:
        super().__init__()
        if mixer_norm not in MIXER_NORMS:
            raise ValueError(f"mixer_norm must be one of {MIXER_NORMS}, got {mixer_norm!r}")
        self.attention = Attention(dim, num_heads) if mixer_length is None else None
        self.token_mixer = SwiGLU(mixer_length, expansion, multiple_of) if mixer_length is not None else None
        self.norm_over_positions = mixer_length is not None and mixer_norm == "positions"
        self.mlp = SwiGLU(dim, expansion, multiple_of)

    def forward(self, h: Tensor, cos_sin: tuple[Tensor, Tensor] | None, key_mask: Tensor | None) -> Tensor:
        h = self._attend(h, cos_sin, key_mask) if self.attention is not None else self._mix_tokens(h)
        return rms_norm(h + self.mlp(h))

    def _attend(self, h: Tensor, cos_sin: tuple[Tensor, Tensor], key_mask: Tensor | None) -> Tensor:
        """The self-attention sublayer with its residual and post-norm: ``[B, S, D] -> [B, S, D]``."""
        return rms_norm(h + self.attention(h, cos_sin, key_mask))

    def _mix_tokens(self, h: Tensor) -> Tensor:
        """The token-mixing sublayer with its residual and post-norm: ``[B, S, D] -> [B, S, D]``."""
        columns = h.transpose(1, 2)  # [B, D, S]: the SwiGLU mixes each channel's S positions
        if self.norm_over_positions:
            return rms_norm(columns + self.token_mixer(columns)).transpose(1, 2)
        return rms_norm(h + self.token_mixer(columns).transpose(1, 2))


class ReasoningModule(nn.Module):
    """A stack of blocks updating a state from an input injection: ``blocks(state + injection)``.

    HRM's H and L modules and TRM's single network are each one of these; the
    recurrence lives in the model that calls it.
    """

    def __init__(self, blocks: list[Block]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    def forward(
        self, state: Tensor, injection: Tensor, cos_sin: tuple[Tensor, Tensor] | None, key_mask: Tensor | None
    ) -> Tensor:
        h = state + injection
        for block in self.blocks:
            h = block(h, cos_sin, key_mask)
        return h
