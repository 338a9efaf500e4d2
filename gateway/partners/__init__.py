"""Partners: the MRM minimal dataset, its export, and the push of verified alerts to Primero."""
