"""好差评: satisfaction ratings and the 整改 follow-ups of bad ones."""
