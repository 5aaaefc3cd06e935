"""Answers to questions about a government service.

The knowledge base (knowledge/ + retrieval/) is not built yet, so this action says so honestly
and points the citizen to the 12345 hotline instead of guessing.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

PLACEHOLDER_TEXT = (
    "抱歉，办事指南知识库还在建设中，我暂时还不能准确回答具体的办事问题。"
    "您可以拨打12345政务服务便民热线咨询，或登录示例市政务服务网查看办事指南。"
)


class ActionAnswerService(Action):
    def name(self) -> str:
        return "action_answer_service"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        dispatcher.utter_message(
            text=PLACEHOLDER_TEXT,
            buttons=[{"title": "转人工客服", "payload": "转人工"}],
        )
        return []
