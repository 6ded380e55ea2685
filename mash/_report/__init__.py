"""The board report: figures from the reporter's tallies, md/json/html rendering, CIN census XML."""
