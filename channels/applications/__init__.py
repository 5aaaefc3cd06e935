"""Guided-filing applications: the store, the action server's internal API and the admin API."""
