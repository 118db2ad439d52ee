"""The load: profiles as data, the locust user's one-connection-per-request client, ramps."""
