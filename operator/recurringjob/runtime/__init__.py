"""What runs: the API client, caches, claim, launch, leadership, scheduler, Kopf wiring, metrics."""
