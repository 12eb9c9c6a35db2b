-- The occupied coarse cells as one comma-separated string (telemetry/nearest.py; one bulk reply
-- costs the client far less to parse than thousands of small ones). KEYS: 1 occ.
return table.concat(redis.call('HKEYS', KEYS[1]), ',')
