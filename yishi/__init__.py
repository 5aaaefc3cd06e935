"""Shared kernel used by every Yishi process: privacy masking and logging set-up."""
