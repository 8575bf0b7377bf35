"""Compatibility: the director moved to :mod:`twcdirector.gen2.director`."""

from .gen2.director import Director, FrameCallback, Peripheral

__all__ = ["Director", "FrameCallback", "Peripheral"]
