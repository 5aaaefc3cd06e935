"""The agent console: staff accounts and sessions, the queue, and taking over conversations."""
