"""The working-day calendar and deadlines counted in working days."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from actions.forms import validators
from yishi import calendar as working_calendar
from yishi.calendar import SHANGHAI, add_working_days, is_working_day


def _bj(year: int, month: int, day: int, hour: int = 10) -> datetime:
    return datetime(year, month, day, hour, tzinfo=SHANGHAI)


def _end_of(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 23, 59, 59, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        (_bj(2026, 9, 30), 0, _end_of(2026, 9, 30)),
        (_bj(2026, 9, 30), 1, _end_of(2026, 10, 8)),  # National Day 1-7 October is off
        (_bj(2026, 9, 30), 3, _end_of(2026, 10, 10)),  # Saturday 10 October is a make-up day
        (_bj(2026, 9, 30), 5, _end_of(2026, 10, 13)),  # Sunday 11 October is not
        (_bj(2026, 10, 3), 1, _end_of(2026, 10, 8)),  # received during the holiday
        (_bj(2026, 11, 20), 1, _end_of(2026, 11, 23)),  # Friday -> Monday
        (_bj(2026, 11, 21), 1, _end_of(2026, 11, 23)),  # Saturday -> Monday
        (_bj(2026, 11, 23, 23), 1, _end_of(2026, 11, 24)),  # late at night: still that day
        (_bj(2026, 11, 23), 10, _end_of(2026, 12, 7)),  # two ordinary weeks
    ],
)
def test_add_working_days(start: datetime, n: int, due: datetime) -> None:
    assert add_working_days(start, n) == due
    assert add_working_days(start, n).utcoffset() == timedelta(hours=8)


def test_the_start_day_is_the_beijing_day() -> None:
    # 17:00 UTC on 30 September is 01:00 on 1 October in Beijing, a holiday
    start = datetime(2026, 9, 30, 17, 0, tzinfo=timezone.utc)
    assert add_working_days(start, 0) == _end_of(2026, 10, 1)
    assert add_working_days(start, 1) == _end_of(2026, 10, 8)


def test_a_naive_start_is_beijing_time() -> None:
    assert add_working_days(datetime(2026, 9, 30, 23, 30), 1) == _end_of(2026, 10, 8)


def test_years_without_a_published_schedule_fall_back_to_weekdays(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(working_calendar, "_warned_years", set())
    # 1 January 2027 (a Friday) is off in the estimate, then the weekend
    assert add_working_days(_bj(2026, 12, 31), 1) == _end_of(2027, 1, 4)


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError):
        add_working_days(_bj(2026, 9, 30), -1)


def test_validators_still_export_the_calendar() -> None:
    assert validators.is_working_day is is_working_day
    assert validators.add_working_days is add_working_days
    assert validators.describe_day_off(date(2026, 10, 3)) == "法定节假日（国庆节假期）"
    assert validators.next_working_days(date(2026, 9, 30), 1) == [date(2026, 10, 8)]
    assert validators.WEEKDAY_NAMES[0] == "周一"
    assert validators.holiday_data_covers(date(2026, 6, 1))
