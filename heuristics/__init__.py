"""Cursor-context analysis, length/stop policy and post-processing of completions (pure functions)."""
