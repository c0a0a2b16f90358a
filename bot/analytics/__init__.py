"""Service analytics: the numbers a service manager runs the team by, from the stored events."""
