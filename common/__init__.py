"""What every solution shares: registry, data catalogue, pipelines, training, export, reports, CLI."""
