"""flopwise: what a neural network really costs, and why."""
__version__ = "0.1.0"
