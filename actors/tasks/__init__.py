"""Task families with exact verifiers and solvers. See `actors.tasks.base` for the contract."""

from actors.tasks.base import PAD_TOKEN, IllegalActionError, Task, TaskSpec
from actors.tasks.config import TaskEntry, TasksConfig
from actors.tasks.registry import (
    FAMILIES,
    KINDS,
    CodeGenerationTaskGenerator,
    MathProblemGenerator,
    MCTSSearchTaskGenerator,
    MultiStepReasoningGenerator,
    Problem,
    TaskMix,
    make_task,
    task_class,
)

__all__ = [
    "FAMILIES",
    "KINDS",
    "PAD_TOKEN",
    "CodeGenerationTaskGenerator",
    "IllegalActionError",
    "MCTSSearchTaskGenerator",
    "MathProblemGenerator",
    "MultiStepReasoningGenerator",
    "Problem",
    "Task",
    "TaskEntry",
    "TaskMix",
    "TaskSpec",
    "TasksConfig",
    "make_task",
    "task_class",
]
