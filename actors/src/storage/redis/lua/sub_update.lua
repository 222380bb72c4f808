local key = P .. ':s:' .. ARGV[2]
local f = redis.call('HMGET', key, 'sub', 'e')
if not f[1] or tonumber(f[2]) <= now then return 0 end
if ARGV[3] ~= '' and ARGV[3] ~= f[1] then
  -- Subscribers are unique per queue: a live holder is a conflict, an expired one gives way.
  local holder = redis.call('HGET', P .. ':subs', ARGV[3])
  if holder and holder ~= ARGV[2] then
    local he = redis.call('HGET', P .. ':s:' .. holder, 'e')
    if he and tonumber(he) > now then return -1 end
  end
  redis.call('HDEL', P .. ':subs', f[1])
  redis.call('HSET', P .. ':subs', ARGV[3], ARGV[2])
  redis.call('HSET', key, 'sub', ARGV[3])
end
if ARGV[4] ~= '' then
  local e = now + tonumber(ARGV[4]) * 1000
  redis.call('HSET', key, 't', ARGV[4], 'e', e)
  redis.call('PEXPIREAT', key, e)
end
if ARGV[5] ~= '' then redis.call('HSET', key, 'o', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', key, 'k', ARGV[6]) end
return 1
