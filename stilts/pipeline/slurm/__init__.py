"""Sweeps on a Slurm cluster: one job per unique stage, submitted through submitit.

`settings` validates the ``slurm:`` block of a sweep (torch-free, no submitit needed); `plan` turns a
sweep's stages into the job DAG; `submit` hands it to Slurm; `job` is what each job runs; `queue`
asks Slurm what became of the jobs. Install with ``pip install -e ".[slurm]"``.
"""
