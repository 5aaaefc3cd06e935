"""12345 tickets: routing rules (knowledge/tickets.yaml) and the ticket store."""
