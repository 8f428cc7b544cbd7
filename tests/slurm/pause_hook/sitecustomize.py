"""Loaded by the Python processes of the test cluster's jobs (the tests put this folder on their
PYTHONPATH through the grid's ``slurm.setup``). While the file named by STILTS_TEST_PAUSE_FILE
exists, a stage that has just saved a checkpoint waits, so a test can act on a stage that is
known to be mid-training instead of racing a tiny model that finishes in a second. It can also make
one task's loss NaN (STILTS_TEST_NAN_TASK, below)."""

import os
import time

_PAUSE_FILE = os.environ.get("STILTS_TEST_PAUSE_FILE")

if _PAUSE_FILE:
    from stilts.training.checkpoints import CheckpointStore

    _save = CheckpointStore.save

    def _save_then_wait(self, step, progress):
        _save(self, step, progress)
        while os.path.exists(_PAUSE_FILE):
            time.sleep(0.2)

    CheckpointStore.save = _save_then_wait

# STILTS_TEST_NAN_TASK=<task>: that task's training loss is NaN, so the stage training it fails in its
# job as a diverged stage does (a learning rate large enough to do it is refused as bad input)
_NAN_TASK = os.environ.get("STILTS_TEST_NAN_TASK")

if _NAN_TASK:
    from stilts.training.model import StageModel

    _forward = StageModel.forward

    def _nan_forward(self, task_name, batch):
        loss, outputs = _forward(self, task_name, batch)
        if task_name == _NAN_TASK and loss is not None:
            loss = loss * float("nan")
        return loss, outputs

    StageModel.forward = _nan_forward
