"""vangogh-lightning: Van Gogh classification, style transfer and evaluation."""

from vangogh_lightning.errors import UserError

__all__ = ["UserError"]
__version__ = "0.1.0"
