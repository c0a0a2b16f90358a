"""The load bench's simulated people (bench/load.py runs them): customers on the widget socket
and the REST channel who time every answer, agents on the console who claim, answer and
resolve, the sessions they play through, and the checks of what they saw against the database.
The servers, databases and wire formats come from the kit shared with the fault tests
(tests/kit/)."""
