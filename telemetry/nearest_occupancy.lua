-- The occupied coarse cells with their number of live devices, and the same counts per status
-- and role (telemetry/nearest.py): two strings, "cell=n,..." and "cell|status|role=n,...".
-- KEYS: 1 occ, 2 occst.
local out = {}
for i = 1, 2 do
  local kv, parts = redis.call('HGETALL', KEYS[i]), {}
  for j = 1, #kv, 2 do parts[#parts + 1] = kv[j] .. '=' .. kv[j + 1] end
  out[i] = table.concat(parts, ',')
end
return out
