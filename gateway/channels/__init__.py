"""How callers reach the gateway: USSD and SMS, walking the same flows to one shared submit."""
