"""sites stage of xraymass."""
