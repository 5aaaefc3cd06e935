"""Knowledge-base retrieval: build versioned indexes from knowledge/ and answer queries."""
