"""The deployment's places and focal points: CSV imports and the places the flows offer."""
