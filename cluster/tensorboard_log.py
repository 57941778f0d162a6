"""TensorBoard event files of a run, in ``RUN_DIR/tb``: `tensorboard --logdir runs/` shows every run side by side.

A listener of the driver (`Driver.listeners`): every interval record (`cluster.monitor`) and every
gate becomes scalars, at the x-axis of the learner step. Tags:

- ``run/<field>``: each number of the interval record; ``self_play/<task>/<success|win|draw|loss>``,
  ``gate/<task>/<solve_rate|score>``, ``actors/<name>/<cpu_percent|rss_mib>``;
- the original design's names: ``self_play/num_episodes`` (episodes played), ``self_play/success_rate``
  (self-play success over the puzzle tasks, their mean), ``self_play/eval_success_rate`` (the gate's
  candidate solve rate over the puzzle tasks, their mean), ``self_play/best_model`` (the best version),
  ``eval/hrm_accuracy`` (the candidate network's verified answers without search, over every held-out
  puzzle) and ``eval/trm_convergence`` (answers verified *and* halted; written only for a model
  whose inference halts, since it is undefined otherwise).

The run's config is written once as text (``config``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MIB = 1 << 20


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


class TensorBoardLog:
    def __init__(self, run_path: Path, config_text: str, model: str | None = None) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(Path(run_path) / "tb"))
        self.writer.add_text("config", "```yaml\n" + config_text + "\n```", 0)
        self.model = model  # the model whose figures are written, in a run of several (None: the only one)
        self.step = 0

    def __call__(self, event: str, values: dict[str, Any]) -> None:
        if event == "interval":
            self.interval(values)
        elif event == "gate" and values.get("model", self.model) == self.model:
            self.gate(values)

    def _scalar(self, tag: str, value: Any) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            self.writer.add_scalar(tag, value, self.step)

    def interval(self, record: dict[str, Any]) -> None:
        self.step = record["learner_step"]
        for name, value in record.items():
            self._scalar(f"run/{name}", value)
        for task, rates in record["tasks"].items():
            for key, rate in rates.items():
                self._scalar(f"self_play/{task}/{key}", rate)
        for name, stats in record["actors"].items():
            self._scalar(f"actors/{name}/cpu_percent", stats["cpu_percent"])
            if stats["rss_bytes"] is not None:
                self._scalar(f"actors/{name}/rss_mib", stats["rss_bytes"] / MIB)
        self._scalar("self_play/num_episodes", record["episodes"])
        success = _mean([rates["success"] for rates in record["tasks"].values() if "success" in rates])
        self._scalar("self_play/success_rate", success)
        self.writer.flush()

    def gate(self, record: dict[str, Any]) -> None:
        self.step = record.get("learner_step", self.step)
        solve_rates = []
        for label, task in record.get("tasks", {}).items():
            if "candidate_solve_rate" in task:
                solve_rates.append(task["candidate_solve_rate"])
                self._scalar(f"gate/{label}/solve_rate", task["candidate_solve_rate"])
            elif "score" in task:
                self._scalar(f"gate/{label}/score", task["score"])
        self._scalar("self_play/eval_success_rate", _mean(solve_rates))
        self._scalar("self_play/best_model", record.get("version"))
        self._scalar("gate/accepted", int(bool(record.get("accepted"))))
        reference = record.get("reference") or {}
        self._scalar("eval/hrm_accuracy", (reference.get("hrm") or {}).get("accuracy"))
        self._scalar("eval/trm_convergence", (reference.get("trm") or {}).get("convergence_rate"))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
