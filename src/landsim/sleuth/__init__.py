"""A SLEUTH-compatible urban growth model (``[model] kind = "sleuth"``)."""
