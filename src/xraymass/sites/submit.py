"""Moved to xraymass.chain.submit; importing it from here gives that module itself."""
import sys

from ..chain import submit as _moved

sys.modules[__name__] = _moved
