"""Intermediate-task catalog: English tasks trained before the target task, one module per format
family, and the multi-task mixing rules intermediate stages use."""

from stilts.intermediate import mixing, pair_tasks, qa_tasks, tagging_mc_tasks  # noqa: F401 (they register)
from stilts.registry import register_mixer

register_mixer(mixing)
