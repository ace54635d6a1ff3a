"""analysis stage of xraymass."""
