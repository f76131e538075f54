"""Evaluation: fold selection, classifying images, the deception-rate table."""
