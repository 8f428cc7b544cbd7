"""stilts: intermediate-task training of multilingual encoders and zero-shot cross-lingual evaluation."""

__version__ = "0.1.0"
