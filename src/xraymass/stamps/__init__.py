"""stamps stage of xraymass."""
