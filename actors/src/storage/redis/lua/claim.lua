tidy()
local cid, ttl, grace, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ce, keep = now + ttl * 1000, now + (ttl + grace) * 1000
local set = P .. ':c:' .. cid
local res = {}
scan(FREE, 0, function(m)
  if not held(m) and m.v <= now then
    local e = math.max(m.e, keep)
    redis.call('HSET', mkey(m.id), 'ci', cid, 'ce', ce, 'ct', ttl, 'cc', now, 'n', m.n + 1, 'e', e)
    redis.call('PEXPIREAT', mkey(m.id), e)
    redis.call('ZADD', EXP, e, m.id)
    redis.call('ZREM', FREE, m.id)
    redis.call('ZADD', HELD, ce, m.id)
    redis.call('SADD', set, m.id)
    m.ci, m.ce, m.ct, m.cc, m.n, m.e = cid, ce, ttl, now, m.n + 1, e
    res[#res + 1] = out(m)
  end
  return #res < limit
end)
if #res > 0 then redis.call('PEXPIREAT', set, keep) end
return cjson.encode(res)
