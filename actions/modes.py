"""How the citizen's channel asked the bot to talk: `mode` in the message metadata."""

from __future__ import annotations

from rasa_sdk import Tracker


def is_elder(tracker: Tracker) -> bool:
    """Elder mode (长辈版): short answers, one thing at a time, values repeated back."""
    metadata = tracker.latest_message.get("metadata") or {}
    return isinstance(metadata, dict) and metadata.get("mode") == "elder"
