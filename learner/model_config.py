"""Model configuration: an architecture, a size preset, and optional overrides of the preset's values.

``ModelConfig`` is what a run's YAML holds (constraints in each field's metadata
are read by the project's config loader); `resolve` turns it into `Hyperparams`,
every value filled in and checked.

The recursion counts use one pair of names for both architectures, since both
nest an inner loop in an outer one:

    HRM: ``h_cycles`` = N high-level cycles, each of ``l_cycles`` = T low-level steps.
    TRM: ``h_cycles`` = T recursions, each of ``l_cycles`` = n latent updates then one answer update
         (the TRM reference code names them H_cycles and L_cycles too).

One *segment* (supervision step) is one full run of that nested loop; deep
supervision chains up to ``max_segments`` of them in training, and inference
runs ``inference_steps`` of them (or fewer, halting, with ``inference_halting``).

Presets: ``tiny`` is for self-play on a 2-core CPU (thousands of samples per
second at batch 64), ``paper`` is each paper's Sudoku setting (HRM ~27M
parameters with attention; TRM ~5M in the MLP-mixer form of the TRM code's Sudoku
config: token mixing over 16 prefix positions + the 81 cells, normalised over
positions; ~7M with attention, ``mlp_mixer: false, mixer_norm: channels,
prefix_positions: 1``), ``small`` is in between.

The sequence a model runs on is ``prefix_positions`` positions, then the input's
tokens: position 0 is the task token (a learned embedding per task id), the other
prefix positions hold learned embeddings shared by all tasks (zero at init; TRM's
``puzzle_emb_len``, 16 on Sudoku, whose positions past the first the reference
fills with zeros). They add working positions to the carried state, and widen the
MLP-mixer's token mixing to ``prefix_positions + L`` positions.

Checkpoints hold their ``ModelConfig``: one saved before ``mixer_norm`` and
``prefix_positions`` existed resolves them from its preset, which for ``tiny`` and
``small`` (and HRM's ``paper``) is the form it was trained in. TRM's ``paper`` preset
was attention (``mlp_mixer: false, prefix_positions: 1``) before it took the TRM
code's Sudoku form: a TRM ``paper`` checkpoint from then needs those two set.
"""

import dataclasses
from dataclasses import dataclass, field

ARCHS = ("trm", "hrm")
PRESETS = ("tiny", "small", "paper")
# Where the MLP-mixer's token-mixing sublayer normalises its residual sum (post-norm in both):
# "channels", each position over its D channels, as every other sublayer does (this code's first form);
# "positions", each channel over the sequence, as the TRM code's ``mlp_t`` does (its RMSNorm is applied
# while the state is transposed to [B, D, S]).
MIXER_NORMS = ("channels", "positions")

# Values of each preset. ffn_multiple_of rounds SwiGLU widths up (the papers use 256,
# which would multiply the width of a tiny model several times over).
# The tiny presets are narrow (width 48, SwiGLU expansion 2 instead of 4: about twice
# the speed of width 64 / expansion 4, and as good on supervised 4x4 Sudoku in a
# minute) and spend their few layer applications where that learned best per second
# of CPU: TRM keeps one gradient-free recursion (T=2, n=1), HRM has two-layer modules
# with one low-level step per high-level cycle (N=2, T=1); small and paper keep
# T=2 low-level steps per cycle. Only the TRM paper preset uses the TRM code's Sudoku form
# (MLP-mixer, normalised over positions, 16 prefix positions); the others keep the first form.
PRESET_VALUES: dict[str, dict[str, dict]] = {
    "trm": {
        "tiny": dict(
            hidden_size=48, num_heads=4, num_layers=2, expansion=2.0, ffn_multiple_of=16,
            h_cycles=2, l_cycles=1, max_segments=4, inference_steps=1, inference_halting=False,
            halt_exploration_prob=0.1, mlp_mixer=False, mixer_norm="channels", prefix_positions=1, ema_decay=0.99,
        ),
        "small": dict(
            hidden_size=128, num_heads=4, num_layers=2, expansion=4.0, ffn_multiple_of=32,
            h_cycles=2, l_cycles=3, max_segments=8, inference_steps=2, inference_halting=False,
            halt_exploration_prob=0.1, mlp_mixer=False, mixer_norm="channels", prefix_positions=1, ema_decay=0.995,
        ),
        # TRM paper (Sudoku-Extreme, TRM-MLP): 2 layers, width 512, n=6, T=3, N_sup=16, EMA 0.999,
        # token mixing over puzzle_emb_len=16 prefix positions + 81 cells, normalised over positions.
        "paper": dict(
            hidden_size=512, num_heads=8, num_layers=2, expansion=4.0, ffn_multiple_of=256,
            h_cycles=3, l_cycles=6, max_segments=16, inference_steps=16, inference_halting=False,
            halt_exploration_prob=0.1, mlp_mixer=True, mixer_norm="positions", prefix_positions=16, ema_decay=0.999,
        ),
    },
    "hrm": {
        "tiny": dict(
            hidden_size=48, num_heads=4, num_layers=2, expansion=2.0, ffn_multiple_of=16,
            h_cycles=2, l_cycles=1, max_segments=4, inference_steps=1, inference_halting=False,
            halt_exploration_prob=0.1, mlp_mixer=False, mixer_norm="channels", prefix_positions=1, ema_decay=0.0,
        ),
        "small": dict(
            hidden_size=128, num_heads=4, num_layers=2, expansion=4.0, ffn_multiple_of=32,
            h_cycles=2, l_cycles=2, max_segments=8, inference_steps=2, inference_halting=False,
            halt_exploration_prob=0.1, mlp_mixer=False, mixer_norm="channels", prefix_positions=1, ema_decay=0.0,
        ),
        # HRM paper: 4 + 4 layers, width 512, 8 heads, N=2, T=2, M_max=16, epsilon=0.1, no EMA.
        "paper": dict(
            hidden_size=512, num_heads=8, num_layers=4, expansion=4.0, ffn_multiple_of=256,
            h_cycles=2, l_cycles=2, max_segments=16, inference_steps=16, inference_halting=False,
            halt_exploration_prob=0.1, mlp_mixer=False, mixer_norm="channels", prefix_positions=1, ema_decay=0.0,
        ),
    },
}  # fmt: skip


@dataclass
class ModelConfig:
    """The network of a run. Every field left at None takes the preset's value."""

    arch: str = field(default="trm", metadata={"choices": ARCHS})
    preset: str = field(default="tiny", metadata={"choices": PRESETS})
    hidden_size: int | None = field(default=None, metadata={"min": 1})
    num_heads: int | None = field(default=None, metadata={"min": 1})
    # TRM: layers of its one network; HRM: layers of each of the H and L modules.
    num_layers: int | None = field(default=None, metadata={"min": 1})
    expansion: float | None = field(default=None, metadata={"min": 0.0, "exclusive_min": True})
    h_cycles: int | None = field(default=None, metadata={"min": 1})  # HRM N; TRM T
    l_cycles: int | None = field(default=None, metadata={"min": 1})  # HRM T; TRM n
    max_segments: int | None = field(default=None, metadata={"min": 1})  # training N_sup / HRM M_max
    inference_steps: int | None = field(default=None, metadata={"min": 1})  # segments per forward (the cap)
    inference_halting: bool | None = None  # stop a sample early when its halting head says so
    halt_exploration_prob: float | None = field(default=None, metadata={"min": 0.0, "max": 1.0})
    mlp_mixer: bool | None = None  # TRM only: token-mixing MLP instead of self-attention
    mixer_norm: str | None = field(default=None, metadata={"choices": MIXER_NORMS})  # MLP-mixer only: see MIXER_NORMS
    # Positions before the tokens: the task token, then prefix_positions - 1 learned ones (TRM's puzzle_emb_len).
    prefix_positions: int | None = field(default=None, metadata={"min": 1})
    ema_decay: float | None = field(default=None, metadata={"min": 0.0, "max": 1.0})  # 0: no EMA


@dataclass(frozen=True)
class Hyperparams:
    """A `ModelConfig` resolved against its preset: every value set."""

    arch: str
    preset: str
    hidden_size: int
    num_heads: int
    num_layers: int
    expansion: float
    ffn_multiple_of: int
    h_cycles: int
    l_cycles: int
    max_segments: int
    inference_steps: int
    inference_halting: bool
    halt_exploration_prob: float
    mlp_mixer: bool
    mixer_norm: str
    prefix_positions: int
    ema_decay: float


def resolve(config: ModelConfig) -> Hyperparams:
    """Fill ``config``'s unset fields from its preset; ValueError on an impossible combination."""
    if config.arch not in ARCHS:
        raise ValueError(f"model.arch must be one of {ARCHS}, got {config.arch!r}")
    if config.preset not in PRESETS:
        raise ValueError(f"model.preset must be one of {PRESETS}, got {config.preset!r}")
    values = dict(PRESET_VALUES[config.arch][config.preset])
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value is not None and f.name not in ("arch", "preset"):
            values[f.name] = value
    hp = Hyperparams(arch=config.arch, preset=config.preset, **values)
    if hp.hidden_size % hp.num_heads:
        raise ValueError(f"model.hidden_size {hp.hidden_size} is not divisible by model.num_heads {hp.num_heads}")
    if not hp.mlp_mixer and (hp.hidden_size // hp.num_heads) % 2:
        raise ValueError(f"model: rotary embeddings need an even head size, got {hp.hidden_size // hp.num_heads}")
    if hp.mlp_mixer and hp.arch != "trm":
        raise ValueError("model.mlp_mixer is a TRM form; HRM always uses self-attention")
    if hp.mixer_norm not in MIXER_NORMS:
        raise ValueError(f"model.mixer_norm must be one of {MIXER_NORMS}, got {hp.mixer_norm!r}")
    if hp.mixer_norm != "channels" and not hp.mlp_mixer:
        if config.mixer_norm is not None:
            raise ValueError("model.mixer_norm: positions is a form of the MLP-mixer; set model.mlp_mixer")
        hp = dataclasses.replace(hp, mixer_norm="channels")  # the preset's mixer setting, with attention instead
    if hp.prefix_positions < 1:
        raise ValueError(f"model.prefix_positions must be at least 1 (the task token), got {hp.prefix_positions}")
    if not 0.0 <= hp.ema_decay < 1.0:
        raise ValueError(f"model.ema_decay must be in [0, 1), got {hp.ema_decay}")
    return hp
