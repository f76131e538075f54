"""vangogh-lightning: Van Gogh classification, style transfer and evaluation.

Layers, from the ground up: ``core`` (plumbing) -> ``config`` (schema, pre-flight, entry point)
-> ``models`` -> ``data``, ``style`` -> ``training``, ``evaluation`` -> ``study``.
"""

from vangogh_lightning.config.resolvers import register as _register_resolvers
from vangogh_lightning.core.errors import UserError

_register_resolvers()

__all__ = ["UserError"]
__version__ = "0.1.0"
