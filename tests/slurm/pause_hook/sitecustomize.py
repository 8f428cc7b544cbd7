"""Loaded by the Python processes of the test cluster's jobs (the tests put this folder on their
PYTHONPATH through the grid's ``slurm.setup``). While the file named by STILTS_TEST_PAUSE_FILE
exists, a stage that has just saved a checkpoint waits, so a test can act on a stage that is
known to be mid-training instead of racing a tiny model that finishes in a second."""

import os
import time

_PAUSE_FILE = os.environ.get("STILTS_TEST_PAUSE_FILE")

if _PAUSE_FILE:
    from stilts.checkpoints import CheckpointStore

    _save = CheckpointStore.save

    def _save_then_wait(self, step, progress):
        _save(self, step, progress)
        while os.path.exists(_PAUSE_FILE):
            time.sleep(0.2)

    CheckpointStore.save = _save_then_wait
