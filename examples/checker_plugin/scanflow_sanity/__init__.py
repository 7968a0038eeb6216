"""An example Scanflow checker plugin."""
