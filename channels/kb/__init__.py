"""Knowledge-base routes of the gateway: hit testing, readable guide pages, and the admin's
knowledge loop (edits, FAQ drafts from agents' replies, index rebuilds; see admin.py)."""
