"""Where the stages run: site configs (site_configs/<site>/site.yaml), their checks and launch lines."""
