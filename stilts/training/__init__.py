"""Training one model: the loop, the encoder with its heads and how both load and save, checkpoints
inside a stage, multi-task mixing, LoRA adapters, devices and numerics, evaluation passes, export."""
