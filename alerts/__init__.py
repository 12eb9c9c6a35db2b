"""Orders, SOS and other alerts, escalation, and the audit log."""
