"""Yishi's Rasa custom actions (rasa-sdk): `python -m rasa_sdk --actions actions`."""
