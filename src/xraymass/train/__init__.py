"""train stage of xraymass."""
