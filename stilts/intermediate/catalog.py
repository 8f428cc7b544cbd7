"""Intermediate-task catalog: English tasks trained before the target task, one module per format
family. (The multi-task mixing rules are in `stilts.mixing`, used by the stage kind.)"""

from stilts.intermediate import pair_tasks, qa_tasks, tagging_mc_tasks  # noqa: F401 (they register)
