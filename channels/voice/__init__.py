"""Voice input: recorded speech → transcript → the services it most likely means → chat."""
