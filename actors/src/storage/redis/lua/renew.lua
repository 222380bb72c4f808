local cid, ttl, grace = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local ce, keep = now + ttl * 1000, now + (ttl + grace) * 1000
local set, renewed = P .. ':c:' .. cid, 0
for _, id in ipairs(redis.call('SMEMBERS', set)) do
  local m = load(id)
  if m and m.ci == cid and held(m) then
    local e = math.max(m.e, keep)
    redis.call('HSET', mkey(id), 'ce', ce, 'ct', ttl, 'cc', now, 'e', e)
    redis.call('PEXPIREAT', mkey(id), e)
    redis.call('ZADD', EXP, e, id)
    redis.call('ZADD', HELD, ce, id)
    renewed = renewed + 1
  end
end
if renewed > 0 then redis.call('PEXPIREAT', set, keep) end
return renewed
