"""Model loading, prompt layout, token-stream generation and caches for Slipstream."""
