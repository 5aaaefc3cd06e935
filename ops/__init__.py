"""Operator tooling: training and the local process supervisor. Standard library only."""
