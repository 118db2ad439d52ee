"""The load: profiles as data, the locust run that plays them, and what runs inside locust.

Outside locust: profiles (the profile files), locust_command (the command), outputs (what a
run leaves, made ready for the cell), spread (over several locust processes or hosts), ramp
(what a ramp found), behaviours (the client's close behaviours by name), client (one request
on a new connection). Inside locust, for benchmarks/locustfile.py: locust_users,
locust_listeners, run_state, request_log, worker_messages, shapes, green_client.
"""
