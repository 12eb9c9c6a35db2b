-- The write of live state (telemetry/store.py): one call per message, atomic, all keys under
-- the `{live}` hash tag. The names in $${...} are filled in from Python (keys.py, store.py).
-- KEYS: 1 device hash, 2 seen, 3 fixage, 4 occ, 5 events, 6 new fine cell, 7 new coarse cell
-- ARGV: 1 op, 2 device, 3 now, 4 person, 5 role, 6 events maxlen, 7 cell key prefix, 8.. op args
-- Old cells are named from the device hash (same {live} tag, so the same slot): the one place
-- a key is not passed in KEYS, because it is only known inside the atomic step.
-- Returns flags (their sum): MOVED the live position moved, EVENT an event was written, BACK
-- the device came back from its will.
local MOVED, EVENT, BACK = ${MOVED}, ${EVENT}, ${BACK}
local SEP, DEFAULT_STATUS, FIXAGE_S = ${SEP}, ${DEFAULT_STATUS}, ${FIXAGE_S}
local dev, seenk, fixk, occk, evk = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local op, device, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local person, role, maxlen, prefix = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local h = redis.call('HMGET', dev, 'tst', 'cell', 'coarse', 'st', 'st_tst', 'gone', 'seen', 'lat', 'lon', 'l1', 'l2', 'batt',
                     'oc')
local cur_tst, cur_cell, cur_coarse, cur_st, cur_st_tst, gone = h[1], h[2], h[3], h[4], h[5], h[6]
local eff = cur_st or DEFAULT_STATUS
local flags = 0
local occst, cur_oc = occk .. 'st', h[13] or ''

-- The device's place in the per-status counts (OCCST): "coarse|status|role", kept in the
-- device hash ('oc') so the count it left is the one decremented, whatever changed since.
local function occ_set(coarse, st)
  local oc = ''
  if coarse and coarse ~= '' then oc = coarse .. SEP .. st .. SEP .. role end
  if oc == cur_oc then return end
  if cur_oc ~= '' and redis.call('HINCRBY', occst, cur_oc, -1) <= 0 then redis.call('HDEL', occst, cur_oc) end
  if oc ~= '' then
    redis.call('HINCRBY', occst, oc, 1)
    redis.call('HSET', dev, 'oc', oc)
  else
    redis.call('HDEL', dev, 'oc')
  end
  cur_oc = oc
end

local function record(lat, lon, tst, st)
  return lat .. SEP .. lon .. SEP .. tst .. SEP .. st .. SEP .. role .. SEP .. person
end
local function drop_membership()
  if cur_cell and cur_cell ~= '' then redis.call('HDEL', prefix .. cur_cell, device) end
  if cur_coarse and cur_coarse ~= '' then
    redis.call('HDEL', prefix .. cur_coarse, device)
    if redis.call('HINCRBY', occk, cur_coarse, -1) <= 0 then redis.call('HDEL', occk, cur_coarse) end
  end
  occ_set('', '')
end
local function fix_bucket(t)
  -- presence counts without a per-device sorted set: devices per FIXAGE_S bucket of their latest
  -- fix time (capped by arrival time, 0 after the will or before any fix)
  local b = tostring(math.floor(t / FIXAGE_S))
  local old = redis.call('HGET', dev, 'fb')
  if old == b then return end
  if old then
    if redis.call('HINCRBY', fixk, old, -1) <= 0 then redis.call('HDEL', fixk, old) end
  end
  redis.call('HINCRBY', fixk, b, 1)
  redis.call('HSET', dev, 'fb', b)
end
local function event(fields)
  local args = {evk, 'MAXLEN', '~', maxlen, '*', 'device', device, 'person', person, 'role', role, 'at', ARGV[3]}
  for i = 1, #fields do args[#args + 1] = fields[i] end
  redis.call('XADD', unpack(args))
end
local function touch()
  -- any message from the device proves it is there: presence, and back from its will
  if not h[7] or tonumber(h[7]) < now then redis.call('HSET', dev, 'seen', ARGV[3]) end
  redis.call('ZADD', seenk, 'GT', now, device)
  if not h[7] then fix_bucket(0) end  -- first message: every device is counted somewhere
  if gone then
    redis.call('HDEL', dev, 'gone')
    if h[1] then fix_bucket(math.min(tonumber(h[1]), now)) end
    -- re-enter the cells it was in when it went away (its last known position)
    local c, cc = redis.call('HGET', dev, 'gcell'), redis.call('HGET', dev, 'gcoarse')
    if c then
      local rec = record(h[8], h[9], h[1], eff)
      redis.call('HSET', prefix .. c, device, rec)
      redis.call('HSET', prefix .. cc, device, rec)
      redis.call('HINCRBY', occk, cc, 1)
      redis.call('HSET', dev, 'cell', c, 'coarse', cc)
      cur_cell, cur_coarse = c, cc
      occ_set(cc, eff)
    end
    redis.call('HDEL', dev, 'gcell', 'gcoarse')
    event({'kind', 'status', 'st', eff, 'prev', 'offline', 'tst', ARGV[3], 'l1', h[10] or '', 'l2', h[11] or ''})
    flags = flags + BACK
  end
end

if op == 'fix' then
  -- ARGV 8 tst, 9 lat, 10 lon, 11 acc, 12 alt, 13 vel, 14 cog, 15 batt, 16 st, 17 cell, 18 coarse, 19 l1, 20 l2
  local tst = tonumber(ARGV[8])
  touch()
  if cur_tst and tonumber(cur_tst) >= tst then
    return flags  -- a late fix: the trail has it, the live position never moves back
  end
  local st = eff
  if ARGV[16] ~= '' then st = ARGV[16] end
  local cell, coarse = ARGV[17], ARGV[18]
  if cur_cell and cur_cell ~= '' and cur_cell ~= cell then redis.call('HDEL', prefix .. cur_cell, device) end
  if cur_coarse ~= coarse then
    if cur_coarse and cur_coarse ~= '' then
      redis.call('HDEL', prefix .. cur_coarse, device)
      if redis.call('HINCRBY', occk, cur_coarse, -1) <= 0 then redis.call('HDEL', occk, cur_coarse) end
    end
    redis.call('HINCRBY', occk, coarse, 1)
  end
  local rec = record(ARGV[9], ARGV[10], ARGV[8], st)
  redis.call('HSET', KEYS[6], device, rec)
  redis.call('HSET', KEYS[7], device, rec)
  redis.call('HSET', dev, 'tst', ARGV[8], 'lat', ARGV[9], 'lon', ARGV[10], 'cell', cell, 'coarse', coarse,
             'l1', ARGV[19], 'l2', ARGV[20], 'person', person, 'role', role)
  local names = {'acc', 'alt', 'vel', 'cog'}
  for i = 1, 4 do
    if ARGV[10 + i] ~= '' then redis.call('HSET', dev, names[i], ARGV[10 + i]) else redis.call('HDEL', dev, names[i]) end
  end
  if ARGV[15] ~= '' then redis.call('HSET', dev, 'batt', ARGV[15]) end
  occ_set(coarse, st)
  fix_bucket(math.min(tst, now))
  flags = flags + MOVED
  if ARGV[16] ~= '' and ARGV[16] ~= eff then
    redis.call('HSET', dev, 'st', ARGV[16], 'st_tst', ARGV[8])
    event({'kind', 'status', 'st', ARGV[16], 'prev', eff, 'tst', ARGV[8], 'lat', ARGV[9], 'lon', ARGV[10],
           'batt', ARGV[15], 'l1', ARGV[19], 'l2', ARGV[20]})
    flags = flags + EVENT
  end
  return flags

elseif op == 'status' then
  -- ARGV 8 st, 9 tst, 10 lat, 11 lon, 12 batt, 13 note
  local st, tst = ARGV[8], tonumber(ARGV[9])
  touch()
  local late = cur_st_tst and tonumber(cur_st_tst) > tst
  if not late then
    redis.call('HSET', dev, 'st', st, 'st_tst', ARGV[9], 'person', person, 'role', role)
    if ARGV[12] ~= '' then redis.call('HSET', dev, 'batt', ARGV[12]) end
  end
  -- a change is an event; so is every SOS, even one arriving late from an offline queue
  if (not late and st ~= eff) or st == 'sos' then
    local lat, lon = ARGV[10], ARGV[11]
    if lat == '' then lat, lon = h[8] or '', h[9] or '' end
    event({'kind', 'status', 'st', st, 'prev', eff, 'tst', ARGV[9], 'lat', lat, 'lon', lon, 'batt', ARGV[12],
           'note', ARGV[13], 'late', late and '1' or '', 'l1', h[10] or '', 'l2', h[11] or ''})
    flags = flags + EVENT
  end
  if not late and st ~= eff and cur_cell and cur_cell ~= '' then
    local f = redis.call('HMGET', dev, 'lat', 'lon', 'tst')
    local rec = record(f[1], f[2], f[3], st)
    redis.call('HSET', prefix .. cur_cell, device, rec)
    redis.call('HSET', prefix .. cur_coarse, device, rec)
    occ_set(cur_coarse, st)
  end
  return flags

elseif op == 'will' then
  if gone or not h[7] then return 0 end  -- already offline, or never seen: nothing to say
  drop_membership()
  redis.call('HSET', dev, 'gone', ARGV[3], 'cell', '', 'coarse', '')
  if cur_cell and cur_cell ~= '' then redis.call('HSET', dev, 'gcell', cur_cell, 'gcoarse', cur_coarse) end
  redis.call('ZADD', seenk, 0, device)
  fix_bucket(0)
  event({'kind', 'status', 'st', 'offline', 'prev', eff, 'will', '1', 'tst', ARGV[3], 'lat', h[8] or '', 'lon', h[9] or '',
         'l1', h[10] or '', 'l2', h[11] or ''})
  return EVENT

elseif op == 'forget' then
  -- the device left the dataset (gridwatch load): out of the cells, the counts and presence
  drop_membership()
  local b = redis.call('HGET', dev, 'fb')
  if b and redis.call('HINCRBY', fixk, b, -1) <= 0 then redis.call('HDEL', fixk, b) end
  redis.call('ZREM', seenk, device)
  redis.call('DEL', dev)
  return 0

elseif op == 'seen' then
  -- ARGV 8 batt: a message without a position (a heartbeat) is presence, nothing more
  touch()
  redis.call('HSET', dev, 'person', person, 'role', role)
  if ARGV[8] ~= '' then redis.call('HSET', dev, 'batt', ARGV[8]) end
  return flags

elseif op == 'ack' then
  -- ARGV 8 order, 9 state, 10 tst, 11 note
  touch()
  event({'kind', 'ack', 'order', ARGV[8], 'state', ARGV[9], 'tst', ARGV[10], 'note', ARGV[11]})
  return flags + EVENT
end
return redis.error_reply('unknown op ' .. op)
