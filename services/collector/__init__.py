"""The collector: generates candidates, one cell at a time, and records them in MLflow."""
