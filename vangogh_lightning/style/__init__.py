"""Gatys-style neural style transfer as a LightningModule over image pixels."""

# The "kind" of the JSON record stylize.py writes beside each result: evaluate.py counts the images
# such records name, and so never takes a comparison sheet or a step snapshot for a result.
STYLIZED_RECORD_KIND = "vangogh-lightning stylized image"
