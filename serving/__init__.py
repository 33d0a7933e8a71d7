"""Serving: the risk service over the champion models (BentoML), with the batch pipeline's
feature code, explanations, validation, an API key and an audit trail."""
