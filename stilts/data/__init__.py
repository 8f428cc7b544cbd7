"""Where examples come from: the release files' readers (`readers/`), the Hugging Face Hub, loading a
task's split and language from either, and local inputs by content (their sha256)."""
