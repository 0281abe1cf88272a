"""The ad accounts a deployment syncs: the accounts file, their health probe, a run worker."""
