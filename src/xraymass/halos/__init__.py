"""halos stage of xraymass."""
