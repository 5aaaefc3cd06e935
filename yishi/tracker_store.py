"""Rasa's SQL tracker store, with personal data masked before any event is written.

Rasa keeps every event of a conversation: the citizen's text, NLU parse data and entities, the
slots a form's `from_text` mapping fills with the raw message, the bot's replies. Validation
needs the real values, but only within the turn that brings them, and Rasa holds that turn's
tracker in memory. So the store masks every string of every event as it writes it (身份证号,
手机号, 银行卡号 via yishi.privacy.mask_pii); a value a form must carry to the next turn is a
vault token (`pii:…`, actions/forms/vault.py), which masking leaves alone.

Used from bot/endpoints*.yml as `type: yishi.tracker_store.MaskingSQLTrackerStore` (Rasa runs
from the repository root and puts it on its path). Runs inside the Rasa venv (Python 3.10).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

from yishi.privacy import mask_pii

logger = logging.getLogger(__name__)


def mask_event(value: Any) -> Any:
    """A copy of an event's JSON with every string masked (keys are left as they are)."""
    if isinstance(value, str):
        return mask_pii(value)
    if isinstance(value, dict):
        return {key: mask_event(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_event(item) for item in value]
    return value


class MaskingSQLTrackerStore(SQLTrackerStore):
    """SQLTrackerStore whose stored events never hold a raw 身份证号, 手机号 or 银行卡号."""

    async def save(self, tracker: DialogueStateTracker) -> None:
        """As SQLTrackerStore.save, with each new event masked before it is written."""
        await self.stream_events(tracker)
        with self.session_scope() as session:
            for event in self._additional_events(session, tracker):
                data = mask_event(event.as_dict())
                intent = (data.get("parse_data") or {}).get("intent") or {}
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=intent.get("name"),
                        action_name=data.get("name"),
                        data=json.dumps(data),
                    )
                )
            session.commit()
        logger.debug("tracker of %s stored (masked)", tracker.sender_id)
