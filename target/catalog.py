"""Target-task catalog: the XTREME tasks (and the demo's topic set), trained on English and evaluated
zero-shot, one module per format family."""

from stilts.target import classification_tasks, pair_retrieval_tasks, qa_tasks, tagging_tasks  # noqa: F401 (they register)
