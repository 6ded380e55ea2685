"""Event time: the virtual and wall clocks, watermarks, and London working days."""
