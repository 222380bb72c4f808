local key = P .. ':s:' .. ARGV[2]
local sub = redis.call('HGET', key, 'sub')
if sub then redis.call('HDEL', P .. ':subs', sub) end
redis.call('DEL', key)
return 'ok'
