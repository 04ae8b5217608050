"""The store boundary: text in, ranked chunks out. Knows nothing of prompts or models."""
