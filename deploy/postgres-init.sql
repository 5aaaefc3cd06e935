-- Rasa's tracker store gets its own database next to the gateway's (POSTGRES_DB=yishi).
CREATE DATABASE rasa OWNER yishi;
