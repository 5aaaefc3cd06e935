"""Knowledge-base routes of the gateway: hit testing and readable guide pages."""
