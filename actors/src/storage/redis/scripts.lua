-- Shared prelude of every message script (the Rust side prepends it to each script body).
-- KEYS[1] is the queue's key prefix; ARGV[1] is "now" in milliseconds since the epoch.
-- A message is a hash P:m:<id> with fields s (seq), b (body), t (ttl s), c (created ms),
-- e (expires ms), v (visible from ms), cl (client id), ci (claim id), ce (claim expires ms),
-- ct (claim ttl s), cc (claim created ms), n (claim count). P:ids orders ids by seq (FIFO).
-- A claim is the set P:c:<claim id> of the messages it took; whether it still holds one is
-- read from the message itself (ci, ce).
local P = KEYS[1]
local now = tonumber(ARGV[1])
local IDS = P .. ':ids'

local function mkey(id) return P .. ':m:' .. id end

local function load(id)
  local f = redis.call('HMGET', mkey(id), 's', 'b', 't', 'c', 'e', 'v', 'cl', 'ci', 'ce', 'n', 'ct', 'cc')
  if not f[1] then return nil end
  local e = tonumber(f[5])
  if e <= now then return nil end
  return {id = id, s = tonumber(f[1]), b = f[2], t = tonumber(f[3]), c = tonumber(f[4]), e = e,
    v = tonumber(f[6]), cl = f[7], ci = f[8] or '', ce = tonumber(f[9] or '0'), n = tonumber(f[10] or '0'),
    ct = tonumber(f[11] or '0'), cc = tonumber(f[12] or '0')}
end

local function held(m) return m.ci ~= '' and m.ce > now end

-- seq, id, body, ttl, created, live claim id or '', claim count, claim ttl, claim created
local function out(m)
  return {m.s, m.id, m.b, m.t, m.c, held(m) and m.ci or '', m.n, m.ct, m.cc}
end

-- Visits live messages in FIFO order after seq `after` until `visit` answers false;
-- ids whose message expired or vanished are dropped on the way.
local function scan(after, visit)
  local cursor = '(' .. after
  while true do
    local batch = redis.call('ZRANGEBYSCORE', IDS, cursor, '+inf', 'WITHSCORES', 'LIMIT', 0, 100)
    if #batch == 0 then return end
    for i = 1, #batch, 2 do
      local id = batch[i]
      cursor = '(' .. batch[i + 1]
      local m = load(id)
      if not m then
        redis.call('ZREM', IDS, id)
      elseif visit(m) == false then
        return
      end
    end
  end
end

local function remove(m)
  redis.call('DEL', mkey(m.id))
  redis.call('ZREM', IDS, m.id)
end

local function claim_is_live(cid)
  for _, id in ipairs(redis.call('SMEMBERS', P .. ':c:' .. cid)) do
    local m = load(id)
    if m and m.ci == cid and held(m) then return true end
  end
  return false
end
