"""Quality labels on the 0-4 scale: schema, physics-derived labels, human scores, diagnostic labels."""
