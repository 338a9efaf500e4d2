"""What a report becomes: intake, references, routing, escalation, follow-up and its SMS texts."""
