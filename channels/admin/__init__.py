"""Staff administration: the `python -m channels.admin` command line."""
