"""Gatys-style neural style transfer as a LightningModule over image pixels."""
