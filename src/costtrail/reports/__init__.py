"""Reports: rollups by workflow, agent, model, tool, step, feature, customer, ... over any store."""
