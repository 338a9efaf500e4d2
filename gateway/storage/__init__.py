"""Where things are kept: database, models, migrations, Redis, encryption at rest."""
