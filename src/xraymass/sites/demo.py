"""Moved to xraymass.chain.demo; importing it from here gives that module itself."""
import sys

from ..chain import demo as _moved

sys.modules[__name__] = _moved
