"""The judge bridge: builds blind judge packets and writes judges' scores to the runs."""
