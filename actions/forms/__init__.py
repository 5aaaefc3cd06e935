"""Validation and slot extraction for guided filing (Rasa forms)."""
