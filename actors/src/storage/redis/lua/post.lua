-- The posts of one queue gathered from concurrent requests (`storage::gather`), in the order
-- they arrived: ARGV[6] posts, each `size, client id, create, n` and then n messages of
-- `id, body, ttl, delay`. Each post is answered `status, max` in turn ('ok', 'too_large'
-- with the queue's limit, or 'missing'), as if the posts had run one after another.
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
local answers, taken, total, at = {}, {}, 0, 7
for _ = 1, tonumber(ARGV[6]) do
  local size, client, create, n = tonumber(ARGV[at]), ARGV[at + 1], ARGV[at + 2], tonumber(ARGV[at + 3])
  if size > max then
    answers[#answers + 1] = 'too_large'; answers[#answers + 1] = tostring(max)
  elseif not meta and create ~= '1' then
    answers[#answers + 1] = 'missing'; answers[#answers + 1] = '0'
  else
    if not meta then
      meta = '{}'
      redis.call('SET', P .. ':meta', meta)
      redis.call('ZADD', KEYS[2], 0, ARGV[2])
    end
    taken[#taken + 1] = {at + 4, n, client}
    total = total + n
    answers[#answers + 1] = 'ok'; answers[#answers + 1] = '0'
  end
  at = at + 4 + n * 4
end
if total == 0 then return answers end
-- The messages' seqs, taken at once; each index is then written once for all of them.
local seq = redis.call('INCRBY', P .. ':seq', total) - total
local by_seq, exp, free, later = {}, {}, {}, {}
for _, post in ipairs(taken) do
  local first, client = post[1], post[3]
  for i = 0, post[2] - 1 do
    local id, body, t, d = ARGV[first + i * 4], ARGV[first + 1 + i * 4], ARGV[first + 2 + i * 4], ARGV[first + 3 + i * 4]
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
end
many('ZADD', IDS, by_seq)
many('ZADD', EXP, exp)
many('ZADD', FREE, free)
many('ZADD', LATER, later)
return answers
