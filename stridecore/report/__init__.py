"""Session summaries, live tables and plots."""
