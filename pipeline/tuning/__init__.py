"""Tuning: Optuna studies of a family's sensitive hyperparameters."""
