"""Appointment time slots of a hall day, shared by the filing forms and the application store."""

from __future__ import annotations

TIME_SLOTS = (
    "09:00-10:00",
    "10:00-11:00",
    "11:00-12:00",
    "13:30-14:30",
    "14:30-15:30",
    "15:30-16:30",
)
