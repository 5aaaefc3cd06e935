"""Working days of government offices in mainland China, and deadlines counted in them.

Statutory holidays and the official make-up working days (调休上班) come from chinese_calendar,
which only knows the years the State Council has published. For any other year the answers are
a Monday-Friday estimate (1 January off), and a warning is logged once per year; callers that
talk to a citizen can use :func:`holiday_data_covers` to say that the schedule is not out yet.

Shared by guided filing (appointment dates) and the 12345 ticket store (time limits).
"""

from __future__ import annotations

import logging
import threading
from datetime import date, datetime, time, timedelta, timezone

import chinese_calendar

logger = logging.getLogger(__name__)

# China has had no daylight saving time since 1991, so a fixed offset is exact and needs no
# tz database (the action server's environment may not ship one).
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")

_holiday_years = sorted({day.year for day in chinese_calendar.holidays})
HOLIDAY_DATA_FIRST_YEAR: int = _holiday_years[0]
HOLIDAY_DATA_LAST_YEAR: int = _holiday_years[-1]
_warned_years: set[int] = set()
_warn_lock = threading.Lock()


def holiday_data_covers(day: date) -> bool:
    """Whether the official holiday schedule for ``day``'s year is known (chinese_calendar
    only has the years the State Council has published). When it is not, the working-day
    answers are a Monday-Friday estimate and the citizen should be told so."""
    return HOLIDAY_DATA_FIRST_YEAR <= day.year <= HOLIDAY_DATA_LAST_YEAR


def _warn_uncovered(year: int) -> None:
    with _warn_lock:
        if year in _warned_years:
            return
        _warned_years.add(year)
    logger.warning(
        "no official holiday schedule for %s in chinese_calendar %s (covers %s-%s); "
        "treating Monday-Friday except 1 January as working days",
        year,
        getattr(chinese_calendar, "__version__", "?"),
        HOLIDAY_DATA_FIRST_YEAR,
        HOLIDAY_DATA_LAST_YEAR,
    )


def is_working_day(day: date) -> bool:
    """Whether government offices work on ``day``: statutory holidays are off and the official
    make-up working days (调休上班) are on. For years chinese_calendar does not cover yet, falls
    back to Monday-Friday except 1 January and logs a warning once per year."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        _warn_uncovered(day.year)
        return day.weekday() < 5 and (day.month, day.day) != (1, 1)


def describe_day_off(day: date) -> str | None:
    """Why ``day`` is not a working day, in words for the citizen: "周末", "国庆节假期" or
    "元旦"; None when it is a working day."""
    if is_working_day(day):
        return None
    try:
        on_holiday, name = chinese_calendar.get_holiday_detail(day)
    except NotImplementedError:
        return "法定节假日（元旦）" if (day.month, day.day) == (1, 1) else "周末"
    if on_holiday and name:
        try:
            chinese_name = str(chinese_calendar.Holiday(name).chinese)
        except ValueError:
            return "法定节假日"
        return f"法定节假日（{chinese_name}假期）"
    return "周末"


def next_working_days(today: date, count: int, horizon_days: int = 14) -> list[date]:
    """Up to ``count`` working days among the ``horizon_days`` calendar days after today
    (today itself is not included)."""
    found: list[date] = []
    for offset in range(1, horizon_days + 1):
        if len(found) >= count:
            break
        day = today + timedelta(days=offset)
        if is_working_day(day):
            found.append(day)
    return found


def add_working_days(start: datetime, n: int) -> datetime:
    """The deadline ``n`` working days after ``start``: 23:59:59 Beijing time on the n-th
    working day after the (Beijing) calendar day of ``start``.

    The day of ``start`` itself never counts, whatever the hour and even when it is a working
    day, so something received at 09:00 or 23:00 on Wednesday with a time limit of 1 working
    day is due at the end of Thursday; something received on Saturday with 1 working day is
    due at the end of Monday. ``n == 0`` gives the end of the start day. A naive ``start`` is
    taken as Beijing time. The result is timezone-aware (+08:00).
    """
    if n < 0:
        raise ValueError("n must not be negative")
    if start.tzinfo is None:
        start = start.replace(tzinfo=SHANGHAI)
    day = start.astimezone(SHANGHAI).date()
    left = n
    while left > 0:
        day += timedelta(days=1)
        if is_working_day(day):
            left -= 1
    return datetime.combine(day, time(23, 59, 59), tzinfo=SHANGHAI)
