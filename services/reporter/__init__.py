"""The reporter: rebuilds an experiment's leaderboard when its runs change. Scales out."""
