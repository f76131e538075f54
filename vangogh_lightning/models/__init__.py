"""Backbones (AlexNet, VGG-19) and the classifier LightningModule."""
