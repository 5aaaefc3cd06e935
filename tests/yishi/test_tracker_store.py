"""The masking tracker store inside Rasa's own venv, configured from bot/endpoints.yml: what
it writes holds no raw 身份证号, 手机号 or 银行卡号, and what it reads back still works."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

import pytest

from ops.paths import RASA_VENV, ROOT, rasa_env

pytestmark = pytest.mark.slow

ID_NUMBER = "11010519491231002X"
MOBILE = "13912345678"
CARD = "6222020200112233442"

SCRIPT = f"""
import asyncio, json, os, sys
sys.path.insert(1, os.getcwd())  # as `rasa run` does
from rasa.core.tracker_store import create_tracker_store
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config

domain = Domain.load("domain.yml")
store = create_tracker_store(read_endpoint_config("bot/endpoints.yml", "tracker_store"), domain)
text = "身份证{ID_NUMBER}，电话{MOBILE}，卡号{CARD}"
parse = {{"text": text, "intent": {{"name": "inform", "confidence": 1.0}},
          "entities": [{{"entity": "mobile", "value": "{MOBILE}", "start": 0, "end": 11}}]}}
tracker = DialogueStateTracker("web:privacy", domain.slots)
tracker.update(UserUttered(text, parse["intent"], parse["entities"], parse_data=parse))
tracker.update(SlotSet("id_number", text))
tracker.update(SlotSet("bank_card", "pii:v0123456789abcdef01234567"))
tracker.update(BotUttered("您的手机号是{MOBILE}吗？"))
asyncio.run(store.save(tracker))
back = asyncio.run(store.retrieve("web:privacy"))
print(json.dumps({{
    "store": type(getattr(store, "_tracker_store", store)).__name__,
    "bank_card": back.get_slot("bank_card"),
    "intent": back.latest_message.intent.get("name"),
    "text": back.latest_message.text,
}}, ensure_ascii=False))
"""


def test_stored_trackers_hold_no_raw_values(tmp_path: Path) -> None:
    db_path = tmp_path / "rasa_tracker.db"
    result = subprocess.run(
        [str(RASA_VENV / "bin" / "python"), "-c", SCRIPT],
        cwd=ROOT,
        env={
            **os.environ,
            **rasa_env(),
            "YISHI_TRACKER_DB": str(db_path),
            "YISHI_ACTION_ENDPOINT": "http://127.0.0.1:9/webhook",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    # not Rasa's silent fallback to an in-memory store
    assert seen["store"] == "MaskingSQLTrackerStore"
    assert seen["bank_card"] == "pii:v0123456789abcdef01234567" and seen["intent"] == "inform"
    assert seen["text"] == "身份证1101**********002X，电话139****5678，卡号***************3442"
    with sqlite3.connect(db_path) as db:
        dump = "\n".join(db.iterdump())
    assert dump.count("INSERT INTO") >= 4
    assert not [raw for raw in (ID_NUMBER, MOBILE, CARD) if raw in dump]
