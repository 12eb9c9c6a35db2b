-- Nearest, server side (telemetry/nearest.py): read the given cells group by group ("rings": a
-- ring, or cells the client ordered nearest first), keep only eligible members (status, role,
-- fix age, not excluded), and stop after the first group at which k are eligible and the k-th
-- distance is within that group's bound (computed by the client).
-- KEYS: 1 the occ hash (not read: it only routes the call to the `{live}` slot on a Cluster).
-- ARGV: lat lon k statuses roles min_tst exclude seed nrings, then per ring its cells (their
-- H3 indexes as 16 hex digits each, one after another: "0" and the usual 15) and its bound
-- (the least distance of anything beyond it);
-- statuses, roles and exclude are ",a,b," lists, min_tst a time; each of them '' for no limit;
-- seed: distances of the k best candidates the client has from an earlier call ("d1,d2,...";
-- their devices come in exclude, so none is counted twice).
-- Like the write script it names `{live}` cell keys itself (one slot): sixty-odd keys per query
-- cost the client more to send than the search costs Redis. Returns {done (1/0), lines of
-- "distance|device|record"} (when done, only the new members within the k-th distance). The
-- haversine is h3's (same radius, same formula: greatCircleDistanceRads), in metres.
-- The names in $${...} are filled in from Python (geodata/geo.py, telemetry/keys.py).
local rad, sin, cos, sqrt, atan2, abs = math.rad, math.sin, math.cos, math.sqrt, math.atan2, math.abs
local match, format, sub, gmatch = string.match, string.format, string.sub, string.gmatch
local R, CELL, SEP, RECORD = ${EARTH_RADIUS_M}, ${CELL}, ${SEP}, ${RECORD_PATTERN}
local lat1, lon1 = rad(tonumber(ARGV[1])), rad(tonumber(ARGV[2]))
local k, min_tst, nr, cos1 = tonumber(ARGV[3]), tonumber(ARGV[6]), tonumber(ARGV[9]), cos(lat1)
local function set(list)
  if list == '' then return nil end
  local t = {}
  for v in gmatch(list, '[^,]+') do t[v] = true end
  return t
end
local okst, okrole, excl = set(ARGV[4]), set(ARGV[5]), set(ARGV[7])
-- every eligible member that may be among the k best (device, record, distance), and the k
-- smallest distances known, ascending (m of them)
local devs, recs, dists, top, n = {}, {}, {}, {}, 0
for d in gmatch(ARGV[8], '[^,]+') do top[#top + 1] = tonumber(d) end
table.sort(top)
for i = #top, k + 1, -1 do top[i] = nil end
local m, worst = #top, math.huge
if m == k then worst = top[k] + 0.01 end
-- what may still be among the k best, as "distance|device|record" lines
local function kept()
  local out = {}
  for i = 1, n do
    if dists[i] <= worst then out[#out + 1] = format('%.17g', dists[i]) .. SEP .. devs[i] .. SEP .. recs[i] end
  end
  return table.concat(out, '\n')
end
for ring = 1, nr do
  local cells, bound = ARGV[8 + 2 * ring], tonumber(ARGV[9 + 2 * ring])
  for at = 2, #cells, 16 do
    local kv = redis.call('HGETALL', CELL .. sub(cells, at, at + 14))
    for x = 1, #kv, 2 do
      local rec = kv[x + 1]
      local la, lo, ts, st, ro = match(rec, RECORD)
      local la2 = rad(tonumber(la))
      -- the latitude difference alone is a lower bound of the distance: skip the haversine
      -- for what cannot be among the k best
      if (not okst or okst[st]) and (not okrole or okrole[ro]) and (not min_tst or tonumber(ts) >= min_tst)
         and (not excl or not excl[kv[x]]) and abs(la2 - lat1) * R <= worst then
        local lo2 = rad(tonumber(lo))
        local sa, so = sin((la2 - lat1) / 2), sin((lo2 - lon1) / 2)
        local A = sa * sa + cos1 * cos(la2) * so * so
        local d = 2 * R * atan2(sqrt(A), sqrt(1 - A))
        if d <= worst then
          n = n + 1
          devs[n], recs[n], dists[n] = kv[x], rec, d
          if m < k or d < top[k] then  -- one of the k best so far (a near-tie is only kept)
            if m == k then top[m] = nil; m = m - 1 end
            local i = m
            while i >= 1 and top[i] > d do top[i + 1] = top[i]; i = i - 1 end
            top[i + 1] = d
            m = m + 1
            if m == k then worst = top[k] + 0.01 end
          end
        end
      end
    end
  end
  if m == k and worst <= bound then
    -- settled: send only the k best (and anything within 1 cm of the k-th: every near-tie)
    return {1, kept()}
  end
end
return {0, kept()}
