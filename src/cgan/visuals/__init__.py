"""The pictures of what a generator learned (pictures), the training curves (plots) and the one-page HTML
report (report)."""
