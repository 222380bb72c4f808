local subs = P .. ':subs'
local id = redis.call('HGET', subs, ARGV[2])
if id and tonumber(redis.call('HGET', P .. ':s:' .. id, 'e') or '0') > now then return id end
id = ARGV[5]
local e = now + tonumber(ARGV[3]) * 1000
redis.call('HSET', P .. ':s:' .. id, 'sub', ARGV[2], 't', ARGV[3], 'o', ARGV[4], 'c', now, 'e', e, 'k', 0)
redis.call('PEXPIREAT', P .. ':s:' .. id, e)
redis.call('HSET', subs, ARGV[2], id)
return id
