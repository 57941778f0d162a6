"""Forward shapes, per-task heads on mixed batches, padding, presets and configuration."""

import dataclasses

import pytest
import torch

from actors.tasks.sudoku import Sudoku
from actors.tasks.tictactoe import TicTacToe
from learner.models import ModelConfig, PolicyValueOutput, TaskShape, build_model, count_parameters, resolve
from learner.models.heads import PADDED_LOGIT
from learner.models.info import SUDOKU_9X9
from tests.models.conftest import POOLED, SUDOKU4, small_config

# (arch, overrides): attention, the first MLP-mixer form, and the TRM code's form (mixer normalised over
# positions, prefix positions), and attention with a prefix.
ARCH_FORMS = [
    ("hrm", {}),
    ("trm", {}),
    ("trm", {"mlp_mixer": True}),
    ("trm", {"mlp_mixer": True, "mixer_norm": "positions", "prefix_positions": 4}),
    ("hrm", {"prefix_positions": 3}),
]
FORM_IDS = ["hrm", "trm", "trm-mixer", "trm-paper-form", "hrm-prefix"]


def tokens_for(task: TaskShape, batch: int, length: int | None = None) -> torch.Tensor:
    tokens = torch.randint(1, task.vocab_size, (batch, task.obs_length))
    if length is not None and length > task.obs_length:
        tokens = torch.nn.functional.pad(tokens, (0, length - task.obs_length))  # right-pad with PAD = 0
    return tokens


@pytest.mark.parametrize("arch,form", ARCH_FORMS, ids=FORM_IDS)
def test_forward_shapes_and_ranges(arch, form):
    model = build_model(small_config(arch, **form), [SUDOKU4]).eval()
    out = model(tokens_for(SUDOKU4, 5), torch.zeros(5, dtype=torch.int64))
    assert isinstance(out, PolicyValueOutput)
    assert out.policy_logits.shape == (5, 64)
    assert out.value.shape == (5,) and bool(((out.value > -1) & (out.value < 1)).all())
    assert out.halt_logits.shape == (5,)
    assert out.steps.dtype == torch.int64 and out.steps.tolist() == [1] * 5
    assert (out.continue_logits is not None) == (arch == "hrm")
    assert torch.isfinite(out.policy_logits).all()


@pytest.mark.parametrize("arch,form", ARCH_FORMS, ids=FORM_IDS)
def test_mixed_batch_equals_per_task_batches(arch, form):
    """Grouping by task id and right-padding give each sample the output it gets in a batch of its own task."""
    tasks = [SUDOKU4, POOLED]
    model = build_model(small_config(arch, **form), tasks).eval()
    sudoku, pooled = tokens_for(SUDOKU4, 3), tokens_for(POOLED, 2, length=16)
    with torch.no_grad():
        alone_sudoku = model(sudoku, torch.zeros(3, dtype=torch.int64))
        alone_pooled = model(pooled[:, :9], torch.ones(2, dtype=torch.int64))  # its own length, no padding
        order = torch.tensor([0, 3, 1, 4, 2])
        mixed = model(torch.cat([sudoku, pooled])[order], torch.tensor([0, 0, 0, 1, 1])[order])
    back = torch.argsort(order)
    policy, value = mixed.policy_logits[back], mixed.value[back]
    torch.testing.assert_close(policy[:3], alone_sudoku.policy_logits, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(value[:3], alone_sudoku.value, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(policy[3:, :7], alone_pooled.policy_logits[:, :7], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(value[3:], alone_pooled.value, atol=1e-5, rtol=1e-4)
    # The pooled task has 7 actions: the rest of its row is padding that softmax gives no mass.
    assert bool((policy[3:, 7:] == PADDED_LOGIT).all())
    assert float(policy[3:].softmax(-1)[:, 7:].sum()) == 0.0


def test_per_token_logits_follow_positions():
    """Action a = position * k + choice: the logits of position p are the task head applied to answer[:, 1 + p]."""
    model = build_model(small_config("trm", h_cycles=1, l_cycles=1, num_layers=1), [SUDOKU4]).eval()
    heads = model.heads
    answer = torch.randn(2, 17, 32)
    policy, _ = heads(answer, torch.zeros(2, dtype=torch.int64))
    expected = heads.policy[0](answer[:, 1:]).reshape(2, 64)
    torch.testing.assert_close(policy, expected)
    assert torch.allclose(policy.view(2, 16, 4)[:, 5], heads.policy[0](answer[:, 6]))


def test_prefix_positions_come_before_the_tokens():
    """With P prefix positions the sequence is P + L long, position p's logits read answer[:, P + p], and the
    prefix after the task token is a learned embedding, zero at init (absent with P = 1: old checkpoints load)."""
    model = build_model(small_config("trm", prefix_positions=5), [SUDOKU4]).eval()
    assert model.prefix_embedding.shape == (4, 32) and bool((model.prefix_embedding == 0).all())
    assert "prefix_embedding" not in build_model(small_config("trm"), [SUDOKU4]).state_dict()
    tokens, ids = tokens_for(SUDOKU4, 2), torch.zeros(2, dtype=torch.int64)
    enc = model.encode(tokens, ids)
    assert enc.x.shape == (2, 5 + 16, 32)
    torch.testing.assert_close(enc.x[:, 0], model.embed_scale * model.task_embedding(ids))
    torch.testing.assert_close(enc.x[:, 5:], model.embed_scale * model.token_embedding(tokens))
    answer = torch.randn(2, 21, 32)
    policy, _ = model.heads(answer, ids)
    torch.testing.assert_close(policy, model.heads.policy[0](answer[:, 5:]).reshape(2, 64))
    mixer = build_model(small_config("trm", mlp_mixer=True, prefix_positions=5), [SUDOKU4, POOLED])
    assert mixer.mixer_length == 5 + 16 and mixer.net.blocks[0].token_mixer.gate_up.in_features == 21


@pytest.mark.parametrize("mixer_norm", ["channels", "positions"])
def test_token_mixing_is_post_normalised_over_its_axis(mixer_norm):
    """The TRM code's mlp_t normalises the token-mixing residual over positions (each channel has unit RMS over
    the sequence); the first form normalises over channels (each position has unit RMS over its channels)."""
    model = build_model(small_config("trm", mlp_mixer=True, mixer_norm=mixer_norm), [SUDOKU4]).eval()
    block = model.net.blocks[0]
    with torch.no_grad():
        mixed = block._mix_tokens(torch.randn(3, 17, 32))
    axis = 1 if mixer_norm == "positions" else 2
    rms = mixed.square().mean(dim=axis).sqrt()
    torch.testing.assert_close(rms, torch.ones_like(rms), atol=1e-3, rtol=0)


def test_build_model_accepts_task_specs_and_tasks():
    sudoku, tictactoe = Sudoku(size=4), TicTacToe()
    model = build_model(ModelConfig(arch="hrm"), [sudoku.spec, tictactoe])
    assert model.tasks == (SUDOKU4, TaskShape(obs_length=9, vocab_size=4, num_actions=9, actions_per_token=1))
    assert model.max_actions == 64 and model.vocab_size == 6
    states = sudoku.generate(0, 0.5)[None]
    out = model(torch.from_numpy(sudoku.encode(states)), torch.zeros(1, dtype=torch.int64))
    assert out.policy_logits.shape == (1, 64)


def test_fixed_budget_and_halting_inference():
    model = build_model(small_config("trm", inference_steps=3), [SUDOKU4]).eval()
    tokens, ids = tokens_for(SUDOKU4, 4), torch.zeros(4, dtype=torch.int64)
    with torch.no_grad():
        assert model(tokens, ids).steps.tolist() == [3] * 4
        assert model(tokens, ids, steps=2).steps.tolist() == [2] * 4
        # Halting: the fresh head says "continue" (bias -5), so every sample uses the cap ...
        assert model(tokens, ids, halting=True).steps.tolist() == [3] * 4
        # ... and a head that always says "halt" stops after one segment, with the same output as steps=1.
        model.halt_head.bias.fill_(5.0)
        halted = model(tokens, ids, halting=True)
        assert halted.steps.tolist() == [1] * 4
        torch.testing.assert_close(halted.policy_logits, model(tokens, ids, steps=1).policy_logits)


def test_paper_presets_match_the_papers_sizes():
    """HRM ~27M; TRM ~5M in the TRM code's Sudoku form (MLP-mixer over 16 + 81 positions), ~7M with attention.

    The TRM code's TRM-MLP on Sudoku has 5,028,866 parameters: 2 blocks x (SwiGLU 512 -> 1536 -> 512 and token
    SwiGLU 97 -> 512 -> 97) = 5,016,576, token embedding 11 x 512, lm_head 512 x 11, Q-head 512 x 2 + 2 (its
    puzzle embedding is a buffer). Ours differs only in the heads and the task / prefix embeddings.
    """
    hrm = build_model(ModelConfig(arch="hrm", preset="paper"), [SUDOKU_9X9])
    assert 26e6 < count_parameters(hrm) < 28.5e6
    assert (hrm.hp.h_cycles, hrm.hp.l_cycles, hrm.hp.num_layers, hrm.hp.hidden_size) == (2, 2, 4, 512)
    assert (hrm.hp.num_heads, hrm.hp.max_segments, hrm.hp.prefix_positions, hrm.hp.mlp_mixer) == (8, 16, 1, False)
    del hrm
    trm = build_model(ModelConfig(arch="trm", preset="paper"), [SUDOKU_9X9])
    assert abs(count_parameters(trm) - 5_028_866) < 0.01 * 5_028_866
    assert (trm.hp.h_cycles, trm.hp.l_cycles, trm.hp.max_segments, trm.hp.ema_decay) == (3, 6, 16, 0.999)
    assert (trm.hp.mlp_mixer, trm.hp.mixer_norm, trm.hp.prefix_positions, trm.mixer_length) == (
        True,
        "positions",
        16,
        97,
    )
    del trm
    attention = build_model(ModelConfig(arch="trm", preset="paper", mlp_mixer=False), [SUDOKU_9X9])
    assert attention.hp.mixer_norm == "channels"  # the preset's mixer norm does not apply to attention
    assert 6.5e6 < count_parameters(attention) < 7.5e6


def test_config_metadata_and_validation():
    fields = {f.name: f for f in dataclasses.fields(ModelConfig)}
    assert fields["arch"].metadata["choices"] == ("trm", "hrm") and ModelConfig().arch == "trm"
    assert fields["preset"].metadata["choices"] == ("tiny", "small", "paper") and ModelConfig().preset == "tiny"
    assert fields["hidden_size"].metadata == {"min": 1}
    assert fields["expansion"].metadata == {"min": 0.0, "exclusive_min": True}
    assert resolve(ModelConfig(arch="hrm", l_cycles=3)).l_cycles == 3
    assert resolve(ModelConfig(arch="hrm")).hidden_size == 48
    with pytest.raises(ValueError, match="divisible"):
        resolve(ModelConfig(hidden_size=30, num_heads=4))
    with pytest.raises(ValueError, match="mlp_mixer"):
        resolve(ModelConfig(arch="hrm", mlp_mixer=True))
    assert fields["mixer_norm"].metadata == {"choices": ("channels", "positions")}
    assert fields["prefix_positions"].metadata == {"min": 1}
    assert (resolve(ModelConfig()).mixer_norm, resolve(ModelConfig()).prefix_positions) == ("channels", 1)
    with pytest.raises(ValueError, match="mixer_norm"):
        resolve(ModelConfig(mixer_norm="positions"))  # attention has no token mixing to normalise
    with pytest.raises(ValueError, match="mixer_norm"):
        resolve(ModelConfig(mlp_mixer=True, mixer_norm="rows"))
    with pytest.raises(ValueError, match="prefix_positions"):
        resolve(ModelConfig(prefix_positions=0))
    with pytest.raises(ValueError, match="num_actions"):
        build_model(ModelConfig(), [TaskShape(obs_length=4, vocab_size=3, num_actions=20, actions_per_token=4)])


@pytest.mark.parametrize("arch", ["hrm", "trm"])
def test_runs_under_bfloat16_autocast(arch):
    """The learner may train and infer under autocast: mixed batches and halting must keep their dtypes straight."""
    from learner.losses import TrainingBatch, deep_supervision_step

    model = build_model(small_config(arch, inference_steps=2, max_segments=2), [SUDOKU4, POOLED])
    tokens = torch.cat([tokens_for(SUDOKU4, 2), tokens_for(POOLED, 2, length=16)])
    task_ids = torch.tensor([0, 0, 1, 1])
    legal = torch.ones(4, 64, dtype=torch.bool)
    legal[2:, 7:] = False
    batch = TrainingBatch(tokens, task_ids, legal, legal / legal.sum(1, keepdim=True), torch.ones(4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(tokens, task_ids, halting=True)
        metrics = deep_supervision_step(model, batch, torch.optim.SGD(model.parameters(), lr=1e-3))
    assert out.policy_logits.shape == (4, 64) and out.steps.tolist() == [2] * 4
    assert bool(torch.isfinite(out.policy_logits).all()) and bool(torch.isfinite(out.value).all())
    assert metrics["segments"] == 2
