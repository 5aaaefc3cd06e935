"""Personal data at rest: encryption keys, the form-value vault, retention and purge.

See docs/privacy.md for the data classes, where each is stored, and for how long.
"""
