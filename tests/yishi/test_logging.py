"""Log lines: JSON that parses, carries the (masked) conversation id, and masks personal data
in the message, extra fields and tracebacks; the text format masks too."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from yishi.logging import JsonFormatter, MaskingFilter, log_context, setup_logging

ID = "11010519491231002X"
MOBILE = "13912345678"
CARD = "6222020012345678901"


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger writing through the production filter and JSON formatter into a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.yishi.json")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, out
    logger.handlers[:] = []


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_json_lines_parse_and_mask_personal_data(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = capture
    logger.info("citizen said %s, call %s, card %s", ID, MOBILE, CARD)
    (record,) = lines(out)
    assert set(record) >= {"ts", "level", "logger", "message"}
    assert record["level"] == "INFO" and record["logger"] == "tests.yishi.json"
    assert str(record["ts"]).endswith("+00:00")
    message = str(record["message"])
    assert ID not in message and MOBILE not in message and CARD not in message
    assert "1101**********002X" in message and "139****5678" in message
    assert "conversation_id" not in record


def test_conversation_id_from_the_context_is_carried_and_masked(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = capture
    with log_context("web:3f2a9c7e"):
        logger.info("turn")
        with log_context(f"web:{MOBILE}"):  # a sender id that is a phone number
            logger.warning("nested")
    logger.info("after")
    first, nested, after = lines(out)
    assert first["conversation_id"] == "web:3f2a9c7e"
    assert nested["conversation_id"] == "web:139****5678"
    assert "conversation_id" not in after


def test_extra_fields_and_tracebacks_are_masked(
    capture: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, out = capture
    try:
        raise ValueError(f"bad id {ID}")
    except ValueError:
        logger.exception("failed", extra={"mobile": MOBILE, "nested": {"card": CARD}})
    (record,) = lines(out)
    text = json.dumps(record, ensure_ascii=False)
    assert ID not in text and MOBILE not in text and CARD not in text
    assert record["mobile"] == "139****5678"
    assert "ValueError" in str(record["exc_info"])


def test_setup_logging_switches_between_text_and_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging("INFO", json_lines=True)
        logging.getLogger("tests.switch").info("phone %s", MOBILE)
        setup_logging("INFO", json_lines=False)
        logging.getLogger("tests.switch").info("phone %s", MOBILE)
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    json_line, text_line = capsys.readouterr().err.strip().splitlines()[-2:]
    assert json.loads(json_line)["message"] == "phone 139****5678"
    assert text_line.endswith("tests.switch: phone 139****5678") and MOBILE not in text_line


def test_the_gateway_setting_picks_the_format() -> None:
    from channels.config import Settings

    assert Settings(log_format="json").json_logs
    assert Settings(log_json=True).json_logs
    assert not Settings().json_logs
