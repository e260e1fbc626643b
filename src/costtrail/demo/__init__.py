"""Demo: a simulated product driving the real SDK against a local fake provider."""
