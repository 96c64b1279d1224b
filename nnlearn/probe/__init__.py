"""The probe: data -> model -> init check -> main run -> experiments -> rules -> report."""
