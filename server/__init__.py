"""The Slipstream language server (LSP features only)."""
