"""Tracking: MLflow runs, the model registry (versions, the champion), retrain."""
