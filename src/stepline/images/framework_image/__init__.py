"""Files copied into stepline's builds of AWS's framework images (not imported by stepline)."""
