local ttl_d, delay_d, max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local meta = redis.call('GET', P .. ':meta')
if meta then
  local ok, m = pcall(cjson.decode, meta)
  if ok and type(m) == 'table' then
    if type(m._default_message_ttl) == 'number' then ttl_d = m._default_message_ttl end
    if type(m._default_message_delay) == 'number' then delay_d = m._default_message_delay end
    if type(m._max_messages_post_size) == 'number' then max = m._max_messages_post_size end
  end
end
if tonumber(ARGV[6]) > max then return {'too_large', max} end
if not meta then
  if ARGV[8] ~= '1' then return {'missing', 0} end
  redis.call('SET', P .. ':meta', '{}')
  redis.call('ZADD', KEYS[2], 0, ARGV[2])
end
local client, n = ARGV[7], tonumber(ARGV[9])
-- The messages' seqs, taken at once; each index is then written once for all of them.
local seq = redis.call('INCRBY', P .. ':seq', n) - n
local by_seq, exp, free, later = {}, {}, {}, {}
for i = 0, n - 1 do
  local id, body, t, d = ARGV[10 + i * 4], ARGV[11 + i * 4], ARGV[12 + i * 4], ARGV[13 + i * 4]
  local ttl = (t == '') and ttl_d or tonumber(t)
  local delay = (d == '') and delay_d or tonumber(d)
  seq = seq + 1
  local e, v = now + ttl * 1000, now + delay * 1000
  redis.call('HSET', mkey(id), 's', seq, 'b', body, 't', ttl, 'c', now, 'e', e, 'v', v, 'cl', client)
  redis.call('PEXPIREAT', mkey(id), e)
  by_seq[#by_seq + 1] = seq; by_seq[#by_seq + 1] = id
  exp[#exp + 1] = e; exp[#exp + 1] = id
  if v > now then
    later[#later + 1] = v; later[#later + 1] = id
  else
    free[#free + 1] = seq; free[#free + 1] = id
  end
end
many('ZADD', IDS, by_seq)
many('ZADD', EXP, exp)
many('ZADD', FREE, free)
many('ZADD', LATER, later)
return {'ok', 0}
