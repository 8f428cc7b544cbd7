"""The pipeline machinery: a YAML file's config, stage kinds, the plan and fingerprints, what is checked
before anything trains, running stages here (`local`), in worker processes (`jobs`) or on Slurm
(`slurm/`), the run folder and its status, sweeps."""
