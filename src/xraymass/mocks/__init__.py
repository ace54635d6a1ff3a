"""mocks stage of xraymass."""
