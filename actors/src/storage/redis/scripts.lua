-- Shared prelude of every message script (the Rust side prepends it to each script body).
-- KEYS[1] is the queue's key prefix P; ARGV[1] is "now" in milliseconds since the epoch.
--
-- A message is a hash P:m:<id> with fields s (seq), b (body), t (ttl s), c (created ms),
-- e (expires ms), v (visible from ms), cl (client id), ci (claim id), ce (claim expires ms),
-- ct (claim ttl s), cc (claim created ms), n (claim count); the claim fields are absent
-- until a claim sets them (read as '' and 0). It belongs to the queue while
-- its id is in P:ids; a hash left behind by a deleted queue expires by itself and is never
-- read, since every read goes through P:ids.
--
-- Indexes, so that no script walks the queue from its head:
--   P:ids   id -> seq           every message (FIFO order, markers, stats' oldest/newest)
--   P:exp   id -> expires ms    counts live messages; finds the expired ones
--   P:free  id -> seq           unclaimed messages already visible: what claims, pops and
--                               default listings take, in FIFO order
--   P:held  id -> claim expires claimed messages; counts live claims
--   P:later id -> visible ms    delayed messages, not visible yet
-- A message is in exactly one of free, held and later. Time moves messages between them
-- (a claim ends, a delay passes, a message expires) without any write: `tidy` catches up
-- with at most BUDGET of each per call, so one call's work stays bounded however large the
-- backlog. Correctness at read time never depends on it: every message taken from an index
-- is checked against its own fields.
--
-- A claim is the set P:c:<claim id> of the messages it took; whether it still holds one is
-- read from the message itself (ci, ce).
local P = KEYS[1]
local now = tonumber(ARGV[1])
local IDS, EXP, FREE, HELD, LATER = P .. ':ids', P .. ':exp', P .. ':free', P .. ':held', P .. ':later'
local INDEXES = {IDS, EXP, FREE, HELD, LATER}
local BUDGET = 1000

local function mkey(id) return P .. ':m:' .. id end

-- The live message `id` of this queue, or nil (expired, gone, or never this queue's).
local function load(id)
  if not redis.call('ZSCORE', IDS, id) then return nil end
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

-- Calls `cmd [key] args...` in chunks: Lua's `unpack` is bounded by its stack, and a claim's
-- or a pop's limit is configurable. Chunks of 1000 keep ZADD's score-member pairs whole.
local function many(cmd, key, args)
  for i = 1, #args, 1000 do
    local j = math.min(i + 999, #args)
    if key then redis.call(cmd, key, unpack(args, i, j)) else redis.call(cmd, unpack(args, i, j)) end
  end
end

-- Removes messages from the queue: their hashes and every index, one command per index for
-- all of them (each command a script runs has a cost of its own beyond its work).
local function forget_all(ids)
  if #ids == 0 then return end
  local keys = {}
  for i, id in ipairs(ids) do keys[i] = mkey(id) end
  many('DEL', nil, keys)
  for _, index in ipairs(INDEXES) do many('ZREM', index, ids) end
end

-- One message: the same commands, without the tables (a delete by id is the hottest script).
local function forget(id)
  redis.call('DEL', mkey(id))
  for _, index in ipairs(INDEXES) do redis.call('ZREM', index, id) end
end

-- Files a message whose claim ended or whose delay passed as free (if it is still here).
local function free_again(id, index)
  redis.call('ZREM', index, id)
  local seq = redis.call('ZSCORE', IDS, id)
  if seq then redis.call('ZADD', FREE, seq, id) end
end

-- Catches the indexes up with time: expired messages go, ended claims and passed delays
-- make messages free. At most BUDGET of each.
local function tidy()
  forget_all(redis.call('ZRANGEBYSCORE', EXP, '-inf', now, 'LIMIT', 0, BUDGET))
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', HELD, '-inf', now, 'LIMIT', 0, BUDGET)) do
    free_again(id, HELD)
  end
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', LATER, '-inf', now, 'LIMIT', 0, BUDGET)) do
    free_again(id, LATER)
  end
end

-- Visits the live messages of `index` (scored by seq) in FIFO order after seq `after`,
-- until `visit` answers false; entries whose message has expired are dropped on the way.
-- `page` entries are read at a time (the number the caller expects to need, within 10..100):
-- a claim of 10 reads 10, not a hundred ids and scores it would not look at.
local function scan(index, after, page, visit)
  page = math.min(100, math.max(10, page))
  local cursor = '(' .. after
  while true do
    local batch = redis.call('ZRANGEBYSCORE', index, cursor, '+inf', 'WITHSCORES', 'LIMIT', 0, page)
    if #batch == 0 then return end
    for i = 1, #batch, 2 do
      local id = batch[i]
      cursor = '(' .. batch[i + 1]
      local m = load(id)
      if not m then
        forget(id)
      elseif visit(m) == false then
        return
      end
    end
  end
end

-- The first live message of P:ids from the head (`rev` false) or the tail (`rev` true).
local function edge(rev)
  while true do
    local ids
    if rev then ids = redis.call('ZREVRANGE', IDS, 0, 99) else ids = redis.call('ZRANGE', IDS, 0, 99) end
    if #ids == 0 then return false end
    for _, id in ipairs(ids) do
      local m = load(id)
      if m then return out(m) end
      forget(id)
    end
  end
end

local function claim_is_live(cid)
  for _, id in ipairs(redis.call('SMEMBERS', P .. ':c:' .. cid)) do
    local m = load(id)
    if m and m.ci == cid and held(m) then return true end
  end
  return false
end
