tidy()
local cid, ttl, grace, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ce, keep = now + ttl * 1000, now + (ttl + grace) * 1000
local set = P .. ':c:' .. cid
-- Each message's hash is written alone; the indexes once for every message taken.
local res, ids, held_by, exp = {}, {}, {}, {}
scan(FREE, 0, limit, function(m)
  if not held(m) and m.v <= now then
    if keep > m.e then
      -- Claimed messages live at least until the claim's grace is over.
      m.e = keep
      redis.call('PEXPIREAT', mkey(m.id), keep)
      exp[#exp + 1] = keep; exp[#exp + 1] = m.id
    end
    redis.call('HSET', mkey(m.id), 'ci', cid, 'ce', ce, 'ct', ttl, 'cc', now, 'n', m.n + 1, 'e', m.e)
    ids[#ids + 1] = m.id
    held_by[#held_by + 1] = ce; held_by[#held_by + 1] = m.id
    m.ci, m.ce, m.ct, m.cc, m.n = cid, ce, ttl, now, m.n + 1
    res[#res + 1] = out(m)
  end
  return #res < limit
end)
if #res > 0 then
  many('ZREM', FREE, ids)
  many('ZADD', HELD, held_by)
  many('ZADD', EXP, exp)
  many('SADD', set, ids)
  redis.call('PEXPIREAT', set, keep)
end
return cjson.encode(res)
