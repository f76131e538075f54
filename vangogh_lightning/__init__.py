"""vangogh-lightning: Van Gogh classification, style transfer and evaluation."""

from vangogh_lightning.errors import UserError
from vangogh_lightning.resolvers import register as _register_resolvers

_register_resolvers()

__all__ = ["UserError"]
__version__ = "0.1.0"
