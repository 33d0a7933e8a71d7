"""Training: Optuna-tuned models per task, evaluated against clinical baselines and the oracle
ceiling, explained with SHAP, tracked and registered in MLflow."""
